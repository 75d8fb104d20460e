-- Traybell's first schema.
--
-- Every table that holds user data carries user_id and every query filters by it, so the schema
-- can be distributed by user_id later (see docs/SCALING.md).

CREATE TABLE users (
    user_id       text PRIMARY KEY,
    display_name  text,
    is_admin      boolean NOT NULL DEFAULT false,
    -- Bumped under this row's lock in the same transaction as every change to the user's
    -- notifications, so a user's version order is their commit order (the sync cursor).
    sync_version  bigint NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_tokens (
    token_id    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     text NOT NULL REFERENCES users ON DELETE CASCADE,
    -- SHA-256 of a 256-bit random token: the clear token is shown once and never stored.
    token_hash  bytea NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);

CREATE TABLE preferences (
    user_id         text PRIMARY KEY REFERENCES users ON DELETE CASCADE,
    in_app_enabled  boolean NOT NULL DEFAULT true,
    email_enabled   boolean NOT NULL DEFAULT false,
    push_enabled    boolean NOT NULL DEFAULT false,
    digest_seconds  integer NOT NULL DEFAULT 300 CHECK (digest_seconds BETWEEN 0 AND 86400),
    email           text,
    push_urls       text[] NOT NULL DEFAULT '{}',
    -- {"start": "22:00", "end": "07:00", "timezone": "Europe/Berlin"} or null
    quiet_hours     jsonb,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE notifications (
    user_id          text NOT NULL REFERENCES users ON DELETE CASCADE,
    id               uuid NOT NULL DEFAULT gen_random_uuid(),
    event_name       text NOT NULL,
    title            text NOT NULL,
    summary          text,
    body             text NOT NULL DEFAULT '',
    target_url       text,
    severity         text NOT NULL CHECK (severity IN ('info', 'success', 'warning', 'critical')),
    data             jsonb NOT NULL DEFAULT '{}',
    idempotency_key  text,
    batch_key        text,
    -- Unread state is read_at alone: no second flag to drift from it.
    read_at          timestamptz,
    archived_at      timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    -- The user's sync_version when the row was stored (unique per user: the list order and the
    -- `up_to` of read-all) and when it last changed (the sync order).
    created_version  bigint NOT NULL,
    version          bigint NOT NULL,
    PRIMARY KEY (user_id, id)
);
-- The idempotency rule lives here: two identical webhooks, however concurrent, make one row.
CREATE UNIQUE INDEX notifications_idempotency
    ON notifications (user_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE UNIQUE INDEX notifications_user_created ON notifications (user_id, created_version);
CREATE INDEX notifications_user_sync ON notifications (user_id, version, id);
CREATE INDEX notifications_user_unread
    ON notifications (user_id, created_version) WHERE read_at IS NULL AND archived_at IS NULL;

-- One external message to send: a single notification, or a digest collecting several.
CREATE TABLE deliveries (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id       text NOT NULL REFERENCES users ON DELETE CASCADE,
    channel       text NOT NULL CHECK (channel IN ('email', 'push')),
    -- 'batch:<batch_key>' or 'overflow' for a digest; null for a single message.
    group_key     text,
    -- True while a digest still takes new items; cleared when a worker first claims it.
    collecting    boolean NOT NULL DEFAULT false,
    is_critical   boolean NOT NULL DEFAULT false,
    status        text NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'sending', 'sent', 'failed')),
    attempts      integer NOT NULL DEFAULT 0,
    max_attempts  integer NOT NULL,
    available_at  timestamptz NOT NULL DEFAULT now(),
    locked_at     timestamptz,
    -- A new token on every claim: a holder whose lease expired cannot record its result.
    lock_token    uuid,
    last_error    text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    sent_at       timestamptz
);
CREATE INDEX deliveries_claimable ON deliveries (available_at) WHERE status = 'pending';
CREATE INDEX deliveries_leased ON deliveries (locked_at) WHERE status = 'sending';
CREATE INDEX deliveries_by_status ON deliveries (status, updated_at DESC);
CREATE UNIQUE INDEX deliveries_open_digest
    ON deliveries (user_id, channel, group_key) WHERE collecting;

CREATE TABLE delivery_items (
    delivery_id      uuid NOT NULL REFERENCES deliveries ON DELETE CASCADE,
    user_id          text NOT NULL,
    notification_id  uuid NOT NULL,
    PRIMARY KEY (delivery_id, notification_id),
    FOREIGN KEY (user_id, notification_id) REFERENCES notifications ON DELETE CASCADE
);
CREATE INDEX delivery_items_notification ON delivery_items (user_id, notification_id);

-- Messages counted per user, channel and calendar minute.
CREATE TABLE rate_limits (
    user_id       text NOT NULL,
    channel       text NOT NULL,
    window_start  timestamptz NOT NULL,
    count         integer NOT NULL,
    PRIMARY KEY (user_id, channel, window_start)
);

-- Idle workers LISTEN on this channel; one notification per statement, not per row.
CREATE FUNCTION notify_deliveries() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('traybell_deliveries', '');
    RETURN NULL;
END $$;
CREATE TRIGGER deliveries_queued AFTER INSERT OR UPDATE OF status ON deliveries
    FOR EACH STATEMENT EXECUTE FUNCTION notify_deliveries();

-- The next sync version of a user, taken under the user's row lock (held until commit).
CREATE FUNCTION next_sync_version(p_user_id text) RETURNS bigint LANGUAGE sql VOLATILE AS $$
    UPDATE users SET sync_version = sync_version + 1 WHERE user_id = p_user_id
    RETURNING sync_version
$$;

-- Stores one notification for each recipient and queues its external deliveries, in one round
-- trip. Returns one row per recipient: outcome 'inserted', 'duplicate' (id of the existing row),
-- 'suppressed' (in-app off, not critical), or, when any recipient does not exist, only the
-- 'unknown' ones, with nothing stored.
CREATE FUNCTION send_notification(
    p_user_ids text[],  -- null: every user
    p_event_name text, p_title text, p_summary text, p_body text, p_target_url text,
    p_severity text, p_data jsonb, p_idempotency_key text, p_resource_id text, p_batch_key text,
    p_email_per_minute integer, p_push_per_minute integer, p_max_attempts integer
) RETURNS TABLE (user_id text, id uuid, outcome text) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_unknown text[];
    v_users text[];
    v_ids uuid[];
    v_outcomes text[];
BEGIN
    IF p_user_ids IS NOT NULL THEN
        SELECT array_agg(DISTINCT r.uid ORDER BY r.uid) INTO v_unknown
        FROM unnest(p_user_ids) AS r(uid)
        WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.user_id = r.uid);
        IF v_unknown IS NOT NULL THEN
            RETURN QUERY SELECT u, NULL::uuid, 'unknown'::text FROM unnest(v_unknown) AS u;
            RETURN;
        END IF;
    END IF;

    WITH recipients AS (
        -- Locked in user_id order, so concurrent fan-outs cannot deadlock.
        SELECT u.user_id, p.in_app_enabled OR p_severity = 'critical' AS stores,
               p.email_enabled AND p.email IS NOT NULL AS wants_email,
               p.push_enabled AND cardinality(p.push_urls) > 0 AS wants_push,
               p.digest_seconds
        FROM users u JOIN preferences p ON p.user_id = u.user_id
        WHERE p_user_ids IS NULL OR u.user_id = ANY (p_user_ids)
        ORDER BY u.user_id
        FOR UPDATE OF u
    ),
    bumped AS (
        UPDATE users u SET sync_version = u.sync_version + 1
        FROM recipients r
        WHERE u.user_id = r.user_id AND r.stores
        RETURNING u.user_id, u.sync_version
    ),
    stored AS (
        INSERT INTO notifications AS n (user_id, event_name, title, summary, body, target_url,
            severity, data, idempotency_key, batch_key, created_version, version)
        SELECT b.user_id, p_event_name, p_title, p_summary, p_body, p_target_url, p_severity,
               p_data, COALESCE(p_idempotency_key, b.user_id || ':' || p_event_name || ':' || p_resource_id),
               p_batch_key, b.sync_version, b.sync_version
        FROM bumped b
        ON CONFLICT (user_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
        RETURNING n.user_id, n.id
    ),
    wanted AS (
        -- The external channels each stored notification is due on (duplicates queue nothing).
        SELECT s.user_id, s.id AS notification_id, c.channel, r.digest_seconds
        FROM stored s
        JOIN recipients r ON r.user_id = s.user_id
        CROSS JOIN LATERAL (VALUES ('email', r.wants_email), ('push', r.wants_push)) AS c(channel, wanted)
        WHERE c.wanted AND p_severity IN ('warning', 'critical')
    ),
    counted AS (
        -- Individual messages count toward the per-minute limit as they are queued; batched
        -- ones are counted when their digest goes out.
        INSERT INTO rate_limits AS rl (user_id, channel, window_start, count)
        SELECT w.user_id, w.channel, date_trunc('minute', now()), 1
        FROM wanted w
        WHERE p_batch_key IS NULL OR p_severity = 'critical'
        ON CONFLICT (user_id, channel, window_start) DO UPDATE SET count = rl.count + 1
        RETURNING rl.user_id, rl.channel, rl.count
    ),
    routed AS (
        SELECT w.user_id, w.notification_id, w.channel,
               CASE
                   WHEN p_severity = 'critical' THEN NULL
                   WHEN p_batch_key IS NOT NULL THEN 'batch:' || p_batch_key
                   WHEN c.count > CASE w.channel WHEN 'email' THEN p_email_per_minute
                                                 ELSE p_push_per_minute END THEN 'overflow'
               END AS group_key,
               CASE
                   WHEN w.digest_seconds > 0 THEN now() + make_interval(secs => w.digest_seconds)
                   -- No digest window: overflow waits for the next minute's allowance.
                   WHEN p_batch_key IS NULL THEN date_trunc('minute', now()) + interval '1 minute'
                   ELSE now()
               END AS digest_at
        FROM wanted w
        LEFT JOIN counted c ON c.user_id = w.user_id AND c.channel = w.channel
    ),
    singles AS (
        INSERT INTO deliveries (user_id, channel, is_critical, max_attempts)
        SELECT r.user_id, r.channel, p_severity = 'critical', p_max_attempts
        FROM routed r WHERE r.group_key IS NULL
        RETURNING deliveries.id, deliveries.user_id, deliveries.channel
    ),
    digests AS (
        INSERT INTO deliveries AS d (user_id, channel, group_key, collecting, max_attempts, available_at)
        SELECT r.user_id, r.channel, r.group_key, true, p_max_attempts, r.digest_at
        FROM routed r WHERE r.group_key IS NOT NULL
        ON CONFLICT (user_id, channel, group_key) WHERE collecting
            DO UPDATE SET updated_at = now()
        RETURNING d.id, d.user_id, d.channel
    ),
    items AS (
        INSERT INTO delivery_items (delivery_id, user_id, notification_id)
        SELECT q.id, q.user_id, w.notification_id
        FROM (SELECT * FROM singles UNION ALL SELECT * FROM digests) AS q
        JOIN wanted w ON w.user_id = q.user_id AND w.channel = q.channel
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
       AND n.idempotency_key = COALESCE(p_idempotency_key, o.user_id || ':' || p_event_name || ':' || p_resource_id);
END $$;
