-- The claim: which due jobs a worker takes now, and where the others go (steps 4-7 of the
-- delivery rules, delivery_rules.sql). Both of the worker's claiming queries (queries.sql:
-- worker_claim and worker_claim_judged) call claim_deliveries().
--
-- The per-minute limit is a hard cap on what leaves. A job counts toward its user's limit on
-- its channel in the calendar minute it is claimed, whatever path brought it here: a single
-- message, a batch digest (of one or of many), a digest released when quiet hours end, a retry
-- after an outage, an admin's retry (every claim counts again: an attempt may have left).
-- Critical counts too and is always taken. A non-critical job beyond the limit is folded into
-- the user's overflow digest for that channel, due at the next minute; a digest claimed in a
-- minute without room waits for the next one the same way. Nothing is dropped. (The minute is
-- the claim's: a worker starts what it claimed at once, or after the batch before it.)
--
-- Applied again whenever this file changes (server/db/migrate.py).

-- What a job carries: the privacy-safe fields of its notifications, oldest first. (A function,
-- not a view, so that it is inlined with the job's id and reads only that job's items.)
CREATE OR REPLACE FUNCTION delivery_contents(p_delivery_id uuid, p_user_id text)
RETURNS TABLE (notification_ids uuid[], titles text[], summaries text[], severities text[])
LANGUAGE sql STABLE AS $$
    SELECT array_agg(n.id ORDER BY n.created_version),
           array_agg(n.title ORDER BY n.created_version),
           array_agg(n.summary ORDER BY n.created_version),
           array_agg(n.severity ORDER BY n.created_version)
    FROM delivery_items i
    JOIN notifications n ON n.user_id = i.user_id AND n.id = i.notification_id
    WHERE i.delivery_id = p_delivery_id AND i.user_id = p_user_id
$$;

-- Folds pending non-critical jobs into the open digest of `p_group_key` of their user and
-- channel (the one still collecting, or a new one), which is then due at `p_due_at`: their
-- notifications move to it and the jobs are gone. A job that is itself that open digest just
-- waits until `p_due_at`. A job another worker holds is left to it.
--
-- Nothing here waits for a row another worker holds (it may be waiting for this one's rate
-- limit row): an open digest another worker is claiming is not joined, the jobs get a digest of
-- their own, closed to new items.
CREATE OR REPLACE FUNCTION fold_deliveries(p_ids uuid[], p_group_key text, p_due_at timestamptz)
RETURNS void LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_group record;
    v_digest uuid;
BEGIN
    FOR v_group IN
        SELECT f.user_id, f.channel, max(f.max_attempts) AS max_attempts, array_agg(f.id) AS ids
        FROM (SELECT d.* FROM deliveries d
              WHERE d.id = ANY (p_ids) AND d.status = 'pending' AND NOT d.is_critical
              ORDER BY d.id
              FOR UPDATE SKIP LOCKED) AS f
        GROUP BY f.user_id, f.channel
        ORDER BY f.user_id, f.channel
    LOOP
        SELECT d.id INTO v_digest FROM deliveries d
        WHERE d.user_id = v_group.user_id AND d.channel = v_group.channel
          AND d.group_key = p_group_key AND d.collecting
        FOR UPDATE SKIP LOCKED;
        IF FOUND THEN
            UPDATE deliveries SET available_at = p_due_at, updated_at = now() WHERE id = v_digest;
        ELSE
            INSERT INTO deliveries (user_id, channel, group_key, collecting, max_attempts, available_at)
            VALUES (v_group.user_id, v_group.channel, p_group_key, true, v_group.max_attempts, p_due_at)
            ON CONFLICT (user_id, channel, group_key) WHERE collecting DO NOTHING
            RETURNING id INTO v_digest;
            IF v_digest IS NULL THEN
                INSERT INTO deliveries (user_id, channel, group_key, collecting, max_attempts, available_at)
                VALUES (v_group.user_id, v_group.channel, p_group_key, false, v_group.max_attempts, p_due_at)
                RETURNING id INTO v_digest;
            END IF;
        END IF;
        UPDATE delivery_items SET delivery_id = v_digest
        WHERE delivery_id = ANY (v_group.ids) AND delivery_id <> v_digest;
        DELETE FROM deliveries WHERE id = ANY (v_group.ids) AND id <> v_digest;
    END LOOP;
END $$;

-- Claims the given pending jobs, which the calling statement has row-locked, as far as the
-- per-minute limit allows: an attempt counted, a fresh lock token, a digest closed to new items.
-- The others are folded into the overflow digest. Returns each claimed job with where it goes
-- now, what it carries and the language its user reads (null: the server's default).
CREATE OR REPLACE FUNCTION claim_deliveries(
    p_ids uuid[], p_email_per_minute integer, p_push_per_minute integer
)
RETURNS TABLE (id uuid, user_id text, channel text, group_key text, is_critical boolean,
               attempts integer, max_attempts integer, lock_token uuid, recipients text[],
               notification_ids uuid[], titles text[], summaries text[], severities text[],
               available_at timestamptz, language text)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
DECLARE
    v_minute timestamptz := date_trunc('minute', now());
    v_take uuid[];
    v_over uuid[];
BEGIN
    IF cardinality(p_ids) = 0 THEN
        RETURN;
    END IF;
    WITH jobs AS (
        SELECT d.id, d.user_id, d.channel, d.is_critical, d.available_at
        FROM deliveries d
        WHERE d.id = ANY (p_ids) AND d.status = 'pending'
    ),
    counted AS (
        -- Every job is counted toward this minute at first, under the lock of its user's and
        -- channel's counter row: what a concurrent claim committed meanwhile is included, and
        -- what was there before is the count less this claim's jobs. Locked in one order, so
        -- claiming workers wait for each other instead of deadlocking.
        INSERT INTO rate_limits AS rl (user_id, channel, window_start, count)
        SELECT j.user_id, j.channel, v_minute, count(*) FROM jobs j
        GROUP BY j.user_id, j.channel
        ORDER BY j.user_id, j.channel
        ON CONFLICT (user_id, channel, window_start) DO UPDATE SET count = rl.count + excluded.count
        RETURNING rl.user_id, rl.channel, rl.count
    ),
    ranked AS (
        -- Each job's place among this minute's messages: critical first, then oldest first.
        SELECT j.id, j.is_critical,
               c.count - count(*) OVER (PARTITION BY j.user_id, j.channel)
                   + row_number() OVER (PARTITION BY j.user_id, j.channel
                                        ORDER BY j.is_critical DESC, j.available_at, j.id)
                   AS place,
               CASE j.channel WHEN 'email' THEN p_email_per_minute ELSE p_push_per_minute END
                   AS per_minute
        FROM jobs j JOIN counted c ON c.user_id = j.user_id AND c.channel = j.channel
    )
    SELECT COALESCE(array_agg(r.id) FILTER (WHERE r.is_critical OR r.place <= r.per_minute), '{}'),
           COALESCE(array_agg(r.id) FILTER (WHERE NOT r.is_critical AND r.place > r.per_minute), '{}')
    INTO v_take, v_over
    FROM ranked r;

    IF cardinality(v_over) > 0 THEN
        -- Over the limit: not sent this minute after all, so not counted in it.
        UPDATE rate_limits rl SET count = rl.count - o.jobs
        FROM (SELECT d.user_id, d.channel, count(*) AS jobs FROM deliveries d
              WHERE d.id = ANY (v_over) GROUP BY d.user_id, d.channel) AS o
        WHERE rl.user_id = o.user_id AND rl.channel = o.channel AND rl.window_start = v_minute;
        PERFORM fold_deliveries(v_over, 'overflow', v_minute + interval '1 minute');
    END IF;

    RETURN QUERY
    WITH claimed AS (
        UPDATE deliveries d
        SET status = 'sending', attempts = d.attempts + 1, locked_at = now(),
            lock_token = gen_random_uuid(), collecting = false, updated_at = now()
        WHERE d.id = ANY (v_take)
        RETURNING d.*
    )
    SELECT c.id, c.user_id, c.channel, c.group_key, c.is_critical, c.attempts, c.max_attempts,
           c.lock_token, delivery_recipients(c.channel, p),
           it.notification_ids, it.titles, it.summaries, it.severities, c.available_at,
           p.language
    FROM claimed c
    JOIN preferences p ON p.user_id = c.user_id
    LEFT JOIN LATERAL delivery_contents(c.id, c.user_id) AS it ON true;
END $$;
