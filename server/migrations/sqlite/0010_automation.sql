-- Automation (issue #5): per linked page or account, a bot answers private conversations
-- and hands them to people; an optional satisfaction survey when they close.

-- `settings` is the admin's JSON (shared::automation::AutomationSettings). The external
-- bot's signing secret is sealed with the server's token cipher; of its API token only a
-- SHA-256 is kept. Lines received before `enabled_at` (ms) are never the bot's.
CREATE TABLE automation_settings (
    linked_account_id  INTEGER PRIMARY KEY REFERENCES linked_accounts (id) ON DELETE CASCADE,
    enabled            INTEGER NOT NULL DEFAULT 0,
    settings           TEXT    NOT NULL,
    secret_sealed      BLOB,
    token_hash         TEXT,
    enabled_at         INTEGER NOT NULL DEFAULT 0,
    updated_at         INTEGER NOT NULL
);
CREATE UNIQUE INDEX automation_settings_token ON automation_settings (token_hash);

-- Who has each conversation the bot has looked at: 'bot' (the bot answers; not in the
-- agents' queue), 'people' (handed over or taken; the bot is quiet until it closes),
-- 'survey' (closed, the 1-5 question asked; not in the queue), 'idle' (closed; the next
-- private line may start the bot again). `last_line_id` is the last consumer line seen.
CREATE TABLE bot_conversations (
    conversation_id  INTEGER PRIMARY KEY REFERENCES conversations (id) ON DELETE CASCADE,
    state            TEXT    NOT NULL CHECK (state IN ('bot', 'people', 'survey', 'idle')),
    last_line_id     INTEGER NOT NULL DEFAULT 0,
    away_sent        INTEGER NOT NULL DEFAULT 0,
    -- An event went to the external bot: it must answer or hand over by then (ms).
    answer_by        INTEGER,
    reason           TEXT,
    updated_at       INTEGER NOT NULL
);
CREATE INDEX bot_conversations_state ON bot_conversations (state, answer_by);

-- The consumer's answer to the satisfaction survey (the latest, when asked again).
ALTER TABLE conversations ADD COLUMN survey_score INTEGER CHECK (survey_score BETWEEN 1 AND 5);
ALTER TABLE conversations ADD COLUMN survey_answered_at INTEGER;
