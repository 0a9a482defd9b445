-- The outbox: an agent's or bot's reply is stored (line status 'sending') with its outbox
-- row before any network call; the sender works the rows off in order per conversation.
ALTER TABLE messages ADD COLUMN sent_by INTEGER REFERENCES users (id) ON DELETE SET NULL;

CREATE TABLE outbox (
    message_id       INTEGER PRIMARY KEY REFERENCES messages (id) ON DELETE CASCADE,
    conversation_id  INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    mode             TEXT    NOT NULL CHECK (mode IN ('public', 'private', 'private_response')),
    -- The network id answered: comment or post (Facebook public, private response),
    -- tweet (Twitter public); NULL for private messages.
    in_reply_to      TEXT,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL, -- milliseconds
    last_error       TEXT,
    created_at       INTEGER NOT NULL
);
CREATE INDEX outbox_due ON outbox (next_attempt_at);
CREATE INDEX outbox_conversation ON outbox (conversation_id, message_id);
