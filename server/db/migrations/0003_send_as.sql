-- A send that checks its caller's token in the same statement, so the API can skip a separate
-- authentication round trip for a token it has seen before and a revoked token still stops
-- working at once: the check runs in the send's own snapshot. Outcome 'unauthorized' (no such
-- token) or 'forbidden' (not an admin) comes back as the only row, with nothing stored.
CREATE FUNCTION send_notification_as(
    p_token_hash bytea,
    p_user_ids text[],
    p_event_name text, p_title text, p_summary text, p_body text, p_target_url text,
    p_severity text, p_data jsonb, p_idempotency_key text, p_resource_id text, p_batch_key text,
    p_email_per_minute integer, p_push_per_minute integer, p_max_attempts integer
) RETURNS TABLE (user_id text, id uuid, outcome text) LANGUAGE plpgsql AS $$
DECLARE
    v_is_admin boolean;
BEGIN
    SELECT u.is_admin INTO v_is_admin
    FROM api_tokens t JOIN users u ON u.user_id = t.user_id
    WHERE t.token_hash = p_token_hash;
    IF v_is_admin IS NULL THEN
        RETURN QUERY SELECT NULL::text, NULL::uuid, 'unauthorized'::text;
        RETURN;
    END IF;
    IF NOT v_is_admin THEN
        RETURN QUERY SELECT NULL::text, NULL::uuid, 'forbidden'::text;
        RETURN;
    END IF;
    RETURN QUERY
    SELECT s.user_id, s.id, s.outcome
    FROM send_notification(p_user_ids, p_event_name, p_title, p_summary, p_body, p_target_url,
                           p_severity, p_data, p_idempotency_key, p_resource_id, p_batch_key,
                           p_email_per_minute, p_push_per_minute, p_max_attempts) AS s;
END $$;
