//! Webhook → line on an agent's screen (`cargo bench -p server --bench screen`): with
//! `STREAMS` event streams (`GET /api/events`, Server-Sent Events) open on a real server on
//! loopback, signed Messenger webhooks arrive at `OFFERED_PER_SEC` from `STREAMS`
//! consumers, each one's conversation open on one agent's screen. For each line, the time
//! from the webhook's 200 to the moment that agent's screen has it: its stream told of the
//! change, and the transcript it then fetches (`GET /api/conversations/{id}`, what the
//! browser fetches) holds the line. Beside it, the same load on a bare SSE echo: a server
//! that keeps each posted line in memory, tells every stream, and serves the lines back;
//! the least any server that refetches through an API can do on this machine. Every
//! stream hears of every change, as every open workspace does.
//!
//! Goal: p50 and p99 ≤ 2× the echo's (median of `ROUNDS` rounds). The machine is shared
//! and noisy, so the figures that matter are the ratios.

use axum::response::sse::{Event, Sse};
use hmac::{Hmac, Mac};
use server::store::NewLink;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SECRET: &str = "bench-secret";
const PAGE: &str = "777000777";
const STREAMS: usize = 200;
const OFFERED_PER_SEC: u64 = 200;
const ROUND_SECONDS: u64 = 3;
const ROUNDS: usize = 5;
const ADMIN: (&str, &str, &str) = ("4242", "admin@brand.example", "admin-pass-1");

/// Consumer `k`'s `n`th line, signed as Facebook signs it.
fn signed(k: usize, n: usize) -> (String, String, String) {
    let text = format!("line {n} from consumer {k}");
    let body = serde_json::json!({"object":"page","entry":[{"id":PAGE,"time":1,"messaging":[{
        "sender":{"id":format!("{}", 70_000 + k)},"recipient":{"id":PAGE},
        "timestamp":1_700_000_000_000i64 + n as i64,
        "message":{"mid":format!("m.{k}.{n}"),"text":text}}]}]})
    .to_string();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    let sig = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    (body, sig, text)
}

/// Runs a server on a loopback port in a runtime of its own, as its own process would;
/// its URL.
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

/// SocialConnect on `data`, its bench page linked to the bootstrap admin's account; its URL.
async fn ours(data: &std::path::Path) -> String {
    let store = server::store::open(None, data).await.unwrap();
    let account = store.ensure_account(ADMIN.0, "Bench", true).await.unwrap();
    let skill = store.ensure_skill(account.id, "social").await.unwrap();
    store
        .link(NewLink {
            account_id: account.id,
            channel: shared::Channel::Facebook,
            network_id: PAGE,
            name: "bench",
            token_sealed: server::crypto::TokenCipher::load(None, data)
                .unwrap()
                .seal("page-token"),
            token_secret_sealed: None,
            skill_id: Some(skill),
            created_by: "bench",
        })
        .await
        .unwrap();
    drop(store);
    let mut args = server::config::ServeArgs::for_tests(data.to_path_buf());
    args.bootstrap_admin = Some(
        format!("{}:{}:{}", ADMIN.0, ADMIN.1, ADMIN.2)
            .parse()
            .unwrap(),
    );
    args.facebook.facebook_app_id = Some("bench".into());
    args.facebook.facebook_app_secret = Some(SECRET.into());
    serve_apart(|listener| async move {
        if let Err(e) = server::run(args, listener, std::future::pending::<()>()).await {
            eprintln!("the server stopped: {e:#}");
            std::process::exit(1);
        }
    })
}

/// The bare SSE echo: each posted line kept in memory under its consumer, every stream
/// told `{"conversation_id":K}`, and the lines served back at the same paths as ours.
fn echo() -> String {
    use axum::extract::{Path, State};
    type Lines = Arc<Mutex<HashMap<i64, Vec<String>>>>;
    #[derive(Clone)]
    struct Echo {
        lines: Lines,
        changes: tokio::sync::broadcast::Sender<i64>,
    }
    let state = Echo {
        lines: Default::default(),
        changes: tokio::sync::broadcast::channel(4096).0,
    };
    let app = axum::Router::new()
        .route(
            "/webhooks/facebook",
            axum::routing::post(
                |State(s): State<Echo>, body: axum::body::Bytes| async move {
                    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
                    let m = &v["entry"][0]["messaging"][0];
                    let k: i64 = m["sender"]["id"].as_str().unwrap().parse().unwrap();
                    let text = m["message"]["text"].as_str().unwrap().to_owned();
                    s.lines.lock().unwrap().entry(k).or_default().push(text);
                    let _ = s.changes.send(k);
                    "ok"
                },
            ),
        )
        .route(
            "/api/conversations/{id}",
            axum::routing::get(|State(s): State<Echo>, Path(id): Path<i64>| async move {
                let lines = s
                    .lines
                    .lock()
                    .unwrap()
                    .get(&id)
                    .cloned()
                    .unwrap_or_default();
                let lines: Vec<_> = lines
                    .iter()
                    .map(|t| serde_json::json!({"text": t}))
                    .collect();
                axum::Json(serde_json::json!({"lines": lines}))
            }),
        )
        .route(
            "/api/events",
            axum::routing::get(|State(s): State<Echo>| async move {
                let changes = s.changes.subscribe();
                let stream = futures_util::stream::unfold(changes, |mut changes| async move {
                    let id = changes.recv().await.ok()?;
                    let event = Event::default()
                        .json_data(serde_json::json!({"conversation_id": id}))
                        .unwrap();
                    Some((Ok::<_, std::convert::Infallible>(event), changes))
                });
                Sse::new(stream)
            }),
        )
        .with_state(state);
    serve_apart(|listener| async move { axum::serve(listener, app).await })
}

/// One agent's screen: when each line sent to its conversation came back with a 200, and
/// when a transcript it fetched first held it.
#[derive(Default)]
struct Screen {
    answered: HashMap<String, Instant>,
    shown: HashMap<String, Instant>,
    /// How long each transcript fetch took, from the event to its answer.
    fetches: Vec<Duration>,
}

type Screens = Arc<Vec<Mutex<Screen>>>;

/// Opens `STREAMS` event streams with `client`; stream `k` watches conversation
/// `conversations[k]`: on each change to it (or a "refetch everything"), it fetches the
/// transcript and notes when each line was first there. The tasks run until the process
/// ends.
async fn open_streams(
    url: &str,
    client: &reqwest::Client,
    conversations: &[i64],
    screens: &Screens,
) {
    let mut opened = Vec::new();
    for (k, &conversation) in conversations.iter().enumerate() {
        let res = client
            .get(format!("{url}/api/events"))
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "{}", res.status());
        let (client, url, screens) = (client.clone(), url.to_owned(), screens.clone());
        let (ready, opened_rx) = tokio::sync::oneshot::channel::<()>();
        opened.push(opened_rx);
        tokio::spawn(async move {
            let _ = ready.send(());
            let mut res = res;
            let mut buffer = String::new();
            while let Ok(Some(chunk)) = res.chunk().await {
                buffer.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(end) = buffer.find("\n\n") {
                    let event: String = buffer.drain(..end + 2).collect();
                    let Some(data) = event.lines().find_map(|l| l.strip_prefix("data:")) else {
                        continue;
                    };
                    let v: serde_json::Value = serde_json::from_str(data.trim()).unwrap();
                    let id = v["conversation_id"].as_i64();
                    if id.is_some_and(|id| id != conversation) {
                        continue;
                    }
                    let asked = Instant::now();
                    let transcript: serde_json::Value = client
                        .get(format!("{url}/api/conversations/{conversation}"))
                        .send()
                        .await
                        .unwrap()
                        .json()
                        .await
                        .unwrap();
                    let now = Instant::now();
                    let mut screen = screens[k].lock().unwrap();
                    screen.fetches.push(now - asked);
                    for line in transcript["lines"].as_array().into_iter().flatten() {
                        if let Some(text) = line["text"].as_str() {
                            screen.shown.entry(text.to_owned()).or_insert(now);
                        }
                    }
                }
            }
        });
    }
    for o in opened {
        o.await.unwrap();
    }
}

/// One round: `OFFERED_PER_SEC` webhooks a second for `ROUND_SECONDS`, round-robin over
/// the consumers, open loop; then waits for every line to be shown. Sorted times from
/// the 200 to the screen (zero when the screen had it first).
async fn round(url: &str, screens: &Screens, r: usize) -> Vec<Duration> {
    let http = reqwest::Client::new();
    let gap = Duration::from_micros(1_000_000 / OFFERED_PER_SEC);
    let n = (OFFERED_PER_SEC * ROUND_SECONDS) as usize;
    let start = tokio::time::Instant::now();
    let mut tasks = Vec::with_capacity(n);
    let mut sent = Vec::with_capacity(n);
    for i in 0..n {
        let k = i % STREAMS;
        let (body, sig, text) = signed(k, 1 + r * n + i);
        sent.push((k, text.clone()));
        tokio::time::sleep_until(start + gap * i as u32).await;
        let (http, url, screens) = (http.clone(), url.to_owned(), screens.clone());
        tasks.push(tokio::spawn(async move {
            let res = http
                .post(format!("{url}/webhooks/facebook"))
                .header("x-hub-signature-256", sig)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            assert!(res.status().is_success(), "{}", res.status());
            let now = Instant::now();
            screens[k].lock().unwrap().answered.insert(text, now);
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let missing = sent
            .iter()
            .filter(|(k, text)| !screens[*k].lock().unwrap().shown.contains_key(text))
            .count();
        if missing == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{missing} lines never reached a screen"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut out: Vec<Duration> = sent
        .iter()
        .map(|(k, text)| {
            let screen = screens[*k].lock().unwrap();
            screen.shown[text].saturating_duration_since(screen.answered[text])
        })
        .collect();
    out.sort();
    out
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// The consumers' first lines, sent one by one (each one's conversation created), and the
/// conversation each is in, from the queue; a signed-in client.
async fn ours_conversations(url: &str) -> (reqwest::Client, Vec<i64>) {
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let res = http
        .post(format!("{url}/api/session"))
        .json(
            &serde_json::json!({"account_number": ADMIN.0, "email": ADMIN.1, "password": ADMIN.2}),
        )
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "sign-in: {}", res.status());
    for k in 0..STREAMS {
        let (body, sig, _) = signed(k, 0);
        let res = http
            .post(format!("{url}/webhooks/facebook"))
            .header("x-hub-signature-256", sig)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "{}", res.status());
    }
    let queue: serde_json::Value = http
        .get(format!("{url}/api/conversations?view=all&sort=activity"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut by_consumer = HashMap::new();
    for item in queue.as_array().unwrap() {
        let text = item["last"]["text"].as_str().unwrap_or_default();
        if let Some(k) = text.strip_prefix("line 0 from consumer ") {
            by_consumer.insert(k.parse::<usize>().unwrap(), item["id"].as_i64().unwrap());
        }
    }
    let conversations: Vec<i64> = (0..STREAMS).map(|k| by_consumer[&k]).collect();
    (http, conversations)
}

struct Figures {
    p50: Vec<Duration>,
    p99: Vec<Duration>,
    /// The median transcript fetch of each round (event → answer).
    fetch: Vec<Duration>,
}

async fn measure(
    name: &str,
    url: &str,
    client: &reqwest::Client,
    conversations: &[i64],
) -> Figures {
    let screens: Screens = Arc::new((0..STREAMS).map(|_| Default::default()).collect());
    eprintln!("{name}: opening {STREAMS} event streams…");
    open_streams(url, client, conversations, &screens).await;
    let mut figures = Figures {
        p50: Vec::new(),
        p99: Vec::new(),
        fetch: Vec::new(),
    };
    for r in 0..ROUNDS {
        eprintln!("{name}: round {} of {ROUNDS}…", r + 1);
        let times = round(url, &screens, r).await;
        figures.p50.push(pct(&times, 0.5));
        figures.p99.push(pct(&times, 0.99));
        let mut fetches: Vec<Duration> = screens
            .iter()
            .flat_map(|s| std::mem::take(&mut s.lock().unwrap().fetches))
            .collect();
        fetches.sort();
        figures.fetch.push(pct(&fetches, 0.5));
    }
    figures
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let url = ours(dir.path()).await;
        let probe = reqwest::Client::new();
        while probe.get(format!("{url}/healthz")).send().await.is_err() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        eprintln!("SocialConnect: {STREAMS} consumers' first lines…");
        let (client, conversations) = ours_conversations(&url).await;
        let ours = measure("SocialConnect", &url, &client, &conversations).await;

        let echo_url = echo();
        while probe.get(format!("{echo_url}/api/conversations/0")).send().await.is_err() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // The echo keeps lines under the consumer's number (the sender id).
        let echo_conversations: Vec<i64> = (0..STREAMS).map(|k| 70_000 + k as i64).collect();
        let bare = measure("bare SSE echo", &echo_url, &reqwest::Client::new(), &echo_conversations).await;

        println!(
            "webhook → line on an agent's screen ({STREAMS} event streams open, {OFFERED_PER_SEC} webhooks/s, {ROUNDS} rounds of {ROUND_SECONDS} s)"
        );
        let show = |name: &str, f: &Figures| {
            println!(
                "  {name:<28} p50 median {:>9.2?} worst {:>9.2?}   p99 median {:>9.2?} worst {:>9.2?}   (its transcript fetch alone: p50 {:.2?})",
                median(f.p50.clone()),
                f.p50.iter().max().unwrap(),
                median(f.p99.clone()),
                f.p99.iter().max().unwrap(),
                median(f.fetch.clone()),
            );
        };
        show("SocialConnect", &ours);
        show("bare SSE echo, same load", &bare);
        for (name, ours, bare) in [
            ("p50", median(ours.p50.clone()), median(bare.p50.clone())),
            ("p99", median(ours.p99.clone()), median(bare.p99.clone())),
        ] {
            let ratio = ours.as_secs_f64() / bare.as_secs_f64().max(1e-6);
            println!(
                "  {name} ratio                    {ratio:>6.2}x the echo (goal <= 2x): {}",
                if ratio <= 2.0 { "MET" } else { "NOT MET" }
            );
        }
    });
}
