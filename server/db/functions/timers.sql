-- Timers: scheduled sends and snoozes, released by the workers' poll (worker_claim in
-- queries.sql calls release_due_timers(), so an idle poll stays one statement). Due rows are
-- claimed with FOR UPDATE SKIP LOCKED and released in the claim's own transaction: whatever
-- number of workers poll, each row is taken by one, and a worker that dies before its commit
-- leaves it as it was, for the next poll of any worker. No separate process, no cron.
--
-- Applied again whenever this file changes (server/db/migrate.py).

-- The instant a wall-clock time happens in a zone. The daylight-saving rule: a wall-clock
-- time that does not exist in the zone that day (02:30 on the night clocks spring forward in
-- America/New_York) happens at the first valid instant after it (03:00 EDT, the moment the
-- clocks jump); one that happens twice (01:30 on the night they fall back) happens the first
-- time.
CREATE OR REPLACE FUNCTION wall_clock_instant(p_wall timestamp, p_zone text)
RETURNS timestamptz LANGUAGE plpgsql STABLE AS $$
DECLARE
    -- The earlier of the two offsets around the wall time: the first time, for one that
    -- happens twice.
    v_at timestamptz := least(p_wall AT TIME ZONE p_zone,
                              (p_wall - interval '3 hours') AT TIME ZONE p_zone + interval '3 hours');
BEGIN
    IF (v_at AT TIME ZONE p_zone) = p_wall THEN
        RETURN v_at;
    END IF;
    -- In a gap: the clocks jump over it at a whole minute; the first instant whose wall time
    -- is at or after p_wall is that jump.
    RETURN (SELECT min(t) FROM generate_series(p_wall AT TIME ZONE p_zone - interval '3 hours',
                                               p_wall AT TIME ZONE p_zone + interval '3 hours',
                                               interval '1 minute') AS t
            WHERE (t AT TIME ZONE p_zone) >= p_wall);
END $$;

-- When a `send_at_local` schedule looks again while recipients wait for their time: a
-- recipient may change their zone meanwhile, so the next of their times is rechecked at
-- least this often.
CREATE OR REPLACE FUNCTION schedule_recheck() RETURNS interval LANGUAGE sql IMMUTABLE AS $$
    SELECT interval '1 minute'
$$;

-- Releases one schedule the caller has locked: the send is made now by send_notification()
-- (audience, preferences, idempotency, digests and limits as for any send; quiet hours at the
-- claim), to everyone for a `send_at`, and to the recipients whose own wall-clock time has
-- come for a `send_at_local` (each once: schedule_releases). The schedule is `sent` once
-- nobody waits any more. Returns the users whose notifications changed.
CREATE OR REPLACE FUNCTION release_schedule(s schedules, p_max_attempts integer)
RETURNS text[] LANGUAGE plpgsql AS $$
DECLARE
    v_only text[];
    v_next timestamptz;
    v_changed text[];
BEGIN
    IF s.send_at_local IS NOT NULL THEN
        WITH waiting AS (
            -- A zone this database's tz data lacks (the API checks names against Python's)
            -- reads as UTC rather than stopping every release.
            SELECT u.user_id,
                   CASE WHEN p.timezone IN (SELECT name FROM pg_timezone_names) THEN p.timezone
                        ELSE 'UTC' END AS zone
            FROM users u JOIN preferences p ON p.user_id = u.user_id
            WHERE CASE WHEN s.to_addresses IS NOT NULL
                            THEN u.user_id IN (SELECT m.user_id
                                               FROM audience_members(s.to_addresses) AS m)
                       WHEN s.user_ids IS NOT NULL THEN u.user_id = ANY (s.user_ids)
                       ELSE u.disabled_at IS NULL END
              AND NOT EXISTS (SELECT 1 FROM schedule_releases r
                              WHERE r.schedule_id = s.schedule_id AND r.user_id = u.user_id)
        ), timed AS (
            SELECT w.user_id, w.zone, wall_clock_instant(s.send_at_local, w.zone) AS at
            FROM waiting w
        ), released AS (
            INSERT INTO schedule_releases (schedule_id, user_id, timezone)
            SELECT s.schedule_id, t.user_id, t.zone FROM timed t WHERE t.at <= now()
            RETURNING user_id
        )
        SELECT (SELECT array_agg(user_id ORDER BY user_id) FROM released),
               (SELECT min(at) FROM timed WHERE at > now())
        INTO v_only, v_next;
    END IF;
    IF s.send_at IS NOT NULL OR v_only IS NOT NULL THEN
        SELECT array_agg(r.user_id) FILTER (WHERE r.outcome = 'inserted') INTO v_changed
        FROM send_notification(
            s.user_ids, s.event_name, s.title, s.summary, s.body, s.target_url, s.severity,
            s.data, s.idempotency_key, s.resource_id, s.batch_key, p_max_attempts,
            s.actor_user_id, s.actor_token_id, s.ip, 'schedule',
            p_to => s.to_addresses, p_topic => s.topic, p_only => v_only) AS r;
    END IF;
    UPDATE schedules
    SET status = CASE WHEN v_next IS NULL THEN 'sent' ELSE 'scheduled' END,
        released_at = CASE WHEN v_next IS NULL THEN now() END,
        next_release_at = COALESCE(least(v_next, now() + schedule_recheck()), next_release_at)
    WHERE schedule_id = s.schedule_id;
    RETURN COALESCE(v_changed, '{}');
END $$;

-- Wakes due snoozes: unread again, `snoozed_until` null, at the user's next sync version (a
-- change every client sees). Each user's row is locked before their notifications, as every
-- change of state does (take_sync_versions), and a user another transaction holds is left to
-- the next poll. Returns the users woken.
CREATE OR REPLACE FUNCTION wake_snoozed(p_limit integer) RETURNS text[]
LANGUAGE plpgsql AS $$
DECLARE
    v_user text;
    v_count bigint;
    v_first bigint;
    v_woken text[] := '{}';
BEGIN
    FOR v_user, v_count IN
        SELECT d.user_id, d.due FROM (
            SELECT n.user_id, count(*) AS due FROM notifications n
            WHERE n.snoozed_until <= now()
            GROUP BY n.user_id ORDER BY n.user_id LIMIT p_limit
        ) AS d
        WHERE EXISTS (SELECT 1 FROM users u WHERE u.user_id = d.user_id FOR UPDATE SKIP LOCKED)
    LOOP
        v_first := take_sync_versions(v_user, v_count);
        UPDATE notifications n
        SET read_at = NULL, snoozed_until = NULL, version = v_first + o.nth - 1
        FROM (SELECT id, row_number() OVER (ORDER BY id) AS nth FROM notifications
              WHERE user_id = v_user AND snoozed_until <= now()) AS o
        WHERE n.user_id = v_user AND n.id = o.id;
        v_woken := v_woken || v_user;
    END LOOP;
    RETURN v_woken;
END $$;

-- What a poll releases: due schedules (at most p_limit) and due snoozes. Returns how many
-- schedules were released (the caller polls again at once when that is p_limit: more may be
-- due) and the users whose notifications changed (for their event streams).
CREATE OR REPLACE FUNCTION release_due_timers(p_limit integer, p_max_attempts integer)
RETURNS TABLE (released integer, changed_users text[]) LANGUAGE plpgsql AS $$
DECLARE
    s schedules;
    v_released integer := 0;
    v_changed text[] := '{}';
BEGIN
    FOR s IN
        SELECT * FROM schedules
        WHERE status = 'scheduled' AND next_release_at <= now()
        ORDER BY next_release_at
        LIMIT p_limit
        FOR UPDATE SKIP LOCKED
    LOOP
        -- Each in a subtransaction: one the database refuses (it is logged in the server's
        -- log) is tried again later, and stops neither the others nor the claim.
        BEGIN
            v_changed := v_changed || release_schedule(s, p_max_attempts);
        EXCEPTION WHEN OTHERS THEN
            RAISE WARNING 'schedule % not released: %', s.schedule_id, SQLERRM;
            UPDATE schedules SET next_release_at = now() + schedule_recheck()
            WHERE schedule_id = s.schedule_id;
        END;
        v_released := v_released + 1;
    END LOOP;
    IF EXISTS (SELECT 1 FROM notifications WHERE snoozed_until <= now()) THEN
        v_changed := v_changed || wake_snoozed(p_limit);
    END IF;
    RETURN QUERY SELECT v_released, ARRAY(SELECT DISTINCT unnest(v_changed));
END $$;
