-- Who answers a conversation nobody holds takes it (issue 20, Chatwoot's rule), unless the
-- brand's admins switch that off in SocialConnect Home.
ALTER TABLE account_features ADD COLUMN reply_takes INTEGER NOT NULL DEFAULT 1;
