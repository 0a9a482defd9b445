//! PostgreSQL: the storage of several `socialconnect serve` instances sharing one database.
//!
//! The same tables as the embedded database (migrations of the same numbers under
//! `migrations/postgres`). What differs is concurrency: no process-wide writer lock, so
//! work that must be done once — an outbox row, a media copy, a profile look-up — is claimed
//! with `FOR UPDATE SKIP LOCKED` and a lease in the row. Webhooks are group-committed as on
//! the embedded database (the webhooks waiting for an instance's writer share one
//! transaction, a savepoint each), and a webhook that collides with another instance's
//! transaction (a deadlock, or the same event delivered to both) is rolled back to its
//! savepoint and retried.

use super::ingest::{IngestFor, IngestJob, Ingested, linked_report};
use super::*;
use anyhow::Context;
use async_trait::async_trait;
use shared::inbound::{Change, InboundMessage};
use shared::{Channel, Tag};
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tracing::Instrument;

pub struct PgStore {
    pub(super) pool: PgPool,
    /// How long a claimed outbox row stays with the instance that claimed it: longer than
    /// any one send takes, so a live sender is never overtaken; an instance that died
    /// holds its rows no longer than this.
    pub(super) outbox_lease_ms: i64,
    /// Webhook batches waiting for this instance's ingest writer (see `ingest_group`).
    pending: std::sync::Mutex<Vec<IngestJob>>,
    /// At most [`WRITERS`] ingest groups built at a time per instance: the webhooks that
    /// arrive meanwhile wait and go together in the next group's transaction.
    writer: Arc<tokio::sync::Semaphore>,
    ingest_commits: Arc<AtomicU64>,
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
            pending: std::sync::Mutex::new(Vec::new()),
            writer: Arc::new(tokio::sync::Semaphore::new(WRITERS)),
            ingest_commits: Arc::default(),
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
        linked_report(
            self.ingest_group(IngestFor::Linked(linked.clone()), messages, now_ms)
                .await?,
        )
    }

    async fn ingest_for(
        &self,
        channel: Channel,
        brand_id: &str,
        messages: &[InboundMessage],
        now_ms: i64,
    ) -> StoreResult<Option<(LinkedAccount, IngestReport)>> {
        // The linked account is read in the group's transaction: no round trip of its own.
        let target = IngestFor::Named {
            channel,
            brand_id: brand_id.to_owned(),
        };
        self.ingest_group(target, messages, now_ms).await
    }
}

impl IngestJob {
    /// The order a group stores its jobs in, the same on every instance: two instances'
    /// groups then lock the same consumers' rows in the same order, rather than each
    /// waiting for the other until the deadlock detector (a second) rolls one back.
    fn lock_order(&self) -> (&str, &str) {
        let brand = match &self.target {
            IngestFor::Linked(linked) => linked.network_id.as_str(),
            IngestFor::Named { brand_id, .. } => brand_id.as_str(),
        };
        let consumer = self
            .messages
            .first()
            .map_or("", |m| m.consumer.network_id.as_str());
        (brand, consumer)
    }
}

impl PgStore {
    /// How many group transactions ingest committed on this instance (each stores one or
    /// more webhooks): fewer than the webhooks when deliveries arrive together.
    pub fn ingest_commits(&self) -> u64 {
        self.ingest_commits.load(Ordering::Relaxed)
    }

    /// Group commit, as on the embedded database: every webhook waiting for this
    /// instance's writer is stored in one transaction (one commit, one WAL flush), each in
    /// its own savepoint, so that one bad batch, or one that collided with another
    /// instance's, is rolled back alone.
    async fn ingest_group(
        &self,
        target: IngestFor,
        messages: &[InboundMessage],
        now_ms: i64,
    ) -> StoreResult<Ingested> {
        let (done, mut result) = tokio::sync::oneshot::channel();
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(IngestJob {
                target,
                messages: messages.to_vec(),
                now_ms,
                done,
            });
        loop {
            tokio::select! {
                // A webhook another group took along is answered as soon as that group
                // is done, without queueing for the writer.
                biased;
                answer = &mut result => {
                    // A panic drops the jobs' senders: they answer "interrupted".
                    return answer.unwrap_or_else(|_| {
                        Err(StoreError::Unavailable("ingest was interrupted".into()))
                    });
                }
                writing = self.writer.clone().acquire_owned() => {
                    let Ok(writing) = writing else {
                        return Err(StoreError::Unavailable("ingest is closed".into()));
                    };
                    let jobs = {
                        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
                        let n = pending.len().min(MAX_GROUP);
                        pending.drain(..n).collect::<Vec<_>>()
                    };
                    if jobs.is_empty() {
                        // This one was in the group just done; its answer is there.
                        continue;
                    }
                    let (pool, commits) = (self.pool.clone(), self.ingest_commits.clone());
                    // The group runs to its end and answers every job even if this request
                    // is dropped meanwhile: the task, not this future, holds the writer.
                    let group = tokio::spawn(
                        async move {
                            run_group(&pool, &commits, jobs, writing).await;
                        }
                        .instrument(tracing::Span::current()),
                    );
                    let _ = group.await;
                }
            }
        }
    }
}

/// Ingest groups one instance builds at once: one, as on the embedded database, so that
/// what arrives meanwhile waits and goes in the next group. A group lets go of it once its
/// statements are done, so the next group runs while its COMMIT waits for the WAL flush.
const WRITERS: usize = 1;

/// At most this many webhooks share a transaction. Each savepoint that wrote is a
/// subtransaction, and past 64 of them in one transaction PostgreSQL's snapshots of every
/// session overflow to a slower path (the `pg_subtrans` look-ups).
const MAX_GROUP: usize = 48;

/// Stores a group's jobs and answers each once its outcome is durable (or failed). When
/// the group's COMMIT itself fails (a deferred check, a lost connection), each job is tried
/// again in a transaction of its own, so that whatever failed the commit fails alone.
/// `writing` (this instance's writer) is let go once the group's statements are done: the
/// next group runs while this one's COMMIT waits for the WAL flush.
async fn run_group(
    pool: &PgPool,
    commits: &AtomicU64,
    mut jobs: Vec<IngestJob>,
    writing: tokio::sync::OwnedSemaphorePermit,
) {
    jobs.sort_by(|a, b| a.lock_order().cmp(&b.lock_order()));
    metrics::histogram!("socialconnect_ingest_group_webhooks", "engine" => "postgres")
        .record(jobs.len() as f64);
    let outcomes = match store_group(pool, &jobs, Some(writing)).await {
        Ok(outcomes) => {
            commits.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("socialconnect_ingest_commits_total", "engine" => "postgres")
                .increment(1);
            outcomes
        }
        Err(e) if jobs.len() == 1 => vec![Err(e)],
        Err(e) => {
            tracing::warn!(error = %e, n = jobs.len(), "ingest group failed; storing its webhooks one by one");
            let mut outcomes = Vec::with_capacity(jobs.len());
            for job in &jobs {
                let alone = store_group(pool, std::slice::from_ref(job), None).await;
                if alone.is_ok() {
                    commits.fetch_add(1, Ordering::Relaxed);
                    metrics::counter!("socialconnect_ingest_commits_total", "engine" => "postgres")
                        .increment(1);
                }
                outcomes.push(alone.and_then(|mut o| {
                    o.pop()
                        .unwrap_or_else(|| Err(StoreError::Unavailable("not stored".into())))
                }));
            }
            outcomes
        }
    };
    for (job, outcome) in jobs.into_iter().zip(outcomes) {
        let _ = job.done.send(outcome);
    }
}

/// A pooled connection in the middle of a group's transaction: unless the transaction
/// ended cleanly, it is closed when dropped (which rolls back) rather than returned to
/// the pool still inside it.
struct GroupConn {
    conn: Option<sqlx::pool::PoolConnection<sqlx::Postgres>>,
}

impl GroupConn {
    fn get(&mut self) -> &mut sqlx::PgConnection {
        self.conn.as_mut().expect("open until dropped")
    }

    /// The transaction ended (committed or rolled back): back to the pool.
    fn clean(mut self) {
        drop(self.conn.take());
    }
}

impl Drop for GroupConn {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            drop(conn.detach());
        }
    }
}

/// One group's transaction: each job's outcome once the COMMIT succeeded, or why the
/// transaction failed as a whole (then no job of it is stored).
fn store_group<'a>(
    pool: &'a PgPool,
    jobs: &'a [IngestJob],
    writing: Option<tokio::sync::OwnedSemaphorePermit>,
) -> futures_util::future::BoxFuture<'a, StoreResult<Vec<StoreResult<Ingested>>>> {
    // Boxed, so that the spawned group's future is known to be `Send` (the statements'
    // borrows of the connection otherwise trip up that proof).
    Box::pin(store_group_in(pool, jobs, writing))
}

async fn store_group_in(
    pool: &PgPool,
    jobs: &[IngestJob],
    writing: Option<tokio::sync::OwnedSemaphorePermit>,
) -> StoreResult<Vec<StoreResult<Ingested>>> {
    let mut conn = GroupConn {
        conn: Some(pool.acquire().await?),
    };
    let mut named: HashMap<(Channel, String), Option<LinkedAccount>> = HashMap::new();
    if let [job] = jobs
        && let [m] = job.messages.as_slice()
        && plain(m)
    {
        // A webhook alone with one plain line (the common case below full load): its one
        // statement is a transaction of its own, committed and synced as it returns. Alone
        // means no other webhook was waiting: the writer is let go at once, so that one
        // arriving during this commit's WAL flush need not wait for it (as it would for
        // a one-row commit without grouping); under load, webhooks arrive while a group's
        // statements run, find the writer taken, and group.
        drop(writing);
        let mut tries = 0;
        let outcome = loop {
            tries += 1;
            match ingest_job(conn.get(), job, &mut named).await {
                Ok(stored) => break Ok(stored),
                Err(Retry::Collided(e)) if tries < INGEST_TRIES => {
                    tracing::debug!(error = %e, tries, "webhook collided; trying again");
                }
                Err(Retry::Collided(e)) => break Err(StoreError::from(e)),
                Err(Retry::Failed(e)) => break Err(e),
            }
        };
        conn.clean();
        return Ok(vec![outcome]);
    }
    // Simple-protocol statements: two in one round trip.
    simple(conn.get(), "BEGIN; SAVEPOINT job").await?;
    let mut outcomes = Vec::with_capacity(jobs.len());
    for (i, job) in jobs.iter().enumerate() {
        if i > 0 {
            simple(conn.get(), "RELEASE job; SAVEPOINT job").await?;
        }
        let mut tries = 0;
        let outcome = loop {
            tries += 1;
            match ingest_job(conn.get(), job, &mut named).await {
                Ok(stored) => break Ok(stored),
                Err(failed) => {
                    // Back to before this job: the others' rows stay.
                    simple(conn.get(), "ROLLBACK TO job").await?;
                    match failed {
                        // Another instance's transaction got in the way (the same event
                        // stored there, a deadlock): tried again, it finds the winner's rows.
                        Retry::Collided(e) if tries < INGEST_TRIES => {
                            tracing::debug!(error = %e, tries, "webhook batch collided; trying again");
                        }
                        Retry::Collided(e) => break Err(StoreError::from(e)),
                        Retry::Failed(e) => break Err(e),
                    }
                }
            }
        };
        outcomes.push(outcome);
    }
    drop(writing);
    simple(conn.get(), "COMMIT").await?;
    conn.clean();
    Ok(outcomes)
}

/// Statements of the group's own (BEGIN, SAVEPOINT, ...) through the simple protocol,
/// which takes several in one round trip.
async fn simple(conn: &mut sqlx::PgConnection, sql: &'static str) -> Result<(), sqlx::Error> {
    use sqlx::Executor;
    conn.execute(sql).await.map(drop)
}

/// Stores one job's messages inside the group's transaction.
fn ingest_job<'a>(
    tx: &'a mut sqlx::PgConnection,
    job: &'a IngestJob,
    named: &'a mut HashMap<(Channel, String), Option<LinkedAccount>>,
) -> futures_util::future::BoxFuture<'a, Result<Ingested, Retry>> {
    Box::pin(ingest_job_in(tx, job, named))
}

async fn ingest_job_in(
    tx: &mut sqlx::PgConnection,
    job: &IngestJob,
    named: &mut HashMap<(Channel, String), Option<LinkedAccount>>,
) -> Result<Ingested, Retry> {
    let linked = match &job.target {
        IngestFor::Linked(linked) => linked.clone(),
        IngestFor::Named { channel, brand_id } => {
            let key = (*channel, brand_id.clone());
            let linked = match named.get(&key) {
                Some(known) => known.clone(),
                None => {
                    let row = sqlx::query(
                        "SELECT * FROM linked_accounts WHERE channel = $1 AND network_id = $2",
                    )
                    .bind(channel.as_str())
                    .bind(brand_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                    let linked = row
                        .as_ref()
                        .map(linked_from)
                        .transpose()
                        .map_err(Retry::Failed)?;
                    named.insert(key, linked.clone());
                    linked
                }
            };
            match linked {
                Some(linked) if linked.status != LinkStatus::Unlinked => linked,
                _ => return Ok(None),
            }
        }
    };
    let report = ingest_in(tx, &linked, &job.messages, job.now_ms).await?;
    Ok(Some((linked, report)))
}

/// A `linked_accounts` row (`SELECT *`) read on the group's connection.
fn linked_from(r: &sqlx::postgres::PgRow) -> StoreResult<LinkedAccount> {
    use sqlx::Row;
    Ok(LinkedAccount {
        id: r.try_get("id")?,
        account_id: r.try_get("account_id")?,
        channel: super::rows::parse_channel(r.try_get("channel")?)?,
        network_id: r.try_get("network_id")?,
        name: r.try_get("name")?,
        skill_id: r.try_get("skill_id")?,
        status: LinkStatus::parse(r.try_get("status")?)?,
        token_sealed: r.try_get("token_sealed")?,
        token_secret_sealed: r.try_get("token_secret_sealed")?,
        sending_restricted_at: r.try_get("sending_restricted_at")?,
    })
}

/// Why a job's statements ended without storing it.
enum Retry {
    /// Another instance's transaction got in the way: the job may be tried again.
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

/// A consumer's new line without media or links: stored by one statement, [`NEW_LINE`].
fn plain(m: &InboundMessage) -> bool {
    m.change == Change::New && !m.from_brand && m.media.is_empty() && m.links.is_empty()
}

/// A consumer's new line without media or links, as the general path below stores it:
/// nothing when its id is stored already; else the consumer found by page-scoped id or
/// inserted (or updated) by network id, their conversation (re)opened, the line stored.
/// Parameters: linked account, message id, consumer id, handle, name, page-scoped id
/// (or NULL), skill, now, created at, tag, text, reply-to. Answers (duplicate,
/// conversation stored into).
const NEW_LINE: &str = "
WITH found AS (
    SELECT id FROM messages WHERE linked_account_id = $1 AND network_id = $2
), by_psid AS (
    SELECT id FROM consumers
    WHERE linked_account_id = $1 AND psid = $6 AND NOT EXISTS (SELECT 1 FROM found)
), new_consumer AS (
    INSERT INTO consumers (linked_account_id, network_id, handle, name, psid)
    SELECT $1, $3, $4, $5, $6
    WHERE NOT EXISTS (SELECT 1 FROM found) AND NOT EXISTS (SELECT 1 FROM by_psid)
    ON CONFLICT (linked_account_id, network_id) DO UPDATE SET
        handle = coalesce(excluded.handle, consumers.handle),
        name = coalesce(excluded.name, consumers.name),
        psid = coalesce(consumers.psid, excluded.psid)
    RETURNING id
), consumer AS (
    SELECT id FROM by_psid UNION ALL SELECT id FROM new_consumer
), conversation AS (
    INSERT INTO conversations (linked_account_id, consumer_id, skill_id, status, created_at,
                               last_message_at)
    SELECT $1, id, $7, 'open', $8, $9 FROM consumer
    ON CONFLICT (linked_account_id, consumer_id) DO UPDATE SET
        status = 'open',
        last_message_at = greatest(conversations.last_message_at, excluded.last_message_at)
    RETURNING id
), line AS (
    INSERT INTO messages (conversation_id, linked_account_id, network_id, tag, direction,
                          author, text, reply_to, status, edited, created_at, received_at)
    SELECT id, $1, $2, $10, 'in', 'consumer', $11, $12, 'received', FALSE, $9, $8
    FROM conversation
    RETURNING conversation_id
)
SELECT EXISTS (SELECT 1 FROM found), (SELECT conversation_id FROM line)";

/// Stores one batch of a linked account's inbound messages on `tx`.
async fn ingest_in(
    tx: &mut sqlx::PgConnection,
    linked: &LinkedAccount,
    messages: &[InboundMessage],
    now_ms: i64,
) -> Result<IngestReport, Retry> {
    let mut report = IngestReport::default();
    for m in messages {
        if plain(m) {
            // Most of what webhooks bring: a consumer's new plain line, in one statement
            // (one round trip) instead of five.
            let psid = (linked.channel == Channel::Facebook && m.tag == Tag::Private)
                .then_some(m.consumer.network_id.as_str());
            let (duplicate, conversation): (bool, Option<i64>) = sqlx::query_as(NEW_LINE)
                .bind(linked.id)
                .bind(&m.network_id)
                .bind(&m.consumer.network_id)
                .bind(&m.consumer.handle)
                .bind(&m.consumer.name)
                .bind(psid)
                .bind(linked.skill_id)
                .bind(now_ms)
                .bind(m.created_at_ms)
                .bind(m.tag.as_str())
                .bind(&m.text)
                .bind(&m.reply_to)
                .fetch_one(&mut *tx)
                .await?;
            match (duplicate, conversation) {
                (true, _) => report.duplicates += 1,
                (false, Some(conversation)) => {
                    report.stored += 1;
                    if !report.conversations.contains(&conversation) {
                        report.conversations.push(conversation);
                    }
                }
                (false, None) => {
                    return Err(Retry::Failed(StoreError::corrupt(
                        "a new line was neither found nor stored",
                    )));
                }
            }
            continue;
        }
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
