-- Audiences: teams, declared topics and who follows them, and each user's per-topic
-- preferences. A notification gains the topic it carries and the address it reached its user
-- through; both are null for every row stored before, which keeps the meaning it had.

CREATE TABLE teams (
    team_id       text PRIMARY KEY CHECK (team_id ~ '^[a-z0-9._-]{1,64}$'),
    display_name  text NOT NULL CHECK (char_length(display_name) BETWEEN 1 AND 100),
    -- 'local': admins set the members; 'oidc': each sign-in sets them from the person's groups.
    managed_by    text NOT NULL DEFAULT 'local' CHECK (managed_by IN ('local', 'oidc')),
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE team_members (
    team_id   text NOT NULL REFERENCES teams ON DELETE CASCADE,
    user_id   text NOT NULL REFERENCES users ON DELETE CASCADE,
    added_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (team_id, user_id)
);
CREATE INDEX team_members_user ON team_members (user_id);

-- Declared topics. A notification may carry any topic name; declaring one makes it something
-- people (open topics) or admins (for whole teams) can subscribe to.
CREATE TABLE topics (
    topic        text PRIMARY KEY,
    description  text NOT NULL DEFAULT '',
    is_open      boolean NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE topic_subscriptions (
    topic       text NOT NULL REFERENCES topics ON DELETE CASCADE,
    user_id     text NOT NULL REFERENCES users ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, user_id)
);
CREATE INDEX topic_subscriptions_user ON topic_subscriptions (user_id);

CREATE TABLE topic_team_subscriptions (
    topic       text NOT NULL REFERENCES topics ON DELETE CASCADE,
    team_id     text NOT NULL REFERENCES teams ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, team_id)
);
CREATE INDEX topic_team_subscriptions_team ON topic_team_subscriptions (team_id);

-- A user's overrides for notifications carrying a topic (declared or not); null inherits the
-- channel's own setting.
CREATE TABLE topic_preferences (
    user_id  text NOT NULL REFERENCES users ON DELETE CASCADE,
    topic    text NOT NULL,
    in_app   boolean,
    email    boolean,
    push     boolean,
    PRIMARY KEY (user_id, topic)
);

ALTER TABLE notifications ADD COLUMN topic text, ADD COLUMN audience text;

-- The send takes an audience and a topic (functions/send_notification.sql): new arguments, so
-- the old signatures go.
DROP FUNCTION IF EXISTS send_notification(
    text[], text, text, text, text, text, text, jsonb, text, text, text, integer,
    text, uuid, inet, text);
DROP FUNCTION IF EXISTS send_notifications(
    text[], integer[], text[], text[], text[], text[], text[], text[], text[], text[], text[],
    text[], integer, text[], uuid[], inet[], text[]);
