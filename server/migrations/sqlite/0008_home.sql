-- SocialConnect Home: per-account feature switches, the audit log admins read, and the
-- sign-in flows (Facebook Login, X OAuth 1.0a) under way.

-- A missing row means every switch at its default (Send Image on).
CREATE TABLE account_features (
    account_id  INTEGER PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    send_image  INTEGER NOT NULL DEFAULT 1
);

-- Who linked, unlinked, relinked and changed settings; never deleted by the product.
CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY,
    account_id  INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    at          INTEGER NOT NULL, -- seconds
    actor       TEXT    NOT NULL,
    action      TEXT    NOT NULL,
    detail      TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_account_at ON audit_log (account_id, at, id);

-- One sign-in flow an admin started: its id is Facebook's `state` (or our own id for X,
-- found by the request token), bound to the admin's session. X's request token secret
-- and the Facebook pages (with their page tokens) are sealed like every network token.
CREATE TABLE oauth_pending (
    id               TEXT    PRIMARY KEY,
    account_id       INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    user_id          INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    session_binding  TEXT    NOT NULL,
    channel          TEXT    NOT NULL CHECK (channel IN ('facebook', 'twitter')),
    request_token    TEXT,
    secret_sealed    BLOB,
    pages_sealed     BLOB,
    created_at       INTEGER NOT NULL
);
CREATE INDEX oauth_pending_request_token ON oauth_pending (request_token);
