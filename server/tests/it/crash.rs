//! Crash test, in its own test binary (`cargo test -p server --test crash`): the real
//! `socialconnect` binary with a linked Facebook page takes a burst of 2,000 signed
//! Messenger webhooks from 16 concurrent senders and is killed with SIGKILL midway; it is
//! restarted on the same data dir and port, every event whose 200 never came is sent again
//! (as the network would redeliver), and `socialconnect export` must hold every event
//! exactly once: none acknowledged and lost, none duplicated.

use crate::common;

use hmac::{Hmac, Mac};
use serde_json::json;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

const FB_SECRET: &str = "crash-app-secret";
const PAGE: &str = "9988776655";
const ACCOUNT: &str = "4242";
const EVENTS: usize = 2_000;
const SENDERS: usize = 16;
/// Acknowledgements after which the process is killed.
const KILL_AFTER: usize = 700;

fn body(i: usize) -> String {
    json!({"object":"page","entry":[{"id":PAGE,"time":1,"messaging":[{
        "sender":{"id":format!("70{}", i % 40)},"recipient":{"id":PAGE},
        "timestamp":1_700_000_000_000i64 + i as i64,
        "message":{"mid":format!("m.crash.{i}"),"text":format!("event {i}")}}]}]})
    .to_string()
}

fn sign(body: &str) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(FB_SECRET.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn start(data_dir: &std::path::Path, port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_socialconnect"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("SOCIALCONNECT_DATA_DIR", data_dir)
        .env("SOCIALCONNECT_FACEBOOK_APP_ID", "app")
        .env("SOCIALCONNECT_FACEBOOK_APP_SECRET", FB_SECRET)
        .env("SOCIALCONNECT_FACEBOOK_VERIFY_TOKEN", "verify")
        // Nothing leaves the machine: profile look-ups fail fast.
        .env(
            "SOCIALCONNECT_FACEBOOK_GRAPH_URL",
            "http://127.0.0.1:9/v24.0",
        )
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

async fn wait_ready(http: &reqwest::Client, url: &str) {
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

async fn send(http: &reqwest::Client, url: &str, i: usize) -> bool {
    let b = body(i);
    let res = http
        .post(format!("{url}/webhooks/facebook"))
        .header("content-type", "application/json")
        .header("x-hub-signature-256", sign(&b))
        .body(b)
        .send()
        .await;
    matches!(res, Ok(r) if r.status() == reqwest::StatusCode::OK)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_mid_burst_loses_and_duplicates_nothing() {
    let data = tempfile::tempdir().unwrap();
    common::seed_linked_page(data.path(), ACCOUNT, PAGE).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let child = start(data.path(), port);
    let pid = child.id();
    wait_ready(&http, &url).await;

    // The burst: 16 senders take the next event in turn; the process dies midway.
    let next = Arc::new(AtomicUsize::new(0));
    let acked_count = Arc::new(AtomicUsize::new(0));
    let killed = Arc::new(AtomicBool::new(false));
    let acked: Arc<std::sync::Mutex<Vec<bool>>> =
        Arc::new(std::sync::Mutex::new(vec![false; EVENTS]));
    let mut tasks = Vec::new();
    for _ in 0..SENDERS {
        let (http, url, next, acked_count, killed, acked) = (
            http.clone(),
            url.clone(),
            next.clone(),
            acked_count.clone(),
            killed.clone(),
            acked.clone(),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= EVENTS {
                    break;
                }
                if send(&http, &url, i).await {
                    acked.lock().unwrap()[i] = true;
                    let n = acked_count.fetch_add(1, Ordering::SeqCst) + 1;
                    if n == KILL_AFTER && !killed.swap(true, Ordering::SeqCst) {
                        let status = Command::new("kill")
                            .args(["-9", &pid.to_string()])
                            .status()
                            .unwrap();
                        assert!(status.success(), "kill -9 {pid}");
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let mut child = child;
    let exit = child.wait().unwrap();
    assert!(killed.load(Ordering::SeqCst), "the process was killed");
    assert!(!exit.success(), "killed, not exited: {exit:?}");
    let acked_before: Vec<bool> = acked.lock().unwrap().clone();
    let acked_before_kill = acked_before.iter().filter(|a| **a).count();

    // Restart on the same data and port; the network redelivers what was not acknowledged.
    let mut child = start(data.path(), port);
    wait_ready(&http, &url).await;
    let missing: Vec<usize> = (0..EVENTS).filter(|i| !acked_before[*i]).collect();
    let redelivered = missing.len();
    let chunks: Vec<Vec<usize>> = missing
        .chunks(redelivered.div_ceil(SENDERS).max(1))
        .map(<[usize]>::to_vec)
        .collect();
    let mut tasks = Vec::new();
    for chunk in chunks {
        let (http, url) = (http.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            for i in chunk {
                let mut tries = 0;
                while !send(&http, &url, i).await {
                    tries += 1;
                    assert!(tries < 5, "event {i} refused after restart");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    child.kill().unwrap();
    child.wait().unwrap();

    // What is stored, through the operator's export.
    let seen = common::exported_ids(
        Command::new(env!("CARGO_BIN_EXE_socialconnect"))
            .args(["export", "--account", ACCOUNT])
            .env("SOCIALCONNECT_DATA_DIR", data.path())
            .output()
            .unwrap(),
    );
    let stored = seen.len();
    let duplicated: usize = seen.values().map(|n| n - 1).sum();
    let lost = (0..EVENTS)
        .filter(|i| !seen.contains_key(&format!("m.crash.{i}")))
        .count();
    let lost_acked = (0..EVENTS)
        .filter(|i| acked_before[*i] && !seen.contains_key(&format!("m.crash.{i}")))
        .count();
    println!(
        "events sent: {EVENTS}; acknowledged before the kill: {acked_before_kill}; redelivered after restart: {redelivered}; stored: {stored}; duplicated: {duplicated}; lost: {lost} (of them acknowledged: {lost_acked})"
    );
    assert_eq!(duplicated, 0, "duplicates");
    assert_eq!(lost, 0, "lost events");
    assert_eq!(stored, EVENTS);
}
