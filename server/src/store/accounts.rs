//! Brand accounts, their people, sessions, sign-in counts, skills and audit.

use super::rows::{now_secs, parse_role};
use super::{StoreResult, for_both_engines};
use async_trait::async_trait;
use shared::Role;
use sqlx::Row as _;

/// A brand account: its number, its name, and whether SocialConnect is on for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: i64,
    pub number: String,
    pub name: String,
    pub socialconnect_enabled: bool,
}

/// Someone who signs in: support staff (no account), or a brand account's admin or agent.
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

/// A user to create (see [`Accounts::create_user`]).
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

/// A sign-in attempt counted (see [`Accounts::count_sign_in`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignInCount {
    /// Attempts in the current window, this one included.
    pub attempts: i64,
    /// When the current window ends (ms).
    pub window_ends_ms: i64,
}

/// One entry of a brand account's audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Seconds.
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub detail: String,
}

/// Brand accounts, their people and skills, sessions, sign-in counts, the key fingerprint, settings and the audit log.
#[async_trait]
pub trait Accounts: Send + Sync {
    async fn account_by_number(&self, number: &str) -> StoreResult<Option<Account>>;
    async fn account_by_id(&self, id: i64) -> StoreResult<Option<Account>>;
    /// Creates the account, or returns the existing one with that number.
    async fn ensure_account(&self, number: &str, name: &str, enabled: bool)
    -> StoreResult<Account>;
    /// Looks a user up by account (`None`: support staff) and email, case-insensitively.
    async fn credentials(
        &self,
        account_id: Option<i64>,
        email: &str,
    ) -> StoreResult<Option<Credentials>>;
    /// Creates the user; `Ok(None)` when that email already exists in that account.
    async fn create_user(&self, user: NewUser<'_>) -> StoreResult<Option<User>>;
    async fn create_session(
        &self,
        token_hash: &str,
        user_id: i64,
        csrf_token: &str,
        now: i64,
        expires_at: i64,
    ) -> StoreResult<()>;
    async fn session(&self, token_hash: &str, now: i64) -> StoreResult<Option<SessionRecord>>;
    async fn delete_session(&self, token_hash: &str) -> StoreResult<()>;
    /// Removes expired sessions; returns how many.
    async fn purge_sessions(&self, now: i64) -> StoreResult<u64>;
    /// Counts one sign-in attempt for `key` (a hash of what is counted) in its window of
    /// `window_ms` (a new window starts at `now_ms` when the last one is over), atomically,
    /// so parallel attempts each get their own number.
    async fn count_sign_in(
        &self,
        key: &str,
        now_ms: i64,
        window_ms: i64,
    ) -> StoreResult<SignInCount>;
    /// A sign-in succeeded: `cleared`'s count starts again, and the attempt counted for
    /// `forgiven` (if any) is taken back.
    async fn sign_in_succeeded(&self, cleared: &str, forgiven: Option<&str>) -> StoreResult<()>;
    /// Removes the counts whose window began before `before_ms`; returns how many.
    async fn purge_sign_in_counts(&self, before_ms: i64) -> StoreResult<u64>;
    /// The fingerprint of the key this database's tokens are sealed with, recording
    /// `fingerprint` as that when none is recorded yet (the first start, or the first
    /// since fingerprints were kept); returns the one recorded.
    async fn key_fingerprint(&self, fingerprint: &str, now_ms: i64) -> StoreResult<String>;
    /// Whether a key fingerprint is recorded yet.
    async fn has_key_fingerprint(&self) -> StoreResult<bool>;
    /// The skill's id, creating it when missing.
    async fn ensure_skill(&self, account_id: i64, name: &str) -> StoreResult<i64>;
    /// Replaces the skills a user answers: every skill of the account (`all`), or `skills`.
    async fn set_user_skills(&self, user_id: i64, all: bool, skills: &[i64]) -> StoreResult<()>;
    /// A brand account's skills in use (not retired) by name: `(id, name)`.
    async fn skills(&self, account_id: i64) -> StoreResult<Vec<(i64, String)>>;
    async fn user_by_id(&self, id: i64) -> StoreResult<Option<User>>;
    /// Whether agents of the account may send images (on unless switched off).
    async fn send_image_enabled(&self, account_id: i64) -> StoreResult<bool>;
    async fn set_send_image(&self, account_id: i64, on: bool) -> StoreResult<()>;
    /// Whether an agent's reply takes a conversation nobody holds (on unless switched off).
    async fn reply_takes(&self, account_id: i64) -> StoreResult<bool>;
    async fn set_reply_takes(&self, account_id: i64, on: bool) -> StoreResult<()>;
    async fn audit(&self, account_id: i64, entry: &AuditEntry) -> StoreResult<()>;
    /// The latest `limit` entries, latest first.
    async fn audit_log(&self, account_id: i64, limit: i64) -> StoreResult<Vec<AuditEntry>>;
}

/// The columns `user_from` reads, of `users u`.
const USER_COLUMNS: &str = "u.id, u.account_id, u.email, u.name, u.role";

for_both_engines! {
    fn account_from(r: &Row) -> Account {
        Account {
            id: r.get("id"),
            number: r.get("number"),
            name: r.get("name"),
            socialconnect_enabled: r.get("socialconnect_enabled"),
        }
    }

    fn user_from(r: &Row) -> StoreResult<User> {
        Ok(User {
            id: r.get("id"),
            account_id: r.get("account_id"),
            email: r.get("email"),
            name: r.get("name"),
            role: parse_role(r.get("role"))?,
        })
    }

    #[async_trait]
    impl Accounts for Engine {
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
                 VALUES ($1, $2, $3, $4) ON CONFLICT (number) DO NOTHING",
            )
            .bind(number)
            .bind(name)
            .bind(enabled)
            .bind(now_secs())
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
                 WHERE coalesce(u.account_id, 0) = coalesce($1, 0) AND lower(u.email) = lower($2)
                   AND u.status = 'active'"
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
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT DO NOTHING RETURNING id",
            )
            .bind(u.account_id)
            .bind(u.email)
            .bind(u.name)
            .bind(u.role.as_str())
            .bind(u.password_hash)
            .bind(now_secs())
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
                "SELECT {USER_COLUMNS}, s.csrf_token
                 FROM sessions s JOIN users u ON u.id = s.user_id
                 WHERE s.token_hash = $1 AND s.expires_at > $2 AND u.status = 'active'"
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
            let _writing = self.write_lock().await;
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
            // A retired skill of that name comes back.
            sqlx::query(
                "INSERT INTO skills (account_id, name) VALUES ($1, $2)
                 ON CONFLICT (account_id, name) DO UPDATE SET retired_at = NULL",
            )
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

        async fn set_user_skills(&self, user_id: i64, all: bool, skills: &[i64]) -> StoreResult<()> {
            let _writing = self.write_lock().await;
            let mut tx = self.pool.begin().await?;
            sqlx::query("UPDATE users SET all_skills = $2 WHERE id = $1")
                .bind(user_id)
                .bind(all)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM user_skills WHERE user_id = $1")
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            for skill in skills.iter().filter(|_| !all) {
                sqlx::query(
                    "INSERT INTO user_skills (user_id, skill_id) VALUES ($1, $2)
                     ON CONFLICT DO NOTHING",
                )
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
                "SELECT id, name FROM skills WHERE account_id = $1 AND retired_at IS NULL
                 ORDER BY lower(name), id",
            )
            .bind(account_id)
            .fetch_all(&self.pool)
            .await?)
        }

        async fn user_by_id(&self, id: i64) -> StoreResult<Option<User>> {
            sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users u WHERE u.id = $1"))
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

        async fn reply_takes(&self, account_id: i64) -> StoreResult<bool> {
            let on: Option<bool> =
                sqlx::query_scalar("SELECT reply_takes FROM account_features WHERE account_id = $1")
                    .bind(account_id)
                    .fetch_optional(&self.pool)
                    .await?;
            Ok(on.unwrap_or(true))
        }

        async fn set_reply_takes(&self, account_id: i64, on: bool) -> StoreResult<()> {
            sqlx::query(
                "INSERT INTO account_features (account_id, reply_takes) VALUES ($1, $2)
                 ON CONFLICT (account_id) DO UPDATE SET reply_takes = excluded.reply_takes",
            )
            .bind(account_id)
            .bind(on)
            .execute(&self.pool)
            .await?;
            Ok(())
        }

        async fn audit(&self, account_id: i64, e: &AuditEntry) -> StoreResult<()> {
            sqlx::query(
                "INSERT INTO audit_log (account_id, at, actor, action, detail)
                 VALUES ($1, $2, $3, $4, $5)",
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SqliteStore;

    #[tokio::test]
    async fn users_are_unique_per_account_case_insensitively() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).await.unwrap();
        let a = store.ensure_account("1", "A", true).await.unwrap();
        let b = store.ensure_account("2", "B", true).await.unwrap();
        let new = |account_id, email| NewUser {
            account_id,
            email,
            name: "Ann",
            role: shared::Role::Admin,
            password_hash: "x",
        };
        for (account_id, email, made) in [
            (a.id, "ann@x.example", true),
            (a.id, "ANN@x.example", false),
            (b.id, "ann@x.example", true),
        ] {
            let user = store.create_user(new(Some(account_id), email)).await;
            assert_eq!(user.unwrap().is_some(), made, "{email} in {account_id}");
        }
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
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).await.unwrap();
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
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).await.unwrap();
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
