//! Bots: their settings, turns and hand-overs.

use super::rows::parse_word;
use super::{LinkedAccount, StoreError, StoreResult, for_both_engines};
use async_trait::async_trait;
use shared::Tag;
use sqlx::Row as _;

/// A linked account's automation row: the admin's settings (JSON of
/// `shared::automation::AutomationSettings`) and the external bot's credentials.
#[derive(Debug, Clone)]
pub struct AutomationRecord {
    pub linked_account_id: i64,
    pub enabled: bool,
    pub settings_json: String,
    pub secret_sealed: Option<Vec<u8>>,
    pub has_token: bool,
    /// Lines received before this (ms) are never the bot's.
    pub enabled_at_ms: i64,
}

/// Who has a conversation, as far as automation is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BotPhase {
    /// The bot answers; the conversation is not in the agents' queue.
    Bot,
    /// Handed over or taken: the bot is quiet until it closes.
    People,
    /// Closed with the survey question asked; the next private line may be the answer.
    Survey,
    /// Closed: the next private line may start the bot again.
    Idle,
}

impl BotPhase {
    pub fn as_str(self) -> &'static str {
        match self {
            BotPhase::Bot => "bot",
            BotPhase::People => "people",
            BotPhase::Survey => "survey",
            BotPhase::Idle => "idle",
        }
    }

    pub fn parse(s: &str) -> StoreResult<Self> {
        [
            BotPhase::Bot,
            BotPhase::People,
            BotPhase::Survey,
            BotPhase::Idle,
        ]
        .into_iter()
        .find(|p| p.as_str() == s)
        .ok_or_else(|| StoreError::corrupt(format!("unknown bot phase {s:?}")))
    }
}

/// Where the bot stands in one conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotState {
    pub phase: BotPhase,
    /// The last consumer line the bot has seen.
    pub last_line_id: i64,
    pub away_sent: bool,
    /// The external bot must answer or hand over by then (ms, automation's clock).
    pub answer_by_ms: Option<i64>,
    pub reason: Option<String>,
}

/// A consumer's line the bot has not seen yet.
#[derive(Debug, Clone)]
pub struct BotLine {
    pub id: i64,
    pub tag: Tag,
    pub text: String,
    pub created_at_ms: i64,
    pub received_at_ms: i64,
}

/// What the bot needs to act on a conversation.
#[derive(Debug, Clone)]
pub struct BotContext {
    pub conversation_id: i64,
    pub account_id: i64,
    pub linked: LinkedAccount,
    pub consumer_network_id: String,
    pub consumer_name: Option<String>,
    pub consumer_handle: Option<String>,
    pub open: bool,
    pub assigned: bool,
    pub automation: Option<AutomationRecord>,
    pub state: Option<BotState>,
    /// Consumer lines after `state.last_line_id`, in arrival order.
    pub new_lines: Vec<BotLine>,
    /// The conversation's latest consumer line, seen or not (0: none).
    pub latest_line_id: i64,
    /// When the consumer last wrote in private (ms), for Messenger's window.
    pub last_private_at_ms: Option<i64>,
}

/// Bots: settings, credentials, turns and where each conversation stands.
#[async_trait]
pub trait Automation: Send + Sync {
    /// Every linked page or account of a brand account, with its automation row if any.
    async fn automation_accounts(
        &self,
        account_id: i64,
    ) -> StoreResult<Vec<(LinkedAccount, Option<AutomationRecord>)>>;
    /// The linked account `id` with its automation row, if it exists.
    async fn automation_account(
        &self,
        linked_account_id: i64,
    ) -> StoreResult<Option<(LinkedAccount, Option<AutomationRecord>)>>;
    /// Saves the settings; switching on (re)starts `enabled_at` at `now_ms`.
    async fn set_automation(
        &self,
        linked_account_id: i64,
        enabled: bool,
        settings_json: &str,
        now_ms: i64,
    ) -> StoreResult<()>;
    /// Replaces the external bot's sealed secret and token hash.
    async fn set_bot_credentials(
        &self,
        linked_account_id: i64,
        secret_sealed: &[u8],
        token_hash: &str,
        now_ms: i64,
    ) -> StoreResult<()>;
    /// The linked account whose bot holds the token with this SHA-256.
    async fn bot_by_token(&self, token_hash: &str) -> StoreResult<Option<i64>>;
    /// Takes the claim on a bot turn for `owner` until `lease_until_ms` when no live claim
    /// is held at `now_ms`, or renews `owner`'s own; `false` when another instance holds
    /// it. Two instances never run a turn on one conversation at once, and a claim of an
    /// instance that died runs out.
    async fn claim_bot_turn(
        &self,
        conversation_id: i64,
        owner: &str,
        now_ms: i64,
        lease_until_ms: i64,
    ) -> StoreResult<bool>;
    /// Gives up `owner`'s claim on a bot turn (another's is left alone).
    async fn release_bot_turn(&self, conversation_id: i64, owner: &str) -> StoreResult<()>;
    /// Open conversations with consumer lines the bot has not seen (on linked accounts
    /// with automation on, or where the bot or the survey holds the conversation), and
    /// those whose external bot is late at `now_ms`.
    async fn automation_due(&self, now_ms: i64, limit: i64) -> StoreResult<Vec<i64>>;
    async fn bot_context(&self, conversation_id: i64) -> StoreResult<Option<BotContext>>;
    /// Records where the bot stands (the row is created on first use).
    async fn set_bot_state(
        &self,
        conversation_id: i64,
        state: &BotState,
        now_ms: i64,
    ) -> StoreResult<()>;
    /// Hands the conversation to people: phase `people`, open, unassigned, routed to its
    /// linked account's skill.
    async fn hand_over(&self, conversation_id: i64, reason: &str, now_ms: i64) -> StoreResult<()>;
    /// Records a survey answer on the conversation and closes it again (unless someone
    /// has taken it meanwhile).
    async fn record_survey(&self, conversation_id: i64, score: u8, now_ms: i64) -> StoreResult<()>;
}

for_both_engines! {
    fn bot_state_from(row: &Row) -> StoreResult<Option<BotState>> {
        row.get::<Option<String>, _>("state")
            .map(|phase| {
                Ok(BotState {
                    phase: BotPhase::parse(&phase)?,
                    last_line_id: row.get("last_line_id"),
                    away_sent: row.get("away_sent"),
                    answer_by_ms: row.get("answer_by"),
                    reason: row.get("reason"),
                })
            })
            .transpose()
    }

    fn bot_line_from(l: &Row) -> StoreResult<BotLine> {
        Ok(BotLine {
            id: l.get("id"),
            tag: parse_word(l.get("tag"))?,
            text: l.get("text"),
            created_at_ms: l.get("created_at"),
            received_at_ms: l.get("received_at"),
        })
    }

    impl Engine {
        /// The linked account a row names by its `channel` and `brand_id` columns, with its
        /// automation row if it has one.
        async fn automation_of(
            &self,
            row: &Row,
        ) -> StoreResult<(LinkedAccount, Option<AutomationRecord>)> {
            let linked = self.linked_of(row).await?;
            let record = self.automation_record(linked.id).await?;
            Ok((linked, record))
        }

        /// The linked account's automation row, if it has one.
        async fn automation_record(
            &self,
            linked_account_id: i64,
        ) -> StoreResult<Option<AutomationRecord>> {
            Ok(sqlx::query(
                "SELECT enabled, settings, secret_sealed, token_hash IS NOT NULL AS has_token,
                        enabled_at
                 FROM automation_settings WHERE linked_account_id = $1",
            )
            .bind(linked_account_id)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| AutomationRecord {
                linked_account_id,
                enabled: r.get("enabled"),
                settings_json: r.get("settings"),
                secret_sealed: r.get("secret_sealed"),
                has_token: r.get("has_token"),
                enabled_at_ms: r.get("enabled_at"),
            }))
        }
    }

    #[async_trait]
    impl Automation for Engine {
        async fn automation_accounts(
            &self,
            account_id: i64,
        ) -> StoreResult<Vec<(LinkedAccount, Option<AutomationRecord>)>> {
            let rows = sqlx::query(
                "SELECT l.channel, l.network_id AS brand_id FROM linked_accounts l
                 WHERE l.account_id = $1 AND l.status != 'unlinked' ORDER BY l.id",
            )
            .bind(account_id)
            .fetch_all(&self.pool)
            .await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(self.automation_of(&r).await?);
            }
            Ok(out)
        }

        async fn automation_account(
            &self,
            linked_account_id: i64,
        ) -> StoreResult<Option<(LinkedAccount, Option<AutomationRecord>)>> {
            let Some(r) = sqlx::query(
                "SELECT channel, network_id AS brand_id FROM linked_accounts WHERE id = $1",
            )
            .bind(linked_account_id)
            .fetch_optional(&self.pool)
            .await?
            else {
                return Ok(None);
            };
            Ok(Some(self.automation_of(&r).await?))
        }

        async fn set_automation(
            &self,
            linked_account_id: i64,
            enabled: bool,
            settings_json: &str,
            now_ms: i64,
        ) -> StoreResult<()> {
            sqlx::query(
                "INSERT INTO automation_settings (linked_account_id, enabled, settings, enabled_at,
                     updated_at) VALUES ($1, $2, $3, $4, $4)
                 ON CONFLICT (linked_account_id) DO UPDATE SET
                     enabled = excluded.enabled, settings = excluded.settings,
                     enabled_at = CASE WHEN automation_settings.enabled
                                       THEN automation_settings.enabled_at
                                       ELSE excluded.enabled_at END,
                     updated_at = excluded.updated_at",
            )
            .bind(linked_account_id)
            .bind(enabled)
            .bind(settings_json)
            .bind(now_ms)
            .execute(&self.pool)
            .await?;
            Ok(())
        }

        async fn set_bot_credentials(
            &self,
            linked_account_id: i64,
            secret_sealed: &[u8],
            token_hash: &str,
            now_ms: i64,
        ) -> StoreResult<()> {
            let default = serde_json::to_string(&shared::automation::AutomationSettings::default())
                .map_err(|e| StoreError::Other(e.into()))?;
            sqlx::query(
                "INSERT INTO automation_settings (linked_account_id, settings, secret_sealed,
                     token_hash, updated_at) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (linked_account_id) DO UPDATE SET
                     secret_sealed = excluded.secret_sealed, token_hash = excluded.token_hash,
                     updated_at = excluded.updated_at",
            )
            .bind(linked_account_id)
            .bind(default)
            .bind(secret_sealed)
            .bind(token_hash)
            .bind(now_ms)
            .execute(&self.pool)
            .await?;
            Ok(())
        }

        async fn bot_by_token(&self, token_hash: &str) -> StoreResult<Option<i64>> {
            Ok(sqlx::query_scalar(
                "SELECT linked_account_id FROM automation_settings WHERE token_hash = $1",
            )
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await?)
        }

        async fn claim_bot_turn(
            &self,
            conversation_id: i64,
            owner: &str,
            now_ms: i64,
            lease_until_ms: i64,
        ) -> StoreResult<bool> {
            // One statement: of two instances claiming at once, the second waits on the
            // first's row and then finds it held.
            let taken: Option<i64> = sqlx::query_scalar(
                "INSERT INTO bot_turns (conversation_id, owner, lease_until) VALUES ($1, $2, $4)
                 ON CONFLICT (conversation_id) DO UPDATE SET
                     owner = excluded.owner, lease_until = excluded.lease_until
                   WHERE bot_turns.owner = excluded.owner OR bot_turns.lease_until <= $3
                 RETURNING conversation_id",
            )
            .bind(conversation_id)
            .bind(owner)
            .bind(now_ms)
            .bind(lease_until_ms)
            .fetch_optional(&self.pool)
            .await?;
            Ok(taken.is_some())
        }

        async fn release_bot_turn(&self, conversation_id: i64, owner: &str) -> StoreResult<()> {
            sqlx::query("DELETE FROM bot_turns WHERE conversation_id = $1 AND owner = $2")
                .bind(conversation_id)
                .bind(owner)
                .execute(&self.pool)
                .await?;
            Ok(())
        }

        async fn automation_due(&self, now_ms: i64, limit: i64) -> StoreResult<Vec<i64>> {
            Ok(sqlx::query_scalar(
                "SELECT c.id FROM conversations c
                 JOIN automation_settings a ON a.linked_account_id = c.linked_account_id
                 LEFT JOIN bot_conversations b ON b.conversation_id = c.id
                 -- A consumer's new line reopens its conversation, and the bot only waits on
                 -- open ones: closed conversations need no look (and are most of them).
                 WHERE c.status = 'open'
                   AND (EXISTS (SELECT 1 FROM messages m
                               WHERE m.conversation_id = c.id AND m.direction = 'in'
                                 AND m.id > coalesce(b.last_line_id, 0)
                                 AND (b.state IN ('bot', 'survey')
                                      OR (coalesce(b.state, 'idle') = 'idle' AND a.enabled
                                          AND m.received_at >= a.enabled_at)))
                        OR (b.state = 'bot' AND b.answer_by <= $1))
                 ORDER BY c.id LIMIT $2",
            )
            .bind(now_ms)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?)
        }

        async fn bot_context(&self, conversation_id: i64) -> StoreResult<Option<BotContext>> {
            let Some(row) = sqlx::query(
                "SELECT c.id, c.status, c.assigned_user_id, l.account_id, l.channel,
                        l.network_id AS brand_id, coalesce(k.psid, k.network_id) AS consumer,
                        k.name, k.handle, b.state, b.last_line_id, b.away_sent, b.answer_by,
                        b.reason
                 FROM conversations c
                 JOIN linked_accounts l ON l.id = c.linked_account_id
                 JOIN consumers k ON k.id = c.consumer_id
                 LEFT JOIN bot_conversations b ON b.conversation_id = c.id
                 WHERE c.id = $1",
            )
            .bind(conversation_id)
            .fetch_optional(&self.pool)
            .await?
            else {
                return Ok(None);
            };
            let (linked, automation) = self.automation_of(&row).await?;
            let state = bot_state_from(&row)?;
            let after = state.as_ref().map_or(0, |s| s.last_line_id);
            let new_lines = sqlx::query(
                "SELECT id, tag, text, created_at, received_at FROM messages
                 WHERE conversation_id = $1 AND direction = 'in' AND id > $2 ORDER BY id LIMIT 200",
            )
            .bind(conversation_id)
            .bind(after)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(bot_line_from)
            .collect::<StoreResult<Vec<_>>>()?;
            let status: String = row.get("status");
            Ok(Some(BotContext {
                conversation_id,
                account_id: row.get("account_id"),
                linked,
                consumer_network_id: row.get("consumer"),
                consumer_name: row.get("name"),
                consumer_handle: row.get("handle"),
                open: status == "open",
                assigned: row.get::<Option<i64>, _>("assigned_user_id").is_some(),
                automation,
                state,
                new_lines,
                latest_line_id: sqlx::query_scalar(
                    "SELECT coalesce(max(id), 0) FROM messages
                     WHERE conversation_id = $1 AND direction = 'in'",
                )
                .bind(conversation_id)
                .fetch_one(&self.pool)
                .await?,
                last_private_at_ms: self.last_private_at(conversation_id).await?,
            }))
        }

        async fn set_bot_state(
            &self,
            conversation_id: i64,
            state: &BotState,
            now_ms: i64,
        ) -> StoreResult<()> {
            sqlx::query(
                "INSERT INTO bot_conversations (conversation_id, state, last_line_id, away_sent,
                     answer_by, reason, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (conversation_id) DO UPDATE SET
                     state = excluded.state, last_line_id = excluded.last_line_id,
                     away_sent = excluded.away_sent, answer_by = excluded.answer_by,
                     reason = excluded.reason, updated_at = excluded.updated_at",
            )
            .bind(conversation_id)
            .bind(state.phase.as_str())
            .bind(state.last_line_id)
            .bind(state.away_sent)
            .bind(state.answer_by_ms)
            .bind(&state.reason)
            .bind(now_ms)
            .execute(&self.pool)
            .await?;
            Ok(())
        }

        async fn hand_over(&self, conversation_id: i64, reason: &str, now_ms: i64) -> StoreResult<()> {
            let _writing = self.write_lock().await;
            let mut tx = self.pool.begin().await?;
            sqlx::query(
                "INSERT INTO bot_conversations (conversation_id, state, reason, updated_at)
                     VALUES ($1, 'people', $2, $3)
                 ON CONFLICT (conversation_id) DO UPDATE SET
                     state = 'people', answer_by = NULL, reason = $2, updated_at = $3",
            )
            .bind(conversation_id)
            .bind(reason)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE conversations SET status = 'open',
                     skill_id = coalesce((SELECT skill_id FROM linked_accounts
                                          WHERE id = conversations.linked_account_id), skill_id)
                 WHERE id = $1",
            )
            .bind(conversation_id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(())
        }

        async fn record_survey(&self, conversation_id: i64, score: u8, now_ms: i64) -> StoreResult<()> {
            sqlx::query(
                "UPDATE conversations SET survey_score = $1, survey_answered_at = $2,
                     status = CASE WHEN assigned_user_id IS NULL THEN 'closed' ELSE status END
                 WHERE id = $3",
            )
            .bind(i64::from(score))
            .bind(now_ms)
            .bind(conversation_id)
            .execute(&self.pool)
            .await?;
            Ok(())
        }
    }
}
