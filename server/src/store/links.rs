//! Linked pages and accounts, and OAuth hand-offs in flight.

use super::rows::{now_secs, parse_channel};
use super::{StoreError, StoreResult, for_both_engines};
use async_trait::async_trait;
use serde::Serialize;
use shared::Channel;
use sqlx::Row as _;

/// Where a linked page or account stands (shown in SocialConnect Home).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkStatus {
    Linked,
    TokenInvalid,
    WebhooksFailing,
    Unlinked,
}

impl LinkStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkStatus::Linked => "linked",
            LinkStatus::TokenInvalid => "token_invalid",
            LinkStatus::WebhooksFailing => "webhooks_failing",
            LinkStatus::Unlinked => "unlinked",
        }
    }

    pub fn parse(s: &str) -> StoreResult<Self> {
        [
            LinkStatus::Linked,
            LinkStatus::TokenInvalid,
            LinkStatus::WebhooksFailing,
            LinkStatus::Unlinked,
        ]
        .into_iter()
        .find(|l| l.as_str() == s)
        .ok_or_else(|| StoreError::corrupt(format!("unknown link status {s:?}")))
    }
}

/// A Facebook page or Twitter/X account linked to a brand account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkedAccount {
    pub id: i64,
    pub account_id: i64,
    pub channel: Channel,
    pub network_id: String,
    pub name: String,
    pub skill_id: Option<i64>,
    pub status: LinkStatus,
    /// Sealed with the server's token cipher.
    pub token_sealed: Vec<u8>,
    pub token_secret_sealed: Option<Vec<u8>>,
    /// When Facebook last refused a send because the page is temporarily restricted from
    /// sending (ms); `None` once a Messenger reply went through again.
    pub sending_restricted_at: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct NewLink<'a> {
    pub account_id: i64,
    pub channel: Channel,
    pub network_id: &'a str,
    pub name: &'a str,
    pub token_sealed: Vec<u8>,
    pub token_secret_sealed: Option<Vec<u8>>,
    pub skill_id: Option<i64>,
    pub created_by: &'a str,
}

/// A linked page or account as SocialConnect Home's accounts table shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HomeLinked {
    pub linked: LinkedAccount,
    /// Seconds.
    pub created_at: i64,
    pub created_by: String,
}

/// A sign-in flow an admin started in SocialConnect Home (see migration 0008).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthPending {
    pub id: String,
    pub account_id: i64,
    pub user_id: i64,
    /// Ties the flow to the browser session that started it.
    pub session_binding: String,
    pub channel: Channel,
    /// X's request token (public: it travels in the authorize URL).
    pub request_token: Option<String>,
    /// X's request token secret, sealed.
    pub secret_sealed: Option<Vec<u8>>,
    /// The Facebook pages offered (JSON with page tokens), sealed.
    pub pages_sealed: Option<Vec<u8>>,
    /// Seconds.
    pub created_at: i64,
}

/// The pages and accounts brand accounts link, and the sign-in flows that link them.
#[async_trait]
pub trait Links: Send + Sync {
    /// Links a page or account, or relinks it (new token, status linked). Refused with
    /// `Conflict` when another brand account holds it.
    async fn link(&self, link: NewLink<'_>) -> StoreResult<LinkedAccount>;
    async fn linked_account(
        &self,
        channel: Channel,
        network_id: &str,
    ) -> StoreResult<Option<LinkedAccount>>;
    async fn set_linked_status(&self, id: i64, status: LinkStatus) -> StoreResult<()>;
    /// Records that Facebook restricted the page from sending (`Some(ms)`) or that a send
    /// went through again (`None`).
    async fn set_sending_restricted(&self, id: i64, since_ms: Option<i64>) -> StoreResult<()>;
    /// Every page or account linked on `channel`, whatever its status.
    async fn linked_accounts(&self, channel: Channel) -> StoreResult<Vec<LinkedAccount>>;
    async fn linked_by_id(&self, id: i64) -> StoreResult<Option<LinkedAccount>>;
    /// Every page or account a brand account ever linked, in the order linked.
    async fn home_linked(&self, account_id: i64) -> StoreResult<Vec<HomeLinked>>;
    /// Routes a linked account's new conversations (and its open, unassigned ones) to a skill.
    async fn set_linked_skill(&self, linked_id: i64, skill_id: i64) -> StoreResult<()>;
    async fn put_oauth_pending(&self, pending: &OAuthPending) -> StoreResult<()>;
    async fn oauth_pending(&self, id: &str) -> StoreResult<Option<OAuthPending>>;
    async fn oauth_pending_by_request_token(
        &self,
        token: &str,
    ) -> StoreResult<Option<OAuthPending>>;
    async fn set_oauth_pages(&self, id: &str, pages_sealed: &[u8]) -> StoreResult<()>;
    /// Removes one flow, or (`None`) every flow started before `before`.
    async fn delete_oauth_pending(&self, id: Option<&str>, before: i64) -> StoreResult<()>;
}

for_both_engines! {
    /// A `linked_accounts` row (`SELECT *`).
    fn linked_from(r: &Row) -> StoreResult<LinkedAccount> {
        Ok(LinkedAccount {
            id: r.get("id"),
            account_id: r.get("account_id"),
            channel: parse_channel(r.get("channel"))?,
            network_id: r.get("network_id"),
            name: r.get("name"),
            skill_id: r.get("skill_id"),
            status: LinkStatus::parse(r.get("status"))?,
            token_sealed: r.get("token_sealed"),
            token_secret_sealed: r.get("token_secret_sealed"),
            sending_restricted_at: r.get("sending_restricted_at"),
        })
    }

    fn pending_from(r: &Row) -> StoreResult<OAuthPending> {
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

    impl Engine {
        /// The linked account a query row names by its `channel` and `brand_id` columns.
        pub(in crate::store) async fn linked_of(&self, row: &Row) -> StoreResult<LinkedAccount> {
            let channel = parse_channel(row.get("channel"))?;
            self.linked_account(channel, &row.get::<String, _>("brand_id"))
                .await?
                .ok_or_else(|| StoreError::corrupt("a row without its linked account"))
        }
    }

    #[async_trait]
    impl Links for Engine {
        async fn link(&self, l: NewLink<'_>) -> StoreResult<LinkedAccount> {
            // One statement, so two brands linking the same page at once cannot both win:
            // the update applies only to the brand that holds it, and otherwise nothing
            // returns.
            let linked: Option<i64> = {
                let _writing = self.write_lock().await;
                sqlx::query_scalar(
                    "INSERT INTO linked_accounts (account_id, channel, network_id, name,
                         token_sealed, token_secret_sealed, skill_id, status, created_at,
                         created_by)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, 'linked', $8, $9)
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
                .bind(now_secs())
                .bind(l.created_by)
                .fetch_optional(&self.pool)
                .await?
            };
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
            row.as_ref().map(linked_from).transpose()
        }

        async fn linked_accounts(&self, channel: Channel) -> StoreResult<Vec<LinkedAccount>> {
            sqlx::query("SELECT * FROM linked_accounts WHERE channel = $1 ORDER BY id")
                .bind(channel.as_str())
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(linked_from)
                .collect()
        }

        async fn set_linked_status(&self, id: i64, status: LinkStatus) -> StoreResult<()> {
            sqlx::query("UPDATE linked_accounts SET status = $1 WHERE id = $2")
                .bind(status.as_str())
                .bind(id)
                .execute(&self.pool)
                .await?;
            Ok(())
        }

        async fn set_sending_restricted(&self, id: i64, since_ms: Option<i64>) -> StoreResult<()> {
            let _writing = self.write_lock().await;
            sqlx::query("UPDATE linked_accounts SET sending_restricted_at = $1 WHERE id = $2")
                .bind(since_ms)
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
            row.as_ref().map(linked_from).transpose()
        }

        async fn home_linked(&self, account_id: i64) -> StoreResult<Vec<HomeLinked>> {
            sqlx::query("SELECT * FROM linked_accounts WHERE account_id = $1 ORDER BY id")
                .bind(account_id)
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(|r| {
                    Ok(HomeLinked {
                        linked: linked_from(r)?,
                        created_at: r.get("created_at"),
                        created_by: r.get("created_by"),
                    })
                })
                .collect()
        }

        async fn set_linked_skill(&self, linked_id: i64, skill_id: i64) -> StoreResult<()> {
            let _writing = self.write_lock().await;
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
                .as_ref()
                .map(pending_from)
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
                .as_ref()
                .map(pending_from)
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
}
