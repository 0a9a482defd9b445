-- When a consumer's profile was last asked for, so failed look-ups are retried later
-- without hammering the network.
ALTER TABLE consumers ADD COLUMN profile_attempted_at BIGINT;
