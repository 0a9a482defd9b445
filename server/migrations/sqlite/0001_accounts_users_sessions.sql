-- Brand accounts, their users, and sign-in sessions.
CREATE TABLE accounts (
    id                     INTEGER PRIMARY KEY,
    number                 TEXT    NOT NULL,
    name                   TEXT    NOT NULL,
    socialconnect_enabled  INTEGER NOT NULL DEFAULT 0,
    created_at             INTEGER NOT NULL,
    CONSTRAINT accounts_number_key UNIQUE (number)
);

-- Support staff have no account (account_id IS NULL) and work across accounts.
CREATE TABLE users (
    id             INTEGER PRIMARY KEY,
    account_id     INTEGER REFERENCES accounts (id) ON DELETE CASCADE,
    email          TEXT    NOT NULL,
    name           TEXT    NOT NULL,
    role           TEXT    NOT NULL CHECK (role IN ('admin', 'agent', 'support')),
    password_hash  TEXT    NOT NULL,
    created_at     INTEGER NOT NULL,
    CHECK ((role = 'support') = (account_id IS NULL))
);
CREATE UNIQUE INDEX users_account_email_key ON users (coalesce(account_id, 0), lower(email));

-- Only a SHA-256 of the session token is stored, so a copy of the database signs no one in.
CREATE TABLE sessions (
    token_hash  TEXT    PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token  TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);
CREATE INDEX sessions_expires_at ON sessions (expires_at);
