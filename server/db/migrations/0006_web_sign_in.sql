-- Web sign-in: passwords, server-side sessions, one-time invites and the sign-in throttle.
-- Nothing here stores a secret in the clear: passwords as argon2 hashes, session ids, invite
-- tokens and typed logins as SHA-256 digests of high-entropy values.

ALTER TABLE users ADD COLUMN password_hash text;

-- Sign-in by email needs a quick, case-blind lookup.
CREATE INDEX preferences_email ON preferences (lower(email)) WHERE email IS NOT NULL;

CREATE TABLE web_sessions (
    session_hash  bytea PRIMARY KEY,
    user_id       text NOT NULL REFERENCES users ON DELETE CASCADE,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL
);
CREATE INDEX web_sessions_user ON web_sessions (user_id);
CREATE INDEX web_sessions_expiry ON web_sessions (expires_at);

-- One live invite per user: a newer one replaces the older.
CREATE TABLE invites (
    user_id     text PRIMARY KEY REFERENCES users ON DELETE CASCADE,
    token_hash  bytea NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);

-- Throttled attempts, shared by every server replica: sign-ins per typed login (digested: it
-- may be a password typed into the wrong field), device codes entered per session.
CREATE TABLE attempts (
    key_hash      bytea NOT NULL,
    attempted_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX attempts_key ON attempts (key_hash, attempted_at);
