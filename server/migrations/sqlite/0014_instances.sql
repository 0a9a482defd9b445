-- Several instances sharing one database (issue 17): who holds each outbox claim, bot
-- turns' claims, the fingerprint of the key tokens are sealed with, and sign-in failure
-- counts every instance sees.

-- The instance (a random id per process) whose sender claimed the row; a late answer of
-- an instance whose claim was taken over changes nothing but a sent line (see
-- `Store::mark_sent`).
ALTER TABLE outbox ADD COLUMN claimed_by TEXT;

-- A bot turn under way on a conversation: the instance running it and until when (ms,
-- system time) its claim holds unless renewed; an instance that died holds it no longer.
CREATE TABLE bot_turns (
    conversation_id  INTEGER PRIMARY KEY REFERENCES conversations (id) ON DELETE CASCADE,
    owner            TEXT    NOT NULL,
    lease_until      INTEGER NOT NULL
);

-- HMAC-SHA256 of a fixed label under the secret key (never the key): an instance started
-- with another key refuses to start instead of failing to open every token.
CREATE TABLE key_fingerprint (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    fingerprint  TEXT    NOT NULL,
    recorded_at  INTEGER NOT NULL
);

-- Sign-in attempts per window: `key` is a SHA-256 of what is counted (an account number
-- and email, or a client address), so no email or address is kept in the clear.
CREATE TABLE sign_in_attempts (
    key           TEXT    PRIMARY KEY,
    window_start  INTEGER NOT NULL, -- milliseconds
    attempts      INTEGER NOT NULL
);
CREATE INDEX sign_in_attempts_window ON sign_in_attempts (window_start);
