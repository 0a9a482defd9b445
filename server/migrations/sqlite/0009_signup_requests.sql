-- Onboarding: a brand account's request to have SocialConnect enabled (one per account),
-- and the chat between the brand's people and support that goes with it.
CREATE TABLE signup_requests (
    id            INTEGER PRIMARY KEY,
    account_id    INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    requested_by  INTEGER REFERENCES users (id) ON DELETE SET NULL,
    status        TEXT    NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'enabled')),
    created_at    INTEGER NOT NULL, -- ms
    enabled_at    INTEGER,          -- ms
    enabled_by    INTEGER REFERENCES users (id) ON DELETE SET NULL,
    home_url      TEXT,
    CONSTRAINT signup_requests_account_key UNIQUE (account_id)
);

CREATE TABLE signup_messages (
    id           INTEGER PRIMARY KEY,
    request_id   INTEGER NOT NULL REFERENCES signup_requests (id) ON DELETE CASCADE,
    author_id    INTEGER REFERENCES users (id) ON DELETE SET NULL,
    author       TEXT    NOT NULL CHECK (author IN ('brand', 'support', 'system')),
    author_name  TEXT    NOT NULL,
    text         TEXT    NOT NULL,
    link         TEXT,
    created_at   INTEGER NOT NULL -- ms
);
CREATE INDEX signup_messages_request ON signup_messages (request_id, id);
