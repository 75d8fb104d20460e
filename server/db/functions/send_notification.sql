-- The send: what a new notification stores, and what it queues for the external channels
-- (steps 1-3 of the delivery rules, delivery_rules.sql). Which of the queued jobs may leave
-- when (the per-minute limit, quiet hours) is the claim's business: claim_deliveries.sql.
--
-- Applied again whenever this file changes (server/db/migrate.py).

-- The idempotency key a resource_id gives: user_id:event_name:resource_id. Both names may hold
-- ':', so each ':' of the event name is written '%3A' (an event name never holds '%'): the
-- event name then ends at the first ':' after the user id, and event 'a:b' with resource 'c'
-- no longer gives the key of event 'a' with resource 'b:c'. An event name without ':' gives the
-- key it always gave, so the keys stored for those stay valid.
CREATE OR REPLACE FUNCTION derived_idempotency_key(
    p_user_id text, p_event_name text, p_resource_id text
) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT p_user_id || ':' || replace(p_event_name, ':', '%3A') || ':' || p_resource_id
$$;

-- Stores one notification for each recipient, queues its external deliveries and records the
-- send in the audit log, in one round trip: the event is written by the statement that stores,
-- so there is none without the send. Returns one row per recipient: outcome 'inserted',
-- 'duplicate' (id of the existing row), 'suppressed' (in-app off, for the notification's topic
-- or altogether, and not critical, or the user is disabled), or, when any recipient does not
-- exist, only the 'unknown' ones, with nothing stored and nothing recorded. The event holds
-- counts, the event name and the severity: never the text or data.
--
-- The recipients are `p_to`, an audience (functions/audiences.sql) resolved here, in the
-- send's own transaction, each row keeping the address that reached its user (an unknown
-- address comes back as the 'unknown' row's user_id); else `p_user_ids`.
CREATE OR REPLACE FUNCTION send_notification(
    p_user_ids text[],  -- null: every user
    p_event_name text, p_title text, p_summary text, p_body text, p_target_url text,
    p_severity text, p_data jsonb, p_idempotency_key text, p_resource_id text, p_batch_key text,
    p_max_attempts integer,
    -- who sends, for the audit event (all null and p_via 'cli' from the command line)
    p_actor_user_id text DEFAULT NULL, p_actor_token_id uuid DEFAULT NULL,
    p_ip inet DEFAULT NULL, p_via text DEFAULT NULL,
    p_to text[] DEFAULT NULL, p_topic text DEFAULT NULL,
    -- only these of the recipients: a scheduled send in each recipient's own wall-clock time
    -- is made to each of them at their time (functions/timers.sql); null: all of them
    p_only text[] DEFAULT NULL
) RETURNS TABLE (user_id text, id uuid, outcome text) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_unknown text[];
    v_recipients text[];
    -- user_id -> the address that reached them, for a send to `p_to`: a key lookup per row,
    -- where a join to two unnested arrays was planned as a loop over both (10,000 x 10,000).
    v_audience_of jsonb;
    v_users text[];
    v_ids uuid[];
    v_outcomes text[];
BEGIN
    IF p_to IS NOT NULL THEN
        v_unknown := unknown_addresses(p_to);
        IF cardinality(v_unknown) > 0 THEN
            RETURN QUERY SELECT a, NULL::uuid, 'unknown'::text FROM unnest(v_unknown) AS a;
            RETURN;
        END IF;
        SELECT COALESCE(array_agg(m.user_id), '{}'), jsonb_object_agg(m.user_id, m.audience)
        INTO v_recipients, v_audience_of
        FROM audience_members(p_to) AS m;
    ELSIF p_user_ids IS NOT NULL THEN
        SELECT array_agg(DISTINCT r.uid ORDER BY r.uid) INTO v_unknown
        FROM unnest(p_user_ids) AS r(uid)
        WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.user_id = r.uid);
        IF v_unknown IS NOT NULL THEN
            RETURN QUERY SELECT u, NULL::uuid, 'unknown'::text FROM unnest(v_unknown) AS u;
            RETURN;
        END IF;
    END IF;
    -- Every user but the disabled ones, or the ids named: as one array, the statement below
    -- has the same good plan (index lookups) whether planned for these values or generically.
    IF p_to IS NULL THEN
        v_recipients := COALESCE(p_user_ids,
                                 ARRAY(SELECT u.user_id FROM users u WHERE u.disabled_at IS NULL));
    END IF;
    IF p_only IS NOT NULL THEN
        v_recipients := ARRAY(SELECT unnest(v_recipients) INTERSECT SELECT unnest(p_only));
    END IF;
    -- A fan-out's statement below is planned for its own recipients, every time. After five
    -- runs in a session PostgreSQL may keep a generic plan, which guesses a few recipients and
    -- joins the CTEs by nested loops: 10,000 x 10,000 rows, minutes instead of a second. For the
    -- rest of this transaction (a fan-out runs alone: the statement's own); the sends of a
    -- batch, few recipients each, keep the generic plan send_notifications() asks for.
    IF cardinality(v_recipients) > 100 THEN
        PERFORM set_config('plan_cache_mode', 'force_custom_plan', true);
    END IF;

    WITH recipients AS (
        -- Locked in user_id order, so concurrent fan-outs cannot deadlock.
        -- A disabled user is skipped (suppressed), whatever the severity; `all_users` leaves
        -- them out altogether.
        -- The user's overrides for the notification's topic (delivery_rules.sql, steps 1
        -- and 2): in-app off mutes the topic but critical; email or push on sends it at every
        -- severity, off sends none; null keeps the channel's rule.
        SELECT u.user_id,
               u.disabled_at IS NULL
                   AND (COALESCE(tp.in_app, p.in_app_enabled) OR p_severity = 'critical')
                   AS stores,
               external_skip_reason('email', p_severity, p, tp.email) AS email_skipped,
               external_skip_reason('push', p_severity, p, tp.push) AS push_skipped,
               p.digest_seconds
        FROM users u JOIN preferences p ON p.user_id = u.user_id
        LEFT JOIN topic_preferences tp ON tp.user_id = u.user_id AND tp.topic = p_topic
        WHERE u.user_id = ANY (v_recipients)
        ORDER BY u.user_id
        FOR UPDATE OF u
    ),
    bumped AS (
        UPDATE users u SET sync_version = u.sync_version + 1
        FROM recipients r
        WHERE u.user_id = r.user_id AND r.stores AND u.user_id = ANY (v_recipients)
        RETURNING u.user_id, u.sync_version, r.email_skipped, r.push_skipped
    ),
    stored AS (
        -- With what was decided for each external channel, for the admin's "why not?".
        INSERT INTO notifications AS n (user_id, event_name, title, summary, body, target_url,
            severity, data, idempotency_key, batch_key, created_version, version,
            email_decision, push_decision, topic, audience)
        SELECT b.user_id, p_event_name, p_title, p_summary, p_body, p_target_url, p_severity,
               p_data, COALESCE(p_idempotency_key,
                                derived_idempotency_key(b.user_id, p_event_name, p_resource_id)),
               p_batch_key, b.sync_version, b.sync_version,
               COALESCE(b.email_skipped, 'queued'), COALESCE(b.push_skipped, 'queued'), p_topic,
               v_audience_of ->> b.user_id
        FROM bumped b
        ON CONFLICT (user_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
        RETURNING n.user_id, n.id
    ),
    wanted AS (
        -- The external channels each stored notification is due on (duplicates queue nothing).
        SELECT s.user_id, s.id AS notification_id, c.channel, r.digest_seconds
        FROM stored s
        JOIN recipients r ON r.user_id = s.user_id
        CROSS JOIN LATERAL (VALUES ('email', r.email_skipped IS NULL),
                                   ('push', r.push_skipped IS NULL)) AS c(channel, wanted)
        WHERE c.wanted
    ),
    singles AS (
        -- Critical never waits for a digest; without a batch key there is none to wait for.
        INSERT INTO deliveries (user_id, channel, is_critical, max_attempts)
        SELECT w.user_id, w.channel, p_severity = 'critical', p_max_attempts
        FROM wanted w WHERE p_batch_key IS NULL OR p_severity = 'critical'
        RETURNING deliveries.id, deliveries.user_id, deliveries.channel
    ),
    digests AS (
        -- One open digest per user, channel and batch key takes what arrives until it is due.
        INSERT INTO deliveries AS d (user_id, channel, group_key, collecting, max_attempts, available_at)
        SELECT w.user_id, w.channel, 'batch:' || p_batch_key, true, p_max_attempts,
               now() + make_interval(secs => w.digest_seconds)
        FROM wanted w WHERE p_batch_key IS NOT NULL AND p_severity <> 'critical'
        ON CONFLICT (user_id, channel, group_key) WHERE collecting
            DO UPDATE SET updated_at = now()
        RETURNING d.id, d.user_id, d.channel
    ),
    items AS (
        INSERT INTO delivery_items (delivery_id, user_id, notification_id)
        SELECT q.id, q.user_id, w.notification_id
        FROM (SELECT * FROM singles UNION ALL SELECT * FROM digests) AS q
        JOIN wanted w ON w.user_id = q.user_id AND w.channel = q.channel
    ),
    audited AS (
        INSERT INTO audit_events (actor_user_id, actor_token_id, action, target_user_id, ip,
                                  details)
        SELECT p_actor_user_id, p_actor_token_id, 'notification.send',
               CASE WHEN count(*) = 1 THEN min(r.user_id) END, p_ip,
               jsonb_strip_nulls(jsonb_build_object(
                   'event_name', p_event_name, 'severity', p_severity,
                   'recipients', count(*), 'inserted', count(s.id),
                   'duplicates', count(*) FILTER (WHERE r.stores AND s.id IS NULL),
                   'via', p_via,
                   -- a source's send names its integration: the one its token belongs to
                   'integration_id', CASE WHEN p_via IN ('alertmanager', 'gotify', 'ntfy') THEN
                       (SELECT i.integration_id FROM integrations i
                        WHERE i.token_id = p_actor_token_id) END))
        FROM recipients r LEFT JOIN stored s ON s.user_id = r.user_id
    )
    SELECT array_agg(r.user_id), array_agg(s.id),
           array_agg(CASE WHEN NOT r.stores THEN 'suppressed'
                          WHEN s.id IS NULL THEN 'duplicate'
                          ELSE 'inserted' END)
    INTO v_users, v_ids, v_outcomes
    FROM recipients r LEFT JOIN stored s ON s.user_id = r.user_id;

    -- A new statement, so a new snapshot: it sees the row a concurrent duplicate committed.
    RETURN QUERY
    SELECT o.user_id, COALESCE(o.id, n.id), o.outcome
    FROM unnest(v_users, v_ids, v_outcomes) AS o(user_id, id, outcome)
    LEFT JOIN notifications n
        ON o.outcome = 'duplicate' AND n.user_id = o.user_id
       AND n.idempotency_key = COALESCE(p_idempotency_key,
                                        derived_idempotency_key(o.user_id, p_event_name, p_resource_id));
END $$;

-- Many sends in one transaction, so that they share one commit (server/sending.py gathers
-- them): each send is send_notification() above, in a subtransaction of its own, so one that
-- fails leaves the others stored and reports outcome 'failed' (its caller then runs it alone,
-- where it fails as it would have). Every recipient of the batch is locked first, in user_id
-- order: a batch then holds all its locks before it waits for any row, and two batches (or a
-- batch and a fan-out) never deadlock, whatever recipients they share. Send i names the
-- p_recipient_counts[i] recipients that follow those of the sends before it in p_recipients.
-- The data come as JSON text, parsed inside each send's subtransaction: a value PostgreSQL
-- refuses (NaN) fails that send alone. Returns send_notification()'s rows, each with the
-- number of its send. With `p_to`, every send of the batch goes to that audience instead
-- (resolved by each send, in this transaction), and p_recipients names nobody.
CREATE OR REPLACE FUNCTION send_notifications(
    p_recipients text[], p_recipient_counts integer[],
    p_event_names text[], p_titles text[], p_summaries text[], p_bodies text[],
    p_target_urls text[], p_severities text[], p_data text[], p_idempotency_keys text[],
    p_resource_ids text[], p_batch_keys text[], p_max_attempts integer,
    p_actor_user_ids text[], p_actor_token_ids uuid[], p_ips inet[], p_vias text[],
    p_topics text[], p_to text[] DEFAULT NULL
) RETURNS TABLE (send_no integer, user_id text, id uuid, outcome text) LANGUAGE plpgsql
-- The sends of a batch name few recipients each: a plan made once per connection serves them
-- all, where planning the send afresh for each (PostgreSQL's choice here) cost more than
-- running it. Fan-outs, which do not come here, keep plans made for their own recipients.
SET plan_cache_mode = force_generic_plan AS $$
#variable_conflict use_column
DECLARE
    v_first integer := 1;
    v_users text[];
    v_ids uuid[];
    v_outcomes text[];
BEGIN
    PERFORM 1 FROM users u WHERE u.user_id = ANY (p_recipients) ORDER BY u.user_id FOR UPDATE;
    FOR i IN 1 .. cardinality(p_event_names) LOOP
        BEGIN
            SELECT array_agg(s.user_id), array_agg(s.id), array_agg(s.outcome)
            INTO v_users, v_ids, v_outcomes
            FROM send_notification(
                p_recipients[v_first : v_first + p_recipient_counts[i] - 1],
                p_event_names[i], p_titles[i], p_summaries[i], p_bodies[i], p_target_urls[i],
                p_severities[i], p_data[i]::jsonb, p_idempotency_keys[i], p_resource_ids[i],
                p_batch_keys[i], p_max_attempts,
                p_actor_user_ids[i], p_actor_token_ids[i], p_ips[i], p_vias[i],
                p_to => p_to, p_topic => p_topics[i]) AS s;
        EXCEPTION WHEN OTHERS THEN
            v_users := ARRAY[NULL::text];
            v_ids := ARRAY[NULL::uuid];
            v_outcomes := ARRAY['failed'];
        END;
        RETURN QUERY SELECT i, o.user_id, o.id, o.outcome
                     FROM unnest(v_users, v_ids, v_outcomes) AS o(user_id, id, outcome);
        v_first := v_first + p_recipient_counts[i];
    END LOOP;
END $$;
