//! Inbound benchmark (`cargo bench -p server --bench inbound`): signed Messenger webhooks
//! ingested end to end (verified, stored, deduplicated, routed) by a real server on
//! loopback, beside the same database's raw batched insert rate measured in the same run
//! through both SQLite drivers the server uses (sqlx for most of the store, rusqlite for the
//! ingest write path); and the time to the 200 at a fixed offered load, beside a bare axum
//! handler under the same load, and beside the least any durable handler can do there (the
//! body written into a file and synced before the 200). Each server runs in a runtime of
//! its own, as its own process would. This machine is shared and noisy, so the figures
//! that matter are the ratios.
//!
//! Then the same on PostgreSQL (`SOCIALCONNECT_TEST_DATABASE_URL`, default the local
//! server; a fresh database per run, dropped after): its raw batched insert rate, and
//! ingest through one instance and through two instances sharing the database (webhooks
//! alternating between them; both in this process, on this machine's cores).

#[allow(dead_code)]
#[path = "../tests/it/common/pg.rs"]
mod pg;

use hmac::{Hmac, Mac};
use server::store::NewLink;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SECRET: &str = "bench-secret";
const PAGE: &str = "777000777";
const EVENTS: usize = 4_000;
const CONCURRENCY: usize = 32;
const OFFERED_PER_SEC: u64 = 1_000;
const OFFERED_SECONDS: u64 = 3;

fn signed(i: usize) -> (String, String) {
    let body = serde_json::json!({"object":"page","entry":[{"id":PAGE,"time":1,"messaging":[{
        "sender":{"id":format!("{}", 70_000 + i % 200)},"recipient":{"id":PAGE},
        "timestamp":1_700_000_000_000i64 + i as i64,
        "message":{"mid":format!("m.{i}"),"text":format!("message number {i}")}}]}]})
    .to_string();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    let sig = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    (body, sig)
}

/// Links the bench page in the database the settings name.
async fn link_page(data: &std::path::Path, database_url: Option<&str>) {
    let store = server::store::open(database_url, data).await.unwrap();
    let account = store.ensure_account("1", "Bench", true).await.unwrap();
    let skill = store.ensure_skill(account.id, "social").await.unwrap();
    store
        .link(NewLink {
            account_id: account.id,
            channel: shared::Channel::Facebook,
            network_id: PAGE,
            name: "bench",
            token_sealed: vec![0],
            token_secret_sealed: None,
            skill_id: Some(skill),
            created_by: "bench",
        })
        .await
        .unwrap();
}

async fn start_server(
    data: &std::path::Path,
    database_url: Option<&str>,
) -> (String, tokio::sync::oneshot::Sender<()>) {
    let mut args = server::config::ServeArgs::for_tests(data.to_path_buf());
    args.store.database_url = database_url.map(str::to_owned);
    args.facebook.facebook_app_id = Some("bench".into());
    args.facebook.facebook_app_secret = Some(SECRET.into());
    let (tx, rx) = tokio::sync::oneshot::channel();
    let url = serve_apart(|listener| {
        server::run(args, listener, async {
            let _ = rx.await;
        })
    });
    let http = reqwest::Client::new();
    while http.get(format!("{url}/healthz")).send().await.is_err() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (url, tx)
}

fn bare_handler() -> String {
    let app = axum::Router::new().route(
        "/webhooks/facebook",
        axum::routing::post(|_body: axum::body::Bytes| async { "ok" }),
    );
    serve_apart(|listener| async move { axum::serve(listener, app).await })
}

/// The least any durable webhook handler does: the body written into a file whose blocks
/// are already allocated (so that no file system metadata changes) and the file synced
/// (`fdatasync`) on a blocking thread before the 200; nothing verified, parsed, indexed or
/// grouped. No handler that answers only once the webhook is on disk does less; its URL.
fn durable_handler(dir: &std::path::Path) -> String {
    use std::os::unix::fs::FileExt;
    const SIZE: u64 = 16 << 20;
    let file = std::fs::File::create(dir.join("durable-handler.log")).unwrap();
    file.write_all_at(&vec![0; SIZE as usize], 0).unwrap();
    file.sync_all().unwrap();
    let file = Arc::new(std::sync::Mutex::new((file, 0u64)));
    let app = axum::Router::new().route(
        "/webhooks/facebook",
        axum::routing::post(move |body: axum::body::Bytes| {
            let file = file.clone();
            async move {
                tokio::task::spawn_blocking(move || {
                    let mut file = file.lock().unwrap();
                    let (log, at) = &mut *file;
                    if *at + body.len() as u64 > SIZE {
                        *at = 0;
                    }
                    log.write_all_at(&body, *at).unwrap();
                    log.sync_data().unwrap();
                    *at += body.len() as u64;
                })
                .await
                .unwrap();
                "ok"
            }
        }),
    );
    serve_apart(|listener| async move { axum::serve(listener, app).await })
}

/// Runs a server on a loopback port in a runtime of its own, as its own process would
/// have (worker threads, timers and sockets), so that the load generator's tasks never
/// queue behind the server's on the same worker threads, nor its tasks behind the load
/// generator's; its URL.
fn serve_apart<F, S>(serve: S) -> String
where
    S: FnOnce(tokio::net::TcpListener) -> F + Send + 'static,
    F: std::future::Future + Send + 'static,
{
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            serve(tokio::net::TcpListener::from_std(listener).unwrap()).await;
        });
    });
    url
}

/// Sends every event with `CONCURRENCY` in flight, alternating between `urls`; returns
/// events per second.
async fn throughput(urls: &[String], events: &[(String, String)]) -> f64 {
    let http = reqwest::Client::new();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let events = Arc::new(events.to_vec());
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CONCURRENCY {
        let (http, next, events, urls) =
            (http.clone(), next.clone(), events.clone(), urls.to_vec());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some((body, sig)) = events.get(i) else {
                    break;
                };
                let url = &urls[i % urls.len()];
                let res = http
                    .post(format!("{url}/webhooks/facebook"))
                    .header("x-hub-signature-256", sig)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await
                    .unwrap();
                assert!(res.status().is_success(), "{}", res.status());
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    events.len() as f64 / start.elapsed().as_secs_f64()
}

/// Offers `OFFERED_PER_SEC` for `OFFERED_SECONDS` on an open-loop schedule; returns the
/// sorted times to the 200.
async fn latencies(url: &str, events: &[(String, String)]) -> Vec<Duration> {
    let http = reqwest::Client::new();
    let gap = Duration::from_micros(1_000_000 / OFFERED_PER_SEC);
    let n = (OFFERED_PER_SEC * OFFERED_SECONDS) as usize;
    let start = tokio::time::Instant::now();
    let mut tasks = Vec::with_capacity(n);
    for (i, (body, sig)) in events.iter().take(n).cloned().enumerate() {
        tokio::time::sleep_until(start + gap * i as u32).await;
        let (http, url) = (http.clone(), url.to_owned());
        tasks.push(tokio::spawn(async move {
            let sent = Instant::now();
            let res = http
                .post(format!("{url}/webhooks/facebook"))
                .header("x-hub-signature-256", sig)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            assert!(res.status().is_success());
            sent.elapsed()
        }));
    }
    let mut out = Vec::with_capacity(n);
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out.sort();
    out
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// The same engine and settings as the embedded database, rows shaped like messages,
/// inserted 500 to a transaction.
async fn raw_insert_rate(dir: &std::path::Path, rows: usize) -> f64 {
    let options = SqliteConnectOptions::new()
        .filename(dir.join("raw.db"))
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full);
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .unwrap();
    sqlx::query(
        "CREATE TABLE m (id INTEGER PRIMARY KEY, conversation_id INTEGER, network_id TEXT UNIQUE,
                         tag TEXT, text TEXT, created_at INTEGER)",
    )
    .execute(&pool)
    .await
    .unwrap();
    let start = Instant::now();
    for chunk in (0..rows).collect::<Vec<_>>().chunks(500) {
        let mut tx = pool.begin().await.unwrap();
        for i in chunk {
            sqlx::query("INSERT INTO m (conversation_id, network_id, tag, text, created_at) VALUES (?, ?, 'Private', ?, ?)")
                .bind((*i % 200) as i64)
                .bind(format!("m.{i}"))
                .bind(format!("message number {i}"))
                .bind(*i as i64)
                .execute(&mut *tx)
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
    }
    rows as f64 / start.elapsed().as_secs_f64()
}

/// A rusqlite connection with the embedded database's settings.
fn rusqlite_open(path: &std::path::Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    conn.execute_batch("PRAGMA synchronous = FULL;").unwrap();
    conn
}

/// The same rows through rusqlite, the ingest write path's driver: one prepared statement,
/// 500 rows to a transaction, the same settings.
fn rusqlite_raw_insert_rate(dir: &std::path::Path, rows: usize) -> f64 {
    let mut conn = rusqlite_open(&dir.join("raw-rusqlite.db"));
    conn.execute_batch(
        "CREATE TABLE m (id INTEGER PRIMARY KEY, conversation_id INTEGER, network_id TEXT UNIQUE,
                         tag TEXT, text TEXT, created_at INTEGER)",
    )
    .unwrap();
    let start = Instant::now();
    for chunk in (0..rows).collect::<Vec<_>>().chunks(500) {
        let tx = conn.transaction().unwrap();
        {
            let mut insert = tx
                .prepare_cached("INSERT INTO m (conversation_id, network_id, tag, text, created_at) VALUES (?, ?, 'Private', ?, ?)")
                .unwrap();
            for i in chunk {
                insert
                    .execute(rusqlite::params![
                        (*i % 200) as i64,
                        format!("m.{i}"),
                        format!("message number {i}"),
                        *i as i64
                    ])
                    .unwrap();
            }
        }
        tx.commit().unwrap();
    }
    rows as f64 / start.elapsed().as_secs_f64()
}

/// PostgreSQL's rate for the same rows, 500 to a transaction, on a database of its own.
async fn pg_raw_insert_rate(url: &str, rows: usize) -> f64 {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await
        .unwrap();
    sqlx::query(
        "CREATE TABLE m (id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
                         conversation_id BIGINT, network_id TEXT UNIQUE, tag TEXT, text TEXT,
                         created_at BIGINT)",
    )
    .execute(&pool)
    .await
    .unwrap();
    let start = Instant::now();
    for chunk in (0..rows).collect::<Vec<_>>().chunks(500) {
        let mut tx = pool.begin().await.unwrap();
        for i in chunk {
            sqlx::query("INSERT INTO m (conversation_id, network_id, tag, text, created_at) VALUES ($1, $2, 'Private', $3, $4)")
                .bind((*i % 200) as i64)
                .bind(format!("m.{i}"))
                .bind(format!("message number {i}"))
                .bind(*i as i64)
                .execute(&mut *tx)
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
    }
    pool.close().await;
    rows as f64 / start.elapsed().as_secs_f64()
}

/// PostgreSQL: raw inserts, then ingest through one instance and through two.
async fn postgres(dir: &std::path::Path, events: &[(String, String)]) {
    let raw_db = pg::PgDb::create().await;
    let raw = pg_raw_insert_rate(&raw_db.url, EVENTS).await;
    drop(raw_db);
    let mut rates = Vec::new();
    for instances in [1usize, 2] {
        let db = pg::PgDb::create().await;
        let data = dir.join(format!("pg-{instances}"));
        link_page(&data, Some(&db.url)).await;
        let mut urls = Vec::new();
        let mut stops = Vec::new();
        for _ in 0..instances {
            let (url, stop) = start_server(&data, Some(&db.url)).await;
            urls.push(url);
            stops.push(stop);
        }
        let ingest = throughput(&urls, events).await;
        let again = throughput(&urls, events).await;
        for stop in stops {
            let _ = stop.send(());
        }
        // Let the instances close their connections before the database is dropped.
        tokio::time::sleep(Duration::from_millis(300)).await;
        rates.push((instances, ingest, again));
    }
    println!("PostgreSQL ({EVENTS} events, {CONCURRENCY} in flight, instances in this process)");
    println!("  raw batched insert, same engine     {raw:>10.0} rows/s");
    for (instances, ingest, again) in rates {
        println!(
            "  ingested, {instances} instance{}              {ingest:>10.0} events/s   {:.2}x raw; redelivered {again:.0}/s",
            if instances == 1 { " " } else { "s" },
            ingest / raw
        );
    }
}

/// Waits until the server has done the background work the throughput phase's burst left
/// it (a first profile look-up for each of its 200 new consumers, here against a Graph API
/// it cannot reach), so that the latency phase measures webhooks at 1,000/s rather than
/// the tail of that burst; how long that took.
async fn background_settled(data: &std::path::Path) -> Duration {
    let options = SqliteConnectOptions::new()
        .filename(data.join("socialconnect.db"))
        .read_only(true);
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .unwrap();
    let start = Instant::now();
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM consumers
             WHERE profile_attempted_at IS NULL AND profile_fetched_at IS NULL",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        if waiting == 0 || start.elapsed() > Duration::from_secs(60) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    pool.close().await;
    start.elapsed()
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let events: Vec<_> = (0..EVENTS).map(signed).collect();

        let raw = raw_insert_rate(dir.path(), EVENTS).await;
        let raw_rs = {
            let dir = dir.path().to_owned();
            tokio::task::spawn_blocking(move || rusqlite_raw_insert_rate(&dir, EVENTS))
                .await
                .unwrap()
        };
        let data = dir.path().join("server");
        link_page(&data, None).await;
        let (url, stop) = start_server(&data, None).await;
        let urls = [url.clone()];
        let ingest = throughput(&urls, &events).await;
        // Redelivery of the same events: verified and deduplicated, nothing stored.
        let again = throughput(&urls, &events).await;

        let fresh: Vec<_> = (EVENTS..EVENTS * 2).map(signed).collect();
        let settled = background_settled(&data).await;
        let ours = latencies(&url, &fresh).await;
        let bare_url = bare_handler();
        let bare = latencies(&bare_url, &fresh).await;
        let floor = latencies(&durable_handler(dir.path()), &fresh).await;
        // What loopback HTTP with this client allows at all, whatever the handler does.
        let bare_rate = throughput(std::slice::from_ref(&bare_url), &events).await;
        let _ = stop.send(());

        println!("inbound benchmark ({EVENTS} signed Messenger events, {CONCURRENCY} in flight)");
        println!("  raw batched insert, same engine     {raw:>10.0} rows/s     through sqlx");
        println!("  raw batched insert, same engine     {raw_rs:>10.0} rows/s     through rusqlite (the ingest path's driver)");
        println!("  ingested end to end                 {ingest:>10.0} events/s   {:.2}x sqlx raw (goal >= 0.6x)", ingest / raw);
        println!("                                                             {:.2}x rusqlite raw", ingest / raw_rs);
        println!("  redelivered (deduplicated)          {again:>10.0} events/s");
        println!(
            "  bare axum handler, same client      {bare_rate:>10.0} requests/s {:.2}x raw: the most any handler reaches here",
            bare_rate / raw
        );
        println!(
            "  ingested / bare handler             {:>10.2}x",
            ingest / bare_rate
        );
        println!(
            "  time to 200 at {OFFERED_PER_SEC}/s for {OFFERED_SECONDS}s     p50 {:>8.2?}  p99 {:>8.2?}",
            pct(&ours, 0.5),
            pct(&ours, 0.99)
        );
        println!(
            "  bare axum handler, same load         p50 {:>8.2?}  p99 {:>8.2?}",
            pct(&bare, 0.5),
            pct(&bare, 0.99)
        );
        println!(
            "  p99 ratio                            {:.2}x the bare handler (goal <= 3x)",
            pct(&ours, 0.99).as_secs_f64() / pct(&bare, 0.99).as_secs_f64()
        );
        println!(
            "    (started {settled:.0?} after the burst: once the server had looked up the burst's new consumers' profiles)"
        );
        // The floor under any durable 200: a handler that only writes the body and syncs it.
        let floor_ratio = pct(&floor, 0.99).as_secs_f64() / pct(&bare, 0.99).as_secs_f64();
        println!(
            "  write+fdatasync handler, same load   p50 {:>8.2?}  p99 {:>8.2?}  = {floor_ratio:.2}x the bare p99: the least any durable handler does",
            pct(&floor, 0.5),
            pct(&floor, 0.99),
        );
        println!(
            "  ours against that floor              p50 {:.2}x  p99 {:.2}x; the goal's 3x is {}",
            pct(&ours, 0.5).as_secs_f64() / pct(&floor, 0.5).as_secs_f64(),
            pct(&ours, 0.99).as_secs_f64() / pct(&floor, 0.99).as_secs_f64(),
            if floor_ratio > 3.0 {
                "below what the disk allows any durable handler in this run"
            } else {
                "within what the disk allows a handler that does nothing else"
            }
        );

        postgres(dir.path(), &events).await;
    });
}
