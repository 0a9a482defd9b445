//! Replies waiting to go out, claimed by one instance at a time.

use super::rows::{mode_str, parse_mode, parse_word};
use super::{LinkedAccount, PgStore, SqliteStore, StoreResult, for_both_engines};
use async_trait::async_trait;
use shared::{ReplyMode, Tag};
use sqlx::Row as _;
use std::time::Duration;

/// A reply to store: sending (with its outbox row) or already failed.
#[derive(Debug, Clone)]
pub struct NewReply<'a> {
    pub conversation_id: i64,
    pub linked_account_id: i64,
    pub tag: Tag,
    pub text: &'a str,
    pub mode: ReplyMode,
    /// The network id of the line answered, and that line's tag.
    pub in_reply_to: Option<(&'a str, Tag)>,
    /// `agent` or `bot`.
    pub author: &'a str,
    pub sent_by: Option<i64>,
    pub now_ms: i64,
    /// `Some(reason)`: not sent at all (over the limit, say): stored as failed, no outbox row.
    pub refused: Option<String>,
    /// The image or GIF that goes with the text.
    pub upload: Option<&'a Upload>,
}

/// An image or GIF an agent stored to send with replies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    pub id: i64,
    pub account_id: i64,
    /// `image/jpeg`, `image/png`, `image/gif` or `image/webp`, from the magic bytes.
    pub mime: String,
    pub bytes: i64,
    /// Relative to the data dir.
    pub path: String,
}

impl Upload {
    pub fn is_gif(&self) -> bool {
        self.mime == "image/gif"
    }
}

/// An outbox row ready to send.
#[derive(Debug, Clone)]
pub struct OutboxItem {
    pub message_id: i64,
    pub conversation_id: i64,
    pub mode: ReplyMode,
    pub in_reply_to: Option<String>,
    /// The tag of the line answered when the reply was written (a visitor post and a
    /// comment take different Private Response recipients).
    pub in_reply_to_tag: Option<Tag>,
    pub attempts: i64,
    pub text: String,
    pub author: String,
    pub linked: LinkedAccount,
    pub consumer_network_id: String,
    pub last_private_at_ms: Option<i64>,
    /// The image or GIF to send with the text.
    pub upload: Option<Upload>,
    /// The network's id for the image, when it went as a message of its own already.
    pub media_sent_id: Option<String>,
}

/// What [`Outbox::mark_sent`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkedSent {
    /// The line is sent; the row was still this instance's.
    Sent,
    /// The line is sent, though another instance had taken the row over (or it was gone):
    /// this instance's answer came after its lease.
    SentLate,
    /// The line was sent already (by the instance that took it over, or the network's
    /// echo): nothing changed.
    AlreadySent,
}

/// How long an instance keeps an outbox row it claimed before another may take it over,
/// unless the settings say otherwise (`--outbox-lease-secs`).
pub const OUTBOX_LEASE: Duration = Duration::from_secs(120);

/// Replies out: uploads, the outbox and its claims.
#[async_trait]
pub trait Outbox: Send + Sync {
    /// Records a stored upload file; returns its id.
    async fn create_upload(
        &self,
        account_id: i64,
        mime: &str,
        bytes: i64,
        path: &str,
        now_ms: i64,
    ) -> StoreResult<i64>;
    async fn upload(&self, id: i64) -> StoreResult<Option<Upload>>;
    /// Stores a reply line, and its outbox row unless it was refused; returns the line id.
    async fn enqueue_reply(&self, reply: NewReply<'_>) -> StoreResult<i64>;
    /// The earliest outbox row due at `now_ms` whose conversation has no earlier row
    /// waiting (replies in one conversation go out in the order they were written),
    /// claimed by `owner` (this instance's [`InstanceId`](crate::claims::InstanceId)):
    /// from now on only `owner`'s `extend_claim`, `set_media_sent`, `reschedule` and
    /// `mark_failed` change the row, until another instance claims it (after the lease).
    async fn next_due(&self, owner: &str, now_ms: i64) -> StoreResult<Option<OutboxItem>>;
    /// How long a claim by `next_due` lasts, where instances share the outbox (`None`:
    /// this instance alone sends, and a claim lasts until the row is worked off).
    fn outbox_lease(&self) -> Option<Duration> {
        None
    }
    /// Keeps `owner`'s claim on a reply it is still sending for another lease from
    /// `now_ms`, so that no other instance takes it over and sends it again. `false`: the
    /// row is no longer `owner`'s (taken over, or worked off).
    async fn extend_claim(&self, owner: &str, message_id: i64, now_ms: i64) -> StoreResult<bool>;
    /// The image part of a two-message reply went out as `network_id`; `false` (nothing
    /// recorded) when the row is no longer `owner`'s.
    async fn set_media_sent(
        &self,
        owner: &str,
        message_id: i64,
        network_id: &str,
    ) -> StoreResult<bool>;
    /// The network took the reply: the line is `sent` with the network's id and its outbox
    /// row goes.
    ///
    /// Unlike the other results, a sent reply is recorded even when `owner` no longer
    /// holds the row: the network has accepted it, so it is a fact, not an attempt.
    /// Dropping it would leave the row to be sent again (a second copy) when the instance
    /// that took it over reschedules it, or let that instance's failure (say, "already
    /// replied to") mark a line `failed` that the consumer has received. So the line is
    /// recorded sent and the row removed whoever holds it; the taker's own result then
    /// finds no row and changes nothing. Only a line already `sent` (by the instance
    /// that took over, or by the network's echo) is left as it is, keeping its first
    /// network id. No rule can take back a copy the taker sent while this instance
    /// stalled: the lease, extended while a send runs, is what keeps that rare.
    async fn mark_sent(
        &self,
        owner: &str,
        message_id: i64,
        network_id: &str,
    ) -> StoreResult<MarkedSent>;
    /// It will not go: the line is `failed` with the reason and the row goes; `false`
    /// (nothing changed) when the row is no longer `owner`'s.
    async fn mark_failed(&self, owner: &str, message_id: i64, error: &str) -> StoreResult<bool>;
    /// Replies waiting to go: how many, and how long (ms) the oldest has waited by `now_ms`.
    async fn outbox_backlog(&self, now_ms: i64) -> StoreResult<(i64, i64)>;
    /// Try again at `next_at_ms` (the claim is released); `false` (nothing changed) when
    /// the row is no longer `owner`'s.
    async fn reschedule(
        &self,
        owner: &str,
        message_id: i64,
        attempts: i64,
        next_at_ms: i64,
        error: &str,
    ) -> StoreResult<bool>;
}

/// The earliest outbox row due at `$1` whose conversation has no earlier row waiting.
const FIRST_DUE: &str = "SELECT o.message_id FROM outbox o
     WHERE o.next_attempt_at <= $1
       AND NOT EXISTS (SELECT 1 FROM outbox e
                       WHERE e.conversation_id = o.conversation_id
                         AND e.message_id < o.message_id)
     ORDER BY o.next_attempt_at, o.message_id LIMIT 1";

impl SqliteStore {
    /// One instance sends from the embedded database: a claim lasts until the row is
    /// worked off.
    fn claim_lease(&self) -> Option<Duration> {
        None
    }
}

impl PgStore {
    /// Instances sharing PostgreSQL hold a claim for the lease they were started with.
    fn claim_lease(&self) -> Option<Duration> {
        Some(Duration::from_millis(self.outbox_lease_ms as u64))
    }
}

for_both_engines! {
    type Conn = <<Row as sqlx::Row>::Database as sqlx::Database>::Connection;

    impl Engine {
        /// Stores a reply line (and its outbox row unless refused) in the caller's
        /// transaction: [`Outbox::enqueue_reply`], and the features that store a reply
        /// together with what it answers (the LiveEngage connector's webhooks).
        pub(in crate::store) async fn insert_reply(tx: &mut Conn, r: &NewReply<'_>) -> StoreResult<i64> {
            let (status, error) = match &r.refused {
                Some(reason) => ("failed", Some(reason.as_str())),
                None => ("sending", None),
            };
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO messages (conversation_id, linked_account_id, network_id, tag,
                     direction, author, text, reply_to, status, error, created_at, received_at,
                     sent_by)
                 VALUES ($1, $2, NULL, $3, 'out', $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
            )
            .bind(r.conversation_id)
            .bind(r.linked_account_id)
            .bind(r.tag.as_str())
            .bind(r.author)
            .bind(r.text)
            .bind(r.in_reply_to.map(|(id, _)| id))
            .bind(status)
            .bind(error)
            .bind(r.now_ms)
            .bind(r.now_ms)
            .bind(r.sent_by)
            .fetch_one(&mut *tx)
            .await?;
            if let Some(u) = r.upload {
                // The line shows (and exports) what went with it; the file stays ours.
                sqlx::query(
                    "INSERT INTO media (message_id, kind, mime, bytes, stored_path, status)
                     VALUES ($1, $2, $3, $4, $5, 'stored')",
                )
                .bind(id)
                .bind(if u.is_gif() { "gif" } else { "image" })
                .bind(&u.mime)
                .bind(u.bytes)
                .bind(&u.path)
                .execute(&mut *tx)
                .await?;
            }
            if r.refused.is_none() {
                sqlx::query(
                    "INSERT INTO outbox (message_id, conversation_id, mode, in_reply_to,
                         in_reply_to_tag, next_attempt_at, created_at, upload_id)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(id)
                .bind(r.conversation_id)
                .bind(mode_str(r.mode))
                .bind(r.in_reply_to.map(|(id, _)| id))
                .bind(r.in_reply_to.map(|(_, tag)| tag.as_str()))
                .bind(r.now_ms)
                .bind(r.now_ms)
                .bind(r.upload.map(|u| u.id))
                .execute(&mut *tx)
                .await?;
            }
            let latest = if PG {
                "UPDATE conversations SET last_message_at = greatest(last_message_at, $1)
                 WHERE id = $2"
            } else {
                "UPDATE conversations SET last_message_at = max(last_message_at, $1) WHERE id = $2"
            };
            sqlx::query(latest)
                .bind(r.now_ms)
                .bind(r.conversation_id)
                .execute(&mut *tx)
                .await?;
            Ok(id)
        }
    }

    #[async_trait]
    impl Outbox for Engine {
        async fn create_upload(
            &self,
            account_id: i64,
            mime: &str,
            bytes: i64,
            path: &str,
            now_ms: i64,
        ) -> StoreResult<i64> {
            let _writing = self.write_lock().await;
            Ok(sqlx::query_scalar(
                "INSERT INTO uploads (account_id, mime, bytes, path, created_at)
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
            )
            .bind(account_id)
            .bind(mime)
            .bind(bytes)
            .bind(path)
            .bind(now_ms)
            .fetch_one(&self.pool)
            .await?)
        }

        async fn upload(&self, id: i64) -> StoreResult<Option<Upload>> {
            let row =
                sqlx::query("SELECT id, account_id, mime, bytes, path FROM uploads WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
            Ok(row.map(|r| Upload {
                id: r.get("id"),
                account_id: r.get("account_id"),
                mime: r.get("mime"),
                bytes: r.get("bytes"),
                path: r.get("path"),
            }))
        }

        async fn enqueue_reply(&self, r: NewReply<'_>) -> StoreResult<i64> {
            let _writing = self.write_lock().await;
            let mut tx = self.pool.begin().await?;
            let id = Engine::insert_reply(&mut tx, &r).await?;
            tx.commit().await?;
            Ok(id)
        }

        async fn next_due(&self, owner: &str, now_ms: i64) -> StoreResult<Option<OutboxItem>> {
            let lease_until = self.claim_lease().map(|l| now_ms.saturating_add(l.as_millis() as i64));
            let claim = if PG {
                // Claimed by moving it past a lease, in one statement: the row another
                // instance is claiming is skipped, and a conversation whose earlier reply is
                // claimed (leased) has nothing due, so its replies still go one after the
                // other, in order.
                format!(
                    "UPDATE outbox SET next_attempt_at = $3, claimed_by = $2
                     WHERE message_id = ({FIRST_DUE} FOR UPDATE SKIP LOCKED)
                     RETURNING message_id"
                )
            } else {
                // One instance sends from this database: the claim only names the owner, so
                // a result is recorded only by the sender that is working the row.
                format!(
                    "UPDATE outbox SET claimed_by = $2 WHERE message_id = ({FIRST_DUE})
                     RETURNING message_id"
                )
            };
            let claimed: Option<i64> = sqlx::query_scalar(&claim)
                .bind(now_ms)
                .bind(owner)
                .bind(lease_until)
                .fetch_optional(&self.pool)
                .await?;
            let Some(claimed) = claimed else {
                return Ok(None);
            };
            let Some(row) = sqlx::query(
                "SELECT o.message_id, o.conversation_id, o.mode, o.in_reply_to, o.in_reply_to_tag,
                        o.attempts, o.upload_id, o.media_sent_id, m.text, m.author, l.channel,
                        l.network_id AS brand_id, coalesce(k.psid, k.network_id) AS consumer
                 FROM outbox o
                 JOIN messages m ON m.id = o.message_id
                 JOIN conversations c ON c.id = o.conversation_id
                 JOIN linked_accounts l ON l.id = c.linked_account_id
                 JOIN consumers k ON k.id = c.consumer_id
                 WHERE o.message_id = $1",
            )
            .bind(claimed)
            .fetch_optional(&self.pool)
            .await?
            else {
                return Ok(None);
            };
            let linked = self.linked_of(&row).await?;
            let conversation_id: i64 = row.get("conversation_id");
            let last_private_at_ms: Option<i64> = self.last_private_at(conversation_id).await?;
            Ok(Some(OutboxItem {
                message_id: row.get("message_id"),
                conversation_id,
                mode: parse_mode(row.get("mode"))?,
                in_reply_to: row.get("in_reply_to"),
                in_reply_to_tag: row
                    .get::<Option<&str>, _>("in_reply_to_tag")
                    .map(parse_word)
                    .transpose()?,
                attempts: row.get("attempts"),
                text: row.get("text"),
                author: row.get("author"),
                linked,
                consumer_network_id: row.get("consumer"),
                last_private_at_ms,
                upload: match row.get::<Option<i64>, _>("upload_id") {
                    Some(u) => self.upload(u).await?,
                    None => None,
                },
                media_sent_id: row.get("media_sent_id"),
            }))
        }

        fn outbox_lease(&self) -> Option<Duration> {
            self.claim_lease()
        }

        async fn extend_claim(&self, owner: &str, message_id: i64, now_ms: i64) -> StoreResult<bool> {
            let lease_until = self.claim_lease().map(|l| now_ms.saturating_add(l.as_millis() as i64));
            let extend = if PG {
                "UPDATE outbox SET next_attempt_at = $3 WHERE message_id = $1 AND claimed_by = $2
                 RETURNING message_id"
            } else {
                // No lease to move (one instance), only whether the row is still `owner`'s.
                "SELECT message_id FROM outbox WHERE message_id = $1 AND claimed_by = $2"
            };
            Ok(sqlx::query_scalar::<_, i64>(extend)
                .bind(message_id)
                .bind(owner)
                .bind(lease_until)
                .fetch_optional(&self.pool)
                .await?
                .is_some())
        }

        async fn set_media_sent(
            &self,
            owner: &str,
            message_id: i64,
            network_id: &str,
        ) -> StoreResult<bool> {
            let _writing = self.write_lock().await;
            let done = sqlx::query(
                "UPDATE outbox SET media_sent_id = $1 WHERE message_id = $2 AND claimed_by = $3",
            )
            .bind(network_id)
            .bind(message_id)
            .bind(owner)
            .execute(&self.pool)
            .await?;
            Ok(done.rows_affected() == 1)
        }

        async fn mark_sent(
            &self,
            owner: &str,
            message_id: i64,
            network_id: &str,
        ) -> StoreResult<MarkedSent> {
            let _writing = self.write_lock().await;
            let mut tx = self.pool.begin().await?;
            // PostgreSQL locks the line first, so a late owner and the instance that took the
            // reply over settle it one after the other: the second finds it sent. SQLite reads
            // through another connection: under the writer lock nothing changes between these
            // reads and the transaction, which begins with its first write (one that read
            // first could not write after another connection's write).
            let lock = if PG { " FOR UPDATE" } else { "" };
            let mut other;
            let reader: &mut Conn = if PG {
                &mut tx
            } else {
                other = self.pool.acquire().await?;
                &mut other
            };
            let status: Option<String> =
                sqlx::query_scalar(&format!("SELECT status FROM messages WHERE id = $1{lock}"))
                    .bind(message_id)
                    .fetch_optional(&mut *reader)
                    .await?;
            if status.is_none_or(|s| s == "sent") {
                return Ok(MarkedSent::AlreadySent);
            }
            let held: Option<Option<String>> = sqlx::query_scalar(&format!(
                "SELECT claimed_by FROM outbox WHERE message_id = $1{lock}"
            ))
            .bind(message_id)
            .fetch_optional(&mut *reader)
            .await?;
            // The echo of this reply may have arrived first and been stored as a line of its
            // own (a private response's echo lands in the Messenger conversation): that copy
            // gives way to this line.
            // So may the echo of its image, sent as a message of its own.
            sqlx::query(
                "DELETE FROM messages WHERE id != $2 AND direction = 'out' AND sent_by IS NULL
                   AND (network_id = $1 OR network_id =
                        (SELECT media_sent_id FROM outbox WHERE message_id = $2))
                   AND linked_account_id = (SELECT linked_account_id FROM messages WHERE id = $2)",
            )
            .bind(network_id)
            .bind(message_id)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE messages SET status = 'sent', error = NULL,
                     network_id = CASE WHEN EXISTS (
                         SELECT 1 FROM messages o
                         WHERE o.linked_account_id = messages.linked_account_id
                           AND o.network_id = $1 AND o.id != messages.id)
                       THEN network_id ELSE $1 END
                 WHERE id = $2",
            )
            .bind(network_id)
            .bind(message_id)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM outbox WHERE message_id = $1")
                .bind(message_id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(if held.flatten().as_deref() == Some(owner) {
                MarkedSent::Sent
            } else {
                MarkedSent::SentLate
            })
        }

        async fn outbox_backlog(&self, now_ms: i64) -> StoreResult<(i64, i64)> {
            let (depth, oldest): (i64, Option<i64>) =
                sqlx::query_as("SELECT count(*), min(created_at) FROM outbox")
                    .fetch_one(&self.pool)
                    .await?;
            Ok((depth, oldest.map_or(0, |at| (now_ms - at).max(0))))
        }

        async fn mark_failed(&self, owner: &str, message_id: i64, error: &str) -> StoreResult<bool> {
            let _writing = self.write_lock().await;
            let mut tx = self.pool.begin().await?;
            let gone = sqlx::query("DELETE FROM outbox WHERE message_id = $1 AND claimed_by = $2")
                .bind(message_id)
                .bind(owner)
                .execute(&mut *tx)
                .await?;
            if gone.rows_affected() == 0 {
                return Ok(false);
            }
            sqlx::query("UPDATE messages SET status = 'failed', error = $1 WHERE id = $2")
                .bind(error)
                .bind(message_id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(true)
        }

        async fn reschedule(
            &self,
            owner: &str,
            message_id: i64,
            attempts: i64,
            next_at_ms: i64,
            error: &str,
        ) -> StoreResult<bool> {
            let done = sqlx::query(
                "UPDATE outbox SET attempts = $1, next_attempt_at = $2, last_error = $3,
                     claimed_by = NULL
                 WHERE message_id = $4 AND claimed_by = $5",
            )
            .bind(attempts)
            .bind(next_at_ms)
            .bind(error)
            .bind(message_id)
            .bind(owner)
            .execute(&self.pool)
            .await?;
            Ok(done.rows_affected() == 1)
        }
    }
}
