//! Storage: the one interface handlers use, whatever the engine behind it.
//!
//! Handlers hold an `Arc<dyn Store>`; the embedded SQLite database is the one engine today,
//! and a PostgreSQL implementation plugs in beside it without handlers changing.

mod sqlite;

use async_trait::async_trait;
use shared::Role;
use std::path::Path;
use std::sync::Arc;

pub use sqlite::SqliteStore;

use crate::error::{AppError, AppResult};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: i64,
    pub number: String,
    pub name: String,
    pub socialconnect_enabled: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub account_id: Option<i64>,
    pub email: String,
    pub name: String,
    pub role: Role,
}

/// A user as sign-in needs it: with the password hash.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub user: User,
    pub password_hash: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser<'a> {
    pub account_id: Option<i64>,
    pub email: &'a str,
    pub name: &'a str,
    pub role: Role,
    pub password_hash: &'a str,
}

/// The user behind a live session, with the account they belong to.
#[derive(Debug, Clone)]
pub struct SessionRecord {
    pub user: User,
    pub account: Option<Account>,
    pub csrf_token: String,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    async fn account_by_number(&self, number: &str) -> AppResult<Option<Account>>;
    async fn account_by_id(&self, id: i64) -> AppResult<Option<Account>>;
    /// Creates the account, or returns the existing one with that number.
    async fn ensure_account(&self, number: &str, name: &str, enabled: bool) -> AppResult<Account>;

    /// Looks a user up by account (`None`: support staff) and email, case-insensitively.
    async fn credentials(
        &self,
        account_id: Option<i64>,
        email: &str,
    ) -> AppResult<Option<Credentials>>;
    /// Creates the user; `Ok(None)` when that email already exists in that account.
    async fn create_user(&self, user: NewUser<'_>) -> AppResult<Option<User>>;

    async fn create_session(
        &self,
        token_hash: &str,
        user_id: i64,
        csrf_token: &str,
        now: i64,
        expires_at: i64,
    ) -> AppResult<()>;
    async fn session(&self, token_hash: &str, now: i64) -> AppResult<Option<SessionRecord>>;
    async fn delete_session(&self, token_hash: &str) -> AppResult<()>;
    /// Removes expired sessions; returns how many.
    async fn purge_sessions(&self, now: i64) -> AppResult<u64>;
}

/// Opens the storage the settings name: PostgreSQL for a `postgres://` URL, else the
/// embedded database under `data_dir`. Migrations are applied before it is returned.
pub async fn open(database_url: Option<&str>, data_dir: &Path) -> anyhow::Result<Arc<dyn Store>> {
    match database_url {
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            anyhow::bail!(
                "SOCIALCONNECT_DATABASE_URL: PostgreSQL is not supported by this build yet; \
                 unset it to use the embedded database"
            )
        }
        Some(other) => anyhow::bail!(
            "SOCIALCONNECT_DATABASE_URL must be a postgres:// URL, got {:?}",
            other.split(':').next().unwrap_or_default()
        ),
        None => Ok(Arc::new(SqliteStore::open(data_dir).await?)),
    }
}

pub(crate) fn parse_role(s: &str) -> AppResult<Role> {
    s.parse()
        .map_err(|e: shared::vocab::UnknownWord| AppError::Internal(e.into()))
}
