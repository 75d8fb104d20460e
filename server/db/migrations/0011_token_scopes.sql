-- Token scopes: what a token may do, apart from who its user is. `admin` tokens make admin
-- calls (while their user is an admin), `user` tokens act only as their user, `ingest` tokens
-- (integrations) reach no /v1 call at all.

ALTER TABLE api_tokens
    ADD COLUMN scope text NOT NULL DEFAULT 'user' CHECK (scope IN ('admin', 'user', 'ingest'));
ALTER TABLE api_tokens ALTER COLUMN scope DROP DEFAULT;

-- Every token keeps the power it had in effect: an admin's API tokens made admin calls, so
-- they stay admin; an admin's device tokens become `user` (a device sign-in never asked for
-- more; the README's upgrade note says so).
UPDATE api_tokens t SET scope = 'admin'
FROM users u
WHERE u.user_id = t.user_id AND u.is_admin AND t.kind = 'api';

-- What a device sign-in asks for; only an admin may approve `admin`.
ALTER TABLE device_codes
    ADD COLUMN scope text NOT NULL DEFAULT 'user' CHECK (scope IN ('admin', 'user'));
