//! Scale-out, end to end: two real `socialconnect serve` processes on one PostgreSQL
//! database behind a round-robin load balancer (the sandbox's webhooks go through it). An
//! agent connected to one instance sees, live, lines the other stored; a session made on
//! one is valid on the other; replies queued on both go out once each, in order, even one
//! the network takes longer than the lease to accept; and killing one instance (SIGKILL)
//! mid-burst loses neither a consumer's line nor a reply.

use crate::common;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use common::ADMIN;
use common::pg::PgDb;
use sandbox::Sandbox;
use serde_json::{Value, json};
use server::crypto::TokenCipher;
use server::store::prelude::*;
use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

/// Seconds an instance keeps a reply it claimed: short, so the survivor takes over the
/// dead instance's replies within the test.
const LEASE_SECS: &str = "3";

/// A round-robin HTTP load balancer in front of the instances, as a deployment would
/// have: a backend that cannot be reached is marked down and the request goes to the next.
#[derive(Clone)]
struct Balancer {
    backends: Arc<Vec<String>>,
    up: Arc<Vec<AtomicBool>>,
    hits: Arc<Vec<AtomicUsize>>,
    next: Arc<AtomicUsize>,
    /// `usize::MAX`: round robin; otherwise every request to that backend first.
    pinned: Arc<AtomicUsize>,
    http: reqwest::Client,
}

impl Balancer {
    async fn start(backends: Vec<String>) -> (Balancer, String) {
        let n = backends.len();
        let lb = Balancer {
            backends: Arc::new(backends),
            up: Arc::new((0..n).map(|_| AtomicBool::new(true)).collect()),
            hits: Arc::new((0..n).map(|_| AtomicUsize::new(0)).collect()),
            next: Arc::default(),
            pinned: Arc::new(AtomicUsize::new(usize::MAX)),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = axum::Router::new().fallback(forward).with_state(lb.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (lb, url)
    }

    fn hits(&self) -> Vec<usize> {
        self.hits.iter().map(|h| h.load(Ordering::SeqCst)).collect()
    }
}

async fn forward(State(lb): State<Balancer>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 4 << 20).await.unwrap();
    let n = lb.backends.len();
    let first = match lb.pinned.load(Ordering::SeqCst) {
        usize::MAX => lb.next.fetch_add(1, Ordering::SeqCst),
        pinned => pinned,
    };
    for k in 0..n {
        let i = (first + k) % n;
        if !lb.up[i].load(Ordering::SeqCst) {
            continue;
        }
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let mut out = lb
            .http
            .request(parts.method.clone(), format!("{}{path}", lb.backends[i]))
            .body(body.clone());
        for (name, value) in &parts.headers {
            if name != "host" && name != "content-length" {
                out = out.header(name, value);
            }
        }
        match out.send().await {
            Ok(res) => {
                lb.hits[i].fetch_add(1, Ordering::SeqCst);
                let mut answer = Response::builder().status(res.status());
                for (name, value) in res.headers() {
                    answer = answer.header(name, value);
                }
                let bytes = res.bytes().await.unwrap_or_default();
                return answer.body(Body::from(bytes)).unwrap();
            }
            // Down (or died mid-request): the network will see a failure from this one
            // only if every backend is down.
            Err(_) => lb.up[i].store(false, Ordering::SeqCst),
        }
    }
    Response::builder().status(502).body(Body::empty()).unwrap()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Fleet {
    db_url: String,
    data_dir: tempfile::TempDir,
    secret: String,
    sandbox_env: Vec<(&'static str, String)>,
}

impl Fleet {
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_socialconnect"));
        cmd.args(args)
            .env("SOCIALCONNECT_DATABASE_URL", &self.db_url)
            .env("SOCIALCONNECT_DATA_DIR", self.data_dir.path())
            .env("SOCIALCONNECT_SECRET_KEY", &self.secret)
            .env("SOCIALCONNECT_OUTBOX_LEASE_SECS", LEASE_SECS)
            .env(
                "SOCIALCONNECT_BOOTSTRAP_ADMIN",
                format!("{}:{}:{}", ADMIN.0, ADMIN.1, ADMIN.2),
            )
            .env("RUST_LOG", "warn");
        for (k, v) in &self.sandbox_env {
            cmd.env(k, v);
        }
        cmd
    }

    fn serve(&self, port: u16) -> Instance {
        Instance(
            self.command(&["serve", "--listen", &format!("127.0.0.1:{port}")])
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()
                .unwrap(),
        )
    }
}

/// A running instance, killed (SIGKILL) when dropped, so a failing test leaves none behind.
struct Instance(Child);

impl Instance {
    fn kill(&mut self) {
        self.0.kill().unwrap();
        self.0.wait().unwrap();
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn wait_ready(url: &str) {
    let http = reqwest::Client::new();
    for _ in 0..400 {
        if let Ok(res) = http.get(format!("{url}/healthz")).send().await
            && res.status().is_success()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{url} never became ready");
}

/// Signs in on `url`; returns the session cookie and the CSRF token.
async fn sign_in(url: &str) -> (String, String) {
    let res = reqwest::Client::new()
        .post(format!("{url}/api/session"))
        .json(&json!({"account_number": ADMIN.0, "email": ADMIN.1, "password": ADMIN.2}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let cookie = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("sc_session="))
        .and_then(|v| v.split(';').next())
        .unwrap()
        .to_owned();
    let me: Value = res.json().await.unwrap();
    (cookie, me["csrf_token"].as_str().unwrap().to_owned())
}

/// An agent's session, used against any instance.
#[derive(Clone)]
struct Agent {
    http: reqwest::Client,
    cookie: String,
    csrf: String,
}

impl Agent {
    async fn get(&self, url: &str) -> (u16, Value) {
        let res = self
            .http
            .get(url)
            .header("cookie", &self.cookie)
            .send()
            .await
            .unwrap();
        (
            res.status().as_u16(),
            res.json().await.unwrap_or(Value::Null),
        )
    }

    /// Queues a private reply on the instance at `base`; returns its line id.
    async fn reply(&self, base: &str, conversation: i64, text: &str) -> Option<i64> {
        let res = self
            .http
            .post(format!("{base}/api/conversations/{conversation}/replies"))
            .header("cookie", &self.cookie)
            .header("x-csrf-token", &self.csrf)
            .json(&json!({"text": text, "mode": "private"}))
            .send()
            .await
            .ok()?;
        assert_eq!(res.status(), 201);
        let line: Value = res.json().await.ok()?;
        line["id"].as_i64()
    }
}

/// The conversation ids `GET /api/events` announces on `base`, as they come.
async fn events(agent: &Agent, base: &str) -> tokio::sync::mpsc::UnboundedReceiver<i64> {
    let mut res = agent
        .http
        .get(format!("{base}/api/events"))
        .header("cookie", &agent.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut buf = String::new();
        while let Ok(Some(chunk)) = res.chunk().await {
            buf.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buf.find("\n\n") {
                let event: String = buf.drain(..end + 2).collect();
                for data in event.lines().filter_map(|l| l.strip_prefix("data:")) {
                    if let Ok(v) = serde_json::from_str::<Value>(data.trim())
                        && let Some(id) = v["conversation_id"].as_i64()
                    {
                        let _ = tx.send(id);
                    }
                }
            }
        }
    });
    rx
}

/// Waits until `done` holds, checking every 50 ms, for at most `patience`.
async fn eventually<F: std::future::Future<Output = bool>>(
    patience: Duration,
    what: &str,
    mut done: impl FnMut() -> F,
) {
    let deadline = tokio::time::Instant::now() + patience;
    while !done().await {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What the page sent each consumer on Messenger, as the network recorded it.
fn sent_by_page(
    sb: &Sandbox,
    page: &sandbox::facebook::Page,
    who: &sandbox::facebook::Consumer,
) -> Vec<String> {
    sb.facebook
        .inbox(page, who)
        .into_iter()
        .filter(|m| m.from_page)
        .filter_map(|m| m.text)
        .collect()
}

/// A random secret key, as `SOCIALCONNECT_SECRET_KEY` takes it.
fn random_key() -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 32]>())
}

/// Links the brand's page (bootstrap admin's account) through the real Graph call, its
/// token sealed with the fleet's key; the store and the brand account's id.
async fn link_page(
    fleet: &Fleet,
    sb: &Sandbox,
    page: &sandbox::facebook::Page,
) -> (Arc<dyn Store>, i64) {
    let store = server::store::open(Some(&fleet.db_url), fleet.data_dir.path())
        .await
        .unwrap();
    let cipher = TokenCipher::load(Some(&fleet.secret), fleet.data_dir.path()).unwrap();
    let mut fb = server::config::ServeArgs::for_tests(fleet.data_dir.path().into()).facebook;
    fb.facebook_app_secret = Some(sb.credentials.facebook_app_secret.clone());
    fb.facebook_graph_url = sb.facebook.graph_url();
    server::link::link_facebook(
        store.as_ref(),
        &cipher,
        &reqwest::Client::new(),
        &fb,
        server::link::FacebookPage {
            account_number: ADMIN.0,
            page_id: &page.id,
            page_name: &page.username,
            page_token: &page.access_token,
            skill: "social",
            by: "test",
        },
    )
    .await
    .unwrap();
    let account_id = store.account_by_number(ADMIN.0).await.unwrap().unwrap().id;
    (store, account_id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_share_one_postgresql() {
    let pg = PgDb::create().await;
    let ports = [free_port(), free_port()];
    let urls: Vec<String> = ports
        .iter()
        .map(|p| format!("http://127.0.0.1:{p}"))
        .collect();
    let (lb, lb_url) = Balancer::start(urls.clone()).await;
    let sb = Sandbox::start(sandbox::SandboxOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        callback: lb_url.clone(),
        credentials: None,
    })
    .await
    .unwrap();
    let secret = random_key();
    let fleet = Fleet {
        db_url: pg.url.clone(),
        data_dir: tempfile::tempdir().unwrap(),
        secret: secret.clone(),
        sandbox_env: sb.settings(),
    };

    // Migrations run on their own first, as before a fleet upgrade; a second run has
    // nothing to do.
    let out = fleet.command(&["migrate"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("PostgreSQL: applied 1, 2"), "{said}");
    let out = fleet.command(&["migrate"]).output().unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("nothing to apply"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    let mut a = fleet.serve(ports[0]);
    let mut b = fleet.serve(ports[1]);
    wait_ready(&urls[0]).await;
    wait_ready(&urls[1]).await;

    // The brand's page, linked through the real Graph call, token sealed with the fleet's key.
    let page = sb.facebook.add_page("Acme Outdoor", "AcmeOutdoor");
    let (store, account_id) = link_page(&fleet, &sb, &page).await;

    // Signed in on A; the same session works on B.
    let (cookie, csrf) = sign_in(&urls[0]).await;
    let agent = Agent {
        http: reqwest::Client::new(),
        cookie,
        csrf,
    };
    assert_eq!(agent.get(&format!("{}/api/session", urls[1])).await.0, 200);

    // Live: the agent's browser is on B; the consumer's line is stored by A.
    let mut live_on_b = events(&agent, &urls[1]).await;
    lb.pinned.store(0, Ordering::SeqCst);
    let ann = sb.facebook.add_consumer("Ann Lee", false);
    sb.facebook
        .consumer_message(&page, &ann, "Stored by A, seen on B", &[]);
    let conversation = tokio::time::timeout(Duration::from_secs(10), live_on_b.recv())
        .await
        .expect("B announced A's line")
        .unwrap();
    assert_eq!(lb.hits(), vec![1, 0], "A took that webhook");
    let (status, t) = agent
        .get(&format!("{}/api/conversations/{conversation}", urls[1]))
        .await;
    assert_eq!(status, 200);
    assert_eq!(t["lines"][0]["text"], "Stored by A, seen on B");
    lb.pinned.store(usize::MAX, Ordering::SeqCst);

    // Webhooks spread across both.
    let consumers: Vec<_> = (0..6)
        .map(|i| sb.facebook.add_consumer(&format!("Consumer {i}"), false))
        .collect();
    for (i, c) in consumers.iter().enumerate() {
        sb.facebook
            .consumer_message(&page, c, &format!("hello {i}"), &[]);
    }
    let lines = |store: Arc<dyn Store>| async move {
        store
            .export(account_id, i64::MIN)
            .await
            .unwrap()
            .iter()
            .flat_map(|c| c.messages.iter().filter(|m| m.direction == "in"))
            .map(|m| m.text.clone())
            .collect::<Vec<_>>()
    };
    eventually(Duration::from_secs(15), "every hello stored", || {
        let store = store.clone();
        async move { lines(store).await.len() == 7 }
    })
    .await;
    let hits = lb.hits();
    assert!(hits[0] >= 3 && hits[1] >= 3, "spread: {hits:?}");
    // Messenger gives no names: each comes with the profile, fetched after the line.
    eventually(
        Duration::from_secs(15),
        "every consumer's profile fetched",
        || {
            let store = store.clone();
            async move {
                let named = store.export(account_id, i64::MIN).await.unwrap();
                named.iter().filter(|c| c.consumer.name.is_some()).count() == 7
            }
        },
    )
    .await;

    // Replies queued on both, alternately: each sent once, in the order written.
    let mut conv_of = Vec::new();
    for c in &consumers {
        let name = c.name.clone();
        let id = store
            .export(account_id, i64::MIN)
            .await
            .unwrap()
            .into_iter()
            .find(|x| x.consumer.name.as_deref() == Some(name.as_str()))
            .unwrap()
            .id;
        conv_of.push(id);
    }
    let mut written: HashMap<usize, Vec<String>> = HashMap::new();
    let mut ids = Vec::new();
    for n in 0..6 {
        for (i, &conv) in conv_of.iter().enumerate() {
            let text = format!("reply {n} to {i}");
            let via = &urls[(n + i) % 2];
            ids.push(agent.reply(via, conv, &text).await.unwrap());
            written.entry(i).or_default().push(text);
        }
    }
    eventually(Duration::from_secs(30), "every reply sent", || {
        let (store, ids) = (store.clone(), ids.clone());
        async move {
            for id in ids {
                if store.line_status(id).await.unwrap().unwrap().0 != "sent" {
                    return false;
                }
            }
            true
        }
    })
    .await;
    for (i, c) in consumers.iter().enumerate() {
        assert_eq!(sent_by_page(&sb, &page, c), written[&i], "consumer {i}");
    }

    // A reply the network takes longer to accept than the lease: the instance sending it
    // keeps its claim while it waits, so the other does not send it a second time.
    let latency = Duration::from_secs(LEASE_SECS.parse::<u64>().unwrap() + 2);
    sb.facebook.faults().inject(
        "facebook",
        "POST /me/messages",
        sandbox::common::Fault::Latency(latency),
        1,
    );
    let slow = "slower than the lease";
    let asked = tokio::time::Instant::now();
    let slow_id = agent.reply(&urls[0], conv_of[0], slow).await.unwrap();
    written.entry(0).or_default().push(slow.to_owned());
    eventually(Duration::from_secs(30), "the slow reply sent", || {
        let store = store.clone();
        async move { store.line_status(slow_id).await.unwrap().unwrap().0 == "sent" }
    })
    .await;
    // Past the slow answer, should the other instance have sent it meanwhile.
    tokio::time::sleep_until(asked + latency + Duration::from_secs(1)).await;
    assert_eq!(
        sent_by_page(&sb, &page, &consumers[0]),
        written[&0],
        "the slow reply went once"
    );

    // A burst of consumer lines and replies on both; A is killed midway.
    let burst: Vec<_> = (0..4)
        .map(|i| sb.facebook.add_consumer(&format!("Burst {i}"), false))
        .collect();
    let mut more: HashMap<usize, Vec<String>> = HashMap::new();
    let mut more_ids = Vec::new();
    for n in 0..30 {
        let c = &burst[n % burst.len()];
        sb.facebook
            .consumer_message(&page, c, &format!("burst {n}"), &[]);
        let i = n % consumers.len();
        let text = format!("late reply {n} to {i}");
        // After the kill the agent's browser is on B.
        let via = if n < 15 { &urls[n % 2] } else { &urls[1] };
        if n == 15 {
            // Replies A is sending when it dies: the network answers slowly.
            sb.facebook.faults().inject(
                "facebook",
                "POST /me/messages",
                sandbox::common::Fault::Latency(Duration::from_millis(1000)),
                4,
            );
            for (j, &conv) in conv_of.iter().enumerate().take(4) {
                let text = format!("in flight {j}");
                more_ids.push(agent.reply(&urls[0], conv, &text).await.unwrap());
                more.entry(j).or_default().push(text);
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
            a.kill();
        }
        more_ids.push(agent.reply(via, conv_of[i], &text).await.unwrap());
        more.entry(i).or_default().push(text);
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    eventually(Duration::from_secs(30), "every burst line stored", || {
        let store = store.clone();
        async move { lines(store).await.len() == 37 }
    })
    .await;
    let stored = lines(store.clone()).await;
    for n in 0..30 {
        let text = format!("burst {n}");
        assert_eq!(
            stored.iter().filter(|t| **t == text).count(),
            1,
            "{text} stored once"
        );
    }
    eventually(Duration::from_secs(30), "every late reply sent", || {
        let (store, ids) = (store.clone(), more_ids.clone());
        async move {
            for id in ids {
                if store.line_status(id).await.unwrap().unwrap().0 != "sent" {
                    return false;
                }
            }
            true
        }
    })
    .await;
    for (i, c) in consumers.iter().enumerate() {
        let mut expected = written[&i].clone();
        expected.extend(more.get(&i).cloned().unwrap_or_default());
        assert_eq!(
            sent_by_page(&sb, &page, c),
            expected,
            "consumer {i}: each reply once, in order, across the kill"
        );
    }

    println!(
        "scale-out: webhooks per instance {:?} (A killed midway); {} replies queued on both, \
         each sent once in order; 37 consumer lines stored once each",
        lb.hits(),
        ids.len() + more_ids.len()
    );
    b.kill();
    sb.stop().await;
}

/// Two instances with automation on, woken at once on the same lines (each stores some of
/// the consumers' first lines, and each pass reads every conversation due): each consumer
/// gets the built-in bot's greeting once, whichever instance takes the turn.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_answer_each_bot_line_once() {
    let pg = PgDb::create().await;
    let ports = [free_port(), free_port()];
    let urls: Vec<String> = ports
        .iter()
        .map(|p| format!("http://127.0.0.1:{p}"))
        .collect();
    let (lb, lb_url) = Balancer::start(urls.clone()).await;
    let sb = Sandbox::start(sandbox::SandboxOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        callback: lb_url,
        credentials: None,
    })
    .await
    .unwrap();
    let fleet = Fleet {
        db_url: pg.url.clone(),
        data_dir: tempfile::tempdir().unwrap(),
        secret: random_key(),
        sandbox_env: sb.settings(),
    };
    let a = fleet.serve(ports[0]);
    wait_ready(&urls[0]).await;
    let b = fleet.serve(ports[1]);
    wait_ready(&urls[1]).await;
    let page = sb.facebook.add_page("Acme Outdoor", "AcmeOutdoor");
    let (store, account_id) = link_page(&fleet, &sb, &page).await;

    // The admin switches the built-in bot on (through A; B reads the same settings).
    let (cookie, csrf) = sign_in(&urls[0]).await;
    let admin = Agent {
        http: reqwest::Client::new(),
        cookie,
        csrf,
    };
    let (status, list) = admin.get(&format!("{}/api/automation", urls[0])).await;
    assert_eq!(status, 200, "{list}");
    let linked = list[0]["linked_account_id"].as_i64().unwrap();
    const GREETING: &str = "Hi, this is Acme's assistant.";
    let res = admin
        .http
        .put(format!("{}/api/automation/{linked}", urls[0]))
        .header("cookie", &admin.cookie)
        .header("x-csrf-token", &admin.csrf)
        .json(&json!({"enabled": true, "bot": "builtin", "greeting": GREETING}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    // Every consumer writes at once: the webhooks alternate between the instances, so both
    // wake together and each sees the other's lines due too.
    let consumers: Vec<_> = (0..16)
        .map(|i| sb.facebook.add_consumer(&format!("Consumer {i}"), false))
        .collect();
    for c in &consumers {
        sb.facebook.consumer_message(&page, c, "hello", &[]);
    }
    eventually(Duration::from_secs(30), "every consumer greeted", || {
        let ok = consumers
            .iter()
            .all(|c| !sent_by_page(&sb, &page, c).is_empty());
        async move { ok }
    })
    .await;
    let hits = lb.hits();
    assert!(hits[0] > 0 && hits[1] > 0, "both stored lines: {hits:?}");
    // Every bot line stored is sent; then a moment for a second turn's, if any, to land.
    eventually(Duration::from_secs(30), "every bot line sent", || {
        let store = store.clone();
        async move {
            store
                .export(account_id, i64::MIN)
                .await
                .unwrap()
                .iter()
                .flat_map(|c| &c.messages)
                .filter(|m| m.author == "bot")
                .all(|m| m.status == "sent")
        }
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    for (i, c) in consumers.iter().enumerate() {
        assert_eq!(
            sent_by_page(&sb, &page, c),
            [GREETING],
            "consumer {i} greeted once"
        );
    }
    let bot_lines = store
        .export(account_id, i64::MIN)
        .await
        .unwrap()
        .iter()
        .flat_map(|c| c.messages.clone())
        .filter(|m| m.author == "bot")
        .count();
    assert_eq!(
        bot_lines,
        consumers.len(),
        "one bot line per consumer stored"
    );
    drop((a, b));
    sb.stop().await;
}

/// A start with a secret key other than the one the database's tokens were sealed with
/// stops with a message that says so (on the embedded database and on PostgreSQL, for
/// `serve` and for `link`); the right key starts. A database from before fingerprints
/// records the key's at its first start, unless its tokens do not open with that key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mismatched_secret_key_stops_the_start() {
    use sqlx::Connection;
    let pg = PgDb::create().await;
    for database_url in &[None, Some(pg.url.clone())] {
        let engine = if database_url.is_some() {
            "postgres"
        } else {
            "sqlite"
        };
        let data = tempfile::tempdir().unwrap();
        let (key_a, key_b) = (random_key(), random_key());
        let settings = |key: &str| {
            let mut args = server::config::ServeArgs::for_tests(data.path().into());
            args.store.database_url = database_url.clone();
            args.store.secret_key = Some(key.to_owned());
            args
        };
        let start = |key: &str| {
            let args = settings(key);
            async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                server::run(args, listener, async {}).await
            }
        };
        start(&key_a).await.unwrap();
        // A page linked with a token sealed under A.
        let store = settings(&key_a).store.open().await.unwrap();
        let account = store.ensure_account("1", "Acme", true).await.unwrap();
        let sealed = TokenCipher::load(Some(&key_a), data.path())
            .unwrap()
            .seal("page-token");
        store
            .link(server::store::NewLink {
                account_id: account.id,
                channel: shared::Channel::Facebook,
                network_id: "1234567890",
                name: "Acme",
                token_sealed: sealed,
                token_secret_sealed: None,
                skill_id: None,
                created_by: "test",
            })
            .await
            .unwrap();

        let refused = start(&key_b).await.unwrap_err().to_string();
        assert!(
            refused.contains(
                "SOCIALCONNECT_SECRET_KEY does not match the key this database's tokens \
                 were sealed with"
            ) && refused.contains("set the same SOCIALCONNECT_SECRET_KEY on every instance"),
            "{engine}: {refused}"
        );
        let a_print = TokenCipher::load(Some(&key_a), data.path())
            .unwrap()
            .fingerprint()[..16]
            .to_owned();
        assert!(refused.contains(&a_print), "{engine}: {refused}");
        assert!(!refused.contains(&key_b) && !refused.contains(&key_a));
        // `link` seals tokens: it refuses the wrong key too, before any network call.
        let out = Command::new(env!("CARGO_BIN_EXE_socialconnect"))
            .args([
                "link",
                "facebook",
                "--account",
                "1",
                "--page-id",
                "1234567890",
            ])
            .args(["--page-name", "Acme", "--page-token", "t"])
            .env("SOCIALCONNECT_DATA_DIR", data.path())
            .env("SOCIALCONNECT_SECRET_KEY", &key_b)
            .envs(
                database_url
                    .iter()
                    .map(|u| ("SOCIALCONNECT_DATABASE_URL", u)),
            )
            .output()
            .unwrap();
        assert!(!out.status.success());
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(said.contains("does not match the key"), "{engine}: {said}");
        start(&key_a).await.unwrap();

        // A database from before fingerprints (none recorded) holding A's token.
        match database_url {
            Some(url) => {
                let mut db = sqlx::PgConnection::connect(url).await.unwrap();
                sqlx::query("DELETE FROM key_fingerprint")
                    .execute(&mut db)
                    .await
                    .unwrap();
            }
            None => {
                let path = data.path().join("socialconnect.db");
                let mut db =
                    sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
                        .await
                        .unwrap();
                sqlx::query("DELETE FROM key_fingerprint")
                    .execute(&mut db)
                    .await
                    .unwrap();
            }
        }
        let refused = start(&key_b).await.unwrap_err().to_string();
        assert!(
            refused.contains("does not match") && refused.contains("none of its 1 tokens"),
            "{engine}: {refused}"
        );
        assert!(!store.has_key_fingerprint().await.unwrap(), "{engine}");
        start(&key_a).await.unwrap();
        assert!(store.has_key_fingerprint().await.unwrap(), "{engine}");
        assert!(start(&key_b).await.is_err(), "{engine}");
    }
}
