//! PostgreSQL: the storage of several `socialconnect serve` instances sharing one database.
//!
//! The same tables as the embedded database (migrations of the same numbers under
//! `migrations/postgres`). What differs is concurrency: no process-wide writer lock, so
//! work that must be done once — an outbox row, a media copy, a profile look-up — is claimed
//! with `FOR UPDATE SKIP LOCKED` and a lease in the row, and a webhook batch that collides
//! with another instance's (a deadlock, or the same event delivered to both) is retried.

use super::rows::{mode_str, parse_mode, parse_word};
use super::*;
use anyhow::Context;
use async_trait::async_trait;
use shared::inbound::{Change, InboundMessage};
use shared::{Channel, Tag};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Row};
use std::str::FromStr;
use std::time::Duration;

pub struct PgStore {
    pub(super) pool: PgPool,
    /// How long a claimed outbox row stays with the instance that claimed it: longer than
    /// any one send takes, so a live sender is never overtaken; an instance that died
    /// holds its rows no longer than this.
    pub(super) outbox_lease_ms: i64,
}

/// What `PgStore::write_lock` holds: nothing.
pub(super) struct NoWriteLock;

pub(crate) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Times a webhook batch is tried when it collides with another instance's transaction.
const INGEST_TRIES: usize = 5;

impl PgStore {
    /// Connects without touching the schema (see [`super::migrate`] and [`super::check_schema`]).
    pub async fn connect(url: &str, outbox_lease: Duration) -> anyhow::Result<Self> {
        let options = PgConnectOptions::from_str(url)
            .context("SOCIALCONNECT_DATABASE_URL is not a valid PostgreSQL URL")?;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .context("connecting to PostgreSQL")?;
        Ok(PgStore {
            pool,
            outbox_lease_ms: outbox_lease.as_millis() as i64,
        })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// PostgreSQL has no single writer to wait for: its rows are locked by the statements
    /// that change them (the counterpart of `SqliteStore::write_lock`).
    pub(super) async fn write_lock(&self) -> NoWriteLock {
        NoWriteLock
    }
}

#[async_trait]
impl Ingest for PgStore {
    async fn ingest(
        &self,
        linked: &LinkedAccount,
        messages: &[InboundMessage],
        now_ms: i64,
    ) -> StoreResult<IngestReport> {
        // Two instances may hold the same event (a redelivery reaching the other one) or
        // lock the same consumer's rows in opposite orders: the loser of such a collision
        // is rolled back whole and tried again, and then finds the winner's rows.
        let mut tries = 0;
        loop {
            tries += 1;
            let mut tx = self.pool.begin().await?;
            let outcome = match ingest_in(&mut tx, linked, messages, now_ms).await {
                Ok(report) => tx.commit().await.map(|()| report).map_err(Retry::from),
                Err(e) => Err(e),
            };
            match outcome {
                Ok(report) => return Ok(report),
                Err(Retry::Collided(e)) if tries < INGEST_TRIES => {
                    tracing::debug!(error = %e, tries, "webhook batch collided; trying again");
                }
                Err(Retry::Collided(e)) => return Err(StoreError::from(e)),
                Err(Retry::Failed(e)) => return Err(e),
            }
        }
    }
}

#[async_trait]
impl Outbox for PgStore {
    async fn enqueue_reply(&self, r: NewReply<'_>) -> StoreResult<i64> {
        let mut tx = self.pool.begin().await?;
        let (status, error) = match &r.refused {
            Some(reason) => ("failed", Some(reason.as_str())),
            None => ("sending", None),
        };
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO messages (conversation_id, linked_account_id, network_id, tag, direction,
                 author, text, reply_to, status, error, created_at, received_at, sent_by)
             VALUES ($1, $2, NULL, $3, 'out', $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
        )
        .bind(r.conversation_id)
        .bind(r.linked_account_id)
        .bind(r.tag.as_str())
        .bind(r.author)
        .bind(r.text)
        .bind(r.in_reply_to.map(|(id, _)| id))
        .bind(status)
        .bind(error)
        .bind(r.now_ms)
        .bind(r.now_ms)
        .bind(r.sent_by)
        .fetch_one(&mut *tx)
        .await?;
        if let Some(u) = r.upload {
            // The line shows (and exports) what went with it; the file stays ours.
            sqlx::query(
                "INSERT INTO media (message_id, kind, mime, bytes, stored_path, status)
                 VALUES ($1, $2, $3, $4, $5, 'stored')",
            )
            .bind(id)
            .bind(if u.is_gif() { "gif" } else { "image" })
            .bind(&u.mime)
            .bind(u.bytes)
            .bind(&u.path)
            .execute(&mut *tx)
            .await?;
        }
        if r.refused.is_none() {
            sqlx::query(
                "INSERT INTO outbox (message_id, conversation_id, mode, in_reply_to,
                     in_reply_to_tag, next_attempt_at, created_at, upload_id)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(id)
            .bind(r.conversation_id)
            .bind(mode_str(r.mode))
            .bind(r.in_reply_to.map(|(id, _)| id))
            .bind(r.in_reply_to.map(|(_, tag)| tag.as_str()))
            .bind(r.now_ms)
            .bind(r.now_ms)
            .bind(r.upload.map(|u| u.id))
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "UPDATE conversations SET last_message_at = greatest(last_message_at, $1) WHERE id = $2",
        )
        .bind(r.now_ms)
        .bind(r.conversation_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    async fn next_due(&self, owner: &str, now_ms: i64) -> StoreResult<Option<OutboxItem>> {
        // Claimed by moving it past a lease, in one statement: the row another instance is
        // claiming is skipped, and a conversation whose earlier reply is claimed (leased)
        // has nothing due, so its replies still go one after the other, in order.
        let claimed: Option<i64> = sqlx::query_scalar(
            "UPDATE outbox SET next_attempt_at = $2, claimed_by = $3
             WHERE message_id = (
                 SELECT o.message_id FROM outbox o
                 WHERE o.next_attempt_at <= $1
                   AND NOT EXISTS (SELECT 1 FROM outbox e
                                   WHERE e.conversation_id = o.conversation_id
                                     AND e.message_id < o.message_id)
                 ORDER BY o.next_attempt_at, o.message_id LIMIT 1
                 FOR UPDATE SKIP LOCKED)
             RETURNING message_id",
        )
        .bind(now_ms)
        .bind(now_ms.saturating_add(self.outbox_lease_ms))
        .bind(owner)
        .fetch_optional(&self.pool)
        .await?;
        let Some(claimed) = claimed else {
            return Ok(None);
        };
        let Some(row) = sqlx::query(
            "SELECT o.message_id, o.conversation_id, o.mode, o.in_reply_to, o.in_reply_to_tag,
                    o.attempts, o.upload_id, o.media_sent_id, m.text, m.author, l.channel,
                    l.network_id AS brand_id, coalesce(k.psid, k.network_id) AS consumer
             FROM outbox o
             JOIN messages m ON m.id = o.message_id
             JOIN conversations c ON c.id = o.conversation_id
             JOIN linked_accounts l ON l.id = c.linked_account_id
             JOIN consumers k ON k.id = c.consumer_id
             WHERE o.message_id = $1",
        )
        .bind(claimed)
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        let linked = self.linked_of(&row).await?;
        let conversation_id: i64 = row.get("conversation_id");
        let last_private_at_ms: Option<i64> = self.last_private_at(conversation_id).await?;
        Ok(Some(OutboxItem {
            message_id: row.get("message_id"),
            conversation_id,
            mode: parse_mode(row.get("mode"))?,
            in_reply_to: row.get("in_reply_to"),
            in_reply_to_tag: row
                .get::<Option<&str>, _>("in_reply_to_tag")
                .map(parse_word)
                .transpose()?,
            attempts: row.get("attempts"),
            text: row.get("text"),
            author: row.get("author"),
            linked,
            consumer_network_id: row.get("consumer"),
            last_private_at_ms,
            upload: match row.get::<Option<i64>, _>("upload_id") {
                Some(u) => self.upload(u).await?,
                None => None,
            },
            media_sent_id: row.get("media_sent_id"),
        }))
    }

    fn outbox_lease(&self) -> Option<Duration> {
        Some(Duration::from_millis(self.outbox_lease_ms as u64))
    }

    async fn extend_claim(&self, owner: &str, message_id: i64, now_ms: i64) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE outbox SET next_attempt_at = $1 WHERE message_id = $2 AND claimed_by = $3",
        )
        .bind(now_ms.saturating_add(self.outbox_lease_ms))
        .bind(message_id)
        .bind(owner)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn set_media_sent(
        &self,
        owner: &str,
        message_id: i64,
        network_id: &str,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE outbox SET media_sent_id = $1 WHERE message_id = $2 AND claimed_by = $3",
        )
        .bind(network_id)
        .bind(message_id)
        .bind(owner)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn create_upload(
        &self,
        account_id: i64,
        mime: &str,
        bytes: i64,
        path: &str,
        now_ms: i64,
    ) -> StoreResult<i64> {
        Ok(sqlx::query_scalar(
            "INSERT INTO uploads (account_id, mime, bytes, path, created_at)
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(account_id)
        .bind(mime)
        .bind(bytes)
        .bind(path)
        .bind(now_ms)
        .fetch_one(&self.pool)
        .await?)
    }

    async fn upload(&self, id: i64) -> StoreResult<Option<Upload>> {
        let row =
            sqlx::query("SELECT id, account_id, mime, bytes, path FROM uploads WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|r| Upload {
            id: r.get("id"),
            account_id: r.get("account_id"),
            mime: r.get("mime"),
            bytes: r.get("bytes"),
            path: r.get("path"),
        }))
    }

    async fn mark_sent(
        &self,
        owner: &str,
        message_id: i64,
        network_id: &str,
    ) -> StoreResult<MarkedSent> {
        let mut tx = self.pool.begin().await?;
        // The line is locked first, so a late owner and the instance that took the reply
        // over settle it one after the other: the second finds it sent.
        let status: Option<String> =
            sqlx::query_scalar("SELECT status FROM messages WHERE id = $1 FOR UPDATE")
                .bind(message_id)
                .fetch_optional(&mut *tx)
                .await?;
        if status.is_none_or(|s| s == "sent") {
            return Ok(MarkedSent::AlreadySent);
        }
        let held: Option<Option<String>> =
            sqlx::query_scalar("SELECT claimed_by FROM outbox WHERE message_id = $1 FOR UPDATE")
                .bind(message_id)
                .fetch_optional(&mut *tx)
                .await?;
        // The echo of this reply may have arrived first and been stored as a line of its
        // own (a private response's echo lands in the Messenger conversation): that copy
        // gives way to this line.
        // So may the echo of its image, sent as a message of its own.
        sqlx::query(
            "DELETE FROM messages WHERE id != $2 AND direction = 'out' AND sent_by IS NULL
               AND (network_id = $1 OR network_id =
                    (SELECT media_sent_id FROM outbox WHERE message_id = $2))
               AND linked_account_id = (SELECT linked_account_id FROM messages WHERE id = $2)",
        )
        .bind(network_id)
        .bind(message_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE messages SET status = 'sent', error = NULL,
                 network_id = CASE WHEN EXISTS (
                     SELECT 1 FROM messages o WHERE o.linked_account_id = messages.linked_account_id
                       AND o.network_id = $1 AND o.id != messages.id)
                   THEN network_id ELSE $1 END
             WHERE id = $2",
        )
        .bind(network_id)
        .bind(message_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM outbox WHERE message_id = $1")
            .bind(message_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(if held.flatten().as_deref() == Some(owner) {
            MarkedSent::Sent
        } else {
            MarkedSent::SentLate
        })
    }

    async fn mark_failed(&self, owner: &str, message_id: i64, error: &str) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        let gone = sqlx::query("DELETE FROM outbox WHERE message_id = $1 AND claimed_by = $2")
            .bind(message_id)
            .bind(owner)
            .execute(&mut *tx)
            .await?;
        if gone.rows_affected() == 0 {
            return Ok(false);
        }
        sqlx::query("UPDATE messages SET status = 'failed', error = $1 WHERE id = $2")
            .bind(error)
            .bind(message_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn reschedule(
        &self,
        owner: &str,
        message_id: i64,
        attempts: i64,
        next_at_ms: i64,
        error: &str,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE outbox SET attempts = $1, next_attempt_at = $2, last_error = $3,
                 claimed_by = NULL
             WHERE message_id = $4 AND claimed_by = $5",
        )
        .bind(attempts)
        .bind(next_at_ms)
        .bind(error)
        .bind(message_id)
        .bind(owner)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}

#[async_trait]
impl Automation for PgStore {
    // Automation
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
            let linked = self.linked_of(&r).await?;
            let record = self.automation_record(linked.id).await?;
            out.push((linked, record));
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
        let linked = self.linked_of(&r).await?;
        let record = self.automation_record(linked.id).await?;
        Ok(Some((linked, record)))
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
                 enabled_at = CASE WHEN automation_settings.enabled THEN automation_settings.enabled_at
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

    async fn automation_due(&self, now_ms: i64, limit: i64) -> StoreResult<Vec<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT c.id FROM conversations c
             JOIN automation_settings a ON a.linked_account_id = c.linked_account_id
             LEFT JOIN bot_conversations b ON b.conversation_id = c.id
             WHERE EXISTS (SELECT 1 FROM messages m
                           WHERE m.conversation_id = c.id AND m.direction = 'in'
                             AND m.id > coalesce(b.last_line_id, 0)
                             AND (b.state IN ('bot', 'survey')
                                  OR (coalesce(b.state, 'idle') = 'idle' AND a.enabled
                                      AND m.received_at >= a.enabled_at)))
                OR (b.state = 'bot' AND b.answer_by <= $1)
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
                    l.network_id AS brand_id, coalesce(k.psid, k.network_id) AS consumer, k.name, k.handle,
                    b.state, b.last_line_id, b.away_sent, b.answer_by, b.reason
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
        let linked = self.linked_of(&row).await?;
        let automation = self.automation_record(linked.id).await?;
        let state = row
            .get::<Option<String>, _>("state")
            .map(|phase| -> StoreResult<BotState> {
                Ok(BotState {
                    phase: BotPhase::parse(&phase)?,
                    last_line_id: row.get("last_line_id"),
                    away_sent: row.get("away_sent"),
                    answer_by_ms: row.get("answer_by"),
                    reason: row.get("reason"),
                })
            })
            .transpose()?;
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
        .map(|l| {
            Ok(BotLine {
                id: l.get("id"),
                tag: parse_word(l.get("tag"))?,
                text: l.get("text"),
                created_at_ms: l.get("created_at"),
                received_at_ms: l.get("received_at"),
            })
        })
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

    async fn claim_bot_turn(
        &self,
        conversation_id: i64,
        owner: &str,
        now_ms: i64,
        lease_until_ms: i64,
    ) -> StoreResult<bool> {
        // One statement: of two instances claiming at once, the second waits on the first's
        // row and then finds it held.
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

impl PgStore {}

/// Why a webhook batch's transaction ended without storing it.
enum Retry {
    /// Another instance's transaction got in the way: the whole batch may be tried again.
    Collided(sqlx::Error),
    Failed(StoreError),
}

impl From<sqlx::Error> for Retry {
    fn from(e: sqlx::Error) -> Self {
        // deadlock_detected, serialization_failure, unique_violation (the same event
        // inserted by two instances at once).
        let collided = matches!(&e, sqlx::Error::Database(db)
            if matches!(db.code().as_deref(), Some("40P01" | "40001" | "23505")));
        if collided {
            Retry::Collided(e)
        } else {
            Retry::Failed(e.into())
        }
    }
}

/// Stores one batch of a linked account's inbound messages on `tx`.
async fn ingest_in(
    tx: &mut sqlx::PgConnection,
    linked: &LinkedAccount,
    messages: &[InboundMessage],
    now_ms: i64,
) -> Result<IngestReport, Retry> {
    let mut report = IngestReport::default();
    for m in messages {
        let found: Option<(i64, i64)> = sqlx::query_as(
            "SELECT id, conversation_id FROM messages
                 WHERE linked_account_id = $1 AND network_id = $2",
        )
        .bind(linked.id)
        .bind(&m.network_id)
        .fetch_optional(&mut *tx)
        .await?;
        if let (Change::Edited | Change::Removed, Some((_, conversation))) = (m.change, found)
            && !report.conversations.contains(&conversation)
        {
            report.conversations.push(conversation);
        }
        let existing = found.map(|(id, _)| id);
        match (m.change, existing) {
            (Change::Edited, Some(id)) => {
                sqlx::query("UPDATE messages SET text = $1, edited = TRUE WHERE id = $2")
                    .bind(&m.text)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                report.updated += 1;
                continue;
            }
            (Change::Removed, Some(id)) => {
                sqlx::query("UPDATE messages SET removed = TRUE WHERE id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                report.updated += 1;
                continue;
            }
            (Change::Removed, None) => continue,
            (_, Some(_)) => {
                report.duplicates += 1;
                continue;
            }
            (_, None) => {}
        }

        let conversation: Option<i64> =
            if m.from_brand {
                // Our own line (an echo, the page's comment, the brand's post or DM): it
                // belongs to the conversation of the consumer it answers.
                let by_consumer: Option<i64> = if m.consumer.network_id.is_empty() {
                    None
                } else {
                    sqlx::query_scalar(
                        "SELECT c.id FROM conversations c JOIN consumers k ON k.id = c.consumer_id
                         WHERE c.linked_account_id = $1 AND (k.network_id = $2 OR k.psid = $2)",
                    )
                    .bind(linked.id)
                    .bind(&m.consumer.network_id)
                    .fetch_optional(&mut *tx)
                    .await?
                };
                match (by_consumer, &m.reply_to) {
                    (Some(c), _) => Some(c),
                    (None, Some(parent)) => {
                        sqlx::query_scalar(
                            "SELECT conversation_id FROM messages
                             WHERE linked_account_id = $1 AND network_id = $2",
                        )
                        .bind(linked.id)
                        .bind(parent)
                        .fetch_optional(&mut *tx)
                        .await?
                    }
                    (None, None) => None,
                }
            } else {
                // Messenger names people by their page-scoped id, which may belong to a
                // consumer first met in the feed under another id.
                let psid = (linked.channel == Channel::Facebook && m.tag == Tag::Private)
                    .then_some(m.consumer.network_id.as_str());
                let by_psid: Option<i64> =
                    match psid {
                        Some(psid) => sqlx::query_scalar(
                            "SELECT id FROM consumers WHERE linked_account_id = $1 AND psid = $2",
                        )
                        .bind(linked.id)
                        .bind(psid)
                        .fetch_optional(&mut *tx)
                        .await?,
                        None => None,
                    };
                let consumer_id: i64 = match by_psid {
                    Some(id) => id,
                    None => sqlx::query_scalar(
                        "INSERT INTO consumers (linked_account_id, network_id, handle, name, psid)
                             VALUES ($1, $2, $3, $4, $5)
                             ON CONFLICT (linked_account_id, network_id) DO UPDATE SET
                                 handle = coalesce(excluded.handle, consumers.handle),
                                 name = coalesce(excluded.name, consumers.name),
                                 psid = coalesce(consumers.psid, excluded.psid)
                             RETURNING id",
                    )
                    .bind(linked.id)
                    .bind(&m.consumer.network_id)
                    .bind(&m.consumer.handle)
                    .bind(&m.consumer.name)
                    .bind(psid)
                    .fetch_one(&mut *tx)
                    .await?,
                };
                Some(
                    sqlx::query_scalar(
                        "INSERT INTO conversations (linked_account_id, consumer_id, skill_id,
                             status, created_at, last_message_at)
                         VALUES ($1, $2, $3, 'open', $4, $5)
                         ON CONFLICT (linked_account_id, consumer_id) DO UPDATE SET
                             status = 'open',
                             last_message_at = greatest(conversations.last_message_at,
                                                        excluded.last_message_at)
                         RETURNING id",
                    )
                    .bind(linked.id)
                    .bind(consumer_id)
                    .bind(linked.skill_id)
                    .bind(now_ms)
                    .bind(m.created_at_ms)
                    .fetch_one(&mut *tx)
                    .await?,
                )
            };
        if m.from_brand
            && let Some(conversation) = conversation
        {
            // Our own reply coming back (an echo, or the network announcing our post)
            // before the sender recorded its id: it is that line, not a new one.
            let pending: Option<i64> = sqlx::query_scalar(
                "SELECT id FROM messages WHERE conversation_id = $1 AND direction = 'out'
                       AND network_id IS NULL AND status IN ('sending', 'failed') AND text = $2
                     ORDER BY id LIMIT 1",
            )
            .bind(conversation)
            .bind(&m.text)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(id) = pending {
                sqlx::query(
                    "UPDATE messages SET network_id = $1, status = 'sent', error = NULL
                         WHERE id = $2",
                )
                .bind(&m.network_id)
                .bind(id)
                .execute(&mut *tx)
                .await?;
                sqlx::query("DELETE FROM outbox WHERE message_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                report.duplicates += 1;
                continue;
            }
        }
        let Some(conversation) = conversation else {
            report.unmatched += 1;
            tracing::info!(network_id = %m.network_id, "brand line answering nothing we know; not stored");
            continue;
        };
        let (direction, author, status) = if m.from_brand {
            ("out", "agent", "sent")
        } else {
            ("in", "consumer", "received")
        };
        let message_id: i64 = sqlx::query_scalar(
            "INSERT INTO messages (conversation_id, linked_account_id, network_id, tag,
                     direction, author, text, reply_to, status, edited, created_at, received_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
        )
        .bind(conversation)
        .bind(linked.id)
        .bind(&m.network_id)
        .bind(m.tag.as_str())
        .bind(direction)
        .bind(author)
        .bind(&m.text)
        .bind(&m.reply_to)
        .bind(status)
        .bind(m.change == Change::Edited)
        .bind(m.created_at_ms)
        .bind(now_ms)
        .fetch_one(&mut *tx)
        .await?;
        for media in &m.media {
            sqlx::query(
                "INSERT INTO media (message_id, kind, mime, source_url, poster_url, status, error)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(message_id)
            .bind(media.kind.as_str())
            .bind(&media.mime)
            .bind(&media.url)
            .bind(&media.poster_url)
            .bind(if media.url.is_some() {
                "pending"
            } else {
                "failed"
            })
            .bind(media.url.is_none().then_some("no address to fetch it from"))
            .execute(&mut *tx)
            .await?;
        }
        for link in &m.links {
            sqlx::query("INSERT INTO message_links (message_id, title, url) VALUES ($1, $2, $3)")
                .bind(message_id)
                .bind(&link.title)
                .bind(&link.url)
                .execute(&mut *tx)
                .await?;
        }
        report.stored += 1;
        if !report.conversations.contains(&conversation) {
            report.conversations.push(conversation);
        }
    }
    Ok(report)
}

impl PgStore {
    // Automation
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
