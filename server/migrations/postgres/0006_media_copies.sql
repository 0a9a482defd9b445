-- Inbound media copied from the networks (their URLs expire): where each copy stands,
-- how often fetching it was tried, and the derivatives made from it. Paths are relative to
-- the data dir and chosen by the server, never taken from the network.
ALTER TABLE media ADD COLUMN status TEXT NOT NULL DEFAULT 'pending'
    CHECK (status IN ('pending', 'stored', 'rejected', 'failed'));
ALTER TABLE media ADD COLUMN attempts BIGINT NOT NULL DEFAULT 0;
ALTER TABLE media ADD COLUMN next_attempt_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE media ADD COLUMN error TEXT;
ALTER TABLE media ADD COLUMN poster_url TEXT;
ALTER TABLE media ADD COLUMN thumb_path TEXT;
ALTER TABLE media ADD COLUMN still_path TEXT;
ALTER TABLE media ADD COLUMN poster_path TEXT;
CREATE INDEX media_due ON media (status, next_attempt_at);
