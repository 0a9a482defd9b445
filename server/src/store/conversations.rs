//! Conversations: the queue, a transcript, taking, closing and export.

use super::rows::{export_kind, parse_channel, parse_word, rfc3339};
use super::{LinkedAccount, Links, MediaStatus, StoreError, StoreResult, for_both_engines};
use async_trait::async_trait;
use serde::Serialize;
use shared::Channel;
use shared::api::{
    AgentRef, BrandFacts, ConsumerInfo, ConversationInfo, ConversationStatus, Line, LineMedia,
    LinePreview, Profile, QueueItem, QueueSort, QueueView, Transcript,
};
use shared::inbound::SharedLink;
use shared::replies::{PublicLine, ReplyFacts};
use sqlx::Row as _;
use std::collections::HashMap;

/// Whose queue: the brand account, the user, and whether only their skills count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueScope {
    pub account_id: i64,
    pub user_id: i64,
    /// Only conversations of the skills in `user_skills` (unless the user answers all).
    pub by_skills: bool,
}

/// What `take` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TakeOutcome {
    Taken,
    /// Closed, or assigned to someone else.
    Refused,
}

/// A consumer whose profile is due to be fetched (never fetched, or stale).
#[derive(Debug, Clone)]
pub struct ProfileDue {
    pub consumer_id: i64,
    pub network_id: String,
    pub linked: LinkedAccount,
    /// The conversation to announce when the profile arrives.
    pub conversation_id: Option<i64>,
}

/// What sending a reply in a conversation needs to know.
#[derive(Debug, Clone)]
pub struct ReplyContext {
    pub conversation_id: i64,
    pub account_id: i64,
    pub linked: LinkedAccount,
    pub consumer_network_id: String,
    /// The consumer's last public line that is not removed.
    pub last_public: Option<LastPublic>,
    /// When the consumer last wrote in private (ms), for Messenger's windows.
    pub last_private_at_ms: Option<i64>,
}

impl ReplyContext {
    /// What `shared::replies` decides the open reply modes by.
    pub fn facts(&self) -> ReplyFacts {
        ReplyFacts {
            last_public: self.last_public.as_ref().map(|l| l.line),
            wrote_privately: self.last_private_at_ms.is_some(),
        }
    }
}

/// The consumer's last public line, which Public and Private Response answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastPublic {
    pub network_id: String,
    /// Its tag, when it was created, and whether a private reply to it was sent or is
    /// on its way.
    pub line: PublicLine,
}

/// One conversation as `socialconnect export` writes it (CONTRACT.md §5).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExportConversation {
    pub id: i64,
    pub account: String,
    pub channel: Channel,
    pub skill: Option<String>,
    pub status: String,
    pub consumer: ExportConsumer,
    pub messages: Vec<ExportMessage>,
    /// The satisfaction survey's answer, 1–5, when the consumer gave one.
    pub survey_score: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExportConsumer {
    pub network_id: String,
    pub handle: Option<String>,
    pub name: Option<String>,
    pub profile: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExportMessage {
    pub id: i64,
    pub network_id: Option<String>,
    pub tag: String,
    pub direction: String,
    pub author: String,
    pub text: String,
    pub media: Vec<ExportMedia>,
    /// Links the consumer shared with the line (not media: never fetched).
    pub links: Vec<SharedLink>,
    pub status: String,
    pub error: Option<String>,
    /// RFC 3339, from the network's time.
    pub created_at: String,
    pub edited: bool,
    pub removed: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExportMedia {
    pub kind: String,
    pub mime: Option<String>,
    pub bytes: Option<i64>,
}

/// Conversations: queues, transcripts, ownership, profiles and export.
#[async_trait]
pub trait Conversations: Send + Sync {
    async fn reply_context(&self, conversation_id: i64) -> StoreResult<Option<ReplyContext>>;
    /// Consumers whose profile was never fetched, or fetched before `stale_before_ms`,
    /// and not tried since `retry_before_ms`; each is marked tried now.
    async fn profiles_due(
        &self,
        now_ms: i64,
        stale_before_ms: i64,
        retry_before_ms: i64,
        limit: i64,
    ) -> StoreResult<Vec<ProfileDue>>;
    /// Stores a fetched profile; `name` and `handle` replace the stored ones when given.
    async fn set_profile(
        &self,
        consumer_id: i64,
        name: Option<&str>,
        handle: Option<&str>,
        profile: &serde_json::Value,
        now_ms: i64,
    ) -> StoreResult<()>;
    /// Facebook named the consumer of `conversation_id` by their page-scoped id (a private
    /// reply's `recipient_id`): their Messenger lines belong to this conversation from now
    /// on, and a conversation that id already had is folded into this one. Returns the
    /// conversation folded in (now gone), if any.
    async fn learn_psid(&self, conversation_id: i64, psid: &str) -> StoreResult<Option<i64>>;
    /// A line's status and error, for tests and the API.
    async fn line_status(&self, message_id: i64) -> StoreResult<Option<(String, Option<String>)>>;
    /// Open conversations in a queue view, latest activity first.
    async fn queue(&self, scope: QueueScope, view: QueueView) -> StoreResult<Vec<QueueItem>> {
        self.queue_sorted(scope, view, QueueSort::Activity).await
    }
    /// Open conversations in a queue view, in the order `sort` asks, each with what the
    /// scope's person has not read yet.
    async fn queue_sorted(
        &self,
        scope: QueueScope,
        view: QueueView,
        sort: QueueSort,
    ) -> StoreResult<Vec<QueueItem>>;
    /// `user_id` has read the conversation up to its line `last_line_id` (a mark never
    /// moves back).
    async fn mark_read(
        &self,
        conversation_id: i64,
        user_id: i64,
        last_line_id: i64,
        now_ms: i64,
    ) -> StoreResult<()>;
    /// The brand account a conversation belongs to.
    async fn conversation_account(&self, id: i64) -> StoreResult<Option<i64>>;
    async fn conversation_info(&self, id: i64) -> StoreResult<Option<ConversationInfo>>;
    /// The conversation, its consumer and its lines in the network's time order.
    async fn transcript(&self, id: i64) -> StoreResult<Option<Transcript>>;
    /// Assigns an open conversation to `user_id` unless someone else holds it.
    async fn take(&self, id: i64, user_id: i64) -> StoreResult<TakeOutcome>;
    /// Closes a conversation and releases it, so a new line brings it back as new.
    async fn close(&self, id: i64) -> StoreResult<()>;
    /// Every conversation of a brand account with a line at or after `since_ms`.
    async fn export(&self, account_id: i64, since_ms: i64) -> StoreResult<Vec<ExportConversation>>;
}

for_both_engines! {
    /// Shared links grouped by their line, in the order stored.
    fn links_by_line(rows: Vec<Row>) -> HashMap<i64, Vec<SharedLink>> {
        let mut by_line: HashMap<i64, Vec<_>> = Default::default();
        for r in rows {
            by_line
                .entry(r.get("message_id"))
                .or_default()
                .push(SharedLink {
                    title: r.get("title"),
                    url: r.get("url"),
                });
        }
        by_line
    }

    /// The agent holding the conversation a row names (`assigned_user_id`, `agent_name`).
    fn agent_from(r: &Row) -> Option<AgentRef> {
        r.get::<Option<i64>, _>("assigned_user_id").map(|id| AgentRef {
            id,
            name: r.get::<Option<String>, _>("agent_name").unwrap_or_default(),
        })
    }

    impl Engine {
        /// When the consumer of a conversation last wrote in private (ms), for Messenger's
        /// windows.
        pub(super) async fn last_private_at(
            &self,
            conversation_id: i64,
        ) -> StoreResult<Option<i64>> {
            Ok(sqlx::query_scalar(
                "SELECT max(created_at) FROM messages
                 WHERE conversation_id = $1 AND direction = 'in' AND tag = 'Private'",
            )
            .bind(conversation_id)
            .fetch_one(&self.pool)
            .await?)
        }
    }

    #[async_trait]
    impl Conversations for Engine {
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
            // Woken after every webhook: look before taking the writer or any row lock.
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
            let due = {
                let _writing = self.write_lock().await;
                let mut tx = self.pool.begin().await?;
                let rows = sqlx::query(&format!(
                    "SELECT k.id, coalesce(k.psid, k.network_id) AS network_id, l.channel,
                            l.network_id AS brand_id,
                            (SELECT c.id FROM conversations c WHERE c.consumer_id = k.id) AS conversation_id
                     FROM consumers k JOIN linked_accounts l ON l.id = k.linked_account_id
                     WHERE l.status IN ('linked', 'webhooks_failing')
                       -- Facebook's User Profile API takes the page-scoped id only.
                       AND (l.channel != 'facebook' OR k.psid IS NOT NULL)
                       AND (k.profile_fetched_at IS NULL OR k.profile_fetched_at < $1)
                       AND (k.profile_attempted_at IS NULL OR k.profile_attempted_at < $2)
                     ORDER BY k.profile_fetched_at IS NOT NULL, k.id LIMIT $3 {}",
                    // Each instance claims its own: a row another one is claiming is passed
                    // over (SQLite's one writer is the writer lock held here).
                    if PG { "FOR UPDATE OF k SKIP LOCKED" } else { "" }
                ))
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
                due
            };
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
            // Two instances learning the same person's id fold them once: PostgreSQL locks
            // the rows read; under SQLite's writer lock nothing changes meanwhile.
            let locked = |rows: &str| {
                if PG {
                    format!("FOR UPDATE OF {rows}")
                } else {
                    String::new()
                }
            };
            let _writing = self.write_lock().await;
            // SQLite: writing from the start, so a write committed by another connection
            // between this transaction's reads and its first write cannot make that write
            // fail as busy (a deferred transaction cannot upgrade over a newer snapshot).
            let mut tx = if PG {
                self.pool.begin().await?
            } else {
                self.pool.begin_with("BEGIN IMMEDIATE").await?
            };
            let Some((consumer, linked, known)) =
                sqlx::query_as::<_, (i64, i64, Option<String>)>(&format!(
                    "SELECT k.id, k.linked_account_id, k.psid FROM conversations c
                       JOIN consumers k ON k.id = c.consumer_id WHERE c.id = $1 {}",
                    locked("k")
                ))
                .bind(conversation_id)
                .fetch_optional(&mut *tx)
                .await?
            else {
                return Ok(None);
            };
            if known.is_some() {
                return Ok(None);
            }
            // The same person met in Messenger first has a conversation of their own: its
            // lines (and replies waiting to go, and the brand's notes) join this one, and the
            // two become one.
            let other: Option<(i64, i64)> = sqlx::query_as(&format!(
                "SELECT k.id, c.id FROM consumers k JOIN conversations c ON c.consumer_id = k.id
                  WHERE k.linked_account_id = $1 AND k.id != $2 AND (k.psid = $3 OR k.network_id = $3)
                  {}",
                locked("k, c")
            ))
            .bind(linked)
            .bind(consumer)
            .bind(psid)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some((other_consumer, other_conversation)) = other {
                // Its notes and LiveEngage conversations too: an agent there still reaches
                // the person.
                for table in ["messages", "outbox", "notes", "liveengage_dialogs"] {
                    sqlx::query(&format!(
                        "UPDATE {table} SET conversation_id = $1 WHERE conversation_id = $2"
                    ))
                    .bind(conversation_id)
                    .bind(other_conversation)
                    .execute(&mut *tx)
                    .await?;
                }
                sqlx::query(&format!(
                    "UPDATE conversations SET
                         last_message_at = {}(conversations.last_message_at, o.last_message_at),
                         status = CASE WHEN o.status = 'open' THEN 'open' ELSE conversations.status END,
                         assigned_user_id = coalesce(conversations.assigned_user_id, o.assigned_user_id)
                       FROM (SELECT last_message_at, status, assigned_user_id FROM conversations
                              WHERE id = $1) AS o
                      WHERE conversations.id = $2",
                    if PG { "greatest" } else { "max" }
                ))
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

        async fn queue_sorted(
            &self,
            scope: QueueScope,
            view: QueueView,
            sort: QueueSort,
        ) -> StoreResult<Vec<QueueItem>> {
            // An agent sees the skills they answer, or all of them by choice. The consumer
            // waits from their first line after the brand's last one that did not fail.
            let rows = sqlx::query(
                "SELECT * FROM (
                 SELECT c.id, l.channel, k.name AS consumer_name, k.handle, c.assigned_user_id,
                        u.name AS agent_name, m.text, m.tag, m.author, m.created_at,
                        c.last_message_at,
                        (SELECT count(*) FROM messages i
                          WHERE i.conversation_id = c.id AND i.direction = 'in'
                            AND i.id > coalesce((SELECT r.last_line_id FROM read_marks r
                                                  WHERE r.user_id = $2
                                                    AND r.conversation_id = c.id), 0)) AS unread,
                        coalesce((SELECT o.status = 'failed' FROM messages o
                                   WHERE o.conversation_id = c.id AND o.direction = 'out'
                                   ORDER BY o.created_at DESC, o.id DESC LIMIT 1), FALSE)
                          AS reply_failed,
                        (SELECT min(i.created_at) FROM messages i
                          WHERE i.conversation_id = c.id AND i.direction = 'in'
                            AND i.created_at > coalesce(
                                (SELECT max(o.created_at) FROM messages o
                                  WHERE o.conversation_id = c.id AND o.direction = 'out'
                                    AND o.status != 'failed'), -1)) AS waiting_since
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
                   AND CASE $3
                       WHEN 'mine' THEN c.assigned_user_id = $2
                       ELSE ($3 = 'all' OR c.assigned_user_id IS NULL)
                            AND (NOT $4
                                 OR (SELECT all_skills FROM users WHERE id = $2)
                                 OR c.skill_id IN (SELECT skill_id FROM user_skills WHERE user_id = $2))
                       END
                 ) q
                 ORDER BY CASE WHEN $5 = 'waiting'
                               THEN coalesce(q.waiting_since, 9223372036854775807) ELSE 0 END,
                          q.last_message_at DESC, q.id DESC
                 LIMIT 500",
            )
            .bind(scope.account_id)
            .bind(scope.user_id)
            .bind(view.as_str())
            .bind(scope.by_skills)
            .bind(sort.as_str())
            .fetch_all(&self.pool)
            .await?;
            rows.iter()
                .map(|r| {
                    let tag: Option<String> = r.get("tag");
                    let assigned_to = agent_from(r);
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
                                    author: parse_word(r.get("author"))?,
                                })
                            })
                            .transpose()?,
                        new: assigned_to.is_none(),
                        assigned_to,
                        closed: false,
                        unread: u32::try_from(r.get::<i64, _>("unread")).unwrap_or(u32::MAX),
                        reply_failed: r.get("reply_failed"),
                        waiting_since: r.get::<Option<i64>, _>("waiting_since").map(rfc3339),
                    })
                })
                .collect()
        }

        async fn mark_read(
            &self,
            conversation_id: i64,
            user_id: i64,
            last_line_id: i64,
            now_ms: i64,
        ) -> StoreResult<()> {
            // On SQLite, waiting for the writer (an ingest group) here rather than in
            // SQLite's busy handler, which sleeps 1, 2, 5, 10… ms between tries: every
            // transcript an agent opens under a stream of webhooks would wait that long.
            let _writing = self.write_lock().await;
            sqlx::query(
                "INSERT INTO read_marks (user_id, conversation_id, last_line_id, read_at)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (user_id, conversation_id) DO UPDATE
                   SET last_line_id = excluded.last_line_id, read_at = excluded.read_at
                   WHERE read_marks.last_line_id < excluded.last_line_id",
            )
            .bind(user_id)
            .bind(conversation_id)
            .bind(last_line_id)
            .bind(now_ms)
            .execute(&self.pool)
            .await?;
            Ok(())
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
                    assigned_to: agent_from(&r),
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
            let mut media: HashMap<i64, Vec<LineMedia>> = Default::default();
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
                // Like the reply modes, the handler's to add (`conversations::transcript`).
                notes: Vec::new(),
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

        async fn line_status(
            &self,
            message_id: i64,
        ) -> StoreResult<Option<(String, Option<String>)>> {
            Ok(
                sqlx::query("SELECT status, error FROM messages WHERE id = $1")
                    .bind(message_id)
                    .fetch_optional(&self.pool)
                    .await?
                    .map(|r| (r.get("status"), r.get("error"))),
            )
        }

        async fn export(
            &self,
            account_id: i64,
            since_ms: i64,
        ) -> StoreResult<Vec<ExportConversation>> {
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
                    channel: parse_channel(r.get("channel"))?,
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
                    messages,
                    survey_score: r.get("survey_score"),
                });
            }
            Ok(out)
        }
    }
}
