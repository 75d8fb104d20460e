-- THE DELIVERY RULES: does this email (or push) go out, and when?
--
-- Every question below is asked in one place; the functions in this file answer the ones that
-- are asked more than once, and everything else names the file that asks.
--
-- At send time, once per recipient (server/db/functions/send_notification.sql, one statement):
--   1. Stored at all? Not for a disabled user, nor when in-app is off and the severity is not
--      critical (outcome 'suppressed'); in-app is the user's choice for the notification's
--      topic where they made one (topic_preferences.in_app), else their in-app switch. A
--      duplicate idempotency key stores nothing new. Nothing that is not stored now is queued.
--   2. Queued on the channel? external_skip_reason() below is null: the channel's switch is on
--      (else 'preference_off'), the user has an address for it (delivery_recipients(); else
--      'no_address') and the severity may leave the server (severity_is_external(), warning
--      and critical; else 'below_severity'); a topic's choice (below) turns the channel off
--      for the topic ('topic_muted') or lifts the severity rule. The answer is kept on the
--      notification (email_decision, push_decision: 'queued' or the reason) for
--      delivery_report() below.
--   3. As what? Critical, or no batch_key: a job of its own, due now. Otherwise the item joins
--      the user's open digest for that channel and batch key, due digest_seconds after the
--      digest's first item.
-- At claim time, per due job (server/db/queries.sql worker_claim and worker_claim_judged,
-- server/worker/queue.py, server/db/functions/claim_deliveries.sql):
--   4. Which jobs? Pending and due, on the channels this worker sends (email only with
--      TRAYBELL_SMTP_URL: server/worker/runner.py), oldest first, skipping rows another worker
--      is claiming. The same statement first gives back to the queue the jobs whose worker
--      stopped refreshing its lock for TRAYBELL_LOCK_TIMEOUT_SECONDS (failed instead once
--      they have used all their attempts that way).
--   5. Quiet hours? A job quiet_hours_may_hold() is judged in the user's timezone
--      (shared/quiet_hours.py, called by server/worker/queue.py); one inside them is folded,
--      without spending an attempt, into the user's 'quiet' digest for the channel, due when
--      they end (fold_deliveries, claim_deliveries.sql).
--   6. Room this minute? claim_deliveries() counts every claim toward the user's per-minute
--      limit on the channel (TRAYBELL_EMAIL_PER_MINUTE / TRAYBELL_PUSH_PER_MINUTE); critical is
--      always taken, a non-critical job beyond the limit is folded into the 'overflow' digest,
--      due the next minute.
--   7. To whom? delivery_recipients() again, now: empty when the user turned the channel off
--      or removed the address after the job was queued.
-- At send, per claimed job (server/worker/sender.py, server/channels/):
--   8. Nothing to carry (its notifications were deleted) or nobody to send to (7): failed, at
--      once (sender.py).
--   9. An email address that is not usable or is the sender's own (a mail loop):
--      failed at once (channels/email.py). A push URL that reaches a refused address: failed
--      at once (channels/push_targets.py).
--  10. A permanent refusal (SMTP 5xx): failed. A transient one (SMTP 4xx, a dropped
--      connection): pending again after min(30 min, base x 2^attempts) less jitter
--      (worker/queue.py retry_delay), until max_attempts; then failed.
--
-- What happened since, for the admin ("why did Bob get no email?", GET
-- /v1/admin/notifications/{id}/deliveries and the console's user page), is delivery_report():
-- the decision of step 2 and the job that carries the notification now (its status, and as the
-- reason of a delay the digest it waits in: step 3, 5 or 6).
--
-- A topic's per-channel preference (topic_preferences.email / .push; true: that topic on this
-- channel at every severity; false: not on this channel; null: the rules above) is
-- p_topic_choice of external_skip_reason(): the send passes the notification's topic's choice
-- and nothing else changes.
--
-- Applied again whenever this file changes (server/db/migrate.py).

-- Whether the user switched the channel on.
CREATE OR REPLACE FUNCTION channel_enabled(p_channel text, p preferences) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE p_channel WHEN 'email' THEN p.email_enabled ELSE p.push_enabled END
$$;

-- Who can receive on a channel: the user's address for it (one email, or the push URLs), or
-- nothing when the user turned the channel off or has no address.
CREATE OR REPLACE FUNCTION delivery_recipients(p_channel text, p preferences) RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN NOT channel_enabled(p_channel, p) THEN '{}'::text[]
                WHEN p_channel = 'email' THEN
                    CASE WHEN p.email <> '' THEN ARRAY[p.email] ELSE '{}'::text[] END
                ELSE p.push_urls
           END
$$;

-- Whether a notification of this severity may leave the server on an external channel at all.
CREATE OR REPLACE FUNCTION severity_is_external(p_severity text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT p_severity IN ('warning', 'critical')
$$;

-- Why a stored notification of `p_severity` is not queued on `p_channel` for the user of `p`,
-- or null when it is queued. `p_topic_choice` is the user's choice for the notification's
-- topic on this channel (null: none).
CREATE OR REPLACE FUNCTION external_skip_reason(
    p_channel text, p_severity text, p preferences, p_topic_choice boolean DEFAULT NULL
) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN NOT channel_enabled(p_channel, p) THEN 'preference_off'
                WHEN NOT p_topic_choice THEN 'topic_muted'
                WHEN cardinality(delivery_recipients(p_channel, p)) = 0 THEN 'no_address'
                WHEN p_topic_choice IS NULL AND NOT severity_is_external(p_severity)
                    THEN 'below_severity'
           END
$$;

-- Whether the user's quiet hours may hold a job: they have some, and the job is not critical
-- (critical is never held). Whether they hold it now is judged in the user's timezone by the
-- worker (shared/quiet_hours.py).
CREATE OR REPLACE FUNCTION quiet_hours_may_hold(p_is_critical boolean, p preferences)
RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT NOT p_is_critical AND p.quiet_hours IS NOT NULL
$$;

-- The user's quiet hours with the zone they are read in: their own `timezone`, else the
-- user's `timezone` preference, else UTC.
CREATE OR REPLACE FUNCTION quiet_hours_in_zone(p preferences)
RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN p.quiet_hours ->> 'timezone' IS NOT NULL THEN p.quiet_hours
                ELSE p.quiet_hours || jsonb_build_object('timezone', COALESCE(p.timezone, 'UTC'))
           END
$$;

-- Why a queued notification waits: the digest its job collects for (a batch of step 3, quiet
-- hours of step 5, the per-minute overflow of step 6), or null for a message of its own.
CREATE OR REPLACE FUNCTION delivery_delay_reason(p_group_key text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN p_group_key LIKE 'batch:%' THEN 'digested'
                WHEN p_group_key = 'quiet' THEN 'quiet_hours'
                WHEN p_group_key = 'overflow' THEN 'rate_folded'
           END
$$;

-- One notification's external deliveries as the admin sees them, one row per channel:
-- `status` 'skipped' (with the send's reason), 'queued' (pending or being sent; with a delay
-- reason, if any), 'sent' or 'failed'; `at` when it was skipped (stored), is due, was sent or
-- failed. A queued notification whose job is gone was sent: only sent jobs are pruned
-- (TRAYBELL_DELIVERY_RETENTION_DAYS), and then `at` is unknown. A notification stored before
-- decisions were kept has a row only for a channel a job still carries it on.
CREATE OR REPLACE FUNCTION delivery_report(n notifications)
RETURNS TABLE (channel text, status text, reason text, at timestamptz, delivery_id uuid,
               attempts integer, last_error text, dismissed boolean)
LANGUAGE sql STABLE AS $$
    SELECT c.channel,
           CASE WHEN c.decision <> 'queued' THEN 'skipped'
                WHEN d.id IS NULL OR d.status = 'sent' THEN 'sent'
                WHEN d.status = 'failed' THEN 'failed'
                ELSE 'queued'
           END,
           CASE WHEN c.decision <> 'queued' THEN c.decision
                WHEN d.status IN ('pending', 'sending') THEN delivery_delay_reason(d.group_key)
           END,
           CASE WHEN c.decision <> 'queued' THEN n.created_at
                WHEN d.status = 'sent' THEN d.sent_at
                WHEN d.status = 'failed' THEN d.updated_at
                ELSE d.available_at
           END,
           d.id, d.attempts, d.last_error, d.dismissed_at IS NOT NULL
    FROM (VALUES ('email', n.email_decision), ('push', n.push_decision)) AS c(channel, decision)
    LEFT JOIN LATERAL (
        SELECT d.* FROM delivery_items i JOIN deliveries d ON d.id = i.delivery_id
        WHERE i.user_id = n.user_id AND i.notification_id = n.id AND d.channel = c.channel
        ORDER BY d.created_at DESC
        LIMIT 1
    ) AS d ON true
    WHERE c.decision IS NOT NULL OR d.id IS NOT NULL
    ORDER BY c.channel
$$;
