//! Copies of consumers' media in our store.

use super::rows::parse_word;
use super::{LinkedAccount, StoreError, StoreResult, for_both_engines};
use async_trait::async_trait;
use shared::inbound::MediaKind;
use sqlx::Row as _;

/// An inbound media item whose copy is due (never tried, or due for another try): a
/// line's media, or a consumer's profile picture.
#[derive(Debug, Clone)]
pub struct MediaDue {
    pub id: i64,
    pub kind: MediaKind,
    pub source_url: String,
    pub poster_url: Option<String>,
    /// Tries so far, this one not counted.
    pub attempts: i64,
    /// The page or account the line came to (whose token fetches X's DM media).
    pub linked: LinkedAccount,
    /// The line's conversation, or the consumer's.
    pub conversation_id: i64,
}

/// A copy made: the original's checked type and size, and the files beside it (paths
/// relative to the data dir).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaCopy {
    pub mime: String,
    pub bytes: i64,
    pub stored_path: String,
    pub thumb_path: Option<String>,
    pub still_path: Option<String>,
    pub poster_path: Option<String>,
}

/// Where a media item's copy stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaStatus {
    Pending,
    Stored,
    /// The bytes were refused (wrong type, too large, a decompression bomb, unreadable), or
    /// the URL was (not a network's media host, not https, a private address): never asked.
    Rejected,
    /// The network would not give them (gone, or still failing after every retry).
    Failed,
}

impl MediaStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MediaStatus::Pending => "pending",
            MediaStatus::Stored => "stored",
            MediaStatus::Rejected => "rejected",
            MediaStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> StoreResult<Self> {
        [
            MediaStatus::Pending,
            MediaStatus::Stored,
            MediaStatus::Rejected,
            MediaStatus::Failed,
        ]
        .into_iter()
        .find(|m| m.as_str() == s)
        .ok_or_else(|| StoreError::corrupt(format!("unknown media status {s:?}")))
    }
}

/// A media item as serving it needs: whose it is and where its files are.
#[derive(Debug, Clone)]
pub struct MediaRecord {
    pub id: i64,
    pub account_id: i64,
    pub kind: MediaKind,
    pub mime: Option<String>,
    pub bytes: Option<i64>,
    pub status: MediaStatus,
    pub error: Option<String>,
    pub attempts: i64,
    /// A consumer's profile picture (copied again on each profile refresh), not a line's.
    pub of_consumer: bool,
    pub stored_path: Option<String>,
    pub thumb_path: Option<String>,
    pub still_path: Option<String>,
    pub poster_path: Option<String>,
}

/// Copies of inbound media and profile pictures.
#[async_trait]
pub trait Media: Send + Sync {
    /// Inbound media to copy, due at `now_ms`; each is leased until `lease_until_ms` so a
    /// crash mid-copy only delays it.
    async fn media_due(
        &self,
        now_ms: i64,
        lease_until_ms: i64,
        limit: i64,
    ) -> StoreResult<Vec<MediaDue>>;
    /// The copy is made: status `stored`.
    async fn media_stored(&self, id: i64, copy: &MediaCopy) -> StoreResult<()>;
    /// This try failed and another is due at `next_at_ms`.
    async fn media_retry(&self, id: i64, next_at_ms: i64, error: &str) -> StoreResult<()>;
    /// No copy will be made: `Rejected` or `Failed`, with the reason (and what was learned
    /// of the bytes, if anything).
    async fn media_refused(
        &self,
        id: i64,
        status: MediaStatus,
        reason: &str,
        mime: Option<&str>,
        bytes: Option<i64>,
    ) -> StoreResult<()>;
    async fn media_record(&self, id: i64) -> StoreResult<Option<MediaRecord>>;
    /// The consumer's profile picture is at `source_url` (the network's, which expires):
    /// their one picture item becomes due now. A copy made before stays served until the
    /// new one replaces it.
    async fn copy_picture(&self, consumer_id: i64, source_url: &str) -> StoreResult<()>;
}

/// The due items, oldest first, each with its conversation and its linked account's
/// `channel` and `brand_id` (for `linked_of`).
const MEDIA_DUE: &str = "SELECT d.id, d.kind, d.source_url, d.poster_url, d.attempts,
        c.id AS conversation_id, l.channel, l.network_id AS brand_id
    FROM media d
    LEFT JOIN messages m ON m.id = d.message_id
    LEFT JOIN consumers k ON k.id = d.consumer_id
    JOIN conversations c ON c.id = coalesce(m.conversation_id,
        (SELECT c2.id FROM conversations c2
          WHERE c2.linked_account_id = k.linked_account_id AND c2.consumer_id = k.id))
    JOIN linked_accounts l ON l.id = c.linked_account_id
    WHERE d.status = 'pending' AND d.source_url IS NOT NULL AND d.next_attempt_at <= $1
    ORDER BY d.next_attempt_at, d.id LIMIT $2";

for_both_engines! {
    #[async_trait]
    impl Media for Engine {
        async fn media_due(
            &self,
            now_ms: i64,
            lease_until_ms: i64,
            limit: i64,
        ) -> StoreResult<Vec<MediaDue>> {
            // Woken after every webhook: look without the writer (or any row lock) first,
            // so an idle fetcher never queues behind (or ahead of) ingest.
            let any: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM media WHERE status = 'pending'
                                  AND source_url IS NOT NULL AND next_attempt_at <= $1)",
            )
            .bind(now_ms)
            .fetch_one(&self.pool)
            .await?;
            if !any {
                return Ok(Vec::new());
            }
            let leased = {
                let _writing = self.write_lock().await;
                let mut tx = self.pool.begin().await?;
                // Instances sharing PostgreSQL each lease other items.
                let sql = if PG {
                    format!("{MEDIA_DUE} FOR UPDATE OF d SKIP LOCKED")
                } else {
                    MEDIA_DUE.to_owned()
                };
                let rows = sqlx::query(&sql)
                    .bind(now_ms)
                    .bind(limit)
                    .fetch_all(&mut *tx)
                    .await?;
                for r in &rows {
                    sqlx::query("UPDATE media SET next_attempt_at = $1 WHERE id = $2")
                        .bind(lease_until_ms)
                        .bind(r.get::<i64, _>("id"))
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                rows
            };
            let mut due = Vec::with_capacity(leased.len());
            for r in leased {
                due.push(MediaDue {
                    id: r.get("id"),
                    kind: parse_word(r.get("kind"))?,
                    source_url: r.get("source_url"),
                    poster_url: r.get("poster_url"),
                    attempts: r.get("attempts"),
                    linked: self.linked_of(&r).await?,
                    conversation_id: r.get("conversation_id"),
                });
            }
            Ok(due)
        }

        async fn media_stored(&self, id: i64, copy: &MediaCopy) -> StoreResult<()> {
            sqlx::query(
                "UPDATE media SET status = 'stored', error = NULL, attempts = attempts + 1,
                     mime = $1, bytes = $2, stored_path = $3, thumb_path = $4, still_path = $5,
                     poster_path = $6
                 WHERE id = $7",
            )
            .bind(&copy.mime)
            .bind(copy.bytes)
            .bind(&copy.stored_path)
            .bind(&copy.thumb_path)
            .bind(&copy.still_path)
            .bind(&copy.poster_path)
            .bind(id)
            .execute(&self.pool)
            .await?;
            Ok(())
        }

        async fn media_retry(&self, id: i64, next_at_ms: i64, error: &str) -> StoreResult<()> {
            sqlx::query(
                "UPDATE media SET attempts = attempts + 1, next_attempt_at = $1, error = $2
                 WHERE id = $3 AND status = 'pending'",
            )
            .bind(next_at_ms)
            .bind(error)
            .bind(id)
            .execute(&self.pool)
            .await?;
            Ok(())
        }

        async fn media_refused(
            &self,
            id: i64,
            status: MediaStatus,
            reason: &str,
            mime: Option<&str>,
            bytes: Option<i64>,
        ) -> StoreResult<()> {
            sqlx::query(
                "UPDATE media SET status = $1, error = $2, attempts = attempts + 1,
                     mime = coalesce($3, mime), bytes = coalesce($4, bytes)
                 WHERE id = $5",
            )
            .bind(status.as_str())
            .bind(reason)
            .bind(mime)
            .bind(bytes)
            .bind(id)
            .execute(&self.pool)
            .await?;
            Ok(())
        }

        async fn media_record(&self, id: i64) -> StoreResult<Option<MediaRecord>> {
            let Some(r) = sqlx::query(
                "SELECT d.id, d.kind, d.mime, d.bytes, d.status, d.error, d.attempts,
                        d.stored_path, d.thumb_path, d.still_path, d.poster_path, d.consumer_id,
                        l.account_id
                 FROM media d
                 LEFT JOIN messages m ON m.id = d.message_id
                 LEFT JOIN consumers k ON k.id = d.consumer_id
                 JOIN linked_accounts l
                   ON l.id = coalesce(m.linked_account_id, k.linked_account_id)
                 WHERE d.id = $1",
            )
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            else {
                return Ok(None);
            };
            Ok(Some(MediaRecord {
                id: r.get("id"),
                account_id: r.get("account_id"),
                kind: parse_word(r.get("kind"))?,
                mime: r.get("mime"),
                bytes: r.get("bytes"),
                status: MediaStatus::parse(r.get("status"))?,
                error: r.get("error"),
                attempts: r.get("attempts"),
                of_consumer: r.get::<Option<i64>, _>("consumer_id").is_some(),
                stored_path: r.get("stored_path"),
                thumb_path: r.get("thumb_path"),
                still_path: r.get("still_path"),
                poster_path: r.get("poster_path"),
            }))
        }

        async fn copy_picture(&self, consumer_id: i64, source_url: &str) -> StoreResult<()> {
            let _writing = self.write_lock().await;
            sqlx::query(
                "INSERT INTO media (consumer_id, kind, source_url) VALUES ($1, 'image', $2)
                 ON CONFLICT (consumer_id) DO UPDATE SET
                     source_url = excluded.source_url, status = 'pending', attempts = 0,
                     next_attempt_at = 0, error = NULL",
            )
            .bind(consumer_id)
            .bind(source_url)
            .execute(&self.pool)
            .await?;
            Ok(())
        }
    }
}
