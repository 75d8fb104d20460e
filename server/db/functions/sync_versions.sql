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

-- Whether this database can have issued the sync cursor (version, id): a sync cursor names a
-- change it returned, one of the user's notifications at that version, and a row's version
-- only grows (rows go only with their user). A cursor that names no change (the start, or
-- read-all's) needs a version the user has reached. A database restored to an earlier state,
-- rebuilt or replaced fails this for a client that saw changes it does not hold.
CREATE OR REPLACE FUNCTION sync_cursor_issued(
    p_user_id text, p_after_version bigint, p_after_id uuid
) RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN p_after_id = '00000000-0000-0000-0000-000000000000'::uuid
            THEN p_after_version <= (SELECT sync_version FROM users WHERE user_id = p_user_id)
        ELSE EXISTS (SELECT 1 FROM notifications
                     WHERE user_id = p_user_id AND id = p_after_id AND version >= p_after_version)
    END
$$;
