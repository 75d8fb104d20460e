-- The jobs a worker still holds, locked for a change: of the given (id, lock_token) pairs, those
-- still in `sending` under that token. Every statement on held jobs (the heartbeat, the
-- completion, the release: queries.sql) changes only these, so a holder whose lease expired and
-- whose job was claimed again cannot touch the new holder's job. The rows are locked in id
-- order, so two of those statements on the same jobs (a heartbeat and a completion) wait for
-- each other instead of deadlocking.
--
-- Applied again whenever this file changes (server/db/migrate.py).

CREATE OR REPLACE FUNCTION held_deliveries(p_ids uuid[], p_lock_tokens uuid[])
RETURNS TABLE (id uuid) LANGUAGE sql VOLATILE AS $$
    SELECT d.id
    FROM deliveries d
    JOIN unnest(p_ids, p_lock_tokens) AS h(id, lock_token)
      ON h.id = d.id AND h.lock_token = d.lock_token
    WHERE d.status = 'sending'
    ORDER BY d.id
    FOR UPDATE OF d
$$;
