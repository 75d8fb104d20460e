-- A user's sync versions: every change to a user's notifications takes the next ones under the
-- user's row lock (held until commit), so a user's version order is their commit order, which
-- is what the sync cursor relies on.
--
-- Applied again whenever this file changes (server/db/migrate.py).

CREATE OR REPLACE FUNCTION next_sync_version(p_user_id text) RETURNS bigint
LANGUAGE sql VOLATILE AS $$
    UPDATE users SET sync_version = sync_version + 1 WHERE user_id = p_user_id
    RETURNING sync_version
$$;
