-- People managed without the demo (issue 19): whether each can sign in, when they last
-- did, and the one-time links through which a person chooses their password.

-- 'invited' until they choose a password through their link; 'disabled' when deactivated.
ALTER TABLE users ADD COLUMN status TEXT NOT NULL DEFAULT 'active'
    CHECK (status IN ('active', 'invited', 'disabled'));
-- Seconds.
ALTER TABLE users ADD COLUMN last_sign_in_at BIGINT;

-- Only a SHA-256 of the link's token is stored, so a copy of the database sets no password.
-- Single use: 'used_at' is set by the one redemption that counts.
CREATE TABLE password_tokens (
    token_hash  TEXT    PRIMARY KEY,
    user_id     BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT
);
CREATE INDEX password_tokens_user ON password_tokens (user_id);

-- Skills an agent answers: those in user_skills, or, explicitly, every skill of the account.
-- Agents who had none answered every skill until now: they keep that, as a choice.
ALTER TABLE users ADD COLUMN all_skills BOOLEAN NOT NULL DEFAULT TRUE;
UPDATE users SET all_skills = FALSE
    WHERE EXISTS (SELECT 1 FROM user_skills s WHERE s.user_id = users.id);

-- A retired skill takes no new routing and is offered no more; its conversations keep it.
ALTER TABLE skills ADD COLUMN retired_at BIGINT;
