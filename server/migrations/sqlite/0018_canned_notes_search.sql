-- The agent's tools (issue 20): canned responses per brand account, and private notes on a
-- conversation. Search needs no table: it reads consumers and messages.

-- A canned response: `/shortcut` in the Reply box puts its text there, placeholders such as
-- {{consumer.first_name}} filled in. Shortcuts are stored lower-case, one per account.
CREATE TABLE canned_responses (
    id          INTEGER PRIMARY KEY,
    account_id  INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    shortcut    TEXT    NOT NULL,
    text        TEXT    NOT NULL,
    created_at  INTEGER NOT NULL, -- seconds
    updated_at  INTEGER NOT NULL,
    CONSTRAINT canned_responses_shortcut_key UNIQUE (account_id, shortcut)
);

-- A note an agent wrote on a conversation for the brand's people only. Kept apart from
-- `messages` on purpose: nothing that sends, exports or decides reply modes reads it.
CREATE TABLE notes (
    id               INTEGER PRIMARY KEY,
    conversation_id  INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    author_user_id   INTEGER REFERENCES users (id) ON DELETE SET NULL,
    text             TEXT    NOT NULL,
    created_at       INTEGER NOT NULL -- milliseconds, the server's clock
);
CREATE INDEX notes_conversation_time ON notes (conversation_id, created_at, id);
