-- The outbox: an agent's or bot's reply is stored (line status 'sending') with its outbox
-- row before any network call; the senders of every instance work the rows off in order per
-- conversation. An instance claims a row by moving next_attempt_at past a lease: a row of an
-- instance that died becomes due again when its lease runs out.
ALTER TABLE messages ADD COLUMN sent_by BIGINT REFERENCES users (id) ON DELETE SET NULL;

CREATE TABLE outbox (
    message_id       BIGINT  PRIMARY KEY REFERENCES messages (id) ON DELETE CASCADE,
    conversation_id  BIGINT  NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    mode             TEXT    NOT NULL CHECK (mode IN ('public', 'private', 'private_response')),
    -- The network id answered: comment or post (Facebook public, private response),
    -- tweet (Twitter public); NULL for private messages.
    in_reply_to      TEXT,
    attempts         BIGINT  NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT  NOT NULL, -- milliseconds
    last_error       TEXT,
    created_at       BIGINT  NOT NULL
);
CREATE INDEX outbox_due ON outbox (next_attempt_at);
CREATE INDEX outbox_conversation ON outbox (conversation_id, message_id);
