//! People: whether each can sign in (active, invited, deactivated), their one-time
//! set-password links, their roles under the last-admin rule, and when they last signed in.

use super::rows::parse_role;
use super::{StoreError, StoreResult, User, for_both_engines};
use async_trait::async_trait;
use shared::Role;
use shared::home::PersonStatus;
use sqlx::Row as _;

/// A person as SocialConnect Home and `socialconnect users list` show them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub user: User,
    /// The brand account's number; `None` for support staff.
    pub account_number: Option<String>,
    pub status: PersonStatus,
    /// Seconds.
    pub last_sign_in_at: Option<i64>,
    /// Every skill of the account, whatever `skill_ids` holds (an explicit choice).
    pub all_skills: bool,
    /// The skills they answer, by id and by name, in the same order (by name).
    pub skill_ids: Vec<i64>,
    pub skills: Vec<String>,
}

/// Whose people: one brand account's, or support staff ([`People::people_of`] also takes
/// `None`: everyone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeopleOf {
    Account(i64),
    Support,
}

impl PeopleOf {
    fn account_id(self) -> Option<i64> {
        match self {
            PeopleOf::Account(id) => Some(id),
            PeopleOf::Support => None,
        }
    }
}

/// A person to invite: they choose their password through a one-time link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewPerson<'a> {
    pub of: PeopleOf,
    pub email: &'a str,
    pub name: &'a str,
    pub role: Role,
}

/// A one-time set-password link, as stored: the SHA-256 of its token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordLink<'a> {
    pub token_hash: &'a str,
    /// Seconds.
    pub now: i64,
    pub expires_at: i64,
}

/// The refusal of a change that would leave a brand account without an active admin.
pub const LAST_ADMIN: &str = "that is the account's last admin: make someone else an admin first";

/// Whether the agent `u` (a `users` row) may see the conversation `c`: of a skill they
/// answer (or every skill, by choice), or assigned to them. One rule, in SQL over those two
/// aliases, for `agent_sees` and for search.
pub(super) const AGENT_SEES: &str = "(u.all_skills OR c.assigned_user_id = u.id
     OR c.skill_id IN (SELECT skill_id FROM user_skills WHERE user_id = u.id))";

/// People, their status, their set-password links and roles.
#[async_trait]
pub trait People: Send + Sync {
    /// Creates an invited person (no password yet) and their first set-password link;
    /// `Ok(None)` when the email is taken in that account.
    async fn invite(
        &self,
        person: NewPerson<'_>,
        link: PasswordLink<'_>,
    ) -> StoreResult<Option<User>>;
    /// A new set-password link for a person who is not deactivated (an invited person who
    /// lost theirs; a forgotten password). Earlier unused links stop working.
    async fn new_password_link(&self, user_id: i64, link: PasswordLink<'_>) -> StoreResult<()>;
    /// The person a set-password link is for, while it is unused and unexpired and they
    /// are not deactivated.
    async fn password_link_user(&self, token_hash: &str, now: i64) -> StoreResult<Option<User>>;
    /// Sets the password through a link that is unused and unexpired, once: the person
    /// becomes active. `None` when the link is unknown, used, expired, or its person
    /// deactivated.
    async fn redeem_password_link(
        &self,
        token_hash: &str,
        now: i64,
        password_hash: &str,
    ) -> StoreResult<Option<User>>;
    /// The people of `of` (everyone's with `None`), by account, role and name.
    async fn people_of(&self, of: Option<PeopleOf>) -> StoreResult<Vec<Person>>;
    async fn person(&self, of: PeopleOf, user_id: i64) -> StoreResult<Option<Person>>;
    async fn person_by_email(&self, of: PeopleOf, email: &str) -> StoreResult<Option<Person>>;
    /// Activates or deactivates a person (deactivating ends every session of theirs).
    /// Refuses ([`StoreError::Conflict`], [`LAST_ADMIN`]) to deactivate an account's last
    /// active admin. Reactivating a person who never chose a password leaves them invited.
    async fn set_active(&self, user_id: i64, active: bool) -> StoreResult<()>;
    /// Changes the role of a brand's person (admin or agent); refuses to demote the last
    /// active admin.
    async fn set_role(&self, user_id: i64, role: Role) -> StoreResult<()>;
    async fn record_sign_in(&self, user_id: i64, at: i64) -> StoreResult<()>;
    /// Replaces an active person's password; every session of theirs but `keep` ends.
    async fn change_password(
        &self,
        user_id: i64,
        password_hash: &str,
        keep: Option<&str>,
    ) -> StoreResult<()>;
    /// Ends every session of the person.
    async fn end_sessions(&self, user_id: i64) -> StoreResult<()>;
    /// Renames a skill of the account (a name in use is a conflict).
    async fn rename_skill(&self, account_id: i64, skill_id: i64, name: &str) -> StoreResult<()>;
    /// Retires a skill of the account: offered no more, answered by no one by name. Refused
    /// while a linked page or account routes to it.
    async fn retire_skill(&self, account_id: i64, skill_id: i64) -> StoreResult<()>;
    /// Whether an agent may see a conversation: of a skill they answer (or all), or theirs.
    async fn agent_sees(&self, conversation_id: i64, user_id: i64) -> StoreResult<bool>;
    /// Routes a conversation of the account to another skill and/or hands it to a person of
    /// the account (an active admin or agent).
    async fn transfer(
        &self,
        account_id: i64,
        conversation_id: i64,
        to: TransferTo,
    ) -> StoreResult<()>;
}

/// Where [`People::transfer`] sends a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransferTo {
    pub skill_id: Option<i64>,
    pub user_id: Option<i64>,
}

/// The columns `person_from` reads.
const PERSON_QUERY: &str = "SELECT u.id, u.account_id, u.email, u.name, u.role, u.status,
        u.last_sign_in_at, u.all_skills, a.number AS account_number,
        (SELECT string_agg(CAST(s.id AS TEXT) || ':' || s.name, char(10) ORDER BY lower(s.name))
         FROM user_skills us JOIN skills s ON s.id = us.skill_id
         WHERE us.user_id = u.id AND s.retired_at IS NULL) AS skills
    FROM users u LEFT JOIN accounts a ON a.id = u.account_id";

fn parse_status(s: &str) -> StoreResult<PersonStatus> {
    PersonStatus::ALL
        .into_iter()
        .find(|p| p.as_str() == s)
        .ok_or_else(|| StoreError::corrupt(format!("unknown person status {s:?}")))
}

for_both_engines! {
    fn person_from(r: &Row) -> StoreResult<Person> {
        let skills: Option<String> = r.get("skills");
        let (skill_ids, skills) = skills
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let (id, name) = l.split_once(':')?;
                Some((id.parse::<i64>().ok()?, name.to_owned()))
            })
            .unzip();
        Ok(Person {
            user: User {
                id: r.get("id"),
                account_id: r.get("account_id"),
                email: r.get("email"),
                name: r.get("name"),
                role: parse_role(r.get("role"))?,
            },
            account_number: r.get("account_number"),
            status: parse_status(r.get("status"))?,
            last_sign_in_at: r.get("last_sign_in_at"),
            all_skills: r.get("all_skills"),
            skill_ids,
            skills,
        })
    }

    /// `PERSON_QUERY` with PostgreSQL's `chr` for SQLite's `char`.
    fn person_query(filter: &str) -> String {
        let query = format!("{PERSON_QUERY} {filter}");
        if PG { query.replace("char(10)", "chr(10)") } else { query }
    }

    impl Engine {
        /// Refuses a change that leaves the account of `user_id` without another active
        /// admin, when `user_id` is one now.
        async fn keep_an_admin(
            tx: &mut sqlx::Transaction<'_, Db>,
            user_id: i64,
        ) -> StoreResult<()> {
            let others: Option<i64> = sqlx::query_scalar(
                "SELECT (SELECT count(*) FROM users o
                         WHERE o.account_id = u.account_id AND o.id <> u.id
                           AND o.role = 'admin' AND o.status = 'active')
                 FROM users u WHERE u.id = $1 AND u.role = 'admin' AND u.status = 'active'",
            )
            .bind(user_id)
            .fetch_optional(&mut **tx)
            .await?;
            match others {
                Some(0) => Err(StoreError::Conflict(LAST_ADMIN.into())),
                _ => Ok(()),
            }
        }
    }

    #[async_trait]
    impl People for Engine {
        async fn invite(
            &self,
            p: NewPerson<'_>,
            link: PasswordLink<'_>,
        ) -> StoreResult<Option<User>> {
            let _writing = self.write_lock().await;
            let mut tx = self.pool.begin().await?;
            // No password hash: none verifies until they choose one.
            let id: Option<i64> = sqlx::query_scalar(
                "INSERT INTO users (account_id, email, name, role, password_hash, created_at, status)
                 VALUES ($1, $2, $3, $4, '', $5, 'invited')
                 ON CONFLICT DO NOTHING RETURNING id",
            )
            .bind(p.of.account_id())
            .bind(p.email)
            .bind(p.name)
            .bind(p.role.as_str())
            .bind(link.now)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(id) = id else { return Ok(None) };
            sqlx::query(
                "INSERT INTO password_tokens (token_hash, user_id, created_at, expires_at)
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(link.token_hash)
            .bind(id)
            .bind(link.now)
            .bind(link.expires_at)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(Some(User {
                id,
                account_id: p.of.account_id(),
                email: p.email.to_owned(),
                name: p.name.to_owned(),
                role: p.role,
            }))
        }

        async fn new_password_link(&self, user_id: i64, link: PasswordLink<'_>) -> StoreResult<()> {
            let _writing = self.write_lock().await;
            let mut tx = self.pool.begin().await?;
            sqlx::query("DELETE FROM password_tokens WHERE user_id = $1 AND used_at IS NULL")
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            let added = sqlx::query(
                "INSERT INTO password_tokens (token_hash, user_id, created_at, expires_at)
                 SELECT $1, id, $3, $4 FROM users WHERE id = $2 AND status <> 'disabled'",
            )
            .bind(link.token_hash)
            .bind(user_id)
            .bind(link.now)
            .bind(link.expires_at)
            .execute(&mut *tx)
            .await?;
            if added.rows_affected() == 0 {
                return Err(StoreError::NotFound("active or invited person"));
            }
            tx.commit().await?;
            Ok(())
        }

        async fn password_link_user(
            &self,
            token_hash: &str,
            now: i64,
        ) -> StoreResult<Option<User>> {
            sqlx::query(&person_query(
                "WHERE u.status <> 'disabled' AND u.id = (SELECT user_id FROM password_tokens
                     WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2)",
            ))
            .bind(token_hash)
            .bind(now)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| person_from(&r).map(|p| p.user))
            .transpose()
        }

        async fn redeem_password_link(
            &self,
            token_hash: &str,
            now: i64,
            password_hash: &str,
        ) -> StoreResult<Option<User>> {
            let _writing = self.write_lock().await;
            let mut tx = self.pool.begin().await?;
            // One statement claims the link, so of two redemptions only one counts.
            let user_id: Option<i64> = sqlx::query_scalar(
                "UPDATE password_tokens SET used_at = $2
                 WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2
                   AND user_id IN (SELECT id FROM users WHERE status <> 'disabled')
                 RETURNING user_id",
            )
            .bind(token_hash)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(user_id) = user_id else { return Ok(None) };
            sqlx::query(
                "UPDATE users SET password_hash = $2, status = 'active' WHERE id = $1",
            )
            .bind(user_id)
            .bind(password_hash)
            .execute(&mut *tx)
            .await?;
            let row = sqlx::query(&person_query("WHERE u.id = $1"))
                .bind(user_id)
                .fetch_one(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(Some(person_from(&row)?.user))
        }

        async fn people_of(&self, of: Option<PeopleOf>) -> StoreResult<Vec<Person>> {
            let rows = sqlx::query(&person_query(
                "WHERE $1 OR coalesce(u.account_id, 0) = coalesce($2, 0)
                 ORDER BY coalesce(a.number, ''), u.role, lower(u.name), u.id",
            ))
            .bind(of.is_none())
            .bind(of.and_then(PeopleOf::account_id))
            .fetch_all(&self.pool)
            .await?;
            rows.iter().map(person_from).collect()
        }

        async fn person(&self, of: PeopleOf, user_id: i64) -> StoreResult<Option<Person>> {
            sqlx::query(&person_query(
                "WHERE coalesce(u.account_id, 0) = coalesce($1, 0) AND u.id = $2",
            ))
            .bind(of.account_id())
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| person_from(&r))
            .transpose()
        }

        async fn person_by_email(&self, of: PeopleOf, email: &str) -> StoreResult<Option<Person>> {
            sqlx::query(&person_query(
                "WHERE coalesce(u.account_id, 0) = coalesce($1, 0) AND lower(u.email) = lower($2)",
            ))
            .bind(of.account_id())
            .bind(email)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| person_from(&r))
            .transpose()
        }

        async fn set_active(&self, user_id: i64, active: bool) -> StoreResult<()> {
            let _writing = self.write_lock().await;
            let mut tx = self.pool.begin().await?;
            if active {
                // Whoever never chose a password stays invited.
                sqlx::query(
                    "UPDATE users SET status = CASE WHEN password_hash = '' THEN 'invited'
                                                    ELSE 'active' END
                     WHERE id = $1 AND status = 'disabled'",
                )
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            } else {
                Self::keep_an_admin(&mut tx, user_id).await?;
                sqlx::query("UPDATE users SET status = 'disabled' WHERE id = $1")
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("DELETE FROM password_tokens WHERE user_id = $1 AND used_at IS NULL")
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(())
        }

        async fn set_role(&self, user_id: i64, role: Role) -> StoreResult<()> {
            if role == Role::Support {
                return Err(StoreError::Conflict(
                    "a brand's person is an admin or an agent".into(),
                ));
            }
            let _writing = self.write_lock().await;
            let mut tx = self.pool.begin().await?;
            if role != Role::Admin {
                Self::keep_an_admin(&mut tx, user_id).await?;
            }
            sqlx::query("UPDATE users SET role = $2 WHERE id = $1 AND account_id IS NOT NULL")
                .bind(user_id)
                .bind(role.as_str())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(())
        }

        async fn change_password(
            &self,
            user_id: i64,
            password_hash: &str,
            keep: Option<&str>,
        ) -> StoreResult<()> {
            let _writing = self.write_lock().await;
            let mut tx = self.pool.begin().await?;
            sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1 AND status = 'active'")
                .bind(user_id)
                .bind(password_hash)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "DELETE FROM sessions WHERE user_id = $1 AND token_hash <> coalesce($2, '')",
            )
            .bind(user_id)
            .bind(keep)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(())
        }

        async fn end_sessions(&self, user_id: i64) -> StoreResult<()> {
            sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                .bind(user_id)
                .execute(&self.pool)
                .await?;
            Ok(())
        }

        async fn rename_skill(&self, account_id: i64, skill_id: i64, name: &str) -> StoreResult<()> {
            let taken: Option<i64> = sqlx::query_scalar(
                "SELECT id FROM skills WHERE account_id = $1 AND name = $2 AND id <> $3",
            )
            .bind(account_id)
            .bind(name)
            .bind(skill_id)
            .fetch_optional(&self.pool)
            .await?;
            if taken.is_some() {
                return Err(StoreError::Conflict(format!("there is a skill {name:?} already")));
            }
            let renamed = sqlx::query(
                "UPDATE skills SET name = $3 WHERE account_id = $1 AND id = $2
                   AND retired_at IS NULL",
            )
            .bind(account_id)
            .bind(skill_id)
            .bind(name)
            .execute(&self.pool)
            .await?;
            if renamed.rows_affected() == 0 {
                return Err(StoreError::NotFound("skill"));
            }
            Ok(())
        }

        async fn retire_skill(&self, account_id: i64, skill_id: i64) -> StoreResult<()> {
            let _writing = self.write_lock().await;
            let mut tx = self.pool.begin().await?;
            let routed: Option<String> = sqlx::query_scalar(
                "SELECT name FROM linked_accounts
                 WHERE account_id = $1 AND skill_id = $2 AND status <> 'unlinked' LIMIT 1",
            )
            .bind(account_id)
            .bind(skill_id)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(name) = routed {
                return Err(StoreError::Conflict(format!(
                    "{name} routes to this skill: route it to another first"
                )));
            }
            let retired = sqlx::query(
                "UPDATE skills SET retired_at = $3
                 WHERE account_id = $1 AND id = $2 AND retired_at IS NULL",
            )
            .bind(account_id)
            .bind(skill_id)
            .bind(super::rows::now_secs())
            .execute(&mut *tx)
            .await?;
            if retired.rows_affected() == 0 {
                return Err(StoreError::NotFound("skill"));
            }
            sqlx::query("DELETE FROM user_skills WHERE skill_id = $1")
                .bind(skill_id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(())
        }

        async fn agent_sees(&self, conversation_id: i64, user_id: i64) -> StoreResult<bool> {
            let seen: Option<i64> = sqlx::query_scalar(&format!(
                "SELECT c.id FROM conversations c JOIN users u ON u.id = $2
                 WHERE c.id = $1 AND {AGENT_SEES}"
            ))
            .bind(conversation_id)
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?;
            Ok(seen.is_some())
        }

        async fn transfer(
            &self,
            account_id: i64,
            conversation_id: i64,
            to: TransferTo,
        ) -> StoreResult<()> {
            let _writing = self.write_lock().await;
            let mut tx = self.pool.begin().await?;
            if let Some(skill) = to.skill_id {
                let known: Option<i64> = sqlx::query_scalar(
                    "SELECT id FROM skills WHERE id = $1 AND account_id = $2 AND retired_at IS NULL",
                )
                .bind(skill)
                .bind(account_id)
                .fetch_optional(&mut *tx)
                .await?;
                known.ok_or(StoreError::NotFound("skill"))?;
                sqlx::query("UPDATE conversations SET skill_id = $2 WHERE id = $1")
                    .bind(conversation_id)
                    .bind(skill)
                    .execute(&mut *tx)
                    .await?;
            }
            if let Some(user) = to.user_id {
                let known: Option<i64> = sqlx::query_scalar(
                    "SELECT id FROM users WHERE id = $1 AND account_id = $2 AND status = 'active'",
                )
                .bind(user)
                .bind(account_id)
                .fetch_optional(&mut *tx)
                .await?;
                known.ok_or(StoreError::NotFound("person"))?;
                sqlx::query("UPDATE conversations SET assigned_user_id = $2 WHERE id = $1")
                    .bind(conversation_id)
                    .bind(user)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(())
        }

        async fn record_sign_in(&self, user_id: i64, at: i64) -> StoreResult<()> {
            sqlx::query("UPDATE users SET last_sign_in_at = $2 WHERE id = $1")
                .bind(user_id)
                .bind(at)
                .execute(&self.pool)
                .await?;
            Ok(())
        }
    }
}
