//! The embedded database: SQLite in WAL mode under the data dir.

use super::ingest::{IngestFor, IngestJob, Ingested, linked_report};
use super::*;
use anyhow::Context;
use async_trait::async_trait;
use shared::inbound::{Change, InboundMessage};
use shared::{Channel, Tag};
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// How long a statement waits for another connection's lock before failing as busy.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

pub struct SqliteStore {
    pub(super) pool: SqlitePool,
    /// Webhook batches waiting for the writer (see `ingest`).
    pending: std::sync::Mutex<Vec<IngestJob>>,
    /// SQLite has one writer. Multi-statement write transactions take this first, so two
    /// of them never both read and then fail to upgrade to writing (SQLITE_BUSY, which
    /// the busy timeout cannot resolve). Shared so that an ingest group's blocking task
    /// holds it to the group's end.
    writer: Arc<tokio::sync::Mutex<()>>,
    /// The connection webhooks are stored through (see `IngestWriter`).
    ingest: Arc<std::sync::Mutex<IngestWriter>>,
}

pub(crate) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

impl SqliteStore {
    pub async fn open(data_dir: &Path) -> anyhow::Result<Self> {
        let pool = SqliteStore::open_pool(data_dir).await?;
        super::migrate_pool(&pool, &MIGRATOR).await?;
        let path = data_dir.join("socialconnect.db");
        let ingest =
            tokio::task::spawn_blocking(move || IngestWriter::open(path, BUSY_TIMEOUT)).await??;
        Ok(SqliteStore {
            pool,
            pending: std::sync::Mutex::new(Vec::new()),
            writer: Arc::new(tokio::sync::Mutex::new(())),
            ingest: Arc::new(std::sync::Mutex::new(ingest)),
        })
    }

    async fn open_pool(data_dir: &Path) -> anyhow::Result<SqlitePool> {
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("creating the data dir {}", data_dir.display()))?;
        let path = data_dir.join("socialconnect.db");
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // Durable before the 200: FULL syncs the WAL on every commit.
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            // SQLite rolls a transaction back by itself on a full disk or an I/O error; the
            // driver's own count of open transactions then stays up (its ROLLBACK fails),
            // and its next BEGIN would be a mere SAVEPOINT whose "commit" stores nothing. A
            // connection coming back still counting a transaction is closed, not reused.
            .after_release(|conn, _| {
                let clean = !sqlx::Connection::is_in_transaction(conn);
                Box::pin(async move { Ok(clean) })
            })
            .connect_with(options)
            .await
            .with_context(|| format!("opening {}", path.display()))?;
        Ok(pool)
    }

    /// Held through a multi-statement write (see `writer`).
    pub(super) async fn write_lock(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.writer.lock().await
    }

    /// Applies pending migrations; says where the schema stands.
    pub async fn migrate(data_dir: &Path) -> anyhow::Result<super::SchemaReport> {
        let pool = SqliteStore::open_pool(data_dir).await?;
        let report = super::migrate_pool(&pool, &MIGRATOR).await;
        pool.close().await;
        report
    }
}

#[async_trait]
impl Ingest for SqliteStore {
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
        // The linked account is read in the group's transaction: no round trip of its own
        // through the pool, and no unlinking between the read and the write.
        let target = IngestFor::Named {
            channel,
            brand_id: brand_id.to_owned(),
        };
        self.ingest_group(target, messages, now_ms).await
    }
}

impl SqliteStore {
    /// Group commit: every webhook waiting for the writer is stored in one transaction
    /// (one fsync), each in its own savepoint so one bad batch fails alone.
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
                // is done: it does not queue for the writer only to lead the next group
                // and answer after that one too.
                biased;
                answer = &mut result => {
                    // A panic drops the jobs' senders: they answer "interrupted".
                    return answer.unwrap_or_else(|_| {
                        Err(StoreError::Unavailable("ingest was interrupted".into()))
                    });
                }
                writing = self.writer.clone().lock_owned() => {
                    let jobs =
                        std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()));
                    if jobs.is_empty() {
                        // This one was in the group just done; its answer is there.
                        continue;
                    }
                    let ingest = self.ingest.clone();
                    let span = tracing::Span::current();
                    // The group runs to its end and answers every job even if this request
                    // is dropped meanwhile: the blocking task, not this future, holds the
                    // writer.
                    let group = tokio::task::spawn_blocking(move || {
                        let _writing = writing;
                        let _span = span.enter();
                        ingest.lock().unwrap_or_else(|e| e.into_inner()).run(jobs);
                    });
                    let _ = group.await;
                }
            }
        }
    }
}

/// The connection webhooks are stored through: rusqlite on a blocking thread, so each of a
/// webhook's statements is a function call, not a hop to a driver's worker thread and back
/// (what sqlx-sqlite costs per statement). The rest of the store stays on the sqlx pool;
/// both open the same file, and the `writer` lock keeps their writers apart.
struct IngestWriter {
    path: PathBuf,
    busy_timeout: Duration,
    /// `None` once a connection had to be given up (see `settle`); the next group opens
    /// another.
    conn: Option<rusqlite::Connection>,
}

impl IngestWriter {
    fn open(path: PathBuf, busy_timeout: Duration) -> anyhow::Result<Self> {
        let conn = Self::connect(&path, busy_timeout)?;
        Ok(IngestWriter {
            path,
            busy_timeout,
            conn: Some(conn),
        })
    }

    /// The pool's settings: WAL, durable before the 200, foreign keys enforced.
    fn connect(path: &Path, busy_timeout: Duration) -> anyhow::Result<rusqlite::Connection> {
        use rusqlite::OpenFlags;
        let conn = rusqlite::Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .with_context(|| format!("opening {} for ingest", path.display()))?;
        conn.busy_timeout(busy_timeout)?;
        // WAL is a property of the file the pool already set; asked for again so that a
        // file that somehow is not in WAL fails here rather than ingesting otherwise.
        let mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
        anyhow::ensure!(
            mode.eq_ignore_ascii_case("wal"),
            "{} stays in journal mode {mode}",
            path.display()
        );
        conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")?;
        // Every statement of `ingest_in` and the group's own stay prepared.
        conn.set_prepared_statement_cache_capacity(32);
        Ok(conn)
    }

    /// Stores the jobs in one transaction, a savepoint each, and answers every job once
    /// the transaction is durable (or failed).
    fn run(&mut self, jobs: Vec<IngestJob>) {
        // A group that panicked may have left its transaction open.
        self.settle();
        metrics::histogram!("socialconnect_ingest_group_webhooks", "engine" => "sqlite")
            .record(jobs.len() as f64);
        let committed = match self.connection() {
            Ok(conn) => store_group(conn, &jobs),
            Err(why) => Err(why),
        };
        if committed.is_ok() {
            metrics::counter!("socialconnect_ingest_commits_total", "engine" => "sqlite")
                .increment(1);
        }
        // Whatever failed, the next group starts outside any transaction.
        self.settle();
        let mut outcomes = match committed {
            Ok(outcomes) => Ok(outcomes.into_iter()),
            Err(why) => Err(why),
        };
        for job in jobs {
            let answer = match &mut outcomes {
                Ok(outcomes) => outcomes
                    .next()
                    .unwrap_or_else(|| Err(StoreError::Unavailable("not stored".into()))),
                Err(why) => Err(StoreError::Unavailable(why.clone())),
            };
            let _ = job.done.send(answer);
        }
    }

    fn connection(&mut self) -> Result<&rusqlite::Connection, String> {
        let conn = match self.conn.take() {
            Some(conn) => conn,
            None => Self::connect(&self.path, self.busy_timeout)
                .map_err(|e| format!("reopening the ingest connection: {e:#}"))?,
        };
        Ok(self.conn.insert(conn))
    }

    /// Leaves the connection outside any transaction: a failed group's is rolled back, and
    /// a connection that cannot even do that is closed (which rolls back too).
    fn settle(&mut self) {
        let Some(conn) = &self.conn else { return };
        if conn.is_autocommit() {
            return;
        }
        match conn.execute_batch("ROLLBACK") {
            Ok(()) if conn.is_autocommit() => {}
            outcome => {
                tracing::warn!(
                    ?outcome,
                    "ingest: the transaction would not roll back; reopening the connection"
                );
                self.conn = None;
            }
        }
    }
}

/// One group's transaction: each job's outcome once the COMMIT succeeded, or why the
/// transaction failed (or is in doubt) as a whole, and then no job is stored.
fn store_group(
    conn: &rusqlite::Connection,
    jobs: &[IngestJob],
) -> Result<Vec<StoreResult<Ingested>>, String> {
    exec(conn, "BEGIN IMMEDIATE")?;
    let mut outcomes = Vec::with_capacity(jobs.len());
    for job in jobs {
        // SQLite ends the transaction by itself on some failures (SQLITE_FULL,
        // SQLITE_IOERR, ...): a SAVEPOINT now would open a new one, and its RELEASE commit
        // the rest of the group without the jobs before.
        if conn.is_autocommit() {
            return Err("the transaction was rolled back".into());
        }
        exec(conn, "SAVEPOINT job")?;
        match ingest_job(conn, job) {
            Ok(report) => {
                exec(conn, "RELEASE job")?;
                outcomes.push(Ok(report));
            }
            // A full disk, an I/O error or a lock fails every job alike.
            Err(StoreError::Unavailable(why)) => return Err(why),
            Err(e) => {
                // SQLite may have rolled the whole transaction back on the failed
                // statement: the savepoint is gone then, and the jobs before this one with
                // it.
                exec(conn, "ROLLBACK TO job")?;
                exec(conn, "RELEASE job")?;
                outcomes.push(Err(e));
            }
        }
    }
    if conn.is_autocommit() {
        return Err("the transaction was rolled back".into());
    }
    exec(conn, "COMMIT")?;
    Ok(outcomes)
}

/// A statement of the group's own (BEGIN, SAVEPOINT, ...); its failure fails the group.
fn exec(conn: &rusqlite::Connection, sql: &str) -> Result<(), String> {
    conn.prepare_cached(sql)
        .and_then(|mut statement| statement.execute([]))
        .map(drop)
        .map_err(|e| StoreError::from(e).to_string())
}

/// Stores one job's messages inside the group's transaction.
fn ingest_job(tx: &rusqlite::Connection, job: &IngestJob) -> StoreResult<Ingested> {
    let linked = match &job.target {
        IngestFor::Linked(linked) => linked.clone(),
        IngestFor::Named { channel, brand_id } => match linked_in(tx, *channel, brand_id)? {
            Some(linked) if linked.status != LinkStatus::Unlinked => linked,
            _ => return Ok(None),
        },
    };
    let report = ingest_in(tx, &linked, &job.messages, job.now_ms)?;
    Ok(Some((linked, report)))
}

/// `linked_account` on the ingest connection.
fn linked_in(
    tx: &rusqlite::Connection,
    channel: Channel,
    network_id: &str,
) -> StoreResult<Option<LinkedAccount>> {
    use rusqlite::OptionalExtension;
    let row = tx
        .prepare_cached("SELECT * FROM linked_accounts WHERE channel = ? AND network_id = ?")?
        .query_row(rusqlite::params![channel.as_str(), network_id], |r| {
            Ok((
                LinkedAccount {
                    id: r.get("id")?,
                    account_id: r.get("account_id")?,
                    channel,
                    network_id: r.get("network_id")?,
                    name: r.get("name")?,
                    skill_id: r.get("skill_id")?,
                    // Parsed below, where a bad word is an `StoreError`.
                    status: LinkStatus::Linked,
                    token_sealed: r.get("token_sealed")?,
                    token_secret_sealed: r.get("token_secret_sealed")?,
                    sending_restricted_at: r.get("sending_restricted_at")?,
                },
                r.get::<_, String>("status")?,
            ))
        })
        .optional()?;
    row.map(|(linked, status)| {
        Ok(LinkedAccount {
            status: LinkStatus::parse(&status)?,
            ..linked
        })
    })
    .transpose()
}

/// Stores one batch of a linked account's inbound messages inside the group's transaction.
fn ingest_in(
    tx: &rusqlite::Connection,
    linked: &LinkedAccount,
    messages: &[InboundMessage],
    now_ms: i64,
) -> StoreResult<IngestReport> {
    use rusqlite::{OptionalExtension, params};
    let mut report = IngestReport::default();
    for m in messages {
        let found: Option<(i64, i64)> = tx
            .prepare_cached(
                "SELECT id, conversation_id FROM messages
                 WHERE linked_account_id = ? AND network_id = ?",
            )?
            .query_row(params![linked.id, m.network_id], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        if let (Change::Edited | Change::Removed, Some((_, conversation))) = (m.change, found)
            && !report.conversations.contains(&conversation)
        {
            report.conversations.push(conversation);
        }
        let existing = found.map(|(id, _)| id);
        match (m.change, existing) {
            (Change::Edited, Some(id)) => {
                tx.prepare_cached("UPDATE messages SET text = ?, edited = 1 WHERE id = ?")?
                    .execute(params![m.text, id])?;
                report.updated += 1;
                continue;
            }
            (Change::Removed, Some(id)) => {
                tx.prepare_cached("UPDATE messages SET removed = 1 WHERE id = ?")?
                    .execute(params![id])?;
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

        let conversation: Option<i64> = if m.from_brand {
            // Our own line (an echo, the page's comment, the brand's post or DM): it
            // belongs to the conversation of the consumer it answers.
            let by_consumer: Option<i64> = if m.consumer.network_id.is_empty() {
                None
            } else {
                tx.prepare_cached(
                    "SELECT c.id FROM conversations c JOIN consumers k ON k.id = c.consumer_id
                         WHERE c.linked_account_id = ?1 AND (k.network_id = ?2 OR k.psid = ?2)",
                )?
                .query_row(params![linked.id, m.consumer.network_id], |r| r.get(0))
                .optional()?
            };
            match (by_consumer, &m.reply_to) {
                (Some(c), _) => Some(c),
                (None, Some(parent)) => tx
                    .prepare_cached(
                        "SELECT conversation_id FROM messages
                             WHERE linked_account_id = ? AND network_id = ?",
                    )?
                    .query_row(params![linked.id, parent], |r| r.get(0))
                    .optional()?,
                (None, None) => None,
            }
        } else {
            // Messenger names people by their page-scoped id, which may belong to a
            // consumer first met in the feed under another id.
            let psid = (linked.channel == Channel::Facebook && m.tag == Tag::Private)
                .then_some(m.consumer.network_id.as_str());
            let by_psid: Option<i64> = match psid {
                Some(psid) => tx
                    .prepare_cached(
                        "SELECT id FROM consumers WHERE linked_account_id = ? AND psid = ?",
                    )?
                    .query_row(params![linked.id, psid], |r| r.get(0))
                    .optional()?,
                None => None,
            };
            let consumer_id: i64 = match by_psid {
                Some(id) => id,
                None => tx
                    .prepare_cached(
                        "INSERT INTO consumers (linked_account_id, network_id, handle, name, psid)
                             VALUES (?, ?, ?, ?, ?)
                             ON CONFLICT (linked_account_id, network_id) DO UPDATE SET
                                 handle = coalesce(excluded.handle, consumers.handle),
                                 name = coalesce(excluded.name, consumers.name),
                                 psid = coalesce(consumers.psid, excluded.psid)
                             RETURNING id",
                    )?
                    .query_row(
                        params![
                            linked.id,
                            m.consumer.network_id,
                            m.consumer.handle,
                            m.consumer.name,
                            psid
                        ],
                        |r| r.get(0),
                    )?,
            };
            Some(
                tx.prepare_cached(
                    "INSERT INTO conversations (linked_account_id, consumer_id, skill_id,
                             status, created_at, last_message_at)
                         VALUES (?, ?, ?, 'open', ?, ?)
                         ON CONFLICT (linked_account_id, consumer_id) DO UPDATE SET
                             status = 'open',
                             last_message_at = max(conversations.last_message_at,
                                                   excluded.last_message_at)
                         RETURNING id",
                )?
                .query_row(
                    params![
                        linked.id,
                        consumer_id,
                        linked.skill_id,
                        now_ms,
                        m.created_at_ms
                    ],
                    |r| r.get(0),
                )?,
            )
        };
        if m.from_brand
            && let Some(conversation) = conversation
        {
            // Our own reply coming back (an echo, or the network announcing our post)
            // before the sender recorded its id: it is that line, not a new one.
            let pending: Option<i64> = tx
                .prepare_cached(
                    "SELECT id FROM messages WHERE conversation_id = ? AND direction = 'out'
                       AND network_id IS NULL AND status IN ('sending', 'failed') AND text = ?
                     ORDER BY id LIMIT 1",
                )?
                .query_row(params![conversation, m.text], |r| r.get(0))
                .optional()?;
            if let Some(id) = pending {
                tx.prepare_cached(
                    "UPDATE messages SET network_id = ?, status = 'sent', error = NULL
                         WHERE id = ?",
                )?
                .execute(params![m.network_id, id])?;
                tx.prepare_cached("DELETE FROM outbox WHERE message_id = ?")?
                    .execute(params![id])?;
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
        let message_id: i64 = tx
            .prepare_cached(
                "INSERT INTO messages (conversation_id, linked_account_id, network_id, tag,
                     direction, author, text, reply_to, status, edited, created_at, received_at)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            )?
            .query_row(
                params![
                    conversation,
                    linked.id,
                    m.network_id,
                    m.tag.as_str(),
                    direction,
                    author,
                    m.text,
                    m.reply_to,
                    status,
                    m.change == Change::Edited,
                    m.created_at_ms,
                    now_ms
                ],
                |r| r.get(0),
            )?;
        for media in &m.media {
            tx.prepare_cached(
                "INSERT INTO media (message_id, kind, mime, source_url, poster_url, status, error)
                 VALUES (?, ?, ?, ?, ?, ?, ?)",
            )?
            .execute(params![
                message_id,
                media.kind.as_str(),
                media.mime,
                media.url,
                media.poster_url,
                if media.url.is_some() {
                    "pending"
                } else {
                    "failed"
                },
                media.url.is_none().then_some("no address to fetch it from")
            ])?;
        }
        for link in &m.links {
            tx.prepare_cached(
                "INSERT INTO message_links (message_id, title, url) VALUES (?, ?, ?)",
            )?
            .execute(params![message_id, link.title, link.url])?;
        }
        report.stored += 1;
        if !report.conversations.contains(&conversation) {
            report.conversations.push(conversation);
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).await.unwrap();
        (dir, store)
    }

    #[tokio::test]
    async fn migrations_apply_once_and_reopen_cleanly() {
        let (dir, store) = store().await;
        store.ensure_account("1000", "Acme", true).await.unwrap();
        drop(store);
        let again = SqliteStore::open(dir.path()).await.unwrap();
        let acct = again.account_by_number("1000").await.unwrap().unwrap();
        assert_eq!(acct.name, "Acme");
        assert!(acct.socialconnect_enabled);
    }

    // Ingest
    async fn linked_page(store: &SqliteStore) -> LinkedAccount {
        let account = store.ensure_account("3000", "Contoso", true).await.unwrap();
        store
            .link(NewLink {
                account_id: account.id,
                channel: Channel::Facebook,
                network_id: "page-1",
                name: "Contoso",
                token_sealed: vec![0],
                token_secret_sealed: None,
                skill_id: None,
                created_by: "test",
            })
            .await
            .unwrap()
    }

    fn line(id: &str, text: &str) -> InboundMessage {
        InboundMessage {
            channel: Channel::Facebook,
            brand_id: "page-1".into(),
            consumer: shared::inbound::ConsumerRef {
                network_id: "psid-ann".into(),
                handle: None,
                name: None,
            },
            network_id: id.into(),
            tag: Tag::Private,
            from_brand: false,
            text: text.into(),
            media: vec![],
            links: vec![],
            created_at_ms: 1_000,
            reply_to: None,
            change: Change::New,
        }
    }

    /// Runs one group as `ingest` would; each job's answer, in order.
    fn run_group(
        store: &SqliteStore,
        jobs: Vec<(LinkedAccount, InboundMessage)>,
    ) -> Vec<StoreResult<IngestReport>> {
        let (jobs, answers): (Vec<_>, Vec<_>) = jobs
            .into_iter()
            .map(|(linked, m)| {
                let (done, answer) = tokio::sync::oneshot::channel();
                let job = IngestJob {
                    target: IngestFor::Linked(linked),
                    messages: vec![m],
                    now_ms: 2_000,
                    done,
                };
                (job, answer)
            })
            .unzip();
        store.ingest.lock().unwrap().run(jobs);
        answers
            .into_iter()
            .map(|mut a| a.try_recv().unwrap().map(|stored| stored.unwrap().1))
            .collect()
    }

    /// `f` on the ingest writer's open connection.
    fn with_ingest_conn<T>(store: &SqliteStore, f: impl FnOnce(&rusqlite::Connection) -> T) -> T {
        f(store.ingest.lock().unwrap().conn.as_ref().unwrap())
    }

    async fn stored_ids(store: &SqliteStore, account_id: i64) -> Vec<String> {
        let mut ids: Vec<String> = store
            .export(account_id, i64::MIN)
            .await
            .unwrap()
            .into_iter()
            .flat_map(|c| c.messages)
            .filter_map(|m| m.network_id)
            .collect();
        ids.sort();
        ids
    }

    #[tokio::test]
    async fn a_bad_job_fails_alone_and_its_group_stores_the_others() {
        let (_dir, store) = store().await;
        let linked = linked_page(&store).await;
        // Unlinked and purged meanwhile: its rows break a foreign key.
        let gone = LinkedAccount {
            id: linked.id + 100,
            ..linked.clone()
        };
        let answers = run_group(
            &store,
            vec![
                (linked.clone(), line("m1", "one")),
                (gone, line("m2", "two")),
                (linked.clone(), line("m3", "three")),
            ],
        );
        assert_eq!(answers[0].as_ref().unwrap().stored, 1);
        assert!(
            matches!(answers[1], Err(StoreError::Other(_))),
            "{:?}",
            answers[1]
        );
        assert_eq!(answers[2].as_ref().unwrap().stored, 1);
        assert_eq!(stored_ids(&store, linked.account_id).await, ["m1", "m3"]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_webhook_another_group_took_along_is_answered_without_the_writer() {
        let (_dir, store) = store().await;
        let store = Arc::new(store);
        let linked = linked_page(&store).await;
        // A group is running: it holds the writer.
        let writing = store.writer.clone().lock_owned().await;
        let webhook = tokio::spawn({
            let (store, linked) = (store.clone(), linked.clone());
            async move { store.ingest(&linked, &[line("m1", "one")], 2_000).await }
        });
        while store.pending.lock().unwrap().is_empty() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        // The running group takes the waiting webhook along.
        let jobs = std::mem::take(&mut *store.pending.lock().unwrap());
        store.ingest.lock().unwrap().run(jobs);
        let report = tokio::time::timeout(Duration::from_secs(5), webhook)
            .await
            .expect("answered while the writer is still held")
            .unwrap()
            .unwrap();
        assert_eq!(report.stored, 1);
        drop(writing);
    }

    #[tokio::test]
    async fn a_group_sqlite_rolled_back_stores_nothing_and_the_next_group_is_stored() {
        let (_dir, store) = store().await;
        let linked = linked_page(&store).await;
        // SQLite ending the transaction by itself on a failed statement, as on a full
        // disk, but with an error that says nothing of the storage: the second job's
        // savepoint is gone, and the first job's line with it.
        with_ingest_conn(&store, |c| {
            c.execute_batch(
                "CREATE TEMP TRIGGER roll_back BEFORE INSERT ON main.messages
                 WHEN NEW.text = 'roll back' BEGIN SELECT RAISE(ROLLBACK, 'rolled back'); END;",
            )
        })
        .unwrap();
        let answers = run_group(
            &store,
            vec![
                (linked.clone(), line("m1", "one")),
                (linked.clone(), line("m2", "roll back")),
                (linked.clone(), line("m3", "three")),
            ],
        );
        assert!(
            answers
                .iter()
                .all(|a| matches!(a, Err(StoreError::Unavailable(_)))),
            "{answers:?}"
        );
        assert!(stored_ids(&store, linked.account_id).await.is_empty());
        assert!(with_ingest_conn(
            &store,
            rusqlite::Connection::is_autocommit
        ));

        let report = store
            .ingest(&linked, &[line("m1", "one"), line("m3", "three")], 3_000)
            .await
            .unwrap();
        assert_eq!(report.stored, 2);
        assert_eq!(stored_ids(&store, linked.account_id).await, ["m1", "m3"]);
    }

    #[tokio::test]
    async fn a_connection_left_in_a_transaction_is_rolled_back_before_the_next_group() {
        let (_dir, store) = store().await;
        let linked = linked_page(&store).await;
        {
            let writer = store.ingest.lock().unwrap();
            let conn = writer.conn.as_ref().unwrap();
            // A COMMIT that fails leaves its transaction open: here a deferred foreign key.
            conn.execute_batch(
                "BEGIN IMMEDIATE; PRAGMA defer_foreign_keys = ON;
                 INSERT INTO consumers (linked_account_id, network_id) VALUES (-1, 'stray');",
            )
            .unwrap();
            assert!(conn.execute_batch("COMMIT").is_err());
            assert!(!conn.is_autocommit());
        }
        let report = store
            .ingest(&linked, &[line("m1", "one")], 3_000)
            .await
            .unwrap();
        assert_eq!(report.stored, 1);
        let stray: i64 =
            sqlx::query_scalar("SELECT count(*) FROM consumers WHERE network_id = 'stray'")
                .fetch_one(&store.pool)
                .await
                .unwrap();
        assert_eq!(stray, 0);
    }

    #[tokio::test]
    async fn a_closed_ingest_connection_is_reopened_with_the_pools_settings() {
        let (_dir, store) = store().await;
        let linked = linked_page(&store).await;
        store.ingest.lock().unwrap().conn = None;
        let report = store
            .ingest(&linked, &[line("m1", "one")], 3_000)
            .await
            .unwrap();
        assert_eq!(report.stored, 1);
        let writer = store.ingest.lock().unwrap();
        let conn = writer.conn.as_ref().unwrap();
        let setting = |name: &str| -> String {
            conn.query_row(&format!("PRAGMA {name}"), [], |r| {
                r.get::<_, rusqlite::types::Value>(0)
            })
            .map(|v| format!("{v:?}"))
            .unwrap()
        };
        assert_eq!(setting("journal_mode"), r#"Text("wal")"#);
        // FULL is 2.
        assert_eq!(setting("synchronous"), "Integer(2)");
        assert_eq!(setting("foreign_keys"), "Integer(1)");
        assert_eq!(setting("busy_timeout"), "Integer(5000)");
    }
}
