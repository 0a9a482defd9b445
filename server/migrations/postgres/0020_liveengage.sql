-- The LiveEngage connector (issue 21): a brand account connected to its LiveEngage account
-- through the connector app installed there mirrors each of its conversations into one
-- LiveEngage conversation, and takes the agents' messages there back as replies.

-- The brand's LiveEngage account and connector app; the client secret is sealed with the
-- server's secret key, like network tokens. Webhooks name the account and client id.
CREATE TABLE liveengage_links (
    account_id            BIGINT PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    le_account_id         TEXT    NOT NULL,
    client_id             TEXT    NOT NULL,
    client_secret_sealed  BYTEA   NOT NULL,
    -- Our skills' LiveEngage skill ids: a JSON array of [name, id] pairs.
    skill_map             TEXT    NOT NULL DEFAULT '[]',
    -- Lines up to this id were stored before the link and are not mirrored.
    since_message_id      BIGINT NOT NULL,
    created_at            BIGINT NOT NULL,
    created_by            TEXT    NOT NULL,
    CONSTRAINT liveengage_links_app_key UNIQUE (le_account_id, client_id)
);

-- Where each conversation's mirror stands: the LiveEngage conversation it has now (none
-- before its first consumer line, and again once that one closed), the consumer's token
-- there (sealed), and its queue state: retries with back-off, and the instance working it
-- until when (ms, system time). `host_mode` is the reply mode an agent chose in the host
-- for the replies they write there.
CREATE TABLE liveengage_mirrors (
    conversation_id        BIGINT PRIMARY KEY REFERENCES conversations (id) ON DELETE CASCADE,
    le_conversation_id     TEXT,
    le_state               TEXT    NOT NULL DEFAULT 'none'
                           CHECK (le_state IN ('none', 'open', 'closing')),
    consumer_token_sealed  BYTEA,
    attempts               BIGINT NOT NULL DEFAULT 0,
    next_attempt_at        BIGINT NOT NULL DEFAULT 0,
    last_error             TEXT,
    claimed_by             TEXT,
    claimed_until          BIGINT,
    host_mode              TEXT CHECK (host_mode IN ('public', 'private', 'private_response'))
);

-- Each consumer line published in LiveEngage (or given up there), once: the lines of a
-- mirrored conversation not listed here are what waits. Keyed by the line alone, so a
-- line keeps its mark when its conversation is folded into another.
CREATE TABLE liveengage_lines (
    message_id       BIGINT PRIMARY KEY REFERENCES messages (id) ON DELETE CASCADE,
    published_at     BIGINT NOT NULL
);

-- Every LiveEngage conversation opened for one of ours: what webhooks and the host name.
CREATE TABLE liveengage_dialogs (
    le_conversation_id  TEXT    PRIMARY KEY,
    conversation_id     BIGINT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    account_id          BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    created_at          BIGINT NOT NULL
);
CREATE INDEX liveengage_dialogs_conversation ON liveengage_dialogs (conversation_id);

-- Agents' messages taken from LiveEngage's webhooks, once each per (conversation,
-- sequence), with the reply line each became.
CREATE TABLE liveengage_events (
    le_conversation_id  TEXT    NOT NULL,
    sequence            BIGINT NOT NULL,
    message_id          BIGINT REFERENCES messages (id) ON DELETE SET NULL,
    received_at         BIGINT NOT NULL,
    PRIMARY KEY (le_conversation_id, sequence)
);
