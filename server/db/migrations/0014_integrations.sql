-- Integrations: a source (Alertmanager, or anything that speaks Gotify or ntfy) sending in its
-- own format with an `ingest` token of its own. The token is the integration's key: revoking
-- it (or deleting its user) removes the integration with it, and deleting the integration
-- deletes the token, so a deleted integration's token stops at once.

CREATE TABLE integrations (
    integration_id  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name            text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    kind            text NOT NULL CHECK (kind IN ('alertmanager', 'gotify', 'ntfy')),
    -- The audience addresses (`to`) every message from the source is sent to.
    audience        text[] NOT NULL,
    topic           text,
    token_id        uuid NOT NULL UNIQUE REFERENCES api_tokens ON DELETE CASCADE,
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- The batch of sends takes one audience for all of its sends (an Alertmanager payload's alerts
-- go to the integration's audience in one transaction): a new argument, so the old signature
-- goes (functions/send_notification.sql makes the new one).
DROP FUNCTION IF EXISTS send_notifications(
    text[], integer[], text[], text[], text[], text[], text[], text[], text[], text[], text[],
    text[], integer, text[], uuid[], inet[], text[], text[]);
