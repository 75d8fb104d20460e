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
-- The workers' LISTEN connections (not the servers', which listen on traybell_changes).
SELECT pid FROM pg_stat_activity
WHERE datname = current_database() AND query = 'LISTEN "traybell_deliveries"';

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

-- name: refuse_the_first_heartbeat#
-- The first lock refresh (a job in sending that stays in sending) fails with an error that is
-- not an outage, as a deadlock or a bug would; the later ones pass. (A sequence, because the
-- refused statement rolls back everything else it did.)
CREATE SEQUENCE refused_heartbeats;
CREATE FUNCTION refuse_the_first_heartbeat() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF nextval('refused_heartbeats') = 1 THEN
        RAISE EXCEPTION 'heartbeat refused by the test';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER refuse_the_first_heartbeat BEFORE UPDATE OF locked_at ON deliveries
FOR EACH ROW WHEN (OLD.status = 'sending' AND NEW.status = 'sending')
EXECUTE FUNCTION refuse_the_first_heartbeat();

-- name: heartbeat_refused$
SELECT is_called FROM refused_heartbeats;

-- name: a_minute_passes!
-- As if the next calendar minute had begun for this user: the counters of the rate limit are
-- the past, and what waited for the next minute is due.
WITH spent AS (DELETE FROM rate_limits WHERE user_id = :user_id)
UPDATE deliveries SET available_at = available_at - interval '1 minute'
WHERE user_id = :user_id AND status = 'pending';

-- name: items_of_user$
-- How many notifications the user's deliveries on a channel carry, in whatever job.
SELECT count(*) FROM delivery_items i JOIN deliveries d ON d.id = i.delivery_id
WHERE d.user_id = :user_id AND d.channel = :channel;

-- name: bring_due!
-- What waits in the user's queue is due now (as if the time it waits for had come).
UPDATE deliveries SET available_at = now() WHERE user_id = :user_id AND status = 'pending';
