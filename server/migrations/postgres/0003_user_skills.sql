-- The skills an agent answers. An agent with none answers every skill of their account
-- (until SocialConnect Home assigns skills); admins always see every skill.
CREATE TABLE user_skills (
    user_id   BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    skill_id  BIGINT NOT NULL REFERENCES skills (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, skill_id)
);
CREATE INDEX user_skills_skill ON user_skills (skill_id);

-- The queue lists an account's open conversations by latest activity.
CREATE INDEX conversations_status_time ON conversations (status, last_message_at);
