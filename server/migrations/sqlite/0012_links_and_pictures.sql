-- Links a consumer shared with a line (a Messenger `fallback` attachment, a `share` on the
-- page's feed). Their URLs point anywhere on the web: shown as links, never fetched.
CREATE TABLE message_links (
    id          INTEGER PRIMARY KEY,
    message_id  INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    title       TEXT,
    url         TEXT    NOT NULL
);
CREATE INDEX message_links_message ON message_links (message_id);

-- A media item belongs to a line or, for a consumer's profile picture (Facebook's
-- `profile_pic` URLs expire, so the picture is copied like any media), to the consumer:
-- one picture per consumer, copied again when the profile is refreshed. SQLite cannot
-- drop NOT NULL from `message_id` in place, so the table is rebuilt with every column and
-- index it had (0002, 0006).
CREATE TABLE media_rebuilt (
    id               INTEGER PRIMARY KEY,
    message_id       INTEGER REFERENCES messages (id) ON DELETE CASCADE,
    consumer_id      INTEGER REFERENCES consumers (id) ON DELETE CASCADE,
    kind             TEXT    NOT NULL
                     CHECK (kind IN ('image', 'gif', 'video', 'audio', 'file', 'sticker')),
    mime             TEXT,
    bytes            INTEGER,
    source_url       TEXT,
    stored_path      TEXT,
    status           TEXT    NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'stored', 'rejected', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL DEFAULT 0,
    error            TEXT,
    poster_url       TEXT,
    thumb_path       TEXT,
    still_path       TEXT,
    poster_path      TEXT,
    CONSTRAINT media_owner CHECK ((message_id IS NULL) <> (consumer_id IS NULL))
);
INSERT INTO media_rebuilt (id, message_id, kind, mime, bytes, source_url, stored_path, status,
                           attempts, next_attempt_at, error, poster_url, thumb_path,
                           still_path, poster_path)
SELECT id, message_id, kind, mime, bytes, source_url, stored_path, status, attempts,
       next_attempt_at, error, poster_url, thumb_path, still_path, poster_path
  FROM media;
DROP TABLE media;
ALTER TABLE media_rebuilt RENAME TO media;
CREATE INDEX media_message ON media (message_id);
CREATE INDEX media_due ON media (status, next_attempt_at);
CREATE UNIQUE INDEX media_consumer ON media (consumer_id);
