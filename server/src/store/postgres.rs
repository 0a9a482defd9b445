//! PostgreSQL: the storage of several `socialconnect serve` instances sharing one database.
//!
//! The same tables as the embedded database (migrations of the same numbers under
//! `migrations/postgres`). What differs is concurrency: no process-wide writer lock, so
//! work that must be done once — an outbox row, a media copy, a profile look-up — is claimed
//! with `FOR UPDATE SKIP LOCKED` and a lease in the row, and a webhook batch that collides
//! with another instance's (a deadlock, or the same event delivered to both) is retried.

use super::*;
use anyhow::Context;
use async_trait::async_trait;
use shared::inbound::{Change, InboundMessage};
use shared::{Channel, Tag};
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use std::str::FromStr;
use std::time::Duration;

pub struct PgStore {
    pub(super) pool: PgPool,
    /// How long a claimed outbox row stays with the instance that claimed it: longer than
    /// any one send takes, so a live sender is never overtaken; an instance that died
    /// holds its rows no longer than this.
    pub(super) outbox_lease_ms: i64,
}

/// What `PgStore::write_lock` holds: nothing.
pub(super) struct NoWriteLock;

pub(crate) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Times a webhook batch is tried when it collides with another instance's transaction.
const INGEST_TRIES: usize = 5;

impl PgStore {
    /// Connects without touching the schema (see [`super::migrate`] and [`super::check_schema`]).
    pub async fn connect(url: &str, outbox_lease: Duration) -> anyhow::Result<Self> {
        let options = PgConnectOptions::from_str(url)
            .context("SOCIALCONNECT_DATABASE_URL is not a valid PostgreSQL URL")?;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .context("connecting to PostgreSQL")?;
        Ok(PgStore {
            pool,
            outbox_lease_ms: outbox_lease.as_millis() as i64,
        })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// PostgreSQL has no single writer to wait for: its rows are locked by the statements
    /// that change them (the counterpart of `SqliteStore::write_lock`).
    pub(super) async fn write_lock(&self) -> NoWriteLock {
        NoWriteLock
    }
}

#[async_trait]
impl Ingest for PgStore {
    async fn ingest(
        &self,
        linked: &LinkedAccount,
        messages: &[InboundMessage],
        now_ms: i64,
    ) -> StoreResult<IngestReport> {
        // Two instances may hold the same event (a redelivery reaching the other one) or
        // lock the same consumer's rows in opposite orders: the loser of such a collision
        // is rolled back whole and tried again, and then finds the winner's rows.
        let mut tries = 0;
        loop {
            tries += 1;
            let mut tx = self.pool.begin().await?;
            let outcome = match ingest_in(&mut tx, linked, messages, now_ms).await {
                Ok(report) => tx.commit().await.map(|()| report).map_err(Retry::from),
                Err(e) => Err(e),
            };
            match outcome {
                Ok(report) => return Ok(report),
                Err(Retry::Collided(e)) if tries < INGEST_TRIES => {
                    tracing::debug!(error = %e, tries, "webhook batch collided; trying again");
                }
                Err(Retry::Collided(e)) => return Err(StoreError::from(e)),
                Err(Retry::Failed(e)) => return Err(e),
            }
        }
    }
}

/// Why a webhook batch's transaction ended without storing it.
enum Retry {
    /// Another instance's transaction got in the way: the whole batch may be tried again.
    Collided(sqlx::Error),
    Failed(StoreError),
}

impl From<sqlx::Error> for Retry {
    fn from(e: sqlx::Error) -> Self {
        // deadlock_detected, serialization_failure, unique_violation (the same event
        // inserted by two instances at once).
        let collided = matches!(&e, sqlx::Error::Database(db)
            if matches!(db.code().as_deref(), Some("40P01" | "40001" | "23505")));
        if collided {
            Retry::Collided(e)
        } else {
            Retry::Failed(e.into())
        }
    }
}

/// Stores one batch of a linked account's inbound messages on `tx`.
async fn ingest_in(
    tx: &mut sqlx::PgConnection,
    linked: &LinkedAccount,
    messages: &[InboundMessage],
    now_ms: i64,
) -> Result<IngestReport, Retry> {
    let mut report = IngestReport::default();
    for m in messages {
        let found: Option<(i64, i64)> = sqlx::query_as(
            "SELECT id, conversation_id FROM messages
                 WHERE linked_account_id = $1 AND network_id = $2",
        )
        .bind(linked.id)
        .bind(&m.network_id)
        .fetch_optional(&mut *tx)
        .await?;
        if let (Change::Edited | Change::Removed, Some((_, conversation))) = (m.change, found)
            && !report.conversations.contains(&conversation)
        {
            report.conversations.push(conversation);
        }
        let existing = found.map(|(id, _)| id);
        match (m.change, existing) {
            (Change::Edited, Some(id)) => {
                sqlx::query("UPDATE messages SET text = $1, edited = TRUE WHERE id = $2")
                    .bind(&m.text)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                report.updated += 1;
                continue;
            }
            (Change::Removed, Some(id)) => {
                sqlx::query("UPDATE messages SET removed = TRUE WHERE id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                report.updated += 1;
                continue;
            }
            (Change::Removed, None) => continue,
            (_, Some(_)) => {
                report.duplicates += 1;
                continue;
            }
            (_, None) => {}
        }

        let conversation: Option<i64> =
            if m.from_brand {
                // Our own line (an echo, the page's comment, the brand's post or DM): it
                // belongs to the conversation of the consumer it answers.
                let by_consumer: Option<i64> = if m.consumer.network_id.is_empty() {
                    None
                } else {
                    sqlx::query_scalar(
                        "SELECT c.id FROM conversations c JOIN consumers k ON k.id = c.consumer_id
                         WHERE c.linked_account_id = $1 AND (k.network_id = $2 OR k.psid = $2)",
                    )
                    .bind(linked.id)
                    .bind(&m.consumer.network_id)
                    .fetch_optional(&mut *tx)
                    .await?
                };
                match (by_consumer, &m.reply_to) {
                    (Some(c), _) => Some(c),
                    (None, Some(parent)) => {
                        sqlx::query_scalar(
                            "SELECT conversation_id FROM messages
                             WHERE linked_account_id = $1 AND network_id = $2",
                        )
                        .bind(linked.id)
                        .bind(parent)
                        .fetch_optional(&mut *tx)
                        .await?
                    }
                    (None, None) => None,
                }
            } else {
                // Messenger names people by their page-scoped id, which may belong to a
                // consumer first met in the feed under another id.
                let psid = (linked.channel == Channel::Facebook && m.tag == Tag::Private)
                    .then_some(m.consumer.network_id.as_str());
                let by_psid: Option<i64> =
                    match psid {
                        Some(psid) => sqlx::query_scalar(
                            "SELECT id FROM consumers WHERE linked_account_id = $1 AND psid = $2",
                        )
                        .bind(linked.id)
                        .bind(psid)
                        .fetch_optional(&mut *tx)
                        .await?,
                        None => None,
                    };
                let consumer_id: i64 = match by_psid {
                    Some(id) => id,
                    None => sqlx::query_scalar(
                        "INSERT INTO consumers (linked_account_id, network_id, handle, name, psid)
                             VALUES ($1, $2, $3, $4, $5)
                             ON CONFLICT (linked_account_id, network_id) DO UPDATE SET
                                 handle = coalesce(excluded.handle, consumers.handle),
                                 name = coalesce(excluded.name, consumers.name),
                                 psid = coalesce(consumers.psid, excluded.psid)
                             RETURNING id",
                    )
                    .bind(linked.id)
                    .bind(&m.consumer.network_id)
                    .bind(&m.consumer.handle)
                    .bind(&m.consumer.name)
                    .bind(psid)
                    .fetch_one(&mut *tx)
                    .await?,
                };
                Some(
                    sqlx::query_scalar(
                        "INSERT INTO conversations (linked_account_id, consumer_id, skill_id,
                             status, created_at, last_message_at)
                         VALUES ($1, $2, $3, 'open', $4, $5)
                         ON CONFLICT (linked_account_id, consumer_id) DO UPDATE SET
                             status = 'open',
                             last_message_at = greatest(conversations.last_message_at,
                                                        excluded.last_message_at)
                         RETURNING id",
                    )
                    .bind(linked.id)
                    .bind(consumer_id)
                    .bind(linked.skill_id)
                    .bind(now_ms)
                    .bind(m.created_at_ms)
                    .fetch_one(&mut *tx)
                    .await?,
                )
            };
        if m.from_brand
            && let Some(conversation) = conversation
        {
            // Our own reply coming back (an echo, or the network announcing our post)
            // before the sender recorded its id: it is that line, not a new one.
            let pending: Option<i64> = sqlx::query_scalar(
                "SELECT id FROM messages WHERE conversation_id = $1 AND direction = 'out'
                       AND network_id IS NULL AND status IN ('sending', 'failed') AND text = $2
                     ORDER BY id LIMIT 1",
            )
            .bind(conversation)
            .bind(&m.text)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(id) = pending {
                sqlx::query(
                    "UPDATE messages SET network_id = $1, status = 'sent', error = NULL
                         WHERE id = $2",
                )
                .bind(&m.network_id)
                .bind(id)
                .execute(&mut *tx)
                .await?;
                sqlx::query("DELETE FROM outbox WHERE message_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                report.duplicates += 1;
                continue;
            }
        }
        let Some(conversation) = conversation else {
            report.unmatched += 1;
            tracing::info!(network_id = %m.network_id, "brand line answering nothing we know; not stored");
            continue;
        };
        let (direction, author, status) = if m.from_brand {
            ("out", "agent", "sent")
        } else {
            ("in", "consumer", "received")
        };
        let message_id: i64 = sqlx::query_scalar(
            "INSERT INTO messages (conversation_id, linked_account_id, network_id, tag,
                     direction, author, text, reply_to, status, edited, created_at, received_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
        )
        .bind(conversation)
        .bind(linked.id)
        .bind(&m.network_id)
        .bind(m.tag.as_str())
        .bind(direction)
        .bind(author)
        .bind(&m.text)
        .bind(&m.reply_to)
        .bind(status)
        .bind(m.change == Change::Edited)
        .bind(m.created_at_ms)
        .bind(now_ms)
        .fetch_one(&mut *tx)
        .await?;
        for media in &m.media {
            sqlx::query(
                "INSERT INTO media (message_id, kind, mime, source_url, poster_url, status, error)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(message_id)
            .bind(media.kind.as_str())
            .bind(&media.mime)
            .bind(&media.url)
            .bind(&media.poster_url)
            .bind(if media.url.is_some() {
                "pending"
            } else {
                "failed"
            })
            .bind(media.url.is_none().then_some("no address to fetch it from"))
            .execute(&mut *tx)
            .await?;
        }
        for link in &m.links {
            sqlx::query("INSERT INTO message_links (message_id, title, url) VALUES ($1, $2, $3)")
                .bind(message_id)
                .bind(&link.title)
                .bind(&link.url)
                .execute(&mut *tx)
                .await?;
        }
        report.stored += 1;
        if !report.conversations.contains(&conversation) {
            report.conversations.push(conversation);
        }
    }
    Ok(report)
}
