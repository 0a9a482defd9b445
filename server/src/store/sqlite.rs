//! The embedded database: SQLite in WAL mode under the data dir.

use super::{Account, Credentials, NewUser, SessionRecord, Store, User, parse_role};
use crate::error::AppResult;
use anyhow::Context;
use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use std::path::Path;
use std::time::Duration;

pub struct SqliteStore {
    pool: SqlitePool,
}

pub(crate) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

const USER_COLUMNS: &str = "u.id, u.account_id, u.email, u.name, u.role";

impl SqliteStore {
    pub async fn open(data_dir: &Path) -> anyhow::Result<Self> {
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
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .with_context(|| format!("opening {}", path.display()))?;
        MIGRATOR
            .run(&pool)
            .await
            .context("applying database migrations")?;
        Ok(SqliteStore { pool })
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

fn user_from(row: &sqlx::sqlite::SqliteRow) -> AppResult<User> {
    Ok(User {
        id: row.get("id"),
        account_id: row.get("account_id"),
        email: row.get("email"),
        name: row.get("name"),
        role: parse_role(row.get("role"))?,
    })
}

#[async_trait]
impl Store for SqliteStore {
    async fn account_by_number(&self, number: &str) -> AppResult<Option<Account>> {
        let row = sqlx::query("SELECT * FROM accounts WHERE number = ?")
            .bind(number)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(account_from))
    }

    async fn account_by_id(&self, id: i64) -> AppResult<Option<Account>> {
        let row = sqlx::query("SELECT * FROM accounts WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(account_from))
    }

    async fn ensure_account(&self, number: &str, name: &str, enabled: bool) -> AppResult<Account> {
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
    ) -> AppResult<Option<Credentials>> {
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

    async fn create_user(&self, u: NewUser<'_>) -> AppResult<Option<User>> {
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
    ) -> AppResult<()> {
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

    async fn session(&self, token_hash: &str, now: i64) -> AppResult<Option<SessionRecord>> {
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

    async fn delete_session(&self, token_hash: &str) -> AppResult<()> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = ?")
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn purge_sessions(&self, now: i64) -> AppResult<u64> {
        let done = sqlx::query("DELETE FROM sessions WHERE expires_at <= ?")
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
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
}
