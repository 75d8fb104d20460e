-- Audiences: who an address list (`user:<id>`, `team:<id>`, `topic:<name>`) reaches. The send
-- resolves its `to` with these in its own transaction, and the console counts with them.
--
-- Applied again whenever this file changes (server/db/migrate.py).

-- An address as its kind and name: the kind ends at the first ':' (a topic name may hold ':').
CREATE OR REPLACE FUNCTION audience_addresses(p_to text[])
RETURNS TABLE (ordinal bigint, address text, kind text, name text)
LANGUAGE sql IMMUTABLE AS $$
    SELECT a.ordinal, a.address, split_part(a.address, ':', 1),
           substr(a.address, strpos(a.address, ':') + 1)
    FROM unnest(p_to) WITH ORDINALITY AS a(address, ordinal)
$$;

-- The addresses that name no user, team or declared topic (an unknown kind names nothing).
CREATE OR REPLACE FUNCTION unknown_addresses(p_to text[]) RETURNS text[]
LANGUAGE sql STABLE AS $$
    SELECT COALESCE(array_agg(a.address ORDER BY a.ordinal), '{}')
    FROM audience_addresses(p_to) AS a
    WHERE NOT CASE a.kind
        WHEN 'user' THEN EXISTS (SELECT 1 FROM users u WHERE u.user_id = a.name)
        WHEN 'team' THEN EXISTS (SELECT 1 FROM teams t WHERE t.team_id = a.name)
        WHEN 'topic' THEN EXISTS (SELECT 1 FROM topics t WHERE t.topic = a.name)
        ELSE false
    END
$$;

-- Each enabled user the addresses reach, once, with the first address (in list order) that
-- reaches them. One join per kind of address, whatever the number of members: a team of
-- thousands costs what a list of thousands of user ids costs. A topic reaches its subscribed
-- users and the members of its subscribed teams. A team or topic deleted meanwhile reaches
-- nobody; it is never an error.
CREATE OR REPLACE FUNCTION audience_members(p_to text[])
RETURNS TABLE (user_id text, audience text)
LANGUAGE sql STABLE AS $$
    WITH addresses AS (
        SELECT * FROM audience_addresses(p_to)
    ),
    reached AS (
        SELECT a.name AS user_id, a.ordinal
        FROM addresses a WHERE a.kind = 'user'
        UNION ALL
        SELECT m.user_id, a.ordinal
        FROM addresses a JOIN team_members m ON m.team_id = a.name
        WHERE a.kind = 'team'
        UNION ALL
        SELECT s.user_id, a.ordinal
        FROM addresses a JOIN topic_subscriptions s ON s.topic = a.name
        WHERE a.kind = 'topic'
        UNION ALL
        SELECT m.user_id, a.ordinal
        FROM addresses a
        JOIN topic_team_subscriptions ts ON ts.topic = a.name
        JOIN team_members m ON m.team_id = ts.team_id
        WHERE a.kind = 'topic'
    )
    SELECT DISTINCT ON (r.user_id) r.user_id, a.address
    FROM reached r
    JOIN addresses a ON a.ordinal = r.ordinal
    JOIN users u ON u.user_id = r.user_id
    WHERE u.disabled_at IS NULL
    ORDER BY r.user_id, r.ordinal
$$;
