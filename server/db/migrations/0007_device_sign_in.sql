-- Device sign-in (RFC 8628 in this API's shape), tokens that know what they are, and
-- disabled users.

ALTER TABLE api_tokens
    ADD COLUMN name text NOT NULL DEFAULT 'API token',
    ADD COLUMN kind text NOT NULL DEFAULT 'api' CHECK (kind IN ('device', 'api')),
    -- kept to the minute, so a busy token writes once a minute, not on every request
    ADD COLUMN last_used_at timestamptz;

-- Set while the user is disabled: no token or session of theirs works, sends skip them.
ALTER TABLE users ADD COLUMN disabled_at timestamptz;

CREATE TABLE device_codes (
    -- SHA-256 of the device code, which only the client ever holds
    device_code_hash  bytea PRIMARY KEY,
    -- 8 letters of BCDFGHJKLMNPQRSTVWXZ, stored without the hyphen
    user_code         text NOT NULL UNIQUE,
    client_name       text NOT NULL,
    status            text NOT NULL DEFAULT 'pending'
                      CHECK (status IN ('pending', 'approved', 'denied', 'issued')),
    -- who approved or denied it
    user_id           text REFERENCES users ON DELETE CASCADE,
    interval_seconds  integer NOT NULL DEFAULT 5,
    last_polled_at    timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    expires_at        timestamptz NOT NULL
);
CREATE INDEX device_codes_expiry ON device_codes (expires_at);
