//! PostgreSQL: the storage of several `socialconnect serve` instances sharing one database.
//!
//! The same tables as the embedded database (migrations of the same numbers under
//! `migrations/postgres`). What differs is concurrency: no process-wide writer lock, so
//! work that must be done once — an outbox row, a media copy, a profile look-up — is claimed
//! with `FOR UPDATE SKIP LOCKED` and a lease in the row, and a webhook batch that collides
//! with another instance's (a deadlock, or the same event delivered to both) is retried.

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
impl Conversations for PgStore {
    async fn reply_context(&self, conversation_id: i64) -> StoreResult<Option<ReplyContext>> {
        let Some(row) = sqlx::query(
            "SELECT c.id, l.account_id, l.channel, l.network_id AS brand_id,
                    coalesce(k.psid, k.network_id) AS consumer
             FROM conversations c
             JOIN linked_accounts l ON l.id = c.linked_account_id
             JOIN consumers k ON k.id = c.consumer_id
             WHERE c.id = $1",
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
             WHERE m.conversation_id = $1 AND m.direction = 'in' AND m.tag != 'Private'
               AND NOT m.removed
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
        // Woken after every webhook: look before taking any row lock.
        let any: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM consumers k JOIN linked_accounts l
                              ON l.id = k.linked_account_id
                            WHERE l.status IN ('linked', 'webhooks_failing')
                              AND (l.channel != 'facebook' OR k.psid IS NOT NULL)
                              AND (k.profile_fetched_at IS NULL OR k.profile_fetched_at < $1)
                              AND (k.profile_attempted_at IS NULL OR k.profile_attempted_at < $2))",
        )
        .bind(stale_before_ms)
        .bind(retry_before_ms)
        .fetch_one(&self.pool)
        .await?;
        if !any {
            return Ok(Vec::new());
        }
        let mut tx = self.pool.begin().await?;
        let rows = sqlx::query(
            "SELECT k.id, coalesce(k.psid, k.network_id) AS network_id, l.channel,
                    l.network_id AS brand_id,
                    (SELECT c.id FROM conversations c WHERE c.consumer_id = k.id) AS conversation_id
             FROM consumers k JOIN linked_accounts l ON l.id = k.linked_account_id
             WHERE l.status IN ('linked', 'webhooks_failing')
               -- Facebook's User Profile API takes the page-scoped id only.
               AND (l.channel != 'facebook' OR k.psid IS NOT NULL)
               AND (k.profile_fetched_at IS NULL OR k.profile_fetched_at < $1)
               AND (k.profile_attempted_at IS NULL OR k.profile_attempted_at < $2)
             ORDER BY k.profile_fetched_at IS NOT NULL, k.id LIMIT $3
             -- Each instance claims its own: a row another one is claiming is passed over.
             FOR UPDATE OF k SKIP LOCKED",
        )
        .bind(stale_before_ms)
        .bind(retry_before_ms)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        let mut due = Vec::with_capacity(rows.len());
        for r in rows {
            let id: i64 = r.get("id");
            sqlx::query("UPDATE consumers SET profile_attempted_at = $1 WHERE id = $2")
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
            "UPDATE consumers SET profile = $1, profile_fetched_at = $2,
                 name = coalesce($3, name), handle = coalesce($4, handle)
             WHERE id = $5",
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
        let mut tx = self.pool.begin().await?;
        // Locked, so two instances learning the same person's id fold them once.
        let Some((consumer, linked, known)) = sqlx::query_as::<_, (i64, i64, Option<String>)>(
            "SELECT k.id, k.linked_account_id, k.psid FROM conversations c
               JOIN consumers k ON k.id = c.consumer_id WHERE c.id = $1
               FOR UPDATE OF k",
        )
        .bind(conversation_id)
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Ok(None);
        };
        if known.is_some() {
            return Ok(None);
        }
        // The same person met in Messenger first has a conversation of their own: its lines
        // (and replies waiting to go) join this one, and the two become one.
        let other: Option<(i64, i64)> = sqlx::query_as(
            "SELECT k.id, c.id FROM consumers k JOIN conversations c ON c.consumer_id = k.id
              WHERE k.linked_account_id = $1 AND k.id != $2 AND (k.psid = $3 OR k.network_id = $3)
              FOR UPDATE OF k, c",
        )
        .bind(linked)
        .bind(consumer)
        .bind(psid)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some((other_consumer, other_conversation)) = other {
            for table in ["messages", "outbox"] {
                sqlx::query(&format!(
                    "UPDATE {table} SET conversation_id = $1 WHERE conversation_id = $2"
                ))
                .bind(conversation_id)
                .bind(other_conversation)
                .execute(&mut *tx)
                .await?;
            }
            sqlx::query(
                "UPDATE conversations SET
                     last_message_at = greatest(conversations.last_message_at, o.last_message_at),
                     status = CASE WHEN o.status = 'open' THEN 'open' ELSE conversations.status END,
                     assigned_user_id = coalesce(conversations.assigned_user_id, o.assigned_user_id)
                   FROM (SELECT last_message_at, status, assigned_user_id FROM conversations
                          WHERE id = $1) AS o
                  WHERE conversations.id = $2",
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
                   FROM (SELECT profile, profile_fetched_at, name FROM consumers WHERE id = $1) AS o
                  WHERE consumers.id = $2",
            )
            .bind(other_consumer)
            .bind(consumer)
            .execute(&mut *tx)
            .await?;
            // And so is the picture copied from it.
            sqlx::query(
                "DELETE FROM media WHERE consumer_id = $1
                   AND EXISTS (SELECT 1 FROM media WHERE consumer_id = $2)",
            )
            .bind(consumer)
            .bind(other_consumer)
            .execute(&mut *tx)
            .await?;
            sqlx::query("UPDATE media SET consumer_id = $1 WHERE consumer_id = $2")
                .bind(consumer)
                .bind(other_consumer)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM consumers WHERE id = $1")
                .bind(other_consumer)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("UPDATE consumers SET psid = $1 WHERE id = $2")
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
             WHERE l.account_id = $1 AND c.status = 'open'
               -- Automation: what the bot or the survey holds is not for people yet.
               AND NOT EXISTS (SELECT 1 FROM bot_conversations b
                               WHERE b.conversation_id = c.id AND b.state IN ('bot', 'survey'))
               AND CASE $3::text
                   WHEN 'mine' THEN c.assigned_user_id = $2
                   ELSE ($3::text = 'all' OR c.assigned_user_id IS NULL)
                        AND (NOT $4::boolean
                             OR NOT EXISTS (SELECT 1 FROM user_skills WHERE user_id = $2)
                             OR c.skill_id IN (SELECT skill_id FROM user_skills WHERE user_id = $2))
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
             JOIN linked_accounts l ON l.id = c.linked_account_id WHERE c.id = $1",
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
             WHERE c.id = $1",
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
                              WHERE f.account_id = a.account_id), TRUE) AS send_image,
                    (SELECT p.id FROM media p WHERE p.consumer_id = k.id
                       AND p.stored_path IS NOT NULL) AS picture
             FROM conversations c
             JOIN consumers k ON k.id = c.consumer_id
             JOIN linked_accounts a ON a.id = c.linked_account_id
             WHERE c.id = $1",
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
             WHERE m.conversation_id = $1 ORDER BY d.id",
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
                 WHERE m.conversation_id = $1 ORDER BY k.id",
            )
            .bind(id)
            .fetch_all(&self.pool)
            .await?,
        );
        let rows = sqlx::query(
            "SELECT id, tag, direction, author, text, status, error, created_at, edited, removed
             FROM messages WHERE conversation_id = $1 ORDER BY created_at, id",
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
            "UPDATE conversations SET assigned_user_id = $1
             WHERE id = $2 AND status = 'open'
               AND (assigned_user_id IS NULL OR assigned_user_id = $1)",
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
            "UPDATE conversations SET status = 'closed', assigned_user_id = NULL WHERE id = $1",
        )
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn line_status(&self, message_id: i64) -> StoreResult<Option<(String, Option<String>)>> {
        Ok(
            sqlx::query("SELECT status, error FROM messages WHERE id = $1")
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
             WHERE l.account_id = $1 AND c.last_message_at >= $2
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
                 FROM messages WHERE conversation_id = $1 ORDER BY created_at, id",
            )
            .bind(id)
            .fetch_all(&self.pool)
            .await?;
            let mut messages = Vec::with_capacity(lines.len());
            for l in lines {
                let mid: i64 = l.get("id");
                let media = sqlx::query(
                    "SELECT kind, mime, bytes FROM media WHERE message_id = $1 ORDER BY id",
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
                         WHERE message_id = $1 ORDER BY id",
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
                survey_score: r.get("survey_score"),
                messages,
            });
        }
        Ok(out)
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

    /// When the consumer of a conversation last wrote in private (ms), for Messenger's windows.
    pub(super) async fn last_private_at(&self, conversation_id: i64) -> StoreResult<Option<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT max(created_at) FROM messages
             WHERE conversation_id = $1 AND direction = 'in' AND tag = 'Private'",
        )
        .bind(conversation_id)
        .fetch_one(&self.pool)
        .await?)
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

/// Shared links grouped by their line, in the order stored.
fn links_by_line(
    rows: Vec<sqlx::postgres::PgRow>,
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
