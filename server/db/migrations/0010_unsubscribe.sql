-- One-click unsubscribe (RFC 8058): each email carries a token of its own that turns its
-- user's email off and does nothing else. Only a SHA-256 of it is stored.
CREATE TABLE unsubscribe_tokens (
    token_hash  bytea PRIMARY KEY,
    user_id     text NOT NULL REFERENCES users ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX unsubscribe_tokens_user ON unsubscribe_tokens (user_id);
