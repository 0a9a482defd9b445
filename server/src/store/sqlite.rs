//! The embedded database: SQLite in WAL mode under the data dir.

use super::rows::{export_kind, parse_channel, parse_role, parse_word, rfc3339};
use super::*;
use anyhow::Context;
use async_trait::async_trait;
use shared::api::{
    AgentRef, BrandFacts, ConsumerInfo, ConversationInfo, ConversationStatus, Line, LineMedia,
    LinePreview, Profile, QueueItem, QueueView, Transcript,
};
use shared::inbound::{Change, InboundMessage};
use shared::replies::PublicLine;
use shared::{Channel, Tag};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// How long a statement waits for another connection's lock before failing as busy.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

pub struct SqliteStore {
    pub(super) pool: SqlitePool,
    /// Webhook batches waiting for the writer (see `ingest`).
    pending: std::sync::Mutex<Vec<IngestJob>>,
    /// SQLite has one writer. Multi-statement write transactions take this first, so two
    /// of them never both read and then fail to upgrade to writing (SQLITE_BUSY, which
    /// the busy timeout cannot resolve). Shared so that an ingest group's blocking task
    /// holds it to the group's end.
    writer: Arc<tokio::sync::Mutex<()>>,
    /// The connection webhooks are stored through (see `IngestWriter`).
    ingest: Arc<std::sync::Mutex<IngestWriter>>,
}

pub(crate) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

const USER_COLUMNS: &str = "u.id, u.account_id, u.email, u.name, u.role";

impl SqliteStore {
    pub async fn open(data_dir: &Path) -> anyhow::Result<Self> {
        let pool = SqliteStore::open_pool(data_dir).await?;
        super::migrate_pool(&pool, &MIGRATOR).await?;
        let path = data_dir.join("socialconnect.db");
        let ingest =
            tokio::task::spawn_blocking(move || IngestWriter::open(path, BUSY_TIMEOUT)).await??;
        Ok(SqliteStore {
            pool,
            pending: std::sync::Mutex::new(Vec::new()),
            writer: Arc::new(tokio::sync::Mutex::new(())),
            ingest: Arc::new(std::sync::Mutex::new(ingest)),
        })
    }

    async fn open_pool(data_dir: &Path) -> anyhow::Result<SqlitePool> {
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("creating the data dir {}", data_dir.display()))?;
        let path = data_dir.join("socialconnect.db");
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // Durable before the 200: FULL syncs the WAL on every commit.
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            // SQLite rolls a transaction back by itself on a full disk or an I/O error; the
            // driver's own count of open transactions then stays up (its ROLLBACK fails),
            // and its next BEGIN would be a mere SAVEPOINT whose "commit" stores nothing. A
            // connection coming back still counting a transaction is closed, not reused.
            .after_release(|conn, _| {
                let clean = !sqlx::Connection::is_in_transaction(conn);
                Box::pin(async move { Ok(clean) })
            })
            .connect_with(options)
            .await
            .with_context(|| format!("opening {}", path.display()))?;
        Ok(pool)
    }

    /// Held through a multi-statement write (see `writer`).
    pub(super) async fn write_lock(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.writer.lock().await
    }

    /// Applies pending migrations; says where the schema stands.
    pub async fn migrate(data_dir: &Path) -> anyhow::Result<super::SchemaReport> {
        let pool = SqliteStore::open_pool(data_dir).await?;
        let report = super::migrate_pool(&pool, &MIGRATOR).await;
        pool.close().await;
        report
    }
}

fn account_from(row: &sqlx::sqlite::SqliteRow) -> Account {
    Account {
        id: row.get("id"),
        number: row.get("number"),
        name: row.get("name"),
        socialconnect_enabled: row.get("socialconnect_enabled"),
    }
}

fn user_from(row: &sqlx::sqlite::SqliteRow) -> StoreResult<User> {
    Ok(User {
        id: row.get("id"),
        account_id: row.get("account_id"),
        email: row.get("email"),
        name: row.get("name"),
        role: parse_role(row.get("role"))?,
    })
}

#[async_trait]
impl Accounts for SqliteStore {
    async fn account_by_number(&self, number: &str) -> StoreResult<Option<Account>> {
        let row = sqlx::query("SELECT * FROM accounts WHERE number = ?")
            .bind(number)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(account_from))
    }

    async fn account_by_id(&self, id: i64) -> StoreResult<Option<Account>> {
        let row = sqlx::query("SELECT * FROM accounts WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(account_from))
    }

    async fn ensure_account(
        &self,
        number: &str,
        name: &str,
        enabled: bool,
    ) -> StoreResult<Account> {
        sqlx::query(
            "INSERT INTO accounts (number, name, socialconnect_enabled, created_at)
             VALUES (?, ?, ?, unixepoch()) ON CONFLICT (number) DO NOTHING",
        )
        .bind(number)
        .bind(name)
        .bind(enabled)
        .execute(&self.pool)
        .await?;
        let row = sqlx::query("SELECT * FROM accounts WHERE number = ?")
            .bind(number)
            .fetch_one(&self.pool)
            .await?;
        Ok(account_from(&row))
    }

    async fn credentials(
        &self,
        account_id: Option<i64>,
        email: &str,
    ) -> StoreResult<Option<Credentials>> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS}, u.password_hash FROM users u
             WHERE coalesce(u.account_id, 0) = coalesce(?, 0) AND lower(u.email) = lower(?)"
        ))
        .bind(account_id)
        .bind(email)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(Credentials {
                user: user_from(&r)?,
                password_hash: r.get("password_hash"),
            })
        })
        .transpose()
    }

    async fn create_user(&self, u: NewUser<'_>) -> StoreResult<Option<User>> {
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO users (account_id, email, name, role, password_hash, created_at)
             VALUES (?, ?, ?, ?, ?, unixepoch())
             ON CONFLICT DO NOTHING RETURNING id",
        )
        .bind(u.account_id)
        .bind(u.email)
        .bind(u.name)
        .bind(u.role.as_str())
        .bind(u.password_hash)
        .fetch_optional(&self.pool)
        .await?;
        Ok(id.map(|id| User {
            id,
            account_id: u.account_id,
            email: u.email.to_owned(),
            name: u.name.to_owned(),
            role: u.role,
        }))
    }

    async fn create_session(
        &self,
        token_hash: &str,
        user_id: i64,
        csrf_token: &str,
        now: i64,
        expires_at: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at)
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(token_hash)
        .bind(user_id)
        .bind(csrf_token)
        .bind(now)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn session(&self, token_hash: &str, now: i64) -> StoreResult<Option<SessionRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS}, s.csrf_token FROM sessions s JOIN users u ON u.id = s.user_id
             WHERE s.token_hash = ? AND s.expires_at > ?"
        ))
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let user = user_from(&row)?;
        let account = match user.account_id {
            Some(id) => self.account_by_id(id).await?,
            None => None,
        };
        Ok(Some(SessionRecord {
            user,
            account,
            csrf_token: row.get("csrf_token"),
        }))
    }

    async fn delete_session(&self, token_hash: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = ?")
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn purge_sessions(&self, now: i64) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM sessions WHERE expires_at <= ?")
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    async fn count_sign_in(
        &self,
        key: &str,
        now_ms: i64,
        window_ms: i64,
    ) -> StoreResult<SignInCount> {
        let (attempts, window_start): (i64, i64) = sqlx::query_as(
            "INSERT INTO sign_in_attempts (key, window_start, attempts) VALUES (?1, ?2, 1)
             ON CONFLICT (key) DO UPDATE SET
                 attempts = CASE WHEN sign_in_attempts.window_start + ?3 <= ?2 THEN 1
                                 ELSE sign_in_attempts.attempts + 1 END,
                 window_start = CASE WHEN sign_in_attempts.window_start + ?3 <= ?2 THEN ?2
                                     ELSE sign_in_attempts.window_start END
             RETURNING attempts, window_start",
        )
        .bind(key)
        .bind(now_ms)
        .bind(window_ms)
        .fetch_one(&self.pool)
        .await?;
        Ok(SignInCount {
            attempts,
            window_ends_ms: window_start.saturating_add(window_ms),
        })
    }

    async fn sign_in_succeeded(&self, cleared: &str, forgiven: Option<&str>) -> StoreResult<()> {
        let _writing = self.writer.lock().await;
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM sign_in_attempts WHERE key = ?")
            .bind(cleared)
            .execute(&mut *tx)
            .await?;
        if let Some(key) = forgiven {
            sqlx::query(
                "UPDATE sign_in_attempts SET attempts = attempts - 1
                 WHERE key = ? AND attempts > 0",
            )
            .bind(key)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn purge_sign_in_counts(&self, before_ms: i64) -> StoreResult<u64> {
        Ok(
            sqlx::query("DELETE FROM sign_in_attempts WHERE window_start < ?")
                .bind(before_ms)
                .execute(&self.pool)
                .await?
                .rows_affected(),
        )
    }

    async fn key_fingerprint(&self, fingerprint: &str, now_ms: i64) -> StoreResult<String> {
        sqlx::query(
            "INSERT INTO key_fingerprint (id, fingerprint, recorded_at) VALUES (1, ?, ?)
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(fingerprint)
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        Ok(
            sqlx::query_scalar("SELECT fingerprint FROM key_fingerprint WHERE id = 1")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn has_key_fingerprint(&self) -> StoreResult<bool> {
        Ok(
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM key_fingerprint)")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn ensure_skill(&self, account_id: i64, name: &str) -> StoreResult<i64> {
        sqlx::query("INSERT INTO skills (account_id, name) VALUES (?, ?) ON CONFLICT DO NOTHING")
            .bind(account_id)
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(
            sqlx::query_scalar("SELECT id FROM skills WHERE account_id = ? AND name = ?")
                .bind(account_id)
                .bind(name)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn set_user_skills(&self, user_id: i64, skills: &[i64]) -> StoreResult<()> {
        let _writing = self.writer.lock().await;
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM user_skills WHERE user_id = ?")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        for skill in skills {
            sqlx::query("INSERT OR IGNORE INTO user_skills (user_id, skill_id) VALUES (?, ?)")
                .bind(user_id)
                .bind(skill)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn skills(&self, account_id: i64) -> StoreResult<Vec<(i64, String)>> {
        Ok(sqlx::query_as(
            "SELECT id, name FROM skills WHERE account_id = ? ORDER BY name COLLATE NOCASE, id",
        )
        .bind(account_id)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn people(&self, account_id: i64) -> StoreResult<Vec<(User, Vec<i64>)>> {
        let rows = sqlx::query(&format!(
            "SELECT {USER_COLUMNS}, (SELECT group_concat(skill_id) FROM user_skills s
                                     WHERE s.user_id = u.id) AS skills
             FROM users u WHERE u.account_id = ? ORDER BY u.role, u.name COLLATE NOCASE, u.id"
        ))
        .bind(account_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let skills: Option<String> = r.get("skills");
                let mut ids: Vec<i64> = skills
                    .unwrap_or_default()
                    .split(',')
                    .filter_map(|s| s.parse().ok())
                    .collect();
                ids.sort_unstable();
                Ok((user_from(r)?, ids))
            })
            .collect()
    }

    async fn user_by_id(&self, id: i64) -> StoreResult<Option<User>> {
        sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users u WHERE u.id = ?"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .map(|r| user_from(&r))
        .transpose()
    }

    async fn send_image_enabled(&self, account_id: i64) -> StoreResult<bool> {
        let on: Option<bool> =
            sqlx::query_scalar("SELECT send_image FROM account_features WHERE account_id = ?")
                .bind(account_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(on.unwrap_or(true))
    }

    async fn set_send_image(&self, account_id: i64, on: bool) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO account_features (account_id, send_image) VALUES (?, ?)
             ON CONFLICT (account_id) DO UPDATE SET send_image = excluded.send_image",
        )
        .bind(account_id)
        .bind(on)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn audit(&self, account_id: i64, e: &AuditEntry) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO audit_log (account_id, at, actor, action, detail) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(account_id)
        .bind(e.at)
        .bind(&e.actor)
        .bind(&e.action)
        .bind(&e.detail)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn audit_log(&self, account_id: i64, limit: i64) -> StoreResult<Vec<AuditEntry>> {
        let rows = sqlx::query(
            "SELECT at, actor, action, detail FROM audit_log WHERE account_id = ?
             ORDER BY at DESC, id DESC LIMIT ?",
        )
        .bind(account_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| AuditEntry {
                at: r.get("at"),
                actor: r.get("actor"),
                action: r.get("action"),
                detail: r.get("detail"),
            })
            .collect())
    }
}

#[async_trait]
impl Links for SqliteStore {
    async fn link(&self, l: NewLink<'_>) -> StoreResult<LinkedAccount> {
        let writing = self.writer.lock().await;
        let mut tx = self.pool.begin().await?;
        let holder: Option<i64> = sqlx::query_scalar(
            "SELECT account_id FROM linked_accounts WHERE channel = ? AND network_id = ?",
        )
        .bind(l.channel.as_str())
        .bind(l.network_id)
        .fetch_optional(&mut *tx)
        .await?;
        if holder.is_some_and(|a| a != l.account_id) {
            return Err(StoreError::Conflict(
                "that page or account is linked to another brand account".into(),
            ));
        }
        sqlx::query(
            "INSERT INTO linked_accounts (account_id, channel, network_id, name, token_sealed,
                 token_secret_sealed, skill_id, status, created_at, created_by)
             VALUES (?, ?, ?, ?, ?, ?, ?, 'linked', unixepoch(), ?)
             ON CONFLICT (channel, network_id) DO UPDATE SET
                 name = excluded.name, token_sealed = excluded.token_sealed,
                 token_secret_sealed = excluded.token_secret_sealed,
                 skill_id = coalesce(excluded.skill_id, linked_accounts.skill_id),
                 status = 'linked'",
        )
        .bind(l.account_id)
        .bind(l.channel.as_str())
        .bind(l.network_id)
        .bind(l.name)
        .bind(&l.token_sealed)
        .bind(&l.token_secret_sealed)
        .bind(l.skill_id)
        .bind(l.created_by)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        drop(writing);
        self.linked_account(l.channel, l.network_id)
            .await?
            .ok_or_else(|| StoreError::corrupt("linked account vanished"))
    }

    async fn linked_account(
        &self,
        channel: Channel,
        network_id: &str,
    ) -> StoreResult<Option<LinkedAccount>> {
        let row = sqlx::query("SELECT * FROM linked_accounts WHERE channel = ? AND network_id = ?")
            .bind(channel.as_str())
            .bind(network_id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| linked_from(&r, channel)).transpose()
    }

    async fn linked_accounts(&self, channel: Channel) -> StoreResult<Vec<LinkedAccount>> {
        sqlx::query("SELECT * FROM linked_accounts WHERE channel = ? ORDER BY id")
            .bind(channel.as_str())
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| linked_from(r, channel))
            .collect()
    }

    async fn set_linked_status(&self, id: i64, status: LinkStatus) -> StoreResult<()> {
        sqlx::query("UPDATE linked_accounts SET status = ? WHERE id = ?")
            .bind(status.as_str())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn set_sending_restricted(&self, id: i64, since_ms: Option<i64>) -> StoreResult<()> {
        let _writing = self.writer.lock().await;
        sqlx::query("UPDATE linked_accounts SET sending_restricted_at = ? WHERE id = ?")
            .bind(since_ms)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    // Home
    async fn linked_by_id(&self, id: i64) -> StoreResult<Option<LinkedAccount>> {
        let row = sqlx::query("SELECT * FROM linked_accounts WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| linked_from(&r, parse_channel(r.get("channel"))?))
            .transpose()
    }

    async fn home_linked(&self, account_id: i64) -> StoreResult<Vec<HomeLinked>> {
        sqlx::query("SELECT * FROM linked_accounts WHERE account_id = ? ORDER BY id")
            .bind(account_id)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| {
                Ok(HomeLinked {
                    linked: linked_from(r, parse_channel(r.get("channel"))?)?,
                    created_at: r.get("created_at"),
                    created_by: r.get("created_by"),
                })
            })
            .collect()
    }

    async fn set_linked_skill(&self, linked_id: i64, skill_id: i64) -> StoreResult<()> {
        let _writing = self.writer.lock().await;
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE linked_accounts SET skill_id = ? WHERE id = ?")
            .bind(skill_id)
            .bind(linked_id)
            .execute(&mut *tx)
            .await?;
        // Conversations nobody holds follow the channel to its new skill.
        sqlx::query(
            "UPDATE conversations SET skill_id = ?
             WHERE linked_account_id = ? AND assigned_user_id IS NULL",
        )
        .bind(skill_id)
        .bind(linked_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn put_oauth_pending(&self, p: &OAuthPending) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO oauth_pending (id, account_id, user_id, session_binding, channel,
                 request_token, secret_sealed, pages_sealed, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&p.id)
        .bind(p.account_id)
        .bind(p.user_id)
        .bind(&p.session_binding)
        .bind(p.channel.as_str())
        .bind(&p.request_token)
        .bind(&p.secret_sealed)
        .bind(&p.pages_sealed)
        .bind(p.created_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn oauth_pending(&self, id: &str) -> StoreResult<Option<OAuthPending>> {
        sqlx::query("SELECT * FROM oauth_pending WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| pending_from(&r))
            .transpose()
    }

    async fn oauth_pending_by_request_token(
        &self,
        token: &str,
    ) -> StoreResult<Option<OAuthPending>> {
        sqlx::query("SELECT * FROM oauth_pending WHERE request_token = ?")
            .bind(token)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| pending_from(&r))
            .transpose()
    }

    async fn set_oauth_pages(&self, id: &str, pages_sealed: &[u8]) -> StoreResult<()> {
        sqlx::query("UPDATE oauth_pending SET pages_sealed = ? WHERE id = ?")
            .bind(pages_sealed)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn delete_oauth_pending(&self, id: Option<&str>, before: i64) -> StoreResult<()> {
        match id {
            Some(id) => sqlx::query("DELETE FROM oauth_pending WHERE id = ?").bind(id),
            None => sqlx::query("DELETE FROM oauth_pending WHERE created_at < ?").bind(before),
        }
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

#[async_trait]
impl Conversations for SqliteStore {
    async fn reply_context(&self, conversation_id: i64) -> StoreResult<Option<ReplyContext>> {
        let Some(row) = sqlx::query(
            "SELECT c.id, l.account_id, l.channel, l.network_id AS brand_id,
                    coalesce(k.psid, k.network_id) AS consumer
             FROM conversations c
             JOIN linked_accounts l ON l.id = c.linked_account_id
             JOIN consumers k ON k.id = c.consumer_id
             WHERE c.id = ?",
        )
        .bind(conversation_id)
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        let linked = self.linked_of(&row).await?;
        let last_public = sqlx::query(
            "SELECT m.network_id, m.tag, m.created_at,
                    -- A private response is the brand's private line answering it; one on
                    -- its way counts, one refused before sending or failed does not.
                    EXISTS (SELECT 1 FROM messages r
                            WHERE r.conversation_id = m.conversation_id AND r.direction = 'out'
                              AND r.tag = 'Private' AND r.reply_to = m.network_id
                              AND r.status IN ('sending', 'sent')) AS answered
             FROM messages m
             WHERE m.conversation_id = ? AND m.direction = 'in' AND m.tag != 'Private'
               AND m.removed = 0
             -- Facebook's feed times are whole seconds: within one, a comment follows the
             -- post it answers, whatever order the webhooks arrived in.
             ORDER BY m.created_at DESC, m.tag = 'Public/Comment' DESC, m.id DESC LIMIT 1",
        )
        .bind(conversation_id)
        .fetch_optional(&self.pool)
        .await?
        .map(|r| -> StoreResult<LastPublic> {
            Ok(LastPublic {
                network_id: r.get("network_id"),
                line: PublicLine {
                    tag: parse_word(r.get("tag"))?,
                    created_at_ms: r.get("created_at"),
                    answered_privately: r.get("answered"),
                },
            })
        })
        .transpose()?;
        let last_private_at_ms: Option<i64> = self.last_private_at(conversation_id).await?;
        Ok(Some(ReplyContext {
            conversation_id,
            account_id: row.get("account_id"),
            linked,
            consumer_network_id: row.get("consumer"),
            last_public,
            last_private_at_ms,
        }))
    }

    async fn profiles_due(
        &self,
        now_ms: i64,
        stale_before_ms: i64,
        retry_before_ms: i64,
        limit: i64,
    ) -> StoreResult<Vec<ProfileDue>> {
        // Woken after every webhook: look without the writer first (see `media_due`).
        let any: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM consumers k JOIN linked_accounts l
                              ON l.id = k.linked_account_id
                            WHERE l.status IN ('linked', 'webhooks_failing')
                              AND (l.channel != 'facebook' OR k.psid IS NOT NULL)
                              AND (k.profile_fetched_at IS NULL OR k.profile_fetched_at < ?)
                              AND (k.profile_attempted_at IS NULL OR k.profile_attempted_at < ?))",
        )
        .bind(stale_before_ms)
        .bind(retry_before_ms)
        .fetch_one(&self.pool)
        .await?;
        if !any {
            return Ok(Vec::new());
        }
        let _writing = self.writer.lock().await;
        let mut tx = self.pool.begin().await?;
        let rows = sqlx::query(
            "SELECT k.id, coalesce(k.psid, k.network_id) AS network_id, l.channel,
                    l.network_id AS brand_id,
                    (SELECT c.id FROM conversations c WHERE c.consumer_id = k.id) AS conversation_id
             FROM consumers k JOIN linked_accounts l ON l.id = k.linked_account_id
             WHERE l.status IN ('linked', 'webhooks_failing')
               -- Facebook's User Profile API takes the page-scoped id only.
               AND (l.channel != 'facebook' OR k.psid IS NOT NULL)
               AND (k.profile_fetched_at IS NULL OR k.profile_fetched_at < ?)
               AND (k.profile_attempted_at IS NULL OR k.profile_attempted_at < ?)
             ORDER BY k.profile_fetched_at IS NOT NULL, k.id LIMIT ?",
        )
        .bind(stale_before_ms)
        .bind(retry_before_ms)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        let mut due = Vec::with_capacity(rows.len());
        for r in rows {
            let id: i64 = r.get("id");
            sqlx::query("UPDATE consumers SET profile_attempted_at = ? WHERE id = ?")
                .bind(now_ms)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            let channel = parse_channel(r.get("channel"))?;
            let brand: String = r.get("brand_id");
            due.push((
                id,
                r.get::<String, _>("network_id"),
                channel,
                brand,
                r.get("conversation_id"),
            ));
        }
        tx.commit().await?;
        drop(_writing);
        let mut out = Vec::with_capacity(due.len());
        for (consumer_id, network_id, channel, brand, conversation_id) in due {
            if let Some(linked) = self.linked_account(channel, &brand).await? {
                out.push(ProfileDue {
                    consumer_id,
                    network_id,
                    linked,
                    conversation_id,
                });
            }
        }
        Ok(out)
    }

    async fn set_profile(
        &self,
        consumer_id: i64,
        name: Option<&str>,
        handle: Option<&str>,
        profile: &serde_json::Value,
        now_ms: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE consumers SET profile = ?, profile_fetched_at = ?,
                 name = coalesce(?, name), handle = coalesce(?, handle)
             WHERE id = ?",
        )
        .bind(profile.to_string())
        .bind(now_ms)
        .bind(name)
        .bind(handle)
        .bind(consumer_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn learn_psid(&self, conversation_id: i64, psid: &str) -> StoreResult<Option<i64>> {
        // Under the writer lock nothing changes between this read and the transaction.
        let _writing = self.writer.lock().await;
        let Some((consumer, linked, known)) = sqlx::query_as::<_, (i64, i64, Option<String>)>(
            "SELECT k.id, k.linked_account_id, k.psid FROM conversations c
               JOIN consumers k ON k.id = c.consumer_id WHERE c.id = ?",
        )
        .bind(conversation_id)
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        if known.is_some() {
            return Ok(None);
        }
        let mut tx = self.pool.begin().await?;
        // The same person met in Messenger first has a conversation of their own: its lines
        // (and replies waiting to go) join this one, and the two become one.
        let other: Option<(i64, i64)> = sqlx::query_as(
            "SELECT k.id, c.id FROM consumers k JOIN conversations c ON c.consumer_id = k.id
              WHERE k.linked_account_id = ?1 AND k.id != ?2 AND (k.psid = ?3 OR k.network_id = ?3)",
        )
        .bind(linked)
        .bind(consumer)
        .bind(psid)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some((other_consumer, other_conversation)) = other {
            for table in ["messages", "outbox"] {
                sqlx::query(&format!(
                    "UPDATE {table} SET conversation_id = ? WHERE conversation_id = ?"
                ))
                .bind(conversation_id)
                .bind(other_conversation)
                .execute(&mut *tx)
                .await?;
            }
            sqlx::query(
                "UPDATE conversations SET
                     last_message_at = max(conversations.last_message_at, o.last_message_at),
                     status = CASE WHEN o.status = 'open' THEN 'open' ELSE conversations.status END,
                     assigned_user_id = coalesce(conversations.assigned_user_id, o.assigned_user_id)
                   FROM (SELECT last_message_at, status, assigned_user_id FROM conversations
                          WHERE id = ?) AS o
                  WHERE conversations.id = ?",
            )
            .bind(other_conversation)
            .bind(conversation_id)
            .execute(&mut *tx)
            .await?;
            // Messenger's profile of the person is the one Facebook gives: keep it.
            sqlx::query(
                "UPDATE consumers SET
                     profile = coalesce(o.profile, consumers.profile),
                     profile_fetched_at = coalesce(o.profile_fetched_at, consumers.profile_fetched_at),
                     name = coalesce(consumers.name, o.name)
                   FROM (SELECT profile, profile_fetched_at, name FROM consumers WHERE id = ?) AS o
                  WHERE consumers.id = ?",
            )
            .bind(other_consumer)
            .bind(consumer)
            .execute(&mut *tx)
            .await?;
            // And so is the picture copied from it.
            sqlx::query(
                "DELETE FROM media WHERE consumer_id = ?1
                   AND EXISTS (SELECT 1 FROM media WHERE consumer_id = ?2)",
            )
            .bind(consumer)
            .bind(other_consumer)
            .execute(&mut *tx)
            .await?;
            sqlx::query("UPDATE media SET consumer_id = ? WHERE consumer_id = ?")
                .bind(consumer)
                .bind(other_consumer)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM consumers WHERE id = ?")
                .bind(other_consumer)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("UPDATE consumers SET psid = ? WHERE id = ?")
            .bind(psid)
            .bind(consumer)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(other.map(|(_, c)| c))
    }

    async fn queue(&self, scope: QueueScope, view: QueueView) -> StoreResult<Vec<QueueItem>> {
        // An agent with no skills yet sees every skill of their account.
        let rows = sqlx::query(
            "SELECT c.id, l.channel, k.name AS consumer_name, k.handle, c.assigned_user_id,
                    u.name AS agent_name, m.text, m.tag, m.created_at
             FROM conversations c
             JOIN linked_accounts l ON l.id = c.linked_account_id
             JOIN consumers k ON k.id = c.consumer_id
             LEFT JOIN users u ON u.id = c.assigned_user_id
             LEFT JOIN messages m ON m.id = (
                 SELECT id FROM messages WHERE conversation_id = c.id
                 ORDER BY created_at DESC, id DESC LIMIT 1)
             WHERE l.account_id = ?1 AND c.status = 'open'
               -- Automation: what the bot or the survey holds is not for people yet.
               AND NOT EXISTS (SELECT 1 FROM bot_conversations b
                               WHERE b.conversation_id = c.id AND b.state IN ('bot', 'survey'))
               AND CASE ?3
                   WHEN 'mine' THEN c.assigned_user_id = ?2
                   ELSE (?3 = 'all' OR c.assigned_user_id IS NULL)
                        AND (NOT ?4
                             OR NOT EXISTS (SELECT 1 FROM user_skills WHERE user_id = ?2)
                             OR c.skill_id IN (SELECT skill_id FROM user_skills WHERE user_id = ?2))
                   END
             ORDER BY c.last_message_at DESC, c.id DESC
             LIMIT 500",
        )
        .bind(scope.account_id)
        .bind(scope.user_id)
        .bind(view.as_str())
        .bind(scope.by_skills)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let assigned: Option<i64> = r.get("assigned_user_id");
                let tag: Option<String> = r.get("tag");
                Ok(QueueItem {
                    id: r.get("id"),
                    channel: parse_channel(r.get("channel"))?,
                    consumer_name: r.get("consumer_name"),
                    consumer_handle: r.get("handle"),
                    last: tag
                        .map(|t| {
                            Ok::<_, StoreError>(LinePreview {
                                text: r.get("text"),
                                tag: parse_word(&t)?,
                                at: rfc3339(r.get("created_at")),
                            })
                        })
                        .transpose()?,
                    new: assigned.is_none(),
                    assigned_to: assigned.map(|id| AgentRef {
                        id,
                        name: r.get::<Option<String>, _>("agent_name").unwrap_or_default(),
                    }),
                })
            })
            .collect()
    }

    async fn conversation_account(&self, id: i64) -> StoreResult<Option<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT l.account_id FROM conversations c
             JOIN linked_accounts l ON l.id = c.linked_account_id WHERE c.id = ?",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn conversation_info(&self, id: i64) -> StoreResult<Option<ConversationInfo>> {
        let row = sqlx::query(
            "SELECT c.id, l.channel, c.status, s.name AS skill, c.assigned_user_id,
                    u.name AS agent_name
             FROM conversations c
             JOIN linked_accounts l ON l.id = c.linked_account_id
             LEFT JOIN skills s ON s.id = c.skill_id
             LEFT JOIN users u ON u.id = c.assigned_user_id
             WHERE c.id = ?",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            let assigned: Option<i64> = r.get("assigned_user_id");
            let status: String = r.get("status");
            Ok(ConversationInfo {
                id: r.get("id"),
                channel: parse_channel(r.get("channel"))?,
                status: if status == "closed" {
                    ConversationStatus::Closed
                } else {
                    ConversationStatus::Open
                },
                skill: r.get("skill"),
                assigned_to: assigned.map(|id| AgentRef {
                    id,
                    name: r.get::<Option<String>, _>("agent_name").unwrap_or_default(),
                }),
            })
        })
        .transpose()
    }

    async fn transcript(&self, id: i64) -> StoreResult<Option<Transcript>> {
        let Some(conversation) = self.conversation_info(id).await? else {
            return Ok(None);
        };
        let k = sqlx::query(
            "SELECT k.network_id, k.handle, k.name, k.profile, a.channel AS brand_channel,
                    a.name AS brand_name, a.network_id AS brand_network_id,
                    coalesce((SELECT f.send_image FROM account_features f
                              WHERE f.account_id = a.account_id), 1) AS send_image,
                    (SELECT p.id FROM media p WHERE p.consumer_id = k.id
                       AND p.stored_path IS NOT NULL) AS picture
             FROM conversations c
             JOIN consumers k ON k.id = c.consumer_id
             JOIN linked_accounts a ON a.id = c.linked_account_id
             WHERE c.id = ?",
        )
        .bind(id)
        .fetch_one(&self.pool)
        .await?;
        let profile: Option<String> = k.get("profile");
        let mut profile = profile.map(|p| Profile::from_json(&p)).unwrap_or_default();
        if let Some(picture) = k.get::<Option<i64>, _>("picture") {
            profile.profile_pic = Some(format!("/media/{picture}"));
        }
        let consumer = ConsumerInfo {
            network_id: k.get("network_id"),
            handle: k.get("handle"),
            name: k.get("name"),
            profile,
        };
        let brand = BrandFacts {
            channel: parse_word(k.get("brand_channel"))?,
            name: k.get("brand_name"),
            network_id: k.get("brand_network_id"),
            // SocialConnect Home's switch.
            send_image: k.get("send_image"),
        };
        let media_rows = sqlx::query(
            "SELECT d.id, d.message_id, d.kind, d.mime, d.bytes, d.source_url, d.stored_path,
                    d.status, d.thumb_path, d.still_path, d.poster_path
             FROM media d JOIN messages m ON m.id = d.message_id
             WHERE m.conversation_id = ? ORDER BY d.id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        let mut media: std::collections::HashMap<i64, Vec<LineMedia>> = Default::default();
        for d in &media_rows {
            let media_id: i64 = d.get("id");
            let ours = |column: &str, suffix: &str| {
                d.get::<Option<String>, _>(column)
                    .map(|_| format!("/media/{media_id}{suffix}"))
            };
            let url = match MediaStatus::parse(d.get("status"))? {
                // Only our checked copy: refused bytes are not offered again from the network.
                MediaStatus::Rejected => ours("stored_path", ""),
                _ => ours("stored_path", "").or_else(|| d.get("source_url")),
            };
            media
                .entry(d.get("message_id"))
                .or_default()
                .push(LineMedia {
                    kind: parse_word(d.get("kind"))?,
                    url,
                    mime: d.get("mime"),
                    bytes: d.get("bytes"),
                    thumbnail_url: ours("thumb_path", "/thumb"),
                    still_url: ours("still_path", "/still"),
                    poster_url: ours("poster_path", "/poster"),
                });
        }
        let mut links = links_by_line(
            sqlx::query(
                "SELECT k.message_id, k.title, k.url FROM message_links k
                 JOIN messages m ON m.id = k.message_id
                 WHERE m.conversation_id = ? ORDER BY k.id",
            )
            .bind(id)
            .fetch_all(&self.pool)
            .await?,
        );
        let rows = sqlx::query(
            "SELECT id, tag, direction, author, text, status, error, created_at, edited, removed
             FROM messages WHERE conversation_id = ? ORDER BY created_at, id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        let lines = rows
            .iter()
            .map(|l| {
                let id: i64 = l.get("id");
                Ok(Line {
                    id,
                    tag: parse_word(l.get("tag"))?,
                    direction: parse_word(l.get("direction"))?,
                    author: parse_word(l.get("author"))?,
                    text: l.get("text"),
                    media: media.remove(&id).unwrap_or_default(),
                    links: links.remove(&id).unwrap_or_default(),
                    status: parse_word(l.get("status"))?,
                    error: l.get("error"),
                    created_at: rfc3339(l.get("created_at")),
                    edited: l.get("edited"),
                    removed: l.get("removed"),
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Some(Transcript {
            conversation,
            consumer,
            brand,
            lines,
            // The reply modes are the handler's to add (`conversations::transcript`).
            reply_facts: Default::default(),
            reply_modes: Vec::new(),
        }))
    }

    async fn take(&self, id: i64, user_id: i64) -> StoreResult<TakeOutcome> {
        let done = sqlx::query(
            "UPDATE conversations SET assigned_user_id = ?1
             WHERE id = ?2 AND status = 'open'
               AND (assigned_user_id IS NULL OR assigned_user_id = ?1)",
        )
        .bind(user_id)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(if done.rows_affected() == 1 {
            TakeOutcome::Taken
        } else {
            TakeOutcome::Refused
        })
    }

    async fn close(&self, id: i64) -> StoreResult<()> {
        sqlx::query(
            "UPDATE conversations SET status = 'closed', assigned_user_id = NULL WHERE id = ?",
        )
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn line_status(&self, message_id: i64) -> StoreResult<Option<(String, Option<String>)>> {
        Ok(
            sqlx::query("SELECT status, error FROM messages WHERE id = ?")
                .bind(message_id)
                .fetch_optional(&self.pool)
                .await?
                .map(|r| (r.get("status"), r.get("error"))),
        )
    }

    async fn export(&self, account_id: i64, since_ms: i64) -> StoreResult<Vec<ExportConversation>> {
        let rows = sqlx::query(
            "SELECT c.id, a.number, l.channel, s.name AS skill, c.status, k.network_id, k.handle,
                    k.name AS consumer_name, k.profile, c.survey_score
             FROM conversations c
             JOIN linked_accounts l ON l.id = c.linked_account_id
             JOIN accounts a ON a.id = l.account_id
             JOIN consumers k ON k.id = c.consumer_id
             LEFT JOIN skills s ON s.id = c.skill_id
             WHERE l.account_id = ? AND c.last_message_at >= ?
             ORDER BY c.id",
        )
        .bind(account_id)
        .bind(since_ms)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let id: i64 = r.get("id");
            let channel: String = r.get("channel");
            let profile: Option<String> = r.get("profile");
            let lines = sqlx::query(
                "SELECT id, network_id, tag, direction, author, text, status, error, created_at,
                        edited, removed
                 FROM messages WHERE conversation_id = ? ORDER BY created_at, id",
            )
            .bind(id)
            .fetch_all(&self.pool)
            .await?;
            let mut messages = Vec::with_capacity(lines.len());
            for l in lines {
                let mid: i64 = l.get("id");
                let media = sqlx::query(
                    "SELECT kind, mime, bytes FROM media WHERE message_id = ? ORDER BY id",
                )
                .bind(mid)
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(|m| ExportMedia {
                    kind: export_kind(m.get("kind")),
                    mime: m.get("mime"),
                    bytes: m.get("bytes"),
                })
                .collect();
                let links = links_by_line(
                    sqlx::query(
                        "SELECT message_id, title, url FROM message_links
                         WHERE message_id = ? ORDER BY id",
                    )
                    .bind(mid)
                    .fetch_all(&self.pool)
                    .await?,
                )
                .remove(&mid)
                .unwrap_or_default();
                messages.push(ExportMessage {
                    id: mid,
                    network_id: l.get("network_id"),
                    tag: l.get("tag"),
                    direction: l.get("direction"),
                    author: l.get("author"),
                    text: l.get("text"),
                    media,
                    links,
                    status: l.get("status"),
                    error: l.get("error"),
                    created_at: rfc3339(l.get("created_at")),
                    edited: l.get("edited"),
                    removed: l.get("removed"),
                });
            }
            out.push(ExportConversation {
                id,
                account: r.get("number"),
                channel: channel
                    .parse()
                    .map_err(|e: shared::vocab::UnknownWord| StoreError::Other(e.into()))?,
                skill: r.get("skill"),
                status: r.get("status"),
                consumer: ExportConsumer {
                    network_id: r.get("network_id"),
                    handle: r.get("handle"),
                    name: r.get("consumer_name"),
                    profile: profile
                        .and_then(|p| serde_json::from_str(&p).ok())
                        .unwrap_or_else(|| serde_json::json!({})),
                },
                messages,
                survey_score: r.get("survey_score"),
            });
        }
        Ok(out)
    }
}

#[async_trait]
impl Ingest for SqliteStore {
    async fn ingest(
        &self,
        linked: &LinkedAccount,
        messages: &[InboundMessage],
        now_ms: i64,
    ) -> StoreResult<IngestReport> {
        match self
            .ingest_group(IngestFor::Linked(linked.clone()), messages, now_ms)
            .await?
        {
            Some((_, report)) => Ok(report),
            None => Err(StoreError::corrupt(
                "a linked account's batch came back unstored",
            )),
        }
    }

    async fn ingest_for(
        &self,
        channel: Channel,
        brand_id: &str,
        messages: &[InboundMessage],
        now_ms: i64,
    ) -> StoreResult<Option<(LinkedAccount, IngestReport)>> {
        // The linked account is read in the group's transaction: no round trip of its own
        // through the pool, and no unlinking between the read and the write.
        let target = IngestFor::Named {
            channel,
            brand_id: brand_id.to_owned(),
        };
        self.ingest_group(target, messages, now_ms).await
    }
}

#[async_trait]
impl Media for SqliteStore {
    async fn media_due(
        &self,
        now_ms: i64,
        lease_until_ms: i64,
        limit: i64,
    ) -> StoreResult<Vec<MediaDue>> {
        // Woken after every webhook: look without the writer first, so an idle fetcher
        // never queues behind (or ahead of) ingest.
        let any: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM media WHERE status = 'pending'
                              AND source_url IS NOT NULL AND next_attempt_at <= ?)",
        )
        .bind(now_ms)
        .fetch_one(&self.pool)
        .await?;
        if !any {
            return Ok(Vec::new());
        }
        let _writing = self.writer.lock().await;
        let mut tx = self.pool.begin().await?;
        let rows = sqlx::query(
            "SELECT d.id, d.kind, d.source_url, d.poster_url, d.attempts,
                    c.id AS conversation_id, l.channel, l.network_id AS brand_id
             FROM media d
             LEFT JOIN messages m ON m.id = d.message_id
             LEFT JOIN consumers k ON k.id = d.consumer_id
             JOIN conversations c ON c.id = coalesce(m.conversation_id,
                 (SELECT c2.id FROM conversations c2
                   WHERE c2.linked_account_id = k.linked_account_id AND c2.consumer_id = k.id))
             JOIN linked_accounts l ON l.id = c.linked_account_id
             WHERE d.status = 'pending' AND d.source_url IS NOT NULL AND d.next_attempt_at <= ?
             ORDER BY d.next_attempt_at, d.id LIMIT ?",
        )
        .bind(now_ms)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        let mut leased = Vec::with_capacity(rows.len());
        for r in rows {
            let id: i64 = r.get("id");
            sqlx::query("UPDATE media SET next_attempt_at = ? WHERE id = ?")
                .bind(lease_until_ms)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            leased.push((r, id));
        }
        tx.commit().await?;
        drop(_writing);
        let mut due = Vec::with_capacity(leased.len());
        for (r, id) in leased {
            let linked = self.linked_of(&r).await?;
            due.push(MediaDue {
                id,
                kind: parse_word(r.get("kind"))?,
                source_url: r.get("source_url"),
                poster_url: r.get("poster_url"),
                attempts: r.get("attempts"),
                linked,
                conversation_id: r.get("conversation_id"),
            });
        }
        Ok(due)
    }

    async fn media_stored(&self, id: i64, copy: &MediaCopy) -> StoreResult<()> {
        sqlx::query(
            "UPDATE media SET status = 'stored', error = NULL, attempts = attempts + 1,
                 mime = ?, bytes = ?, stored_path = ?, thumb_path = ?, still_path = ?,
                 poster_path = ?
             WHERE id = ?",
        )
        .bind(&copy.mime)
        .bind(copy.bytes)
        .bind(&copy.stored_path)
        .bind(&copy.thumb_path)
        .bind(&copy.still_path)
        .bind(&copy.poster_path)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn media_retry(&self, id: i64, next_at_ms: i64, error: &str) -> StoreResult<()> {
        sqlx::query(
            "UPDATE media SET attempts = attempts + 1, next_attempt_at = ?, error = ?
             WHERE id = ? AND status = 'pending'",
        )
        .bind(next_at_ms)
        .bind(error)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn media_refused(
        &self,
        id: i64,
        status: MediaStatus,
        reason: &str,
        mime: Option<&str>,
        bytes: Option<i64>,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE media SET status = ?, error = ?, attempts = attempts + 1,
                 mime = coalesce(?, mime), bytes = coalesce(?, bytes)
             WHERE id = ?",
        )
        .bind(status.as_str())
        .bind(reason)
        .bind(mime)
        .bind(bytes)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn media_record(&self, id: i64) -> StoreResult<Option<MediaRecord>> {
        let Some(r) = sqlx::query(
            "SELECT d.id, d.kind, d.mime, d.bytes, d.status, d.error, d.attempts, d.stored_path,
                    d.thumb_path, d.still_path, d.poster_path, d.consumer_id, l.account_id
             FROM media d
             LEFT JOIN messages m ON m.id = d.message_id
             LEFT JOIN consumers k ON k.id = d.consumer_id
             JOIN linked_accounts l ON l.id = coalesce(m.linked_account_id, k.linked_account_id)
             WHERE d.id = ?",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        Ok(Some(MediaRecord {
            id: r.get("id"),
            account_id: r.get("account_id"),
            kind: parse_word(r.get("kind"))?,
            mime: r.get("mime"),
            bytes: r.get("bytes"),
            status: MediaStatus::parse(r.get("status"))?,
            error: r.get("error"),
            attempts: r.get("attempts"),
            of_consumer: r.get::<Option<i64>, _>("consumer_id").is_some(),
            stored_path: r.get("stored_path"),
            thumb_path: r.get("thumb_path"),
            still_path: r.get("still_path"),
            poster_path: r.get("poster_path"),
        }))
    }

    async fn copy_picture(&self, consumer_id: i64, source_url: &str) -> StoreResult<()> {
        let _writing = self.writer.lock().await;
        sqlx::query(
            "INSERT INTO media (consumer_id, kind, source_url) VALUES (?, 'image', ?)
             ON CONFLICT (consumer_id) DO UPDATE SET
                 source_url = excluded.source_url, status = 'pending', attempts = 0,
                 next_attempt_at = 0, error = NULL",
        )
        .bind(consumer_id)
        .bind(source_url)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

fn pending_from(r: &sqlx::sqlite::SqliteRow) -> StoreResult<OAuthPending> {
    Ok(OAuthPending {
        id: r.get("id"),
        account_id: r.get("account_id"),
        user_id: r.get("user_id"),
        session_binding: r.get("session_binding"),
        channel: parse_channel(r.get("channel"))?,
        request_token: r.get("request_token"),
        secret_sealed: r.get("secret_sealed"),
        pages_sealed: r.get("pages_sealed"),
        created_at: r.get("created_at"),
    })
}

impl SqliteStore {
    /// The linked account a query row names by its `channel` and `brand_id` columns.
    pub(super) async fn linked_of(
        &self,
        row: &sqlx::sqlite::SqliteRow,
    ) -> StoreResult<LinkedAccount> {
        let channel = parse_channel(row.get("channel"))?;
        self.linked_account(channel, &row.get::<String, _>("brand_id"))
            .await?
            .ok_or_else(|| StoreError::corrupt("a row without its linked account"))
    }

    /// When the consumer of a conversation last wrote in private (ms), for Messenger's windows.
    pub(super) async fn last_private_at(&self, conversation_id: i64) -> StoreResult<Option<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT max(created_at) FROM messages
             WHERE conversation_id = ? AND direction = 'in' AND tag = 'Private'",
        )
        .bind(conversation_id)
        .fetch_one(&self.pool)
        .await?)
    }
}

/// Whose messages a job stores.
enum IngestFor {
    Linked(LinkedAccount),
    /// The page or account a webhook names, looked up in the group's transaction.
    Named {
        channel: Channel,
        brand_id: String,
    },
}

/// What a job stored, and for which linked account; `None` when nothing is linked.
type Ingested = Option<(LinkedAccount, IngestReport)>;

struct IngestJob {
    target: IngestFor,
    messages: Vec<InboundMessage>,
    now_ms: i64,
    done: tokio::sync::oneshot::Sender<StoreResult<Ingested>>,
}

impl SqliteStore {
    /// Group commit: every webhook waiting for the writer is stored in one transaction
    /// (one fsync), each in its own savepoint so one bad batch fails alone.
    async fn ingest_group(
        &self,
        target: IngestFor,
        messages: &[InboundMessage],
        now_ms: i64,
    ) -> StoreResult<Ingested> {
        let (done, mut result) = tokio::sync::oneshot::channel();
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(IngestJob {
                target,
                messages: messages.to_vec(),
                now_ms,
                done,
            });
        loop {
            tokio::select! {
                // A webhook another group took along is answered as soon as that group
                // is done: it does not queue for the writer only to lead the next group
                // and answer after that one too.
                biased;
                answer = &mut result => {
                    // A panic drops the jobs' senders: they answer "interrupted".
                    return answer.unwrap_or_else(|_| {
                        Err(StoreError::Unavailable("ingest was interrupted".into()))
                    });
                }
                writing = self.writer.clone().lock_owned() => {
                    let jobs =
                        std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()));
                    if jobs.is_empty() {
                        // This one was in the group just done; its answer is there.
                        continue;
                    }
                    let ingest = self.ingest.clone();
                    let span = tracing::Span::current();
                    // The group runs to its end and answers every job even if this request
                    // is dropped meanwhile: the blocking task, not this future, holds the
                    // writer.
                    let group = tokio::task::spawn_blocking(move || {
                        let _writing = writing;
                        let _span = span.enter();
                        ingest.lock().unwrap_or_else(|e| e.into_inner()).run(jobs);
                    });
                    let _ = group.await;
                }
            }
        }
    }
}

/// The connection webhooks are stored through: rusqlite on a blocking thread, so each of a
/// webhook's statements is a function call, not a hop to a driver's worker thread and back
/// (what sqlx-sqlite costs per statement). The rest of the store stays on the sqlx pool;
/// both open the same file, and the `writer` lock keeps their writers apart.
struct IngestWriter {
    path: PathBuf,
    busy_timeout: Duration,
    /// `None` once a connection had to be given up (see `settle`); the next group opens
    /// another.
    conn: Option<rusqlite::Connection>,
}

impl IngestWriter {
    fn open(path: PathBuf, busy_timeout: Duration) -> anyhow::Result<Self> {
        let conn = Self::connect(&path, busy_timeout)?;
        Ok(IngestWriter {
            path,
            busy_timeout,
            conn: Some(conn),
        })
    }

    /// The pool's settings: WAL, durable before the 200, foreign keys enforced.
    fn connect(path: &Path, busy_timeout: Duration) -> anyhow::Result<rusqlite::Connection> {
        use rusqlite::OpenFlags;
        let conn = rusqlite::Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .with_context(|| format!("opening {} for ingest", path.display()))?;
        conn.busy_timeout(busy_timeout)?;
        // WAL is a property of the file the pool already set; asked for again so that a
        // file that somehow is not in WAL fails here rather than ingesting otherwise.
        let mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
        anyhow::ensure!(
            mode.eq_ignore_ascii_case("wal"),
            "{} stays in journal mode {mode}",
            path.display()
        );
        conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")?;
        // Every statement of `ingest_in` and the group's own stay prepared.
        conn.set_prepared_statement_cache_capacity(32);
        Ok(conn)
    }

    /// Stores the jobs in one transaction, a savepoint each, and answers every job once
    /// the transaction is durable (or failed).
    fn run(&mut self, jobs: Vec<IngestJob>) {
        // A group that panicked may have left its transaction open.
        self.settle();
        let committed = match self.connection() {
            Ok(conn) => store_group(conn, &jobs),
            Err(why) => Err(why),
        };
        // Whatever failed, the next group starts outside any transaction.
        self.settle();
        let mut outcomes = match committed {
            Ok(outcomes) => Ok(outcomes.into_iter()),
            Err(why) => Err(why),
        };
        for job in jobs {
            let answer = match &mut outcomes {
                Ok(outcomes) => outcomes
                    .next()
                    .unwrap_or_else(|| Err(StoreError::Unavailable("not stored".into()))),
                Err(why) => Err(StoreError::Unavailable(why.clone())),
            };
            let _ = job.done.send(answer);
        }
    }

    fn connection(&mut self) -> Result<&rusqlite::Connection, String> {
        let conn = match self.conn.take() {
            Some(conn) => conn,
            None => Self::connect(&self.path, self.busy_timeout)
                .map_err(|e| format!("reopening the ingest connection: {e:#}"))?,
        };
        Ok(self.conn.insert(conn))
    }

    /// Leaves the connection outside any transaction: a failed group's is rolled back, and
    /// a connection that cannot even do that is closed (which rolls back too).
    fn settle(&mut self) {
        let Some(conn) = &self.conn else { return };
        if conn.is_autocommit() {
            return;
        }
        match conn.execute_batch("ROLLBACK") {
            Ok(()) if conn.is_autocommit() => {}
            outcome => {
                tracing::warn!(
                    ?outcome,
                    "ingest: the transaction would not roll back; reopening the connection"
                );
                self.conn = None;
            }
        }
    }
}

/// One group's transaction: each job's outcome once the COMMIT succeeded, or why the
/// transaction failed (or is in doubt) as a whole, and then no job is stored.
fn store_group(
    conn: &rusqlite::Connection,
    jobs: &[IngestJob],
) -> Result<Vec<StoreResult<Ingested>>, String> {
    exec(conn, "BEGIN IMMEDIATE")?;
    let mut outcomes = Vec::with_capacity(jobs.len());
    for job in jobs {
        // SQLite ends the transaction by itself on some failures (SQLITE_FULL,
        // SQLITE_IOERR, ...): a SAVEPOINT now would open a new one, and its RELEASE commit
        // the rest of the group without the jobs before.
        if conn.is_autocommit() {
            return Err("the transaction was rolled back".into());
        }
        exec(conn, "SAVEPOINT job")?;
        match ingest_job(conn, job) {
            Ok(report) => {
                exec(conn, "RELEASE job")?;
                outcomes.push(Ok(report));
            }
            // A full disk, an I/O error or a lock fails every job alike.
            Err(StoreError::Unavailable(why)) => return Err(why),
            Err(e) => {
                // SQLite may have rolled the whole transaction back on the failed
                // statement: the savepoint is gone then, and the jobs before this one with
                // it.
                exec(conn, "ROLLBACK TO job")?;
                exec(conn, "RELEASE job")?;
                outcomes.push(Err(e));
            }
        }
    }
    if conn.is_autocommit() {
        return Err("the transaction was rolled back".into());
    }
    exec(conn, "COMMIT")?;
    Ok(outcomes)
}

/// A statement of the group's own (BEGIN, SAVEPOINT, ...); its failure fails the group.
fn exec(conn: &rusqlite::Connection, sql: &str) -> Result<(), String> {
    conn.prepare_cached(sql)
        .and_then(|mut statement| statement.execute([]))
        .map(drop)
        .map_err(|e| StoreError::from(e).to_string())
}

/// Stores one job's messages inside the group's transaction.
fn ingest_job(tx: &rusqlite::Connection, job: &IngestJob) -> StoreResult<Ingested> {
    let linked = match &job.target {
        IngestFor::Linked(linked) => linked.clone(),
        IngestFor::Named { channel, brand_id } => match linked_in(tx, *channel, brand_id)? {
            Some(linked) if linked.status != LinkStatus::Unlinked => linked,
            _ => return Ok(None),
        },
    };
    let report = ingest_in(tx, &linked, &job.messages, job.now_ms)?;
    Ok(Some((linked, report)))
}

/// `linked_account` on the ingest connection.
fn linked_in(
    tx: &rusqlite::Connection,
    channel: Channel,
    network_id: &str,
) -> StoreResult<Option<LinkedAccount>> {
    use rusqlite::OptionalExtension;
    let row = tx
        .prepare_cached("SELECT * FROM linked_accounts WHERE channel = ? AND network_id = ?")?
        .query_row(rusqlite::params![channel.as_str(), network_id], |r| {
            Ok((
                LinkedAccount {
                    id: r.get("id")?,
                    account_id: r.get("account_id")?,
                    channel,
                    network_id: r.get("network_id")?,
                    name: r.get("name")?,
                    skill_id: r.get("skill_id")?,
                    // Parsed below, where a bad word is an `StoreError`.
                    status: LinkStatus::Linked,
                    token_sealed: r.get("token_sealed")?,
                    token_secret_sealed: r.get("token_secret_sealed")?,
                    sending_restricted_at: r.get("sending_restricted_at")?,
                },
                r.get::<_, String>("status")?,
            ))
        })
        .optional()?;
    row.map(|(linked, status)| {
        Ok(LinkedAccount {
            status: LinkStatus::parse(&status)?,
            ..linked
        })
    })
    .transpose()
}

/// Stores one batch of a linked account's inbound messages inside the group's transaction.
fn ingest_in(
    tx: &rusqlite::Connection,
    linked: &LinkedAccount,
    messages: &[InboundMessage],
    now_ms: i64,
) -> StoreResult<IngestReport> {
    use rusqlite::{OptionalExtension, params};
    let mut report = IngestReport::default();
    for m in messages {
        let found: Option<(i64, i64)> = tx
            .prepare_cached(
                "SELECT id, conversation_id FROM messages
                 WHERE linked_account_id = ? AND network_id = ?",
            )?
            .query_row(params![linked.id, m.network_id], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        if let (Change::Edited | Change::Removed, Some((_, conversation))) = (m.change, found)
            && !report.conversations.contains(&conversation)
        {
            report.conversations.push(conversation);
        }
        let existing = found.map(|(id, _)| id);
        match (m.change, existing) {
            (Change::Edited, Some(id)) => {
                tx.prepare_cached("UPDATE messages SET text = ?, edited = 1 WHERE id = ?")?
                    .execute(params![m.text, id])?;
                report.updated += 1;
                continue;
            }
            (Change::Removed, Some(id)) => {
                tx.prepare_cached("UPDATE messages SET removed = 1 WHERE id = ?")?
                    .execute(params![id])?;
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

        let conversation: Option<i64> = if m.from_brand {
            // Our own line (an echo, the page's comment, the brand's post or DM): it
            // belongs to the conversation of the consumer it answers.
            let by_consumer: Option<i64> = if m.consumer.network_id.is_empty() {
                None
            } else {
                tx.prepare_cached(
                    "SELECT c.id FROM conversations c JOIN consumers k ON k.id = c.consumer_id
                         WHERE c.linked_account_id = ?1 AND (k.network_id = ?2 OR k.psid = ?2)",
                )?
                .query_row(params![linked.id, m.consumer.network_id], |r| r.get(0))
                .optional()?
            };
            match (by_consumer, &m.reply_to) {
                (Some(c), _) => Some(c),
                (None, Some(parent)) => tx
                    .prepare_cached(
                        "SELECT conversation_id FROM messages
                             WHERE linked_account_id = ? AND network_id = ?",
                    )?
                    .query_row(params![linked.id, parent], |r| r.get(0))
                    .optional()?,
                (None, None) => None,
            }
        } else {
            // Messenger names people by their page-scoped id, which may belong to a
            // consumer first met in the feed under another id.
            let psid = (linked.channel == Channel::Facebook && m.tag == Tag::Private)
                .then_some(m.consumer.network_id.as_str());
            let by_psid: Option<i64> = match psid {
                Some(psid) => tx
                    .prepare_cached(
                        "SELECT id FROM consumers WHERE linked_account_id = ? AND psid = ?",
                    )?
                    .query_row(params![linked.id, psid], |r| r.get(0))
                    .optional()?,
                None => None,
            };
            let consumer_id: i64 = match by_psid {
                Some(id) => id,
                None => tx
                    .prepare_cached(
                        "INSERT INTO consumers (linked_account_id, network_id, handle, name, psid)
                             VALUES (?, ?, ?, ?, ?)
                             ON CONFLICT (linked_account_id, network_id) DO UPDATE SET
                                 handle = coalesce(excluded.handle, consumers.handle),
                                 name = coalesce(excluded.name, consumers.name),
                                 psid = coalesce(consumers.psid, excluded.psid)
                             RETURNING id",
                    )?
                    .query_row(
                        params![
                            linked.id,
                            m.consumer.network_id,
                            m.consumer.handle,
                            m.consumer.name,
                            psid
                        ],
                        |r| r.get(0),
                    )?,
            };
            Some(
                tx.prepare_cached(
                    "INSERT INTO conversations (linked_account_id, consumer_id, skill_id,
                             status, created_at, last_message_at)
                         VALUES (?, ?, ?, 'open', ?, ?)
                         ON CONFLICT (linked_account_id, consumer_id) DO UPDATE SET
                             status = 'open',
                             last_message_at = max(conversations.last_message_at,
                                                   excluded.last_message_at)
                         RETURNING id",
                )?
                .query_row(
                    params![
                        linked.id,
                        consumer_id,
                        linked.skill_id,
                        now_ms,
                        m.created_at_ms
                    ],
                    |r| r.get(0),
                )?,
            )
        };
        if m.from_brand
            && let Some(conversation) = conversation
        {
            // Our own reply coming back (an echo, or the network announcing our post)
            // before the sender recorded its id: it is that line, not a new one.
            let pending: Option<i64> = tx
                .prepare_cached(
                    "SELECT id FROM messages WHERE conversation_id = ? AND direction = 'out'
                       AND network_id IS NULL AND status IN ('sending', 'failed') AND text = ?
                     ORDER BY id LIMIT 1",
                )?
                .query_row(params![conversation, m.text], |r| r.get(0))
                .optional()?;
            if let Some(id) = pending {
                tx.prepare_cached(
                    "UPDATE messages SET network_id = ?, status = 'sent', error = NULL
                         WHERE id = ?",
                )?
                .execute(params![m.network_id, id])?;
                tx.prepare_cached("DELETE FROM outbox WHERE message_id = ?")?
                    .execute(params![id])?;
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
        let message_id: i64 = tx
            .prepare_cached(
                "INSERT INTO messages (conversation_id, linked_account_id, network_id, tag,
                     direction, author, text, reply_to, status, edited, created_at, received_at)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            )?
            .query_row(
                params![
                    conversation,
                    linked.id,
                    m.network_id,
                    m.tag.as_str(),
                    direction,
                    author,
                    m.text,
                    m.reply_to,
                    status,
                    m.change == Change::Edited,
                    m.created_at_ms,
                    now_ms
                ],
                |r| r.get(0),
            )?;
        for media in &m.media {
            tx.prepare_cached(
                "INSERT INTO media (message_id, kind, mime, source_url, poster_url, status, error)
                 VALUES (?, ?, ?, ?, ?, ?, ?)",
            )?
            .execute(params![
                message_id,
                media.kind.as_str(),
                media.mime,
                media.url,
                media.poster_url,
                if media.url.is_some() {
                    "pending"
                } else {
                    "failed"
                },
                media.url.is_none().then_some("no address to fetch it from")
            ])?;
        }
        for link in &m.links {
            tx.prepare_cached(
                "INSERT INTO message_links (message_id, title, url) VALUES (?, ?, ?)",
            )?
            .execute(params![message_id, link.title, link.url])?;
        }
        report.stored += 1;
        if !report.conversations.contains(&conversation) {
            report.conversations.push(conversation);
        }
    }
    Ok(report)
}

fn linked_from(r: &sqlx::sqlite::SqliteRow, channel: Channel) -> StoreResult<LinkedAccount> {
    Ok(LinkedAccount {
        id: r.get("id"),
        account_id: r.get("account_id"),
        channel,
        network_id: r.get("network_id"),
        name: r.get("name"),
        skill_id: r.get("skill_id"),
        status: LinkStatus::parse(r.get("status"))?,
        token_sealed: r.get("token_sealed"),
        token_secret_sealed: r.get("token_secret_sealed"),
        sending_restricted_at: r.get("sending_restricted_at"),
    })
}

/// Shared links grouped by their line, in the order stored.
fn links_by_line(
    rows: Vec<sqlx::sqlite::SqliteRow>,
) -> std::collections::HashMap<i64, Vec<shared::inbound::SharedLink>> {
    let mut by_line: std::collections::HashMap<i64, Vec<_>> = Default::default();
    for r in rows {
        by_line
            .entry(r.get("message_id"))
            .or_default()
            .push(shared::inbound::SharedLink {
                title: r.get("title"),
                url: r.get("url"),
            });
    }
    by_line
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).await.unwrap();
        (dir, store)
    }

    #[tokio::test]
    async fn migrations_apply_once_and_reopen_cleanly() {
        let (dir, store) = store().await;
        store.ensure_account("1000", "Acme", true).await.unwrap();
        drop(store);
        let again = SqliteStore::open(dir.path()).await.unwrap();
        let acct = again.account_by_number("1000").await.unwrap().unwrap();
        assert_eq!(acct.name, "Acme");
        assert!(acct.socialconnect_enabled);
    }

    #[tokio::test]
    async fn users_are_unique_per_account_case_insensitively() {
        let (_dir, store) = store().await;
        let a = store.ensure_account("1", "A", true).await.unwrap();
        let b = store.ensure_account("2", "B", true).await.unwrap();
        let new = |account_id, email| NewUser {
            account_id,
            email,
            name: "Ann",
            role: shared::Role::Admin,
            password_hash: "x",
        };
        assert!(
            store
                .create_user(new(Some(a.id), "ann@x.example"))
                .await
                .unwrap()
                .is_some()
        );
        assert!(
            store
                .create_user(new(Some(a.id), "ANN@x.example"))
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            store
                .create_user(new(Some(b.id), "ann@x.example"))
                .await
                .unwrap()
                .is_some()
        );
        let found = store
            .credentials(Some(a.id), "Ann@X.example")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found.user.account_id, Some(a.id));
        assert!(
            store
                .credentials(None, "ann@x.example")
                .await
                .unwrap()
                .is_none()
        );
    }

    #[tokio::test]
    async fn support_staff_have_no_account_and_admins_need_one() {
        let (_dir, store) = store().await;
        let support = NewUser {
            account_id: None,
            email: "s@sc.example",
            name: "Sam",
            role: shared::Role::Support,
            password_hash: "x",
        };
        assert!(store.create_user(support.clone()).await.unwrap().is_some());
        let orphan_admin = NewUser {
            role: shared::Role::Admin,
            ..support
        };
        assert!(store.create_user(orphan_admin).await.is_err());
    }

    #[tokio::test]
    async fn sessions_expire() {
        let (_dir, store) = store().await;
        let a = store.ensure_account("1", "A", true).await.unwrap();
        let user = store
            .create_user(NewUser {
                account_id: Some(a.id),
                email: "g@x.example",
                name: "G",
                role: shared::Role::Agent,
                password_hash: "x",
            })
            .await
            .unwrap()
            .unwrap();
        store
            .create_session("h", user.id, "c", 100, 200)
            .await
            .unwrap();
        let live = store.session("h", 150).await.unwrap().unwrap();
        assert_eq!(live.user.id, user.id);
        assert_eq!(live.account.unwrap().number, "1");
        assert!(store.session("h", 200).await.unwrap().is_none());
        assert_eq!(store.purge_sessions(200).await.unwrap(), 1);
    }

    // Ingest
    async fn linked_page(store: &SqliteStore) -> LinkedAccount {
        let account = store.ensure_account("3000", "Contoso", true).await.unwrap();
        store
            .link(NewLink {
                account_id: account.id,
                channel: Channel::Facebook,
                network_id: "page-1",
                name: "Contoso",
                token_sealed: vec![0],
                token_secret_sealed: None,
                skill_id: None,
                created_by: "test",
            })
            .await
            .unwrap()
    }

    fn line(id: &str, text: &str) -> InboundMessage {
        InboundMessage {
            channel: Channel::Facebook,
            brand_id: "page-1".into(),
            consumer: shared::inbound::ConsumerRef {
                network_id: "psid-ann".into(),
                handle: None,
                name: None,
            },
            network_id: id.into(),
            tag: Tag::Private,
            from_brand: false,
            text: text.into(),
            media: vec![],
            links: vec![],
            created_at_ms: 1_000,
            reply_to: None,
            change: Change::New,
        }
    }

    /// Runs one group as `ingest` would; each job's answer, in order.
    fn run_group(
        store: &SqliteStore,
        jobs: Vec<(LinkedAccount, InboundMessage)>,
    ) -> Vec<StoreResult<IngestReport>> {
        let (jobs, answers): (Vec<_>, Vec<_>) = jobs
            .into_iter()
            .map(|(linked, m)| {
                let (done, answer) = tokio::sync::oneshot::channel();
                let job = IngestJob {
                    target: IngestFor::Linked(linked),
                    messages: vec![m],
                    now_ms: 2_000,
                    done,
                };
                (job, answer)
            })
            .unzip();
        store.ingest.lock().unwrap().run(jobs);
        answers
            .into_iter()
            .map(|mut a| a.try_recv().unwrap().map(|stored| stored.unwrap().1))
            .collect()
    }

    /// `f` on the ingest writer's open connection.
    fn with_ingest_conn<T>(store: &SqliteStore, f: impl FnOnce(&rusqlite::Connection) -> T) -> T {
        f(store.ingest.lock().unwrap().conn.as_ref().unwrap())
    }

    async fn stored_ids(store: &SqliteStore, account_id: i64) -> Vec<String> {
        let mut ids: Vec<String> = store
            .export(account_id, i64::MIN)
            .await
            .unwrap()
            .into_iter()
            .flat_map(|c| c.messages)
            .filter_map(|m| m.network_id)
            .collect();
        ids.sort();
        ids
    }

    #[tokio::test]
    async fn a_bad_job_fails_alone_and_its_group_stores_the_others() {
        let (_dir, store) = store().await;
        let linked = linked_page(&store).await;
        // Unlinked and purged meanwhile: its rows break a foreign key.
        let gone = LinkedAccount {
            id: linked.id + 100,
            ..linked.clone()
        };
        let answers = run_group(
            &store,
            vec![
                (linked.clone(), line("m1", "one")),
                (gone, line("m2", "two")),
                (linked.clone(), line("m3", "three")),
            ],
        );
        assert_eq!(answers[0].as_ref().unwrap().stored, 1);
        assert!(
            matches!(answers[1], Err(StoreError::Other(_))),
            "{:?}",
            answers[1]
        );
        assert_eq!(answers[2].as_ref().unwrap().stored, 1);
        assert_eq!(stored_ids(&store, linked.account_id).await, ["m1", "m3"]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_webhook_another_group_took_along_is_answered_without_the_writer() {
        let (_dir, store) = store().await;
        let store = Arc::new(store);
        let linked = linked_page(&store).await;
        // A group is running: it holds the writer.
        let writing = store.writer.clone().lock_owned().await;
        let webhook = tokio::spawn({
            let (store, linked) = (store.clone(), linked.clone());
            async move { store.ingest(&linked, &[line("m1", "one")], 2_000).await }
        });
        while store.pending.lock().unwrap().is_empty() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        // The running group takes the waiting webhook along.
        let jobs = std::mem::take(&mut *store.pending.lock().unwrap());
        store.ingest.lock().unwrap().run(jobs);
        let report = tokio::time::timeout(Duration::from_secs(5), webhook)
            .await
            .expect("answered while the writer is still held")
            .unwrap()
            .unwrap();
        assert_eq!(report.stored, 1);
        drop(writing);
    }

    #[tokio::test]
    async fn a_group_sqlite_rolled_back_stores_nothing_and_the_next_group_is_stored() {
        let (_dir, store) = store().await;
        let linked = linked_page(&store).await;
        // SQLite ending the transaction by itself on a failed statement, as on a full
        // disk, but with an error that says nothing of the storage: the second job's
        // savepoint is gone, and the first job's line with it.
        with_ingest_conn(&store, |c| {
            c.execute_batch(
                "CREATE TEMP TRIGGER roll_back BEFORE INSERT ON main.messages
                 WHEN NEW.text = 'roll back' BEGIN SELECT RAISE(ROLLBACK, 'rolled back'); END;",
            )
        })
        .unwrap();
        let answers = run_group(
            &store,
            vec![
                (linked.clone(), line("m1", "one")),
                (linked.clone(), line("m2", "roll back")),
                (linked.clone(), line("m3", "three")),
            ],
        );
        assert!(
            answers
                .iter()
                .all(|a| matches!(a, Err(StoreError::Unavailable(_)))),
            "{answers:?}"
        );
        assert!(stored_ids(&store, linked.account_id).await.is_empty());
        assert!(with_ingest_conn(
            &store,
            rusqlite::Connection::is_autocommit
        ));

        let report = store
            .ingest(&linked, &[line("m1", "one"), line("m3", "three")], 3_000)
            .await
            .unwrap();
        assert_eq!(report.stored, 2);
        assert_eq!(stored_ids(&store, linked.account_id).await, ["m1", "m3"]);
    }

    #[tokio::test]
    async fn a_connection_left_in_a_transaction_is_rolled_back_before_the_next_group() {
        let (_dir, store) = store().await;
        let linked = linked_page(&store).await;
        {
            let writer = store.ingest.lock().unwrap();
            let conn = writer.conn.as_ref().unwrap();
            // A COMMIT that fails leaves its transaction open: here a deferred foreign key.
            conn.execute_batch(
                "BEGIN IMMEDIATE; PRAGMA defer_foreign_keys = ON;
                 INSERT INTO consumers (linked_account_id, network_id) VALUES (-1, 'stray');",
            )
            .unwrap();
            assert!(conn.execute_batch("COMMIT").is_err());
            assert!(!conn.is_autocommit());
        }
        let report = store
            .ingest(&linked, &[line("m1", "one")], 3_000)
            .await
            .unwrap();
        assert_eq!(report.stored, 1);
        let stray: i64 =
            sqlx::query_scalar("SELECT count(*) FROM consumers WHERE network_id = 'stray'")
                .fetch_one(&store.pool)
                .await
                .unwrap();
        assert_eq!(stray, 0);
    }

    #[tokio::test]
    async fn a_closed_ingest_connection_is_reopened_with_the_pools_settings() {
        let (_dir, store) = store().await;
        let linked = linked_page(&store).await;
        store.ingest.lock().unwrap().conn = None;
        let report = store
            .ingest(&linked, &[line("m1", "one")], 3_000)
            .await
            .unwrap();
        assert_eq!(report.stored, 1);
        let writer = store.ingest.lock().unwrap();
        let conn = writer.conn.as_ref().unwrap();
        let setting = |name: &str| -> String {
            conn.query_row(&format!("PRAGMA {name}"), [], |r| {
                r.get::<_, rusqlite::types::Value>(0)
            })
            .map(|v| format!("{v:?}"))
            .unwrap()
        };
        assert_eq!(setting("journal_mode"), r#"Text("wal")"#);
        // FULL is 2.
        assert_eq!(setting("synchronous"), "Integer(2)");
        assert_eq!(setting("foreign_keys"), "Integer(1)");
        assert_eq!(setting("busy_timeout"), "Integer(5000)");
    }
}
