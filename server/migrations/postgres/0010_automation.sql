-- Automation (issue #5): per linked page or account, a bot answers private conversations
-- and hands them to people; an optional satisfaction survey when they close. The same
-- tables as the embedded database's 0010 (see there for what each column means).
CREATE TABLE automation_settings (
    linked_account_id  BIGINT  PRIMARY KEY REFERENCES linked_accounts (id) ON DELETE CASCADE,
    enabled            BOOLEAN NOT NULL DEFAULT FALSE,
    settings           TEXT    NOT NULL,
    secret_sealed      BYTEA,
    token_hash         TEXT,
    enabled_at         BIGINT  NOT NULL DEFAULT 0,
    updated_at         BIGINT  NOT NULL
);
CREATE UNIQUE INDEX automation_settings_token ON automation_settings (token_hash);

CREATE TABLE bot_conversations (
    conversation_id  BIGINT  PRIMARY KEY REFERENCES conversations (id) ON DELETE CASCADE,
    state            TEXT    NOT NULL CHECK (state IN ('bot', 'people', 'survey', 'idle')),
    last_line_id     BIGINT  NOT NULL DEFAULT 0,
    away_sent        BOOLEAN NOT NULL DEFAULT FALSE,
    answer_by        BIGINT,
    reason           TEXT,
    updated_at       BIGINT  NOT NULL
);
CREATE INDEX bot_conversations_state ON bot_conversations (state, answer_by);

ALTER TABLE conversations ADD COLUMN survey_score BIGINT CHECK (survey_score BETWEEN 1 AND 5);
ALTER TABLE conversations ADD COLUMN survey_answered_at BIGINT;
