-- A user's sync versions: every change to a user's notifications takes the next ones under the
-- user's row lock (held until commit), so a user's version order is their commit order, which
-- is what the sync cursor relies on.
--
-- Applied again whenever this file changes (server/db/migrate.py).

-- Takes the user's next `p_count` versions in one step and returns the first of them: a
-- change of many rows updates the user's row once, not once per row.
CREATE OR REPLACE FUNCTION take_sync_versions(p_user_id text, p_count bigint) RETURNS bigint
LANGUAGE sql VOLATILE AS $$
    UPDATE users SET sync_version = sync_version + p_count WHERE user_id = p_user_id
    RETURNING sync_version - p_count + 1
$$;
