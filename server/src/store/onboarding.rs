//! Sign-up requests and their chat with support (the brand's way to SocialConnect).

use super::rows::rfc3339;
use super::{StoreError, StoreResult, for_both_engines};
use async_trait::async_trait;
use shared::onboarding::{ChatAuthor, ChatMessage, SignupRequest, SignupStatus};
use sqlx::Row as _;

/// A chat line to store (onboarding).
#[derive(Debug, Clone)]
pub struct NewChatMessage<'a> {
    pub request_id: i64,
    pub author_id: Option<i64>,
    pub author: ChatAuthor,
    pub author_name: &'a str,
    pub text: &'a str,
    pub link: Option<&'a str>,
    pub now_ms: i64,
}

/// Sign-up requests and their chat with support.
#[async_trait]
pub trait Onboarding: Send + Sync {
    /// The account's sign-up request, made now by `user_id` (with the chat's first,
    /// system line `greeting`) unless the account has one; `true` when it was made.
    async fn signup_create(
        &self,
        account_id: i64,
        user_id: i64,
        greeting: &str,
        now_ms: i64,
    ) -> StoreResult<(SignupRequest, bool)>;
    async fn signup_of_account(&self, account_id: i64) -> StoreResult<Option<SignupRequest>>;
    /// A request and the brand account it belongs to.
    async fn signup_request(&self, id: i64) -> StoreResult<Option<(i64, SignupRequest)>>;
    /// Every request, open ones first, then latest first.
    async fn signup_requests(&self) -> StoreResult<Vec<SignupRequest>>;
    async fn signup_messages(&self, request_id: i64) -> StoreResult<Vec<ChatMessage>>;
    async fn signup_add_message(&self, message: NewChatMessage<'_>) -> StoreResult<ChatMessage>;
    /// Enables SocialConnect for the request's account, records who did and the link to
    /// SocialConnect Home, and adds `message` (the link) to the chat, in one transaction.
    async fn signup_enable(
        &self,
        request_id: i64,
        by_user: i64,
        home_url: &str,
        message: NewChatMessage<'_>,
    ) -> StoreResult<SignupRequest>;
}

const SIGNUP_SELECT: &str = "SELECT r.id, r.account_id, r.status, r.created_at, r.enabled_at,
        r.home_url, a.number, a.name AS account_name,
        u.name AS requester_name, u.email AS requester_email,
        (SELECT count(*) FROM signup_messages m WHERE m.request_id = r.id) AS messages,
        (SELECT m.author FROM signup_messages m WHERE m.request_id = r.id
         ORDER BY m.id DESC LIMIT 1) AS last_author
    FROM signup_requests r
    JOIN accounts a ON a.id = r.account_id
    LEFT JOIN users u ON u.id = r.requested_by";

const INSERT_MESSAGE: &str = "INSERT INTO signup_messages
        (request_id, author_id, author, author_name, text, link, created_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id";

for_both_engines! {
    fn signup_from(r: &Row) -> StoreResult<SignupRequest> {
        let status: String = r.get("status");
        let requester: Option<String> = r.get("requester_name");
        let email: Option<String> = r.get("requester_email");
        Ok(SignupRequest {
            id: r.get("id"),
            account_number: r.get("number"),
            account_name: r.get("account_name"),
            status: SignupStatus::parse(&status)
                .ok_or_else(|| StoreError::corrupt(format!("unknown sign-up status {status:?}")))?,
            requested_by: requester.map(|n| match email {
                Some(e) => format!("{n} <{e}>"),
                None => n,
            }),
            created_at: rfc3339(r.get("created_at")),
            enabled_at: r.get::<Option<i64>, _>("enabled_at").map(rfc3339),
            home_url: r.get("home_url"),
            messages: r.get("messages"),
            last_author: r
                .get::<Option<String>, _>("last_author")
                .and_then(|a| ChatAuthor::parse(&a)),
        })
    }

    fn chat_from(r: &Row) -> StoreResult<ChatMessage> {
        let author: String = r.get("author");
        Ok(ChatMessage {
            id: r.get("id"),
            author: ChatAuthor::parse(&author)
                .ok_or_else(|| StoreError::corrupt(format!("unknown chat author {author:?}")))?,
            author_name: r.get("author_name"),
            text: r.get("text"),
            link: r.get("link"),
            created_at: rfc3339(r.get("created_at")),
        })
    }

    #[async_trait]
    impl Onboarding for Engine {
        async fn signup_create(
            &self,
            account_id: i64,
            user_id: i64,
            greeting: &str,
            now_ms: i64,
        ) -> StoreResult<(SignupRequest, bool)> {
            let made = {
                let _writing = self.write_lock().await;
                let mut tx = self.pool.begin().await?;
                let made: Option<i64> = sqlx::query_scalar(
                "INSERT INTO signup_requests (account_id, requested_by, status, created_at)
                 VALUES ($1, $2, 'open', $3)
                 ON CONFLICT (account_id) DO NOTHING RETURNING id",
            )
            .bind(account_id)
            .bind(user_id)
            .bind(now_ms)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(id) = made {
                sqlx::query(
                    "INSERT INTO signup_messages (request_id, author, author_name, text, created_at)
                     VALUES ($1, 'system', 'SocialConnect', $2, $3)",
                )
                .bind(id)
                .bind(greeting)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            made
            };
            let request = self
                .signup_of_account(account_id)
                .await?
                .ok_or_else(|| StoreError::corrupt("sign-up request vanished"))?;
            Ok((request, made.is_some()))
        }

        async fn signup_of_account(&self, account_id: i64) -> StoreResult<Option<SignupRequest>> {
            let row = sqlx::query(&format!("{SIGNUP_SELECT} WHERE r.account_id = $1"))
                .bind(account_id)
                .fetch_optional(&self.pool)
                .await?;
            row.as_ref().map(signup_from).transpose()
        }

        async fn signup_request(&self, id: i64) -> StoreResult<Option<(i64, SignupRequest)>> {
            let row = sqlx::query(&format!("{SIGNUP_SELECT} WHERE r.id = $1"))
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
            row.as_ref()
                .map(|r| Ok((r.get("account_id"), signup_from(r)?)))
                .transpose()
        }

        async fn signup_requests(&self) -> StoreResult<Vec<SignupRequest>> {
            let rows = sqlx::query(&format!(
                "{SIGNUP_SELECT} ORDER BY r.status = 'enabled', r.created_at DESC, r.id DESC"
            ))
            .fetch_all(&self.pool)
            .await?;
            rows.iter().map(signup_from).collect()
        }

        async fn signup_messages(&self, request_id: i64) -> StoreResult<Vec<ChatMessage>> {
            let rows = sqlx::query(
                "SELECT id, author, author_name, text, link, created_at FROM signup_messages
                 WHERE request_id = $1 ORDER BY id",
            )
            .bind(request_id)
            .fetch_all(&self.pool)
            .await?;
            rows.iter().map(chat_from).collect()
        }

        async fn signup_add_message(&self, m: NewChatMessage<'_>) -> StoreResult<ChatMessage> {
            let id: i64 = sqlx::query_scalar(INSERT_MESSAGE)
                .bind(m.request_id)
                .bind(m.author_id)
                .bind(m.author.as_str())
                .bind(m.author_name)
                .bind(m.text)
                .bind(m.link)
                .bind(m.now_ms)
                .fetch_one(&self.pool)
                .await?;
            Ok(ChatMessage {
                id,
                author: m.author,
                author_name: m.author_name.to_owned(),
                text: m.text.to_owned(),
                link: m.link.map(str::to_owned),
                created_at: rfc3339(m.now_ms),
            })
        }

        async fn signup_enable(
            &self,
            request_id: i64,
            by_user: i64,
            home_url: &str,
            m: NewChatMessage<'_>,
        ) -> StoreResult<SignupRequest> {
            let account_id = {
            let _writing = self.write_lock().await;
            let mut tx = self.pool.begin().await?;
            let account_id: Option<i64> = sqlx::query_scalar(
                "UPDATE signup_requests SET status = 'enabled', enabled_at = $1, enabled_by = $2,
                     home_url = $3
                 WHERE id = $4 RETURNING account_id",
            )
            .bind(m.now_ms)
            .bind(by_user)
            .bind(home_url)
            .bind(request_id)
            .fetch_optional(&mut *tx)
            .await?;
            let account_id = account_id.ok_or(StoreError::NotFound("sign-up request"))?;
            sqlx::query("UPDATE accounts SET socialconnect_enabled = TRUE WHERE id = $1")
                .bind(account_id)
                .execute(&mut *tx)
                .await?;
            let _: i64 = sqlx::query_scalar(INSERT_MESSAGE)
                .bind(request_id)
                .bind(m.author_id)
                .bind(m.author.as_str())
                .bind(m.author_name)
                .bind(m.text)
                .bind(m.link)
                .bind(m.now_ms)
                .fetch_one(&mut *tx)
                .await?;
            tx.commit().await?;
            account_id
            };
            self.signup_of_account(account_id)
                .await?
                .ok_or_else(|| StoreError::corrupt("sign-up request vanished"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::prelude::*;
    use crate::store::{NewUser, SqliteStore};

    #[tokio::test]
    async fn one_sign_up_per_account_and_enabling_switches_the_account_on() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).await.unwrap();
        let acct = store
            .ensure_account("2000", "Northwind", false)
            .await
            .unwrap();
        let user = store
            .create_user(NewUser {
                account_id: Some(acct.id),
                email: "a@n.example",
                name: "Nora",
                role: shared::Role::Admin,
                password_hash: "x",
            })
            .await
            .unwrap()
            .unwrap();
        let (first, made) = store
            .signup_create(acct.id, user.id, "hello", 1_000)
            .await
            .unwrap();
        assert!(made);
        assert_eq!(first.status, SignupStatus::Open);
        assert_eq!(first.requested_by.as_deref(), Some("Nora <a@n.example>"));
        let (again, made) = store
            .signup_create(acct.id, user.id, "hello", 2_000)
            .await
            .unwrap();
        assert!(!made);
        assert_eq!(again.id, first.id);
        assert_eq!(
            store.signup_messages(first.id).await.unwrap().len(),
            1,
            "one greeting"
        );

        let system = NewChatMessage {
            request_id: first.id,
            author_id: None,
            author: ChatAuthor::System,
            author_name: "SocialConnect",
            text: "enabled",
            link: Some("https://sc.example/home"),
            now_ms: 3_000,
        };
        let enabled = store
            .signup_enable(first.id, user.id, "https://sc.example/home", system.clone())
            .await
            .unwrap();
        assert_eq!(enabled.status, SignupStatus::Enabled);
        assert_eq!(enabled.home_url.as_deref(), Some("https://sc.example/home"));
        assert_eq!(enabled.last_author, Some(ChatAuthor::System));
        assert!(
            store
                .account_by_id(acct.id)
                .await
                .unwrap()
                .unwrap()
                .socialconnect_enabled
        );
        let chat = store.signup_messages(first.id).await.unwrap();
        assert_eq!(
            chat.last().unwrap().link.as_deref(),
            Some("https://sc.example/home")
        );
        assert!(
            store
                .signup_enable(
                    first.id + 1,
                    user.id,
                    "x",
                    NewChatMessage {
                        request_id: first.id + 1,
                        ..system
                    }
                )
                .await
                .is_err(),
            "no such request"
        );
    }
}
