-- The pieces both of the worker's claims share (queries.sql: worker_claim, worker_claim_judged).

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
