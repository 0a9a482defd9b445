-- Where each person last read each conversation (issue 20): the newest line its
-- transcript showed them. The queue counts the consumer's lines after it as unread.
CREATE TABLE read_marks (
    user_id          BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    conversation_id  BIGINT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    last_line_id     BIGINT NOT NULL,
    read_at          BIGINT NOT NULL, -- milliseconds
    PRIMARY KEY (user_id, conversation_id)
);
CREATE INDEX read_marks_conversation ON read_marks (conversation_id);
