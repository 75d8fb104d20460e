-- Every query the server and the worker run, by name (loaded with aiosql).
-- Each one that touches user data filters by user_id.

-- name: ping$
-- Readiness: the database answers.
SELECT 1;

-- ---------------------------------------------------------------- users and tokens

-- name: create_user^
-- The new user's email and push switches are the server's defaults (TRAYBELL_DEFAULT_EMAIL,
-- TRAYBELL_DEFAULT_PUSH).
WITH created AS (
    INSERT INTO users (user_id, display_name, is_admin)
    VALUES (:user_id, :display_name, :is_admin)
    ON CONFLICT (user_id) DO NOTHING
    RETURNING user_id, display_name, is_admin, created_at, disabled_at
), prefs AS (
    INSERT INTO preferences (user_id, email, email_enabled, push_enabled)
    SELECT user_id, :email, :email_enabled, :push_enabled FROM created
)
SELECT user_id, display_name, is_admin, created_at, disabled_at, :email::text AS email
FROM created;

-- name: get_user^
SELECT u.user_id, u.display_name, u.is_admin, u.created_at, u.disabled_at, p.email
FROM users u JOIN preferences p ON p.user_id = u.user_id
WHERE u.user_id = :user_id;

-- name: set_user_disabled^
-- Disabling ends every token, web session, invite and device sign-in they approved or denied
-- at once (enabling revives none); their notifications and preferences stay.
WITH changed AS (
    UPDATE users
    SET disabled_at = CASE WHEN :disabled THEN COALESCE(disabled_at, now()) END
    WHERE user_id = :user_id
    RETURNING user_id, display_name, is_admin, created_at, disabled_at
), ended_tokens AS (
    DELETE FROM api_tokens t USING changed c WHERE :disabled AND t.user_id = c.user_id
), ended_sessions AS (
    DELETE FROM web_sessions s USING changed c WHERE :disabled AND s.user_id = c.user_id
), ended_invites AS (
    DELETE FROM invites i USING changed c WHERE :disabled AND i.user_id = c.user_id
), ended_device_codes AS (
    DELETE FROM device_codes d USING changed c WHERE :disabled AND d.user_id = c.user_id
)
SELECT c.user_id, c.display_name, c.is_admin, c.created_at, c.disabled_at, p.email
FROM changed c JOIN preferences p ON p.user_id = c.user_id;

-- name: create_token$
INSERT INTO api_tokens (user_id, token_hash, name, kind, scope)
SELECT user_id, :token_hash, :name, :kind, :scope FROM users WHERE user_id = :user_id
RETURNING token_id;

-- name: delete_token$
-- Its owner; only when the token is `user_id`'s, if that is given.
DELETE FROM api_tokens
WHERE token_id = :token_id AND (CAST(:user_id AS text) IS NULL OR user_id = :user_id)
RETURNING user_id;

-- name: list_tokens
-- One user's tokens, or with a null user_id everyone's (never the token: only its hash is kept).
SELECT token_id, user_id, name, kind, scope, created_at, last_used_at
FROM api_tokens WHERE CAST(:user_id AS text) IS NULL OR user_id = :user_id
ORDER BY created_at DESC
LIMIT :limit;

-- name: authenticate
-- The callers the tokens name (by hash, the lookups waiting at one moment together), unless
-- their user is disabled: a row per token found. Marks each token used, to the minute: the
-- update matches (and writes) only on the first request of each minute.
WITH found AS (
    SELECT t.token_id, t.token_hash, t.last_used_at, t.scope, u.user_id, u.is_admin
    FROM api_tokens t JOIN users u ON u.user_id = t.user_id
    WHERE t.token_hash = ANY (:token_hashes) AND u.disabled_at IS NULL
), touched AS (
    UPDATE api_tokens t SET last_used_at = date_trunc('minute', now())
    FROM found f
    WHERE t.token_id = f.token_id
      AND (f.last_used_at IS NULL OR f.last_used_at < date_trunc('minute', now()))
)
SELECT token_hash, token_id, scope, user_id, is_admin FROM found;

-- ---------------------------------------------------------------- web sign-in

-- name: find_login^
-- The account a typed login names: a user id, else an email address that one user alone has.
-- A disabled user has none.
SELECT user_id, is_admin, password_hash FROM (
    SELECT user_id, is_admin, password_hash, disabled_at FROM users WHERE user_id = :login
    UNION ALL
    SELECT u.user_id, u.is_admin, u.password_hash, u.disabled_at
    FROM users u JOIN preferences p ON p.user_id = u.user_id
    WHERE lower(p.email) = lower(:login)
      AND NOT EXISTS (SELECT 1 FROM users WHERE user_id = :login)
      AND (SELECT count(*) FROM preferences WHERE lower(email) = lower(:login)) = 1
    LIMIT 1
) AS account
WHERE disabled_at IS NULL;

-- name: lock_attempts!
-- Serialises the attempts under one key, so that concurrent guesses cannot pass the throttle
-- together. Held until the transaction ends.
SELECT pg_advisory_xact_lock(hashtextextended(encode(:key_hash, 'hex'), 0));

-- name: record_attempt^
-- Counts an attempt under a key. Refused (nothing stored, `allowed` false) when the window
-- already holds the maximum; `retry_at` is when its oldest attempt leaves the window.
WITH recent AS (
    SELECT count(*) AS attempts, min(attempted_at) AS oldest FROM attempts
    WHERE key_hash = :key_hash
      AND attempted_at > now() - make_interval(secs => :window_seconds)
), stored AS (
    INSERT INTO attempts (key_hash)
    SELECT :key_hash FROM recent WHERE attempts < :max_attempts
    RETURNING attempted_at
)
SELECT EXISTS (SELECT 1 FROM stored) AS allowed,
       oldest + make_interval(secs => :window_seconds) AS retry_at
FROM recent;

-- name: clear_attempts!
DELETE FROM attempts WHERE key_hash = :key_hash;

-- name: forget_attempt!
-- Takes the newest attempt under the key back (it succeeded, or was refused before it cost).
DELETE FROM attempts WHERE ctid = (
    SELECT ctid FROM attempts WHERE key_hash = :key_hash ORDER BY attempted_at DESC LIMIT 1
);

-- name: set_password^
-- A new password ends every web session of the user.
WITH changed AS (
    UPDATE users SET password_hash = :password_hash WHERE user_id = :user_id RETURNING user_id
), ended AS (
    DELETE FROM web_sessions s USING changed c WHERE s.user_id = c.user_id
)
SELECT user_id FROM changed;

-- name: rehash_password!
-- The same password under new hashing parameters: sessions stay.
UPDATE users SET password_hash = :password_hash WHERE user_id = :user_id;

-- name: create_session!
INSERT INTO web_sessions (session_hash, user_id, expires_at)
VALUES (:session_hash, :user_id, now() + make_interval(hours => :hours));

-- name: session_caller^
SELECT u.user_id, u.is_admin, p.language
FROM web_sessions s JOIN users u ON u.user_id = s.user_id
LEFT JOIN preferences p ON p.user_id = u.user_id
WHERE s.session_hash = :session_hash AND s.expires_at > now() AND u.disabled_at IS NULL;

-- name: delete_session!
DELETE FROM web_sessions WHERE session_hash = :session_hash;

-- name: create_invite$
-- One live invite per user: a newer one voids the older.
INSERT INTO invites (user_id, token_hash, expires_at)
SELECT user_id, :token_hash, now() + make_interval(days => :days) FROM users
WHERE user_id = :user_id
ON CONFLICT (user_id) DO UPDATE
SET token_hash = excluded.token_hash, created_at = now(), expires_at = excluded.expires_at
RETURNING expires_at;

-- name: invite_user$
-- A disabled user's invite (made after the disable) is no invite while they are disabled.
SELECT i.user_id FROM invites i JOIN users u ON u.user_id = i.user_id
WHERE i.token_hash = :token_hash AND i.expires_at > now() AND u.disabled_at IS NULL;

-- name: accept_invite^
-- Uses the invite up: the password is set, the invite is gone, older sessions end.
WITH used AS (
    DELETE FROM invites i USING users u
    WHERE i.token_hash = :token_hash AND i.expires_at > now()
      AND u.user_id = i.user_id AND u.disabled_at IS NULL
    RETURNING i.user_id
), changed AS (
    UPDATE users u SET password_hash = :password_hash FROM used
    WHERE u.user_id = used.user_id
    RETURNING u.user_id, u.is_admin
), ended AS (
    DELETE FROM web_sessions s USING used WHERE s.user_id = used.user_id
)
SELECT user_id, is_admin FROM changed;

-- ---------------------------------------------------------------- users (admin console)

-- name: list_users
SELECT u.user_id, u.display_name, u.is_admin, u.created_at, u.disabled_at, p.email,
       u.password_hash IS NOT NULL AS has_password
FROM users u JOIN preferences p ON p.user_id = u.user_id
ORDER BY u.user_id
LIMIT :limit;

-- name: lock_active_admins
-- The admins who are not disabled, locked (in one order) until the transaction ends, so that
-- two admins demoting or disabling each other at once cannot both pass the last-admin rule.
SELECT user_id FROM users WHERE is_admin AND disabled_at IS NULL ORDER BY user_id FOR UPDATE;

-- name: set_admin^
UPDATE users u SET is_admin = :is_admin
FROM preferences p
WHERE u.user_id = :user_id AND p.user_id = u.user_id
RETURNING u.user_id, u.display_name, u.is_admin, u.created_at, u.disabled_at, p.email;

-- name: count_recipients^
-- Of the users a send to these ids (null: everyone) names, how many exist, how many it would
-- reach (disabled users are skipped), and the named ids that do not exist.
SELECT count(*) AS known, count(*) FILTER (WHERE disabled_at IS NULL) AS reached,
       ARRAY(SELECT DISTINCT named FROM unnest(CAST(:user_ids AS text[])) AS named
             WHERE NOT EXISTS (SELECT FROM users u WHERE u.user_id = named)
             ORDER BY named) AS unknown
FROM users
WHERE CAST(:user_ids AS text[]) IS NULL OR user_id = ANY (CAST(:user_ids AS text[]));

-- name: count_audience^
-- Of an audience (functions/audiences.sql), the addresses that name nothing and how many
-- people it would reach (each once; disabled users are left out).
SELECT unknown_addresses(:to) AS unknown,
       (SELECT count(*) FROM audience_members(:to)) AS reached;

-- ---------------------------------------------------------------- device sign-in

-- name: create_device_code$
-- Nothing when the user code is taken (the caller draws another).
INSERT INTO device_codes (device_code_hash, user_code, client_name, scope, expires_at)
VALUES (:device_code_hash, :user_code, :client_name, :scope,
        now() + make_interval(secs => :expires_in))
ON CONFLICT (user_code) DO NOTHING
RETURNING expires_at;

-- name: lock_device_code^
-- A client's poll: the code's state, locked until the poll's transaction ends, so that two
-- polls of an approved code cannot both be given a token. `user_disabled`: whoever decided
-- it is disabled now.
SELECT d.status, d.user_id, d.client_name, d.scope, d.interval_seconds,
       d.expires_at <= now() AS expired,
       d.last_polled_at > now() - make_interval(secs => d.interval_seconds - :tolerance_seconds)
           AS too_soon,
       u.disabled_at IS NOT NULL AS user_disabled
FROM device_codes d LEFT JOIN users u ON u.user_id = d.user_id
WHERE d.device_code_hash = :device_code_hash
FOR UPDATE OF d;

-- name: record_device_poll!
UPDATE device_codes
SET last_polled_at = now(), interval_seconds = interval_seconds + :slow_down_seconds,
    status = CASE WHEN :issued THEN 'issued' ELSE status END
WHERE device_code_hash = :device_code_hash;

-- name: pending_device_code^
-- What the sign-in page shows for a code a person typed: only a live, undecided one.
SELECT client_name, scope, expires_at FROM device_codes
WHERE user_code = :user_code AND status = 'pending' AND expires_at > now();

-- name: decide_device_code^
-- Only an admin approves a code that asks for the admin scope; anyone may deny one.
UPDATE device_codes SET status = :status, user_id = :user_id
WHERE user_code = :user_code AND status = 'pending' AND expires_at > now()
  AND (:status = 'denied' OR scope = 'user' OR :approver_is_admin)
RETURNING client_name, scope;

-- ---------------------------------------------------------------- teams and topics
-- Who a send to `team:...` or `topic:...` reaches is functions/audiences.sql.

-- name: create_team^
-- Nothing when the id is taken.
INSERT INTO teams (team_id, display_name, managed_by)
VALUES (:team_id, :display_name, :managed_by)
ON CONFLICT (team_id) DO NOTHING
RETURNING team_id, display_name, managed_by, created_at, 0::bigint AS members;

-- name: list_teams
SELECT t.team_id, t.display_name, t.managed_by, t.created_at,
       (SELECT count(*) FROM team_members m WHERE m.team_id = t.team_id) AS members
FROM teams t
ORDER BY t.team_id;

-- name: get_team^
SELECT t.team_id, t.display_name, t.managed_by, t.created_at,
       ARRAY(SELECT m.user_id FROM team_members m WHERE m.team_id = t.team_id
             ORDER BY m.user_id) AS member_ids
FROM teams t
WHERE t.team_id = :team_id;

-- name: change_team_member^
-- Adds (:add) or removes the user, only on a team admins manage; always one row: whether the
-- team (its `managed_by`) and the user exist, and whether membership changed. The team row is
-- held until commit, so a concurrent delete of the team waits instead of failing the insert.
WITH team AS (
    SELECT team_id, managed_by FROM teams WHERE team_id = :team_id FOR SHARE
), member AS (
    SELECT user_id FROM users WHERE user_id = :user_id
), added AS (
    INSERT INTO team_members (team_id, user_id)
    SELECT t.team_id, m.user_id FROM team t, member m
    WHERE :add AND t.managed_by = 'local'
    ON CONFLICT DO NOTHING
    RETURNING 1
), removed AS (
    DELETE FROM team_members tm USING team t
    WHERE NOT :add AND t.managed_by = 'local'
      AND tm.team_id = t.team_id AND tm.user_id = :user_id
    RETURNING 1
)
SELECT (SELECT managed_by FROM team) AS managed_by,
       EXISTS (SELECT 1 FROM member) AS user_exists,
       EXISTS (SELECT 1 FROM added) OR EXISTS (SELECT 1 FROM removed) AS changed;

-- name: delete_team$
-- Its memberships and topic subscriptions go with it; stored notifications keep their audience.
DELETE FROM teams WHERE team_id = :team_id RETURNING managed_by;

-- name: ensure_oidc_teams!
-- The provider's groups that are not teams yet become teams it manages.
INSERT INTO teams (team_id, display_name, managed_by)
SELECT g, g, 'oidc' FROM unnest(CAST(:team_ids AS text[])) AS g
ON CONFLICT (team_id) DO NOTHING;

-- name: set_oidc_memberships
-- The user's membership of the provider-managed teams becomes exactly :team_ids (of those,
-- the ones the provider manages); teams admins manage are left alone. One row per change.
WITH removed AS (
    DELETE FROM team_members m USING teams t
    WHERE m.user_id = :user_id AND t.team_id = m.team_id AND t.managed_by = 'oidc'
      AND m.team_id <> ALL (CAST(:team_ids AS text[]))
    RETURNING m.team_id
), added AS (
    INSERT INTO team_members (team_id, user_id)
    SELECT t.team_id, :user_id FROM teams t
    WHERE t.managed_by = 'oidc' AND t.team_id = ANY (CAST(:team_ids AS text[]))
    ON CONFLICT DO NOTHING
    RETURNING team_id
)
SELECT team_id, true AS added FROM added
UNION ALL
SELECT team_id, false FROM removed
ORDER BY team_id;

-- name: declare_topic^
INSERT INTO topics AS t (topic, description, is_open)
VALUES (:topic, :description, :is_open)
ON CONFLICT (topic) DO UPDATE SET description = EXCLUDED.description, is_open = EXCLUDED.is_open
RETURNING t.topic, t.description, t.is_open;

-- name: delete_topic$
-- Its subscriptions go with it; users' per-topic preferences stay (the topic may be sent again).
DELETE FROM topics WHERE topic = :topic RETURNING topic;

-- name: change_team_subscription^
-- Subscribes (:subscribe) or unsubscribes a whole team; always one row: whether the topic and
-- the team exist and whether anything changed. Both rows are held until commit.
WITH topic AS (
    SELECT topic FROM topics WHERE topic = :topic FOR SHARE
), team AS (
    SELECT team_id FROM teams WHERE team_id = :team_id FOR SHARE
), added AS (
    INSERT INTO topic_team_subscriptions (topic, team_id)
    SELECT tp.topic, tm.team_id FROM topic tp, team tm WHERE :subscribe
    ON CONFLICT DO NOTHING
    RETURNING 1
), removed AS (
    DELETE FROM topic_team_subscriptions s
    WHERE NOT :subscribe AND s.topic = :topic AND s.team_id = :team_id
    RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM topic) AS topic_exists, EXISTS (SELECT 1 FROM team) AS team_exists,
       EXISTS (SELECT 1 FROM added) OR EXISTS (SELECT 1 FROM removed) AS changed;

-- name: list_topics
-- The declared topics as this user sees them: subscribed on their own or through a team.
SELECT t.topic, t.description, t.is_open,
       EXISTS (SELECT 1 FROM topic_subscriptions s
               WHERE s.topic = t.topic AND s.user_id = :user_id) AS own,
       EXISTS (SELECT 1 FROM topic_team_subscriptions ts
               JOIN team_members m ON m.team_id = ts.team_id
               WHERE ts.topic = t.topic AND m.user_id = :user_id) AS via_team,
       ARRAY(SELECT ts.team_id FROM topic_team_subscriptions ts
             WHERE ts.topic = t.topic ORDER BY ts.team_id) AS team_ids
FROM topics t
ORDER BY t.topic;

-- name: change_own_subscription$
-- A user joins (:subscribe) or leaves a topic, only an open one; always one row: whether the
-- topic exists (`is_open` null when not) and is open.
WITH topic AS (
    SELECT topic, is_open FROM topics WHERE topic = :topic FOR SHARE
), added AS (
    INSERT INTO topic_subscriptions (topic, user_id)
    SELECT t.topic, :user_id FROM topic t WHERE :subscribe AND t.is_open
    ON CONFLICT DO NOTHING
), removed AS (
    DELETE FROM topic_subscriptions s USING topic t
    WHERE NOT :subscribe AND t.is_open AND s.topic = t.topic AND s.user_id = :user_id
)
SELECT (SELECT is_open FROM topic) AS is_open;

-- name: received_topics
-- The topics of the user's notifications, newest first: what the preference center lists
-- beside the declared topics they follow.
SELECT topic FROM notifications
WHERE user_id = :user_id AND topic IS NOT NULL
GROUP BY topic
ORDER BY max(created_version) DESC
LIMIT :limit;

-- name: get_topic_preferences
SELECT topic, in_app, email, push FROM topic_preferences
WHERE user_id = :user_id
ORDER BY topic;

-- name: set_topic_preferences!
-- The given topics' overrides as given (the service merged the patch into them).
INSERT INTO topic_preferences AS tp (user_id, topic, in_app, email, push)
SELECT :user_id, p.topic, p.in_app, p.email, p.push
FROM unnest(CAST(:topics AS text[]), CAST(:in_app AS boolean[]), CAST(:email AS boolean[]),
            CAST(:push AS boolean[])) AS p(topic, in_app, email, push)
ON CONFLICT (user_id, topic) DO UPDATE SET
    in_app = EXCLUDED.in_app, email = EXCLUDED.email, push = EXCLUDED.push;

-- name: forget_empty_topic_preferences!
-- A topic whose overrides are all null inherits everything: it needs no row.
DELETE FROM topic_preferences
WHERE user_id = :user_id AND in_app IS NULL AND email IS NULL AND push IS NULL;

-- ---------------------------------------------------------------- sending

-- name: send_notification
SELECT user_id, id, outcome
FROM send_notification(:user_ids, :event_name, :title, :summary, :body, :target_url, :severity,
                       :data, :idempotency_key, :resource_id, :batch_key, :max_attempts,
                       :actor_user_id, :actor_token_id, :ip, :via, :to, :topic);

-- name: send_notifications
-- A batch of sends in one transaction (see the function); one row per recipient of each send.
SELECT send_no, user_id, id, outcome
FROM send_notifications(:recipients, :recipient_counts, :event_names, :titles, :summaries,
                        :bodies, :target_urls, :severities, :data, :idempotency_keys,
                        :resource_ids, :batch_keys, :max_attempts, :actor_user_ids,
                        :actor_token_ids, :ips, :vias, :topics, :to);

-- ---------------------------------------------------------------- reading

-- name: get_notification^
SELECT id, user_id, event_name, title, summary, body, target_url, severity, data, batch_key,
       topic, audience, read_at, archived_at, created_at, snoozed_until
FROM notifications
WHERE user_id = :user_id AND id = :id;

-- name: list_notifications
SELECT id, user_id, event_name, title, summary, body, target_url, severity, data, batch_key,
       topic, audience, read_at, archived_at, created_at, snoozed_until, created_version
FROM notifications
WHERE user_id = :user_id
  AND created_version < :before
  AND (archived_at IS NOT NULL) = :archived
  AND (:snoozed::boolean IS NULL OR (snoozed_until IS NOT NULL) = :snoozed)
ORDER BY created_version DESC
LIMIT :limit;

-- name: list_unread_notifications
SELECT id, user_id, event_name, title, summary, body, target_url, severity, data, batch_key,
       topic, audience, read_at, archived_at, created_at, snoozed_until, created_version
FROM notifications
WHERE user_id = :user_id
  AND created_version < :before
  AND read_at IS NULL
  AND (archived_at IS NOT NULL) = :archived
ORDER BY created_version DESC
LIMIT :limit;

-- name: sync_position$
-- The user's newest version: everything stored so far is at or before it.
SELECT sync_version FROM users WHERE user_id = :user_id;

-- name: unread_count$
SELECT count(*) FROM notifications
WHERE user_id = :user_id AND read_at IS NULL AND archived_at IS NULL;

-- name: sync_cursor_issued$
-- Whether this database can have issued the cursor (db/functions/sync_versions.sql).
SELECT sync_cursor_issued(:user_id, :after_version, :after_id);

-- name: sync_page
-- Changes after the cursor in version order, with the unread count and whether this database
-- can have issued the cursor, from the same snapshot, in one round trip (a tray's poll is this
-- and its authentication). Always one row at least: an empty page has null columns beside.
SELECT n.id, n.user_id, n.event_name, n.title, n.summary, n.body, n.target_url, n.severity,
       n.data, n.batch_key, n.topic, n.audience, n.read_at, n.archived_at, n.created_at,
       n.snoozed_until, n.version,
       unread.count AS unread,
       sync_cursor_issued(:user_id, :after_version, :after_id) AS cursor_issued
FROM (SELECT count(*) AS count FROM notifications
      WHERE user_id = :user_id AND read_at IS NULL AND archived_at IS NULL) AS unread
LEFT JOIN LATERAL (
    SELECT * FROM notifications
    WHERE user_id = :user_id AND (version, id) > (:after_version, :after_id)
    ORDER BY version, id
    LIMIT :limit
) AS n ON true
ORDER BY n.version, n.id;

-- ---------------------------------------------------------------- real-time streams
-- A server holds its open streams in memory and reads for all of them at once: a wake-up for
-- thousands of users is these few statements, never one per stream (server/streams.py).

-- name: stream_users_moved
-- Of the given users, those whose sync version has moved past the one given beside them.
SELECT u.user_id, u.sync_version
FROM unnest(:user_ids::text[], :versions::bigint[]) AS known(user_id, version)
JOIN users u ON u.user_id = known.user_id
WHERE u.sync_version > known.version;

-- name: stream_pages
-- For each stream (key, user, position): the user's changes after the position in version
-- order (at most :limit), the unread count and the user's sync version, all from one
-- snapshot: every change up to that version is in this reply or at or before the position.
-- A stream with nothing new has one row with null change columns.
SELECT s.key, u.sync_version, unread.count AS unread,
       n.id, n.user_id, n.event_name, n.title, n.summary, n.body, n.target_url, n.severity,
       n.data, n.batch_key, n.topic, n.audience, n.read_at, n.archived_at, n.created_at,
       n.snoozed_until, n.version
FROM unnest(:keys::integer[], :user_ids::text[], :after_versions::bigint[],
            :after_ids::uuid[]) AS s(key, user_id, after_version, after_id)
JOIN users u ON u.user_id = s.user_id
CROSS JOIN LATERAL (
    SELECT count(*) AS count FROM notifications
    WHERE user_id = s.user_id AND read_at IS NULL AND archived_at IS NULL
) AS unread
LEFT JOIN LATERAL (
    SELECT * FROM notifications
    WHERE user_id = s.user_id AND (version, id) > (s.after_version, s.after_id)
    ORDER BY version, id
    LIMIT :limit
) AS n ON true
ORDER BY s.key, n.version, n.id;

-- name: stream_tokens_valid
-- Of the given tokens, those that still authenticate (not revoked, their user not disabled).
SELECT t.token_id
FROM api_tokens t JOIN users u ON u.user_id = t.user_id
WHERE t.token_id = ANY (:token_ids::uuid[]) AND u.disabled_at IS NULL;

-- name: stream_sessions_valid
-- Of the given web sessions (by hash), those that still sign in (not ended or expired, their
-- user not disabled).
SELECT s.session_hash
FROM web_sessions s JOIN users u ON u.user_id = s.user_id
WHERE s.session_hash = ANY (:session_hashes::bytea[]) AND s.expires_at > now()
  AND u.disabled_at IS NULL;

-- name: announce_changes!
-- The wake-up for every server's streams, sent in a transaction of its own, never in the one
-- of a change: a transaction that notifies takes PostgreSQL's global notify lock at commit.
SELECT pg_notify('traybell_changes', :payload);

-- ---------------------------------------------------------------- changing state
-- Each change takes as many of the user's next sync versions as it changes rows, in one step
-- (take_sync_versions, which holds the user's row lock until commit), so that sync order
-- equals commit order. Rows already in the wanted state are left alone. The condition is
-- checked again in the UPDATE: a row another transaction changed meanwhile is judged as it is
-- now (its version number is then left unused, which the sync does not mind).

-- name: mark_read
-- Marking a snoozed notification read ends its snooze (it stays read).
WITH changing AS (
    SELECT id, row_number() OVER (ORDER BY id) AS nth FROM notifications
    WHERE user_id = :user_id AND id = ANY (:ids)
      AND (read_at IS NULL OR snoozed_until IS NOT NULL)
), first AS (
    SELECT take_sync_versions(:user_id, count(*)) AS version FROM changing HAVING count(*) > 0
)
UPDATE notifications n
SET read_at = COALESCE(n.read_at, now()), snoozed_until = NULL,
    version = first.version + c.nth - 1
FROM changing c, first
WHERE n.user_id = :user_id AND n.id = c.id
  AND (n.read_at IS NULL OR n.snoozed_until IS NOT NULL)
RETURNING n.id;

-- name: mark_unread
WITH changing AS (
    SELECT id, row_number() OVER (ORDER BY id) AS nth FROM notifications
    WHERE user_id = :user_id AND id = ANY (:ids) AND read_at IS NOT NULL
), first AS (
    SELECT take_sync_versions(:user_id, count(*)) AS version FROM changing HAVING count(*) > 0
)
UPDATE notifications n
SET read_at = NULL, snoozed_until = NULL, version = first.version + c.nth - 1
FROM changing c, first
WHERE n.user_id = :user_id AND n.id = c.id AND n.read_at IS NOT NULL
RETURNING n.id;

-- name: snooze
-- Read now, unread again at :until (the workers' poll: functions/timers.sql); a snooze again
-- moves the time. An archived notification is not snoozed.
WITH changing AS (
    SELECT id FROM notifications
    WHERE user_id = :user_id AND id = :id AND archived_at IS NULL
), first AS (
    SELECT take_sync_versions(:user_id, count(*)) AS version FROM changing HAVING count(*) > 0
)
UPDATE notifications n
SET read_at = COALESCE(n.read_at, now()), snoozed_until = :until, version = first.version
FROM changing c, first
WHERE n.user_id = :user_id AND n.id = c.id AND n.archived_at IS NULL
RETURNING n.id;

-- name: unsnooze
-- Ends a snooze at once: unread again.
WITH changing AS (
    SELECT id FROM notifications
    WHERE user_id = :user_id AND id = :id AND snoozed_until IS NOT NULL
), first AS (
    SELECT take_sync_versions(:user_id, count(*)) AS version FROM changing HAVING count(*) > 0
)
UPDATE notifications n
SET read_at = NULL, snoozed_until = NULL, version = first.version
FROM changing c, first
WHERE n.user_id = :user_id AND n.id = c.id AND n.snoozed_until IS NOT NULL
RETURNING n.id;

-- name: archive
WITH changing AS (
    SELECT id, row_number() OVER (ORDER BY id) AS nth FROM notifications
    WHERE user_id = :user_id AND id = ANY (:ids) AND archived_at IS NULL
), first AS (
    SELECT take_sync_versions(:user_id, count(*)) AS version FROM changing HAVING count(*) > 0
)
UPDATE notifications n
SET archived_at = now(), read_at = COALESCE(n.read_at, now()), snoozed_until = NULL,
    version = first.version + c.nth - 1
FROM changing c, first
WHERE n.user_id = :user_id AND n.id = c.id AND n.archived_at IS NULL
RETURNING n.id;

-- name: mark_all_read
WITH changing AS (
    SELECT id, row_number() OVER (ORDER BY created_version) AS nth FROM notifications
    WHERE user_id = :user_id AND read_at IS NULL AND archived_at IS NULL
      AND created_version <= :up_to_version
), first AS (
    SELECT take_sync_versions(:user_id, count(*)) AS version FROM changing HAVING count(*) > 0
)
UPDATE notifications n
SET read_at = now(), version = first.version + c.nth - 1
FROM changing c, first
WHERE n.user_id = :user_id AND n.id = c.id AND n.read_at IS NULL AND n.archived_at IS NULL
RETURNING n.id;

-- ---------------------------------------------------------------- preferences

-- name: get_preferences^
SELECT in_app_enabled, email_enabled, push_enabled, digest_seconds, email, push_urls, quiet_hours,
       timezone, language
FROM preferences WHERE user_id = :user_id;

-- name: update_preferences^
UPDATE preferences SET
    in_app_enabled = COALESCE(:in_app_enabled, in_app_enabled),
    email_enabled = COALESCE(:email_enabled, email_enabled),
    push_enabled = COALESCE(:push_enabled, push_enabled),
    digest_seconds = COALESCE(:digest_seconds, digest_seconds),
    email = CASE WHEN :set_email THEN :email ELSE email END,
    push_urls = COALESCE(:push_urls, push_urls),
    quiet_hours = CASE WHEN :set_quiet_hours THEN :quiet_hours ELSE quiet_hours END,
    timezone = CASE WHEN :set_timezone THEN :timezone ELSE timezone END,
    language = CASE WHEN :set_language THEN :language ELSE language END,
    updated_at = now()
WHERE user_id = :user_id
RETURNING in_app_enabled, email_enabled, push_enabled, digest_seconds, email, push_urls, quiet_hours,
          timezone, language;

-- ---------------------------------------------------------------- unsubscribe

-- name: create_unsubscribe_token!
INSERT INTO unsubscribe_tokens (token_hash, user_id) VALUES (:token_hash, :user_id);

-- name: unsubscribe_token_user$
SELECT user_id FROM unsubscribe_tokens WHERE token_hash = :token_hash;

-- name: unsubscribe$
-- Turns the token's user's email off; the user id, or nothing for an unknown token.
UPDATE preferences p SET email_enabled = false, updated_at = now()
FROM unsubscribe_tokens t
WHERE t.token_hash = :token_hash AND p.user_id = t.user_id
RETURNING p.user_id;

-- ---------------------------------------------------------------- deliveries (admin view)

-- name: list_deliveries
-- Of one user when `user_id` is given; dismissed failures are not listed.
SELECT d.id, (SELECT min(i.notification_id::text)::uuid FROM delivery_items i
              WHERE i.delivery_id = d.id) AS notification_id,
       d.user_id, d.channel, d.status, d.attempts, d.last_error, d.available_at
FROM deliveries d
WHERE d.status = :status AND d.dismissed_at IS NULL
  AND (CAST(:user_id AS text) IS NULL OR d.user_id = :user_id)
ORDER BY d.updated_at DESC
LIMIT :limit;

-- name: retry_delivery^
-- Only a failed job goes back to the queue (dismissed or not); the caller tells "not failed"
-- from "no such job".
UPDATE deliveries
SET status = 'pending', attempts = 0, available_at = now(), last_error = NULL,
    dismissed_at = NULL, updated_at = now()
WHERE id = :id AND status = 'failed'
RETURNING id, (SELECT min(i.notification_id::text)::uuid FROM delivery_items i
               WHERE i.delivery_id = deliveries.id) AS notification_id,
          user_id, channel, status, attempts, last_error, available_at;

-- name: dismiss_delivery^
-- Only a failed job can be dismissed (again: it stays dismissed since the first time); it is
-- kept, out of the failed list and the failed gauge.
UPDATE deliveries SET dismissed_at = COALESCE(dismissed_at, now())
WHERE id = :id AND status = 'failed'
RETURNING id, (SELECT min(i.notification_id::text)::uuid FROM delivery_items i
               WHERE i.delivery_id = deliveries.id) AS notification_id,
          user_id, channel, status, attempts, last_error, available_at;

-- name: delivery_status$
SELECT status FROM deliveries WHERE id = :id;

-- ---------------------------------------------------------------- why nothing went out (admin)
-- What the send decided for each external channel and what became of it: delivery_report()
-- (functions/delivery_rules.sql).

-- name: notification_owner$
-- Whose notification this is. By id alone there is no index to use (every index starts with
-- the user): a scan, for an admin's occasional question, rather than one more index for every
-- send to keep up.
SELECT user_id FROM notifications WHERE id = :id;

-- name: notification_deliveries
SELECT r.channel, r.status, r.reason, r.at, r.delivery_id, r.attempts, r.last_error, r.dismissed
FROM notifications n CROSS JOIN LATERAL delivery_report(n) AS r
WHERE n.user_id = :user_id AND n.id = :id;

-- name: recent_deliveries
-- A user's newest notifications, each with its deliveries (a notification without any, stored
-- before decisions were kept, has one row with null delivery columns).
SELECT n.id AS notification_id, n.title, n.severity, n.created_at,
       r.channel, r.status, r.reason, r.at, r.delivery_id, r.attempts, r.last_error, r.dismissed
FROM notifications n LEFT JOIN LATERAL delivery_report(n) AS r ON true
WHERE n.user_id = :user_id
  AND n.id IN (SELECT id FROM notifications WHERE user_id = :user_id
               ORDER BY created_version DESC LIMIT :limit)
ORDER BY n.created_version DESC, r.channel;

-- ---------------------------------------------------------------- housekeeping

-- name: prune_batch^
-- One short batch of the workers' housekeeping: up to :batch rows of each kind that nothing
-- reads any more. Only one worker at a time does it (`held` false: another one is at it).
-- Windows and attempts are kept a day, far past the longest window that reads them.
-- The audit log is never pruned.
WITH lock AS (
    SELECT pg_try_advisory_xact_lock(hashtextextended('traybell housekeeping', 0)) AS held
), sent AS (
    DELETE FROM deliveries WHERE ctid = ANY (ARRAY(
        SELECT d.ctid FROM deliveries d, lock
        WHERE lock.held AND d.status = 'sent'
          AND d.updated_at < now() - make_interval(days => :retention_days)
        LIMIT :batch FOR UPDATE OF d SKIP LOCKED))
    RETURNING 1
), windows AS (
    DELETE FROM rate_limits WHERE ctid = ANY (ARRAY(
        SELECT r.ctid FROM rate_limits r, lock
        WHERE lock.held AND r.window_start < now() - interval '1 day'
        LIMIT :batch FOR UPDATE OF r SKIP LOCKED))
    RETURNING 1
), sessions AS (
    DELETE FROM web_sessions WHERE ctid = ANY (ARRAY(
        SELECT s.ctid FROM web_sessions s, lock
        WHERE lock.held AND s.expires_at < now() LIMIT :batch))
    RETURNING 1
), spent_invites AS (
    DELETE FROM invites WHERE ctid = ANY (ARRAY(
        SELECT i.ctid FROM invites i, lock
        WHERE lock.held AND i.expires_at < now() LIMIT :batch))
    RETURNING 1
), codes AS (
    DELETE FROM device_codes WHERE ctid = ANY (ARRAY(
        SELECT c.ctid FROM device_codes c, lock
        WHERE lock.held AND c.expires_at < now() LIMIT :batch))
    RETURNING 1
), old_attempts AS (
    DELETE FROM attempts WHERE ctid = ANY (ARRAY(
        SELECT a.ctid FROM attempts a, lock
        WHERE lock.held AND a.attempted_at < now() - interval '1 day' LIMIT :batch))
    RETURNING 1
), old_unsubscribe_links AS (
    -- one per email sent: an email's link works as long as its delivery is kept
    DELETE FROM unsubscribe_tokens WHERE ctid = ANY (ARRAY(
        SELECT u.ctid FROM unsubscribe_tokens u, lock
        WHERE lock.held AND u.created_at < now() - make_interval(days => :retention_days)
        LIMIT :batch FOR UPDATE OF u SKIP LOCKED))
    RETURNING 1
)
SELECT (SELECT held FROM lock) AS held,
       greatest((SELECT count(*) FROM sent), (SELECT count(*) FROM windows),
                (SELECT count(*) FROM sessions), (SELECT count(*) FROM spent_invites),
                (SELECT count(*) FROM codes), (SELECT count(*) FROM old_attempts),
                (SELECT count(*) FROM old_unsubscribe_links)) AS most,
       (SELECT count(*) FROM sent) + (SELECT count(*) FROM windows)
       + (SELECT count(*) FROM sessions) + (SELECT count(*) FROM spent_invites)
       + (SELECT count(*) FROM codes) + (SELECT count(*) FROM old_attempts)
       + (SELECT count(*) FROM old_unsubscribe_links) AS pruned;

-- ---------------------------------------------------------------- metrics

-- name: queue_figures
-- Jobs by channel and status, and how long the oldest due pending job has waited.
-- Dismissed failures are not counted, so an alert on failed jobs clears once they are seen to.
SELECT channel, status, count(*) AS jobs,
       extract(epoch FROM now() - min(available_at) FILTER (WHERE available_at <= now()))
           AS oldest_due_seconds
FROM deliveries
WHERE dismissed_at IS NULL
GROUP BY channel, status;

-- ---------------------------------------------------------------- audit

-- name: record_audit!
-- Run in the transaction of the change it records.
INSERT INTO audit_events (actor_user_id, actor_token_id, action, target_user_id, target, ip,
                          details)
VALUES (:actor_user_id, :actor_token_id, :action, :target_user_id, :target, :ip, :details);

-- name: list_audit
-- Newest first; a user filter matches the actor or the target.
SELECT id, at, actor_user_id, actor_token_id, action, target_user_id, target, ip, details
FROM audit_events
WHERE id < :before
  AND (CAST(:action AS text) IS NULL OR action = :action)
  AND (CAST(:user_id AS text) IS NULL OR actor_user_id = :user_id OR target_user_id = :user_id)
ORDER BY id DESC
LIMIT :limit;

-- ---------------------------------------------------------------- worker
-- The delivery worker's queue. A claim gives a job a fresh lock_token; every later change to the
-- job (heartbeat, result, release) is fenced by it, so a holder whose lease expired and whose job
-- was claimed again cannot record anything over the new holder's result.
-- Every multi-row statement that waits for row locks takes them in id order (a locking CTE
-- sorted by id), so two running at once, such as a heartbeat and a completion of the same jobs,
-- wait for each other instead of deadlocking. (The claims skip locked rows and never wait.) The
-- statements on the jobs a worker holds lock them with held_deliveries() (held_deliveries.sql).

-- name: worker_claim
-- The poll, one statement (all an idle worker runs, once a safety poll). First, jobs whose holder
-- stopped refreshing the lock go back to the queue; one that has used all its attempts this way
-- (it keeps taking its workers down) fails instead of circling for ever. They come back as rows
-- with `recovered` set to their new status (and nothing else but id, user, channel and
-- attempts), for the log; they can be claimed from the next poll on, which their NOTIFY wakes.
-- (One locked meanwhile is its holder's, refreshing or finishing it, or another worker's
-- recovery: it is skipped, so the poll never waits for a row.)
-- Then due jobs on the channels this worker can send, oldest first, at most :limit (0: only
-- the recovery), are row-locked (rows another worker is claiming are skipped, not waited for)
-- and claimed at once as far as their users' per-minute limits allow (the others are folded
-- into the overflow digest, see claim_deliveries.sql): an attempt counted, a fresh lock token,
-- a digest closed to new items. Each claimed job comes with its recipients (empty when the
-- user turned the channel off or removed the address), the privacy-safe fields of its
-- notifications, oldest first, and its user's language. A job quiet hours may hold (delivery_rules.sql) is not claimed
-- here: it comes back with `quiet_hours` set and nothing else, for the caller to judge
-- (zoneinfo) and then claim (worker_claim_judged) or hold.
-- The same statement releases due timers (scheduled sends, at most :timer_limit, and snoozes:
-- functions/timers.sql); their row comes back with `timers_released` set (and the users whose
-- notifications changed as `changed_users`), nothing else.
WITH timers AS MATERIALIZED (
    SELECT released, changed_users FROM release_due_timers(:timer_limit, :max_attempts)
), stale AS (
    SELECT id FROM deliveries
    WHERE status = 'sending' AND locked_at < now() - make_interval(secs => :lock_timeout_seconds)
    ORDER BY id
    FOR UPDATE SKIP LOCKED
), recovered AS (
    UPDATE deliveries d
    SET status = CASE WHEN d.attempts >= d.max_attempts THEN 'failed' ELSE 'pending' END,
        available_at = now(), locked_at = NULL, lock_token = NULL, updated_at = now(),
        last_error = 'lock expired: its worker stopped refreshing it'
    FROM stale
    WHERE d.id = stale.id
    RETURNING d.id, d.user_id, d.channel, d.status, d.attempts, d.available_at
), due AS (
    SELECT d.id, d.available_at, quiet_hours_in_zone(p) AS quiet_hours,
           quiet_hours_may_hold(d.is_critical, p) AS judge
    FROM deliveries d
    JOIN preferences p ON p.user_id = d.user_id
    WHERE d.status = 'pending' AND d.available_at <= now() AND d.channel = ANY (:channels)
    ORDER BY d.available_at
    LIMIT :limit
    FOR UPDATE OF d SKIP LOCKED
)
SELECT c.*, NULL::jsonb AS quiet_hours, NULL::text AS recovered,
       NULL::integer AS timers_released, NULL::text[] AS changed_users
FROM claim_deliveries(ARRAY(SELECT id FROM due WHERE NOT judge),
                      :email_per_minute, :push_per_minute) AS c
UNION ALL
SELECT id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, available_at,
       NULL, quiet_hours, NULL, NULL, NULL
FROM due WHERE judge
UNION ALL
SELECT id, user_id, channel, NULL, NULL, attempts, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       available_at, NULL, NULL, status, NULL, NULL
FROM recovered
UNION ALL
SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       NULL, NULL, released, changed_users
FROM timers
ORDER BY available_at, id;

-- name: worker_claim_judged
-- Claims the given jobs, which the caller found outside their user's quiet hours, as
-- worker_claim does; one that another worker took or held meanwhile is left alone.
SELECT c.*, NULL::jsonb AS quiet_hours
FROM claim_deliveries(ARRAY(
    SELECT d.id FROM deliveries d
    WHERE d.id = ANY (:ids) AND d.status = 'pending' AND d.available_at <= now()
    FOR UPDATE SKIP LOCKED
), :email_per_minute, :push_per_minute) AS c
ORDER BY c.available_at, c.id;

-- name: worker_hold!
-- Quiet hours: what they hold waits until they end, folded into one digest per user and
-- channel ("While quiet hours were on: N notifications"), without spending an attempt; the
-- digest takes in what else they hold meanwhile. A job another worker claimed meanwhile is
-- left alone.
SELECT fold_deliveries(array_agg(h.id), 'quiet', h.until)
FROM unnest(:ids::uuid[], :untils::timestamptz[]) AS h(id, until)
GROUP BY h.until;

-- name: worker_heartbeat
-- Returns the jobs still held; a missing one was recovered and claimed by someone else.
UPDATE deliveries d
SET locked_at = now()
FROM held_deliveries(:ids, :lock_tokens) AS held
WHERE d.id = held.id
RETURNING d.id;

-- name: worker_complete
-- Sent (it was counted toward its user's limit when claimed). Returns the jobs whose result was
-- recorded.
UPDATE deliveries d
SET status = 'sent', sent_at = now(), locked_at = NULL, lock_token = NULL, updated_at = now()
FROM held_deliveries(:ids, :lock_tokens) AS held
WHERE d.id = held.id
RETURNING d.id;

-- name: worker_fail^
-- Not sent: back to the queue after the given delay, or failed for good when the refusal was
-- permanent or the attempts are spent.
UPDATE deliveries
SET status = CASE WHEN :permanent::boolean OR attempts >= max_attempts THEN 'failed'
                  ELSE 'pending' END,
    available_at = now() + make_interval(secs => :retry_seconds),
    locked_at = NULL, lock_token = NULL, last_error = :error, updated_at = now()
WHERE id = :id AND lock_token = :lock_token AND status = 'sending'
RETURNING status, attempts, available_at;

-- name: worker_release
-- Shutdown: jobs not finished in time go straight back to the queue for another worker.
UPDATE deliveries d
SET status = 'pending', available_at = now(), locked_at = NULL, lock_token = NULL,
    updated_at = now()
FROM held_deliveries(:ids, :lock_tokens) AS held
WHERE d.id = held.id
RETURNING d.id;

-- ---------------------------------------------------------------- scheduled sends
-- Released by the workers' poll (functions/timers.sql).

-- name: create_schedule^
-- A schedule whose key exists already is not made again: nothing comes back.
INSERT INTO schedules (send_at, send_at_local, next_release_at, schedule_key, user_ids,
                       to_addresses, topic, event_name, title, summary, body, target_url, severity, data,
                       resource_id, idempotency_key, batch_key, actor_user_id, actor_token_id,
                       ip, via)
VALUES (:send_at, :send_at_local,
        -- a local time is first due where the day starts first (UTC+14)
        COALESCE(:send_at, (:send_at_local::timestamp AT TIME ZONE 'UTC') - interval '14 hours'),
        :schedule_key, :user_ids, :to_addresses, :topic, :event_name, :title, :summary, :body, :target_url, :severity,
        :data, :resource_id, :idempotency_key, :batch_key, :actor_user_id, :actor_token_id,
        :ip, :via)
ON CONFLICT (schedule_key) DO NOTHING
RETURNING *;

-- name: schedule_by_key^
SELECT * FROM schedules WHERE schedule_key = :schedule_key;

-- name: list_schedules
-- Newest first; after the schedule :before when given.
SELECT * FROM schedules
WHERE (status = :status OR :status::text IS NULL)
  AND (:before::uuid IS NULL
       OR (created_at, schedule_id) < (SELECT created_at, schedule_id FROM schedules
                                       WHERE schedule_id = :before))
ORDER BY created_at DESC, schedule_id DESC
LIMIT :limit;

-- name: cancel_schedule^
-- A schedule not released yet (or not to everyone yet) stops; the row as it is now comes
-- back in any case, none for an unknown id.
WITH cancelled AS (
    UPDATE schedules SET status = 'cancelled', cancelled_at = now()
    WHERE schedule_id = :schedule_id AND status = 'scheduled'
    RETURNING schedule_id, status
)
SELECT s.schedule_id, COALESCE(c.status, s.status) AS status, c.schedule_id IS NOT NULL AS changed
FROM schedules s LEFT JOIN cancelled c ON c.schedule_id = s.schedule_id
WHERE s.schedule_id = :schedule_id;

-- name: schedule_status$
SELECT status FROM schedules WHERE schedule_id = :schedule_id;

-- ---------------------------------------------------------------- integrations

-- name: create_integration^
INSERT INTO integrations (name, kind, audience, topic, token_id)
VALUES (:name, :kind, :audience, :topic, :token_id)
RETURNING integration_id, name, kind, audience, topic, created_at, NULL::timestamptz AS last_used_at;

-- name: list_integrations
-- Each with its token's last use (to the minute, as every token's).
SELECT i.integration_id, i.name, i.kind, i.audience, i.topic, i.created_at, t.last_used_at
FROM integrations i JOIN api_tokens t ON t.token_id = i.token_id
ORDER BY i.created_at DESC, i.integration_id;

-- name: token_integration^
-- The integration an `ingest` token sends for.
SELECT integration_id, name, kind, audience, topic FROM integrations WHERE token_id = :token_id;

-- name: delete_integration^
-- Deletes the integration's token, and with it the integration (ON DELETE CASCADE): the token
-- stops at once.
DELETE FROM api_tokens t USING integrations i
WHERE i.integration_id = :integration_id AND t.token_id = i.token_id
RETURNING t.token_id, t.user_id, i.kind;
