//! Single sign-on: each brand account's OpenID Connect provider, and the sign-ins under way.

use super::{StoreResult, for_both_engines};
use async_trait::async_trait;
use sqlx::Row as _;

/// A brand account's identity provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsoSettings {
    pub issuer: String,
    pub client_id: String,
    pub client_secret_sealed: Vec<u8>,
    /// Whether the account's people may still sign in with a password.
    pub password_sign_in: bool,
}

/// A sign-in sent to the provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsoPending {
    pub state: String,
    pub account_id: i64,
    pub nonce: String,
    pub verifier_sealed: Vec<u8>,
    /// Seconds.
    pub created_at: i64,
}

#[async_trait]
pub trait Sso: Send + Sync {
    async fn sso_settings(&self, account_id: i64) -> StoreResult<Option<SsoSettings>>;
    /// Sets (or, with `None`, removes) the account's provider.
    async fn set_sso(&self, account_id: i64, settings: Option<&SsoSettings>) -> StoreResult<()>;
    async fn sso_begin(&self, pending: &SsoPending) -> StoreResult<()>;
    /// Takes a sign-in under way, once: `None` when unknown, taken, or started before
    /// `since` (seconds). Older ones are dropped on the way.
    async fn sso_take(&self, state: &str, since: i64) -> StoreResult<Option<SsoPending>>;
}

for_both_engines! {
    #[async_trait]
    impl Sso for Engine {
        async fn sso_settings(&self, account_id: i64) -> StoreResult<Option<SsoSettings>> {
            let row = sqlx::query("SELECT * FROM account_sso WHERE account_id = $1")
                .bind(account_id)
                .fetch_optional(&self.pool)
                .await?;
            Ok(row.map(|r| SsoSettings {
                issuer: r.get("issuer"),
                client_id: r.get("client_id"),
                client_secret_sealed: r.get("client_secret_sealed"),
                password_sign_in: r.get("password_sign_in"),
            }))
        }

        async fn set_sso(&self, account_id: i64, s: Option<&SsoSettings>) -> StoreResult<()> {
            let Some(s) = s else {
                sqlx::query("DELETE FROM account_sso WHERE account_id = $1")
                    .bind(account_id)
                    .execute(&self.pool)
                    .await?;
                return Ok(());
            };
            sqlx::query(
                "INSERT INTO account_sso
                     (account_id, issuer, client_id, client_secret_sealed, password_sign_in, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (account_id) DO UPDATE SET issuer = $2, client_id = $3,
                     client_secret_sealed = $4, password_sign_in = $5, updated_at = $6",
            )
            .bind(account_id)
            .bind(&s.issuer)
            .bind(&s.client_id)
            .bind(&s.client_secret_sealed)
            .bind(s.password_sign_in)
            .bind(super::rows::now_secs())
            .execute(&self.pool)
            .await?;
            Ok(())
        }

        async fn sso_begin(&self, p: &SsoPending) -> StoreResult<()> {
            sqlx::query(
                "INSERT INTO sso_pending (state, account_id, nonce, verifier_sealed, created_at)
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&p.state)
            .bind(p.account_id)
            .bind(&p.nonce)
            .bind(&p.verifier_sealed)
            .bind(p.created_at)
            .execute(&self.pool)
            .await?;
            Ok(())
        }

        async fn sso_take(&self, state: &str, since: i64) -> StoreResult<Option<SsoPending>> {
            sqlx::query("DELETE FROM sso_pending WHERE created_at < $1")
                .bind(since)
                .execute(&self.pool)
                .await?;
            let row = sqlx::query("DELETE FROM sso_pending WHERE state = $1 RETURNING *")
                .bind(state)
                .fetch_optional(&self.pool)
                .await?;
            Ok(row.map(|r| SsoPending {
                state: r.get("state"),
                account_id: r.get("account_id"),
                nonce: r.get("nonce"),
                verifier_sealed: r.get("verifier_sealed"),
                created_at: r.get("created_at"),
            }))
        }
    }
}
