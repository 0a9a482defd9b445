-- Skills, linked pages/accounts, consumers, conversations and their lines.
CREATE TABLE skills (
    id          INTEGER PRIMARY KEY,
    account_id  INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name        TEXT    NOT NULL,
    CONSTRAINT skills_account_name_key UNIQUE (account_id, name)
);

-- A Facebook page or Twitter/X account linked to a brand. Tokens are sealed with the
-- server's secret key (XChaCha20-Poly1305), never stored in the clear.
CREATE TABLE linked_accounts (
    id                 INTEGER PRIMARY KEY,
    account_id         INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    channel            TEXT    NOT NULL CHECK (channel IN ('facebook', 'twitter')),
    network_id         TEXT    NOT NULL,
    name               TEXT    NOT NULL,
    token_sealed       BLOB    NOT NULL,
    token_secret_sealed BLOB,
    skill_id           INTEGER REFERENCES skills (id) ON DELETE SET NULL,
    status             TEXT    NOT NULL DEFAULT 'linked'
                       CHECK (status IN ('linked', 'token_invalid', 'webhooks_failing', 'unlinked')),
    created_at         INTEGER NOT NULL,
    created_by         TEXT    NOT NULL,
    CONSTRAINT linked_accounts_channel_network_key UNIQUE (channel, network_id)
);

CREATE TABLE consumers (
    id                  INTEGER PRIMARY KEY,
    linked_account_id   INTEGER NOT NULL REFERENCES linked_accounts (id) ON DELETE CASCADE,
    network_id          TEXT    NOT NULL,
    handle              TEXT,
    name                TEXT,
    profile             TEXT,
    profile_fetched_at  INTEGER,
    CONSTRAINT consumers_linked_network_key UNIQUE (linked_account_id, network_id)
);

-- One conversation per consumer per linked account, public and private lines together.
CREATE TABLE conversations (
    id                 INTEGER PRIMARY KEY,
    linked_account_id  INTEGER NOT NULL REFERENCES linked_accounts (id) ON DELETE CASCADE,
    consumer_id        INTEGER NOT NULL REFERENCES consumers (id) ON DELETE CASCADE,
    skill_id           INTEGER REFERENCES skills (id) ON DELETE SET NULL,
    status             TEXT    NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    assigned_user_id   INTEGER REFERENCES users (id) ON DELETE SET NULL,
    created_at         INTEGER NOT NULL,
    last_message_at    INTEGER NOT NULL,
    CONSTRAINT conversations_consumer_key UNIQUE (linked_account_id, consumer_id)
);
CREATE INDEX conversations_skill_status ON conversations (skill_id, status, last_message_at);

-- network_id is the network's own id (Messenger mid, comment id, tweet id, DM event id):
-- unique per linked account, so a redelivered event stores nothing twice.
CREATE TABLE messages (
    id                 INTEGER PRIMARY KEY,
    conversation_id    INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    linked_account_id  INTEGER NOT NULL REFERENCES linked_accounts (id) ON DELETE CASCADE,
    network_id         TEXT,
    tag                TEXT    NOT NULL
                       CHECK (tag IN ('Public/Post', 'Public/Comment', 'Public/Thread', 'Private')),
    direction          TEXT    NOT NULL CHECK (direction IN ('in', 'out')),
    author             TEXT    NOT NULL CHECK (author IN ('consumer', 'agent', 'bot')),
    text               TEXT    NOT NULL DEFAULT '',
    reply_to           TEXT,
    status             TEXT    NOT NULL CHECK (status IN ('received', 'sending', 'sent', 'failed')),
    error              TEXT,
    edited             INTEGER NOT NULL DEFAULT 0,
    removed            INTEGER NOT NULL DEFAULT 0,
    created_at         INTEGER NOT NULL, -- the network's time, milliseconds
    received_at        INTEGER NOT NULL,
    CONSTRAINT messages_network_key UNIQUE (linked_account_id, network_id)
);
CREATE INDEX messages_conversation_time ON messages (conversation_id, created_at, id);

CREATE TABLE media (
    id           INTEGER PRIMARY KEY,
    message_id   INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    kind         TEXT    NOT NULL CHECK (kind IN ('image', 'gif', 'video', 'audio', 'file', 'sticker')),
    mime         TEXT,
    bytes        INTEGER,
    source_url   TEXT,
    stored_path  TEXT
);
CREATE INDEX media_message ON media (message_id);
