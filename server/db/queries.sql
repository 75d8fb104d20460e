-- Every query the server and the worker run, by name (loaded with aiosql).
-- Each one that touches user data filters by user_id.

-- ---------------------------------------------------------------- users and tokens

-- name: create_user^
WITH created AS (
    INSERT INTO users (user_id, display_name, is_admin)
    VALUES (:user_id, :display_name, :is_admin)
    ON CONFLICT (user_id) DO NOTHING
    RETURNING user_id, display_name, is_admin, created_at
), prefs AS (
    INSERT INTO preferences (user_id, email)
    SELECT user_id, :email FROM created
)
SELECT user_id, display_name, is_admin, created_at, :email::text AS email FROM created;

-- name: create_token$
INSERT INTO api_tokens (user_id, token_hash)
SELECT user_id, :token_hash FROM users WHERE user_id = :user_id
RETURNING token_id;

-- name: delete_token$
DELETE FROM api_tokens WHERE token_id = :token_id RETURNING token_id;

-- name: authenticate^
SELECT u.user_id, u.is_admin
FROM api_tokens t JOIN users u ON u.user_id = t.user_id
WHERE t.token_hash = :token_hash;

-- ---------------------------------------------------------------- sending

-- name: send_notification
SELECT user_id, id, outcome
FROM send_notification(:user_ids, :event_name, :title, :summary, :body, :target_url, :severity,
                       :data, :idempotency_key, :resource_id, :batch_key,
                       :email_per_minute, :push_per_minute, :max_attempts);

-- ---------------------------------------------------------------- reading

-- name: get_notification^
SELECT id, user_id, event_name, title, summary, body, target_url, severity, data, batch_key,
       read_at, archived_at, created_at
FROM notifications
WHERE user_id = :user_id AND id = :id;

-- name: list_notifications
SELECT id, user_id, event_name, title, summary, body, target_url, severity, data, batch_key,
       read_at, archived_at, created_at, created_version
FROM notifications
WHERE user_id = :user_id
  AND created_version < :before
  AND (archived_at IS NOT NULL) = :archived
ORDER BY created_version DESC
LIMIT :limit;

-- name: list_unread_notifications
SELECT id, user_id, event_name, title, summary, body, target_url, severity, data, batch_key,
       read_at, archived_at, created_at, created_version
FROM notifications
WHERE user_id = :user_id
  AND created_version < :before
  AND read_at IS NULL
  AND (archived_at IS NOT NULL) = :archived
ORDER BY created_version DESC
LIMIT :limit;

-- name: unread_count$
SELECT count(*) FROM notifications
WHERE user_id = :user_id AND read_at IS NULL AND archived_at IS NULL;

-- name: sync_page
-- Changes after the cursor in version order, with the unread count from the same snapshot.
-- Always one row at least: an empty page has null columns beside the count.
SELECT n.id, n.user_id, n.event_name, n.title, n.summary, n.body, n.target_url, n.severity,
       n.data, n.batch_key, n.read_at, n.archived_at, n.created_at, n.version,
       unread.count AS unread
FROM (SELECT count(*) AS count FROM notifications
      WHERE user_id = :user_id AND read_at IS NULL AND archived_at IS NULL) AS unread
LEFT JOIN LATERAL (
    SELECT * FROM notifications
    WHERE user_id = :user_id AND (version, id) > (:after_version, :after_id)
    ORDER BY version, id
    LIMIT :limit
) AS n ON true
ORDER BY n.version, n.id;

-- ---------------------------------------------------------------- changing state
-- Each change takes the user's next sync version (and with it the user's row lock), so that
-- sync order equals commit order. Rows already in the wanted state are left alone.

-- name: mark_read
UPDATE notifications
SET read_at = now(), version = next_sync_version(:user_id)
WHERE user_id = :user_id AND id = ANY (:ids) AND read_at IS NULL
RETURNING id;

-- name: mark_unread
UPDATE notifications
SET read_at = NULL, version = next_sync_version(:user_id)
WHERE user_id = :user_id AND id = ANY (:ids) AND read_at IS NOT NULL
RETURNING id;

-- name: archive
UPDATE notifications
SET archived_at = now(), read_at = COALESCE(read_at, now()), version = next_sync_version(:user_id)
WHERE user_id = :user_id AND id = ANY (:ids) AND archived_at IS NULL
RETURNING id;

-- name: mark_all_read
UPDATE notifications
SET read_at = now(), version = next_sync_version(:user_id)
WHERE user_id = :user_id AND read_at IS NULL AND archived_at IS NULL
  AND created_version <= :up_to_version
RETURNING id;

-- ---------------------------------------------------------------- preferences

-- name: get_preferences^
SELECT in_app_enabled, email_enabled, push_enabled, digest_seconds, email, push_urls, quiet_hours
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
    updated_at = now()
WHERE user_id = :user_id
RETURNING in_app_enabled, email_enabled, push_enabled, digest_seconds, email, push_urls, quiet_hours;

-- ---------------------------------------------------------------- deliveries (admin view)

-- name: list_deliveries
SELECT d.id, (SELECT min(i.notification_id::text)::uuid FROM delivery_items i
              WHERE i.delivery_id = d.id) AS notification_id,
       d.user_id, d.channel, d.status, d.attempts, d.last_error, d.available_at
FROM deliveries d
WHERE d.status = :status
ORDER BY d.updated_at DESC
LIMIT :limit;

-- name: retry_delivery^
-- Only a failed job goes back to the queue; the caller tells "not failed" from "no such job".
UPDATE deliveries
SET status = 'pending', attempts = 0, available_at = now(), last_error = NULL, updated_at = now()
WHERE id = :id AND status = 'failed'
RETURNING id, (SELECT min(i.notification_id::text)::uuid FROM delivery_items i
               WHERE i.delivery_id = deliveries.id) AS notification_id,
          user_id, channel, status, attempts, last_error, available_at;

-- name: delivery_status$
SELECT status FROM deliveries WHERE id = :id;
