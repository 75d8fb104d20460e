-- The claim both of the worker's claiming queries share (queries.sql: worker_claim and
-- worker_claim_judged), and its parts.

-- Where a job goes now: the user's address for its channel, or nothing when the user turned the
-- channel off or removed the address after the job was queued.
CREATE FUNCTION delivery_recipients(p_channel text, p preferences) RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN p_channel = 'email'
                THEN CASE WHEN p.email_enabled AND p.email <> '' THEN ARRAY[p.email]
                          ELSE '{}'::text[] END
                ELSE CASE WHEN p.push_enabled THEN p.push_urls ELSE '{}'::text[] END
           END
$$;

-- What a job carries: the privacy-safe fields of its notifications, oldest first. (A function,
-- not a view, so that it is inlined with the job's id and reads only that job's items.)
CREATE FUNCTION delivery_contents(p_delivery_id uuid, p_user_id text)
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

-- Claims the given pending jobs, which the calling statement has row-locked: an attempt counted,
-- a fresh lock token, a digest closed to new items. Returns each job with where it goes now and
-- what it carries.
CREATE FUNCTION claim_deliveries(p_ids uuid[])
RETURNS TABLE (id uuid, user_id text, channel text, group_key text, is_critical boolean,
               attempts integer, max_attempts integer, lock_token uuid, recipients text[],
               notification_ids uuid[], titles text[], summaries text[], severities text[],
               available_at timestamptz)
LANGUAGE sql VOLATILE AS $$
    WITH claimed AS (
        UPDATE deliveries d
        SET status = 'sending', attempts = d.attempts + 1, locked_at = now(),
            lock_token = gen_random_uuid(), collecting = false, updated_at = now()
        WHERE d.id = ANY (p_ids) AND d.status = 'pending'
        RETURNING d.*
    )
    SELECT c.id, c.user_id, c.channel, c.group_key, c.is_critical, c.attempts, c.max_attempts,
           c.lock_token, delivery_recipients(c.channel, p),
           it.notification_ids, it.titles, it.summaries, it.severities, c.available_at
    FROM claimed c
    JOIN preferences p ON p.user_id = c.user_id
    LEFT JOIN LATERAL delivery_contents(c.id, c.user_id) AS it ON true
$$;
