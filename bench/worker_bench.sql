-- The worker benchmark's own statements: the baseline queue loop and resetting the queue.

-- name: baseline_claim
-- A bare SKIP LOCKED claim: the least any PostgreSQL queue does per batch.
UPDATE deliveries SET status = 'sending', locked_at = now()
WHERE id IN (
    SELECT id FROM deliveries
    WHERE status = 'pending' AND available_at <= now()
    ORDER BY available_at
    LIMIT :limit
    FOR UPDATE SKIP LOCKED
)
RETURNING id;

-- name: baseline_ack!
UPDATE deliveries SET status = 'sent', locked_at = NULL WHERE id = ANY (:ids);

-- name: reset_queue!
UPDATE deliveries
SET status = 'pending', attempts = 0, available_at = now() - interval '1 second',
    locked_at = NULL, lock_token = NULL, sent_at = NULL;

-- name: vacuum!
VACUUM ANALYZE deliveries;

-- name: unsent$
SELECT count(*) FROM deliveries WHERE status <> 'sent';

-- name: park_queue!
-- Every job pending but not yet due, so workers can start and settle before the clock starts.
UPDATE deliveries
SET status = 'pending', attempts = 0, available_at = now() + interval '1 day',
    locked_at = NULL, lock_token = NULL, sent_at = NULL;

-- name: release_queue!
-- Everything due now; the update notifies the waiting workers.
UPDATE deliveries SET available_at = now() - interval '1 second';

-- name: listening_workers$
SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'LISTEN %';

-- name: clear_queue!
-- Before the email figure: only its own jobs in the queue.
DELETE FROM deliveries;

-- name: park_schedules!
-- :count schedules of one info send each (no delivery: the release alone is measured), to the
-- bench users in turn, due tomorrow until released.
INSERT INTO schedules (send_at, next_release_at, user_ids, event_name, title, body, severity,
                       data, via)
SELECT now() + interval '1 day', now() + interval '1 day',
       ARRAY[u.user_ids[1 + n % cardinality(u.user_ids)]], 'bench.scheduled',
       'Scheduled benchmark notification ' || n, '', 'info', '{}', 'cli'
FROM generate_series(0, :count - 1) AS n,
     (SELECT array_agg(user_id ORDER BY user_id) AS user_ids FROM users
      WHERE user_id LIKE 'bench-%') AS u;

-- name: release_schedules!
-- Every schedule due in this same second.
UPDATE schedules SET send_at = now(), next_release_at = now() WHERE status = 'scheduled';

-- name: unreleased$
SELECT count(*) FROM schedules WHERE status = 'scheduled';

-- name: bench_users
SELECT user_id FROM users WHERE user_id LIKE 'bench-%' ORDER BY user_id;

-- name: clear_schedules!
DELETE FROM schedules;
