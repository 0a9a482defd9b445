//! PostgreSQL: the storage of several `socialconnect serve` instances sharing one database.
//!
//! The same tables as the embedded database (migrations of the same numbers under
//! `migrations/postgres`). What differs is concurrency: no process-wide writer lock, so
//! work that must be done once — an outbox row, a media copy, a profile look-up — is claimed
//! with `FOR UPDATE SKIP LOCKED` and a lease in the row, and a webhook batch that collides
//! with another instance's (a deadlock, or the same event delivered to both) is retried.

use super::rows::{mode_str, parse_channel, parse_mode, parse_role, parse_word};
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

const USER_COLUMNS: &str = "u.id, u.account_id, u.email, u.name, u.role";

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

fn account_from(row: &sqlx::postgres::PgRow) -> Account {
    Account {
        id: row.get("id"),
        number: row.get("number"),
        name: row.get("name"),
        socialconnect_enabled: row.get("socialconnect_enabled"),
    }
}

fn user_from(row: &sqlx::postgres::PgRow) -> StoreResult<User> {
    Ok(User {
        id: row.get("id"),
        account_id: row.get("account_id"),
        email: row.get("email"),
        name: row.get("name"),
        role: parse_role(row.get("role"))?,
    })
}

#[async_trait]
impl Accounts for PgStore {
    async fn account_by_number(&self, number: &str) -> StoreResult<Option<Account>> {
        let row = sqlx::query("SELECT * FROM accounts WHERE number = $1")
            .bind(number)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(account_from))
    }

    async fn account_by_id(&self, id: i64) -> StoreResult<Option<Account>> {
        let row = sqlx::query("SELECT * FROM accounts WHERE id = $1")
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
             VALUES ($1, $2, $3, extract(epoch FROM now())::bigint) ON CONFLICT (number) DO NOTHING",
        )
        .bind(number)
        .bind(name)
        .bind(enabled)
        .execute(&self.pool)
        .await?;
        let row = sqlx::query("SELECT * FROM accounts WHERE number = $1")
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
             WHERE coalesce(u.account_id, 0) = coalesce($1, 0) AND lower(u.email) = lower($2)"
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
             VALUES ($1, $2, $3, $4, $5, extract(epoch FROM now())::bigint)
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
             VALUES ($1, $2, $3, $4, $5)",
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
             WHERE s.token_hash = $1 AND s.expires_at > $2"
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
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn purge_sessions(&self, now: i64) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
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
            "INSERT INTO sign_in_attempts (key, window_start, attempts) VALUES ($1, $2, 1)
             ON CONFLICT (key) DO UPDATE SET
                 attempts = CASE WHEN sign_in_attempts.window_start + $3 <= $2 THEN 1
                                 ELSE sign_in_attempts.attempts + 1 END,
                 window_start = CASE WHEN sign_in_attempts.window_start + $3 <= $2 THEN $2
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
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM sign_in_attempts WHERE key = $1")
            .bind(cleared)
            .execute(&mut *tx)
            .await?;
        if let Some(key) = forgiven {
            sqlx::query(
                "UPDATE sign_in_attempts SET attempts = attempts - 1
                 WHERE key = $1 AND attempts > 0",
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
            sqlx::query("DELETE FROM sign_in_attempts WHERE window_start < $1")
                .bind(before_ms)
                .execute(&self.pool)
                .await?
                .rows_affected(),
        )
    }

    async fn key_fingerprint(&self, fingerprint: &str, now_ms: i64) -> StoreResult<String> {
        sqlx::query(
            "INSERT INTO key_fingerprint (id, fingerprint, recorded_at) VALUES (1, $1, $2)
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
        sqlx::query("INSERT INTO skills (account_id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(account_id)
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(
            sqlx::query_scalar("SELECT id FROM skills WHERE account_id = $1 AND name = $2")
                .bind(account_id)
                .bind(name)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn set_user_skills(&self, user_id: i64, skills: &[i64]) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM user_skills WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        for skill in skills {
            sqlx::query("INSERT INTO user_skills (user_id, skill_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
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
            "SELECT id, name FROM skills WHERE account_id = $1 ORDER BY lower(name), id",
        )
        .bind(account_id)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn people(&self, account_id: i64) -> StoreResult<Vec<(User, Vec<i64>)>> {
        let rows = sqlx::query(&format!(
            "SELECT {USER_COLUMNS}, (SELECT string_agg(skill_id::text, ',') FROM user_skills s
                                     WHERE s.user_id = u.id) AS skills
             FROM users u WHERE u.account_id = $1 ORDER BY u.role, lower(u.name), u.id"
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
            "SELECT {USER_COLUMNS} FROM users u WHERE u.id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .map(|r| user_from(&r))
        .transpose()
    }

    async fn send_image_enabled(&self, account_id: i64) -> StoreResult<bool> {
        let on: Option<bool> =
            sqlx::query_scalar("SELECT send_image FROM account_features WHERE account_id = $1")
                .bind(account_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(on.unwrap_or(true))
    }

    async fn set_send_image(&self, account_id: i64, on: bool) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO account_features (account_id, send_image) VALUES ($1, $2)
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
            "INSERT INTO audit_log (account_id, at, actor, action, detail) VALUES ($1, $2, $3, $4, $5)",
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
            "SELECT at, actor, action, detail FROM audit_log WHERE account_id = $1
             ORDER BY at DESC, id DESC LIMIT $2",
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
impl Links for PgStore {
    async fn link(&self, l: NewLink<'_>) -> StoreResult<LinkedAccount> {
        // One statement, so two brands linking the same page at once cannot both win: the
        // update applies only to the brand that holds it, and otherwise nothing returns.
        let linked: Option<i64> = sqlx::query_scalar(
            "INSERT INTO linked_accounts (account_id, channel, network_id, name, token_sealed,
                 token_secret_sealed, skill_id, status, created_at, created_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'linked', extract(epoch FROM now())::bigint, $8)
             ON CONFLICT (channel, network_id) DO UPDATE SET
                 name = excluded.name, token_sealed = excluded.token_sealed,
                 token_secret_sealed = excluded.token_secret_sealed,
                 skill_id = coalesce(excluded.skill_id, linked_accounts.skill_id),
                 status = 'linked'
             WHERE linked_accounts.account_id = excluded.account_id
             RETURNING id",
        )
        .bind(l.account_id)
        .bind(l.channel.as_str())
        .bind(l.network_id)
        .bind(l.name)
        .bind(&l.token_sealed)
        .bind(&l.token_secret_sealed)
        .bind(l.skill_id)
        .bind(l.created_by)
        .fetch_optional(&self.pool)
        .await?;
        if linked.is_none() {
            return Err(StoreError::Conflict(
                "that page or account is linked to another brand account".into(),
            ));
        }
        self.linked_account(l.channel, l.network_id)
            .await?
            .ok_or_else(|| StoreError::corrupt("linked account vanished"))
    }

    async fn linked_account(
        &self,
        channel: Channel,
        network_id: &str,
    ) -> StoreResult<Option<LinkedAccount>> {
        let row =
            sqlx::query("SELECT * FROM linked_accounts WHERE channel = $1 AND network_id = $2")
                .bind(channel.as_str())
                .bind(network_id)
                .fetch_optional(&self.pool)
                .await?;
        row.map(|r| linked_from(&r, channel)).transpose()
    }

    async fn linked_accounts(&self, channel: Channel) -> StoreResult<Vec<LinkedAccount>> {
        sqlx::query("SELECT * FROM linked_accounts WHERE channel = $1 ORDER BY id")
            .bind(channel.as_str())
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| linked_from(r, channel))
            .collect()
    }

    async fn set_sending_restricted(&self, id: i64, since_ms: Option<i64>) -> StoreResult<()> {
        sqlx::query("UPDATE linked_accounts SET sending_restricted_at = $1 WHERE id = $2")
            .bind(since_ms)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn set_linked_status(&self, id: i64, status: LinkStatus) -> StoreResult<()> {
        sqlx::query("UPDATE linked_accounts SET status = $1 WHERE id = $2")
            .bind(status.as_str())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn linked_by_id(&self, id: i64) -> StoreResult<Option<LinkedAccount>> {
        let row = sqlx::query("SELECT * FROM linked_accounts WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| linked_from(&r, parse_channel(r.get("channel"))?))
            .transpose()
    }

    async fn home_linked(&self, account_id: i64) -> StoreResult<Vec<HomeLinked>> {
        sqlx::query("SELECT * FROM linked_accounts WHERE account_id = $1 ORDER BY id")
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
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE linked_accounts SET skill_id = $1 WHERE id = $2")
            .bind(skill_id)
            .bind(linked_id)
            .execute(&mut *tx)
            .await?;
        // Conversations nobody holds follow the channel to its new skill.
        sqlx::query(
            "UPDATE conversations SET skill_id = $1
             WHERE linked_account_id = $2 AND assigned_user_id IS NULL",
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
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
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
        sqlx::query("SELECT * FROM oauth_pending WHERE id = $1")
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
        sqlx::query("SELECT * FROM oauth_pending WHERE request_token = $1")
            .bind(token)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| pending_from(&r))
            .transpose()
    }

    async fn set_oauth_pages(&self, id: &str, pages_sealed: &[u8]) -> StoreResult<()> {
        sqlx::query("UPDATE oauth_pending SET pages_sealed = $1 WHERE id = $2")
            .bind(pages_sealed)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn delete_oauth_pending(&self, id: Option<&str>, before: i64) -> StoreResult<()> {
        match id {
            Some(id) => sqlx::query("DELETE FROM oauth_pending WHERE id = $1").bind(id),
            None => sqlx::query("DELETE FROM oauth_pending WHERE created_at < $1").bind(before),
        }
        .execute(&self.pool)
        .await?;
        Ok(())
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
impl Media for PgStore {
    async fn media_due(
        &self,
        now_ms: i64,
        lease_until_ms: i64,
        limit: i64,
    ) -> StoreResult<Vec<MediaDue>> {
        // Woken after every webhook: look before taking any row lock.
        let any: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM media WHERE status = 'pending'
                              AND source_url IS NOT NULL AND next_attempt_at <= $1)",
        )
        .bind(now_ms)
        .fetch_one(&self.pool)
        .await?;
        if !any {
            return Ok(Vec::new());
        }
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
             WHERE d.status = 'pending' AND d.source_url IS NOT NULL AND d.next_attempt_at <= $1
             ORDER BY d.next_attempt_at, d.id LIMIT $2
             FOR UPDATE OF d SKIP LOCKED",
        )
        .bind(now_ms)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        let mut leased = Vec::with_capacity(rows.len());
        for r in rows {
            let id: i64 = r.get("id");
            sqlx::query("UPDATE media SET next_attempt_at = $1 WHERE id = $2")
                .bind(lease_until_ms)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            leased.push((r, id));
        }
        tx.commit().await?;
        let mut due = Vec::with_capacity(leased.len());
        for (r, id) in leased {
            let channel = parse_channel(r.get("channel"))?;
            let brand: String = r.get("brand_id");
            let Some(linked) = self.linked_account(channel, &brand).await? else {
                continue;
            };
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
                 mime = $1, bytes = $2, stored_path = $3, thumb_path = $4, still_path = $5,
                 poster_path = $6
             WHERE id = $7",
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
            "UPDATE media SET attempts = attempts + 1, next_attempt_at = $1, error = $2
             WHERE id = $3 AND status = 'pending'",
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
            "UPDATE media SET status = $1, error = $2, attempts = attempts + 1,
                 mime = coalesce($3, mime), bytes = coalesce($4, bytes)
             WHERE id = $5",
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
             WHERE d.id = $1",
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
        sqlx::query(
            "INSERT INTO media (consumer_id, kind, source_url) VALUES ($1, 'image', $2)
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

impl PgStore {
    /// The linked account a query row names by its `channel` and `brand_id` columns.
    pub(super) async fn linked_of(
        &self,
        row: &sqlx::postgres::PgRow,
    ) -> StoreResult<LinkedAccount> {
        let channel = parse_channel(row.get("channel"))?;
        self.linked_account(channel, &row.get::<String, _>("brand_id"))
            .await?
            .ok_or_else(|| StoreError::corrupt("a row without its linked account"))
    }
}

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

fn linked_from(r: &sqlx::postgres::PgRow, channel: Channel) -> StoreResult<LinkedAccount> {
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

fn pending_from(r: &sqlx::postgres::PgRow) -> StoreResult<OAuthPending> {
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
