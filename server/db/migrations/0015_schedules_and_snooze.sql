-- Scheduled sends and snooze (functions/timers.sql releases both, in the workers' poll).
--
-- A schedule keeps the send as it was asked and the instant it is due: `send_at` (the UTC
-- instant of a time given with an offset) or `send_at_local` (a wall-clock time, read in each
-- recipient's own `timezone` preference when their turn comes). `next_release_at` is when a
-- worker looks at it next. `schedule_key` (the idempotency key or event_name:resource_id)
-- makes a repeated create return the schedule it made.
CREATE TABLE schedules (
    schedule_id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    status text NOT NULL DEFAULT 'scheduled' CHECK (status IN ('scheduled', 'sent', 'cancelled')),
    send_at timestamptz,
    send_at_local timestamp,
    CHECK ((send_at IS NULL) <> (send_at_local IS NULL)),
    next_release_at timestamptz NOT NULL,
    schedule_key text UNIQUE,
    user_ids text[],  -- null: every user, or the audience `to_addresses`
    to_addresses text[],
    topic text,
    event_name text NOT NULL,
    title text NOT NULL,
    summary text,
    body text NOT NULL,
    target_url text,
    severity text NOT NULL,
    data jsonb NOT NULL,
    resource_id text,
    idempotency_key text,
    batch_key text,
    actor_user_id text,
    actor_token_id uuid,
    ip inet,
    via text,
    created_at timestamptz NOT NULL DEFAULT now(),
    released_at timestamptz,
    cancelled_at timestamptz
);
CREATE INDEX schedules_due ON schedules (next_release_at) WHERE status = 'scheduled';
CREATE INDEX schedules_newest ON schedules (created_at DESC, schedule_id DESC);

-- Who a `send_at_local` schedule has already been released to, in which zone and when: each
-- recipient once, however many of its release times the workers went through.
CREATE TABLE schedule_releases (
    schedule_id uuid NOT NULL REFERENCES schedules ON DELETE CASCADE,
    user_id text NOT NULL REFERENCES users ON DELETE CASCADE,
    timezone text NOT NULL,
    released_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (schedule_id, user_id)
);

-- Snooze: read until then, unread again at that time (the workers' poll wakes it).
ALTER TABLE notifications ADD COLUMN snoozed_until timestamptz;
CREATE INDEX notifications_snoozed ON notifications (snoozed_until)
    WHERE snoozed_until IS NOT NULL;

-- The user's own time zone (IANA name): scheduled local times, quiet hours without their own.
ALTER TABLE preferences ADD COLUMN timezone text;
