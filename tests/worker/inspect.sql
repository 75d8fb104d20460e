-- What the worker tests look at in the queue (the admin API shows less: no digests, no tokens).

-- name: deliveries
SELECT d.id, d.user_id, d.channel, d.group_key, d.collecting, d.is_critical, d.status,
       d.attempts, d.available_at, d.updated_at, d.locked_at, d.lock_token, d.last_error,
       (SELECT count(*) FROM delivery_items i WHERE i.delivery_id = d.id) AS items
FROM deliveries d
WHERE d.user_id = ANY (:user_ids)
ORDER BY d.created_at, d.id;

-- name: status_counts
SELECT status, count(*) AS count FROM deliveries GROUP BY status;

-- name: listener_pids
SELECT pid FROM pg_stat_activity
WHERE datname = current_database() AND query LIKE 'LISTEN%';

-- name: terminate_backend$
SELECT pg_terminate_backend(:pid);

-- name: rate_total$
SELECT COALESCE(sum(count), 0)::int FROM rate_limits WHERE user_id = :user_id AND channel = :channel;

-- name: lock_delivery$
-- Holds a delivery's row lock until the caller's transaction ends (a gate for lock order tests).
SELECT id FROM deliveries WHERE id = :id FOR UPDATE;

-- name: lock_waiters
-- The backends of this database waiting for a row lock, and who they wait for.
SELECT pid, pg_blocking_pids(pid) AS blocked_by
FROM pg_stat_activity
WHERE datname = current_database() AND wait_event_type = 'Lock';
