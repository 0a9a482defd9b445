-- Images and GIFs agents attach to replies: the file lives under DATA_DIR/uploads/ with a
-- generated name (`path` is relative to the data dir); `mime` is what the magic bytes say.
CREATE TABLE uploads (
    id          INTEGER PRIMARY KEY,
    account_id  INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    mime        TEXT    NOT NULL
                CHECK (mime IN ('image/jpeg', 'image/png', 'image/gif', 'image/webp')),
    bytes       INTEGER NOT NULL,
    path        TEXT    NOT NULL,
    created_at  INTEGER NOT NULL -- milliseconds
);
CREATE INDEX uploads_account ON uploads (account_id);

-- The image a queued reply carries.
ALTER TABLE outbox ADD COLUMN upload_id INTEGER REFERENCES uploads (id) ON DELETE SET NULL;
-- Messenger takes an image and a text as two messages: the image's message id once it
-- went, so a retry of the text does not send the image twice.
ALTER TABLE outbox ADD COLUMN media_sent_id TEXT;
