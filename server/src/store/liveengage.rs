//! The LiveEngage connector: each brand account's link to its LiveEngage account, where
//! each conversation's mirror stands (its LiveEngage conversation, the last consumer line
//! published, retries and claims), and the agents' messages taken back once each.

use super::rows::{mode_str, parse_channel, parse_mode, parse_word};
use super::{NewReply, StoreError, StoreResult, for_both_engines};
use async_trait::async_trait;
use shared::{Channel, ReplyMode, Tag};
use sqlx::Row as _;

/// A brand account's LiveEngage account and installed connector app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeLink {
    pub account_id: i64,
    pub le_account_id: String,
    pub client_id: String,
    /// Sealed with the server's token cipher.
    pub client_secret_sealed: Vec<u8>,
    /// Our skill's name → LiveEngage skill id.
    pub skill_map: Vec<(String, String)>,
    /// Seconds.
    pub created_at: i64,
    pub created_by: String,
}

/// Where a conversation's LiveEngage conversation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeState {
    /// None yet, or the last one closed: the next consumer line opens one.
    None,
    Open,
    /// We asked LiveEngage to close it (or are about to): its close notification is ours.
    Closing,
}

impl LeState {
    fn parse(s: &str) -> StoreResult<Self> {
        match s {
            "none" => Ok(LeState::None),
            "open" => Ok(LeState::Open),
            "closing" => Ok(LeState::Closing),
            other => Err(StoreError::corrupt(format!(
                "unknown mirror state {other:?}"
            ))),
        }
    }
}

/// A conversation's mirror.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeMirror {
    pub le_conversation_id: Option<String>,
    pub state: LeState,
    pub consumer_token_sealed: Option<Vec<u8>>,
    pub attempts: i64,
}

/// A media item of a consumer's line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeMedia {
    pub kind: String,
    pub mime: Option<String>,
    pub bytes: Option<i64>,
    pub source_url: Option<String>,
    /// Our copy, relative to the media store, once stored.
    pub stored_path: Option<String>,
    /// `pending`, `stored`, `rejected` or `failed`.
    pub status: String,
}

/// A consumer's line not yet published in LiveEngage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeLine {
    pub id: i64,
    pub tag: Tag,
    pub text: String,
    pub received_at_ms: i64,
    pub media: Vec<LeMedia>,
    /// Links the consumer shared with it.
    pub links: Vec<String>,
}

/// What mirroring a conversation needs to know.
#[derive(Debug, Clone)]
pub struct LeWork {
    pub conversation_id: i64,
    pub account_id: i64,
    pub link: LeLink,
    /// Our conversation is open.
    pub open: bool,
    pub channel: Channel,
    /// The page's or account's network id.
    pub brand_id: String,
    pub consumer_network_id: String,
    pub consumer_name: Option<String>,
    /// The skill our conversation is routed to, by name.
    pub skill: Option<String>,
    pub mirror: LeMirror,
    /// Consumer lines not yet published, in the network's time order (a batch).
    pub lines: Vec<LeLine>,
}

/// A LiveEngage conversation opened for one of ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeDialog {
    pub conversation_id: i64,
    pub account_id: i64,
    /// It is the conversation's LiveEngage conversation now (not one that closed).
    pub current: bool,
}

/// The LiveEngage connector's records.
#[async_trait]
pub trait LiveEngage: Send + Sync {
    async fn le_link(&self, account_id: i64) -> StoreResult<Option<LeLink>>;
    /// The link of the connector app `client_id` in the LiveEngage account `le_account_id`.
    async fn le_link_by_app(
        &self,
        le_account_id: &str,
        client_id: &str,
    ) -> StoreResult<Option<LeLink>>;
    /// Connects (or reconnects, keeping where mirroring started) a brand account; refused
    /// with `Conflict` when another brand account holds that app. `None` disconnects.
    async fn set_le_link(&self, account_id: i64, link: Option<&LeLink>) -> StoreResult<()>;
    /// Conversations with mirroring to do at `now_ms` (consumer lines to publish, a close
    /// to pass on or finish) that no instance holds, earliest due first.
    async fn le_due(&self, now_ms: i64, limit: i64) -> StoreResult<Vec<i64>>;
    /// Claims a conversation's mirror for `owner` until `until_ms` unless another holds
    /// it at `now_ms`; `false` when another does.
    async fn le_claim(
        &self,
        conversation_id: i64,
        owner: &str,
        now_ms: i64,
        until_ms: i64,
    ) -> StoreResult<bool>;
    /// Gives `owner`'s claim up; `done` also clears the retries (the work went through).
    async fn le_release(&self, conversation_id: i64, owner: &str, done: bool) -> StoreResult<()>;
    /// Try again at `next_at_ms`; the claim is given up.
    async fn le_retry(
        &self,
        conversation_id: i64,
        owner: &str,
        attempts: i64,
        next_at_ms: i64,
        error: &str,
    ) -> StoreResult<()>;
    /// What mirroring the conversation needs now (`None`: gone, or its brand no longer
    /// linked), with up to `batch` lines.
    async fn le_work(&self, conversation_id: i64, batch: i64) -> StoreResult<Option<LeWork>>;
    async fn le_set_consumer_token(&self, conversation_id: i64, sealed: &[u8]) -> StoreResult<()>;
    /// A LiveEngage conversation was opened for ours.
    async fn le_opened(
        &self,
        conversation_id: i64,
        account_id: i64,
        le_conversation_id: &str,
        now_ms: i64,
    ) -> StoreResult<()>;
    /// The consumer line `line_id` is published (or given up): it waits no more.
    async fn le_published(
        &self,
        conversation_id: i64,
        line_id: i64,
        now_ms: i64,
    ) -> StoreResult<()>;
    /// We are about to ask LiveEngage to close `le_conversation_id`.
    async fn le_closing(&self, conversation_id: i64, le_conversation_id: &str) -> StoreResult<()>;
    /// `le_conversation_id` is closed: the next consumer line opens another.
    async fn le_closed(&self, conversation_id: i64, le_conversation_id: &str) -> StoreResult<()>;
    async fn le_dialog(&self, le_conversation_id: &str) -> StoreResult<Option<LeDialog>>;
    /// LiveEngage closed `le_conversation_id` (its agent did): when it is the current
    /// LiveEngage conversation of ours and we did not ask for it, ours closes too. Returns
    /// our conversation when it closed it.
    async fn le_closed_by_host(&self, le_conversation_id: &str) -> StoreResult<Option<i64>>;
    /// An agent's message from LiveEngage, stored once per (conversation, sequence) as
    /// `reply` (line and outbox row in one transaction). `None`: taken before.
    async fn le_agent_reply(
        &self,
        le_conversation_id: &str,
        sequence: i64,
        reply: NewReply<'_>,
    ) -> StoreResult<Option<i64>>;
    /// Sets where an agent's replies from the host go for this conversation.
    async fn set_host_mode(&self, conversation_id: i64, mode: ReplyMode) -> StoreResult<()>;
    async fn host_mode(&self, conversation_id: i64) -> StoreResult<Option<ReplyMode>>;
}

fn skill_map_json(map: &[(String, String)]) -> String {
    serde_json::to_string(map).unwrap_or_else(|_| "[]".into())
}

for_both_engines! {
    fn link_from(r: &Row) -> StoreResult<LeLink> {
        let map: String = r.get("skill_map");
        Ok(LeLink {
            account_id: r.get("account_id"),
            le_account_id: r.get("le_account_id"),
            client_id: r.get("client_id"),
            client_secret_sealed: r.get("client_secret_sealed"),
            skill_map: serde_json::from_str(&map)
                .map_err(|e| StoreError::corrupt(format!("a LiveEngage skill map: {e}")))?,
            created_at: r.get("created_at"),
            created_by: r.get("created_by"),
        })
    }

    #[async_trait]
    impl LiveEngage for Engine {
        async fn le_link(&self, account_id: i64) -> StoreResult<Option<LeLink>> {
            sqlx::query("SELECT * FROM liveengage_links WHERE account_id = $1")
                .bind(account_id)
                .fetch_optional(&self.pool)
                .await?
                .map(|r| link_from(&r))
                .transpose()
        }

        async fn le_link_by_app(
            &self,
            le_account_id: &str,
            client_id: &str,
        ) -> StoreResult<Option<LeLink>> {
            sqlx::query(
                "SELECT * FROM liveengage_links WHERE le_account_id = $1 AND client_id = $2",
            )
            .bind(le_account_id)
            .bind(client_id)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| link_from(&r))
            .transpose()
        }

        async fn set_le_link(&self, account_id: i64, link: Option<&LeLink>) -> StoreResult<()> {
            let _writing = self.write_lock().await;
            let Some(l) = link else {
                sqlx::query("DELETE FROM liveengage_links WHERE account_id = $1")
                    .bind(account_id)
                    .execute(&self.pool)
                    .await?;
                return Ok(());
            };
            // SQLite: writing from the start (it reads, then writes; see `learn_psid`).
            let mut tx = if PG {
                self.pool.begin().await?
            } else {
                self.pool.begin_with("BEGIN IMMEDIATE").await?
            };
            let taken: Option<i64> = sqlx::query_scalar(
                "SELECT account_id FROM liveengage_links
                 WHERE le_account_id = $1 AND client_id = $2 AND account_id != $3",
            )
            .bind(&l.le_account_id)
            .bind(&l.client_id)
            .bind(account_id)
            .fetch_optional(&mut *tx)
            .await?;
            if taken.is_some() {
                return Err(StoreError::Conflict(
                    "another brand account is connected to that LiveEngage app".into(),
                ));
            }
            // Mirroring starts with the lines stored from now on; a reconnection keeps
            // where it started.
            sqlx::query(
                "INSERT INTO liveengage_links (account_id, le_account_id, client_id,
                     client_secret_sealed, skill_map, since_message_id, created_at, created_by)
                 VALUES ($1, $2, $3, $4, $5, (SELECT coalesce(max(id), 0) FROM messages), $6, $7)
                 ON CONFLICT (account_id) DO UPDATE SET le_account_id = excluded.le_account_id,
                     client_id = excluded.client_id,
                     client_secret_sealed = excluded.client_secret_sealed,
                     skill_map = excluded.skill_map",
            )
            .bind(account_id)
            .bind(&l.le_account_id)
            .bind(&l.client_id)
            .bind(&l.client_secret_sealed)
            .bind(skill_map_json(&l.skill_map))
            .bind(l.created_at)
            .bind(&l.created_by)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(())
        }

        async fn le_due(&self, now_ms: i64, limit: i64) -> StoreResult<Vec<i64>> {
            Ok(sqlx::query_scalar(
                "SELECT c.id FROM conversations c
                 JOIN linked_accounts l ON l.id = c.linked_account_id
                 JOIN liveengage_links e ON e.account_id = l.account_id
                 LEFT JOIN liveengage_mirrors r ON r.conversation_id = c.id
                 WHERE coalesce(r.next_attempt_at, 0) <= $1
                   AND (r.claimed_until IS NULL OR r.claimed_until <= $1)
                   AND (r.le_state = 'closing'
                        OR (c.status = 'closed' AND r.le_state = 'open')
                        -- A consumer's line reopens its conversation: closed ones have
                        -- none waiting (and are most of them).
                        OR (c.status = 'open'
                            AND EXISTS (SELECT 1 FROM messages m
                                        WHERE m.conversation_id = c.id AND m.direction = 'in'
                                          AND m.author = 'consumer'
                                          AND m.id > e.since_message_id
                                          AND NOT EXISTS (SELECT 1 FROM liveengage_lines p
                                                          WHERE p.message_id = m.id))))
                 ORDER BY coalesce(r.next_attempt_at, 0), c.id LIMIT $2",
            )
            .bind(now_ms)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?)
        }

        async fn le_claim(
            &self,
            conversation_id: i64,
            owner: &str,
            now_ms: i64,
            until_ms: i64,
        ) -> StoreResult<bool> {
            let _writing = self.write_lock().await;
            let claimed: Option<i64> = sqlx::query_scalar(
                "INSERT INTO liveengage_mirrors (conversation_id, claimed_by, claimed_until)
                 VALUES ($1, $2, $3)
                 ON CONFLICT (conversation_id) DO UPDATE SET claimed_by = excluded.claimed_by,
                     claimed_until = excluded.claimed_until
                 WHERE liveengage_mirrors.claimed_until IS NULL
                    OR liveengage_mirrors.claimed_until <= $4
                    OR liveengage_mirrors.claimed_by = excluded.claimed_by
                 RETURNING conversation_id",
            )
            .bind(conversation_id)
            .bind(owner)
            .bind(until_ms)
            .bind(now_ms)
            .fetch_optional(&self.pool)
            .await?;
            Ok(claimed.is_some())
        }

        async fn le_release(&self, conversation_id: i64, owner: &str, done: bool) -> StoreResult<()> {
            let sql = if done {
                "UPDATE liveengage_mirrors SET claimed_by = NULL, claimed_until = NULL,
                     attempts = 0, next_attempt_at = 0, last_error = NULL
                 WHERE conversation_id = $1 AND claimed_by = $2"
            } else {
                "UPDATE liveengage_mirrors SET claimed_by = NULL, claimed_until = NULL
                 WHERE conversation_id = $1 AND claimed_by = $2"
            };
            sqlx::query(sql)
                .bind(conversation_id)
                .bind(owner)
                .execute(&self.pool)
                .await?;
            Ok(())
        }

        async fn le_retry(
            &self,
            conversation_id: i64,
            owner: &str,
            attempts: i64,
            next_at_ms: i64,
            error: &str,
        ) -> StoreResult<()> {
            sqlx::query(
                "UPDATE liveengage_mirrors SET attempts = $1, next_attempt_at = $2,
                     last_error = $3, claimed_by = NULL, claimed_until = NULL
                 WHERE conversation_id = $4 AND claimed_by = $5",
            )
            .bind(attempts)
            .bind(next_at_ms)
            .bind(error)
            .bind(conversation_id)
            .bind(owner)
            .execute(&self.pool)
            .await?;
            Ok(())
        }

        async fn le_work(&self, conversation_id: i64, batch: i64) -> StoreResult<Option<LeWork>> {
            let Some(row) = sqlx::query(
                "SELECT c.id, c.status, l.account_id, l.channel, l.network_id AS brand_id,
                        coalesce(k.psid, k.network_id) AS consumer, k.name AS consumer_name,
                        s.name AS skill, r.le_conversation_id, r.le_state,
                        r.consumer_token_sealed, r.attempts
                 FROM conversations c
                 JOIN linked_accounts l ON l.id = c.linked_account_id
                 JOIN consumers k ON k.id = c.consumer_id
                 LEFT JOIN skills s ON s.id = c.skill_id
                 LEFT JOIN liveengage_mirrors r ON r.conversation_id = c.id
                 WHERE c.id = $1",
            )
            .bind(conversation_id)
            .fetch_optional(&self.pool)
            .await?
            else {
                return Ok(None);
            };
            let account_id: i64 = row.get("account_id");
            let Some(link) = self.le_link(account_id).await? else {
                return Ok(None);
            };
            let mirror = LeMirror {
                le_conversation_id: row.get("le_conversation_id"),
                state: LeState::parse(
                    row.get::<Option<&str>, _>("le_state").unwrap_or("none"),
                )?,
                consumer_token_sealed: row.get("consumer_token_sealed"),
                attempts: row.get::<Option<i64>, _>("attempts").unwrap_or(0),
            };
            let since: i64 = sqlx::query_scalar(
                "SELECT since_message_id FROM liveengage_links WHERE account_id = $1",
            )
            .bind(account_id)
            .fetch_one(&self.pool)
            .await?;
            // In the network's time order, whatever order they arrived in. Facebook's feed
            // times are whole seconds: within one, a comment follows the post it answers.
            let rows = sqlx::query(
                "SELECT m.id, m.tag, m.text, m.received_at FROM messages m
                 WHERE m.conversation_id = $1 AND m.direction = 'in' AND m.author = 'consumer'
                   AND m.id > $2
                   AND NOT EXISTS (SELECT 1 FROM liveengage_lines p WHERE p.message_id = m.id)
                 ORDER BY m.created_at, m.tag = 'Public/Comment', m.id LIMIT $3",
            )
            .bind(conversation_id)
            .bind(since)
            .bind(batch)
            .fetch_all(&self.pool)
            .await?;
            let mut lines = Vec::with_capacity(rows.len());
            for l in rows {
                let id: i64 = l.get("id");
                let media = sqlx::query(
                    "SELECT kind, mime, bytes, source_url, stored_path, status FROM media
                     WHERE message_id = $1 ORDER BY id",
                )
                .bind(id)
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(|m| LeMedia {
                    kind: m.get("kind"),
                    mime: m.get("mime"),
                    bytes: m.get("bytes"),
                    source_url: m.get("source_url"),
                    stored_path: m.get("stored_path"),
                    status: m.get("status"),
                })
                .collect();
                let links = sqlx::query_scalar(
                    "SELECT url FROM message_links WHERE message_id = $1 ORDER BY id",
                )
                .bind(id)
                .fetch_all(&self.pool)
                .await?;
                lines.push(LeLine {
                    id,
                    tag: parse_word(l.get("tag"))?,
                    text: l.get("text"),
                    received_at_ms: l.get("received_at"),
                    media,
                    links,
                });
            }
            let status: String = row.get("status");
            Ok(Some(LeWork {
                conversation_id,
                account_id,
                link,
                open: status == "open",
                channel: parse_channel(row.get("channel"))?,
                brand_id: row.get("brand_id"),
                consumer_network_id: row.get("consumer"),
                consumer_name: row.get("consumer_name"),
                skill: row.get("skill"),
                mirror,
                lines,
            }))
        }

        async fn le_set_consumer_token(&self, conversation_id: i64, sealed: &[u8]) -> StoreResult<()> {
            sqlx::query(
                "UPDATE liveengage_mirrors SET consumer_token_sealed = $1 WHERE conversation_id = $2",
            )
            .bind(sealed)
            .bind(conversation_id)
            .execute(&self.pool)
            .await?;
            Ok(())
        }

        async fn le_opened(
            &self,
            conversation_id: i64,
            account_id: i64,
            le_conversation_id: &str,
            now_ms: i64,
        ) -> StoreResult<()> {
            let _writing = self.write_lock().await;
            let mut tx = self.pool.begin().await?;
            sqlx::query(
                "INSERT INTO liveengage_dialogs (le_conversation_id, conversation_id, account_id,
                     created_at)
                 VALUES ($1, $2, $3, $4) ON CONFLICT (le_conversation_id) DO NOTHING",
            )
            .bind(le_conversation_id)
            .bind(conversation_id)
            .bind(account_id)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE liveengage_mirrors SET le_conversation_id = $1, le_state = 'open'
                 WHERE conversation_id = $2",
            )
            .bind(le_conversation_id)
            .bind(conversation_id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(())
        }

        async fn le_published(
            &self,
            conversation_id: i64,
            line_id: i64,
            now_ms: i64,
        ) -> StoreResult<()> {
            let _writing = self.write_lock().await;
            let mut tx = self.pool.begin().await?;
            sqlx::query(
                "INSERT INTO liveengage_lines (message_id, published_at) VALUES ($1, $2)
                 ON CONFLICT (message_id) DO NOTHING",
            )
            .bind(line_id)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE liveengage_mirrors SET attempts = 0, last_error = NULL
                 WHERE conversation_id = $1",
            )
            .bind(conversation_id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(())
        }

        async fn le_closing(&self, conversation_id: i64, le_conversation_id: &str) -> StoreResult<()> {
            sqlx::query(
                "UPDATE liveengage_mirrors SET le_state = 'closing'
                 WHERE conversation_id = $1 AND le_conversation_id = $2 AND le_state = 'open'",
            )
            .bind(conversation_id)
            .bind(le_conversation_id)
            .execute(&self.pool)
            .await?;
            Ok(())
        }

        async fn le_closed(&self, conversation_id: i64, le_conversation_id: &str) -> StoreResult<()> {
            sqlx::query(
                "UPDATE liveengage_mirrors SET le_state = 'none', le_conversation_id = NULL
                 WHERE conversation_id = $1 AND le_conversation_id = $2",
            )
            .bind(conversation_id)
            .bind(le_conversation_id)
            .execute(&self.pool)
            .await?;
            Ok(())
        }

        async fn le_dialog(&self, le_conversation_id: &str) -> StoreResult<Option<LeDialog>> {
            Ok(sqlx::query(
                "SELECT d.conversation_id, d.account_id,
                        coalesce(r.le_conversation_id = d.le_conversation_id, FALSE) AS current
                 FROM liveengage_dialogs d
                 LEFT JOIN liveengage_mirrors r ON r.conversation_id = d.conversation_id
                 WHERE d.le_conversation_id = $1",
            )
            .bind(le_conversation_id)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| LeDialog {
                conversation_id: r.get("conversation_id"),
                account_id: r.get("account_id"),
                current: r.get("current"),
            }))
        }

        async fn le_closed_by_host(&self, le_conversation_id: &str) -> StoreResult<Option<i64>> {
            let _writing = self.write_lock().await;
            let mut tx = self.pool.begin().await?;
            let ours: Option<i64> = sqlx::query_scalar(
                "UPDATE liveengage_mirrors SET le_state = 'none', le_conversation_id = NULL
                 WHERE le_conversation_id = $1 AND le_state = 'open'
                 RETURNING conversation_id",
            )
            .bind(le_conversation_id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(id) = ours else {
                return Ok(None);
            };
            let closed = sqlx::query(
                "UPDATE conversations SET status = 'closed', assigned_user_id = NULL
                 WHERE id = $1 AND status = 'open'",
            )
            .bind(id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok((closed.rows_affected() == 1).then_some(id))
        }

        async fn le_agent_reply(
            &self,
            le_conversation_id: &str,
            sequence: i64,
            reply: NewReply<'_>,
        ) -> StoreResult<Option<i64>> {
            let _writing = self.write_lock().await;
            let mut tx = self.pool.begin().await?;
            let fresh = sqlx::query(
                "INSERT INTO liveengage_events (le_conversation_id, sequence, received_at)
                 VALUES ($1, $2, $3) ON CONFLICT (le_conversation_id, sequence) DO NOTHING",
            )
            .bind(le_conversation_id)
            .bind(sequence)
            .bind(reply.now_ms)
            .execute(&mut *tx)
            .await?;
            if fresh.rows_affected() == 0 {
                return Ok(None);
            }
            let id = Engine::insert_reply(&mut tx, &reply).await?;
            sqlx::query(
                "UPDATE liveengage_events SET message_id = $1
                 WHERE le_conversation_id = $2 AND sequence = $3",
            )
            .bind(id)
            .bind(le_conversation_id)
            .bind(sequence)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(Some(id))
        }

        async fn set_host_mode(&self, conversation_id: i64, mode: ReplyMode) -> StoreResult<()> {
            let _writing = self.write_lock().await;
            sqlx::query(
                "INSERT INTO liveengage_mirrors (conversation_id, host_mode) VALUES ($1, $2)
                 ON CONFLICT (conversation_id) DO UPDATE SET host_mode = excluded.host_mode",
            )
            .bind(conversation_id)
            .bind(mode_str(mode))
            .execute(&self.pool)
            .await?;
            Ok(())
        }

        async fn host_mode(&self, conversation_id: i64) -> StoreResult<Option<ReplyMode>> {
            let mode: Option<Option<String>> = sqlx::query_scalar(
                "SELECT host_mode FROM liveengage_mirrors WHERE conversation_id = $1",
            )
            .bind(conversation_id)
            .fetch_optional(&self.pool)
            .await?;
            mode.flatten().map(|m| parse_mode(&m)).transpose()
        }
    }
}
