-- The audit log: who changed what, written in the transaction of the change and never edited.

CREATE TABLE audit_events (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at              timestamptz NOT NULL DEFAULT now(),
    -- null for an action taken on the command line (details.via = 'cli')
    actor_user_id   text,
    -- null for a web session or the command line
    actor_token_id  uuid,
    action          text NOT NULL,
    target_user_id  text,
    target          text,
    ip              inet,
    details         jsonb NOT NULL DEFAULT '{}'
);
-- No foreign keys: an event outlives the token or delivery it names.
CREATE INDEX audit_events_by_action ON audit_events (action, id);
CREATE INDEX audit_events_by_actor ON audit_events (actor_user_id, id);
CREATE INDEX audit_events_by_target_user ON audit_events (target_user_id, id);

-- The send records itself (functions/send_notification.sql): its arguments now name the actor.
DROP FUNCTION IF EXISTS send_notification(
    text[], text, text, text, text, text, text, jsonb, text, text, text, integer);
