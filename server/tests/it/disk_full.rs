//! Disk full: the real `socialconnect` binary runs with its data dir on a small tmpfs of
//! its own (a private mount namespace made with `unshare`, so no privileges are needed),
//! the tmpfs is filled to the last byte, and a burst of signed webhooks arrives. Every
//! request is answered 200 (stored) or 503 (refused, nothing kept); the server stays up;
//! once space is freed the network's redelivery of the refused events stores each once.

use crate::common;

use hmac::{Hmac, Mac};
use serde_json::json;
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const FB_SECRET: &str = "disk-full-secret";
const PAGE: &str = "5566778899";
const ACCOUNT: &str = "5151";
const EVENTS: usize = 600;

fn body(i: usize) -> String {
    // Long lines (Messenger allows 2,000 characters) so the burst needs fresh pages.
    let text = format!("event {i} ").repeat(150);
    json!({"object":"page","entry":[{"id":PAGE,"time":1,"messaging":[{
        "sender":{"id":format!("70{}", i % 20)},"recipient":{"id":PAGE},
        "timestamp":1_700_000_000_000i64 + i as i64,
        "message":{"mid":format!("m.full.{i}"),"text":text}}]}]})
    .to_string()
}

async fn send(http: &reqwest::Client, url: &str, i: usize) -> u16 {
    let b = body(i);
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(FB_SECRET.as_bytes()).unwrap();
    mac.update(b.as_bytes());
    let sig = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    http.post(format!("{url}/webhooks/facebook"))
        .header("content-type", "application/json")
        .header("x-hub-signature-256", sig)
        .body(b)
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

/// The server in a mount namespace of its own, its data dir `mnt` a 6 MB tmpfs holding a
/// copy of `stage`.
fn start(stage: &Path, mnt: &Path, port: u16) -> Child {
    Command::new("unshare")
        .args(["--user", "--map-root-user", "--mount", "sh", "-c"])
        .arg(r#"mount -t tmpfs -o size=6m tmpfs "$1" && cp -a "$2"/. "$1"/ && exec "$3" serve --listen "$4""#)
        .arg("sh")
        .arg(mnt)
        .arg(stage)
        .arg(env!("CARGO_BIN_EXE_socialconnect"))
        .arg(format!("127.0.0.1:{port}"))
        .env("SOCIALCONNECT_DATA_DIR", mnt)
        .env("SOCIALCONNECT_FACEBOOK_APP_ID", "app")
        .env("SOCIALCONNECT_FACEBOOK_APP_SECRET", FB_SECRET)
        .env("SOCIALCONNECT_FACEBOOK_VERIFY_TOKEN", "verify")
        .env(
            "SOCIALCONNECT_FACEBOOK_GRAPH_URL",
            "http://127.0.0.1:9/v24.0",
        )
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("unshare (util-linux) runs the server in its own mount namespace")
}

/// Every stored line's network id, counted, through the operator's export run inside the
/// server's namespaces (SQLite resolves `/proc/PID/root` to our own view, so the export
/// joins the server's instead).
fn exported(pid: u32, data_dir: &Path) -> HashMap<String, usize> {
    common::exported_ids(
        Command::new("nsenter")
            .args(["--target", &pid.to_string(), "--user", "--mount", "--"])
            .arg(env!("CARGO_BIN_EXE_socialconnect"))
            .args(["export", "--account", ACCOUNT])
            .env("SOCIALCONNECT_DATA_DIR", data_dir)
            .output()
            .unwrap(),
    )
}

/// Writes `path` until the file system has no byte left; returns how much it took.
fn fill(path: &Path) -> u64 {
    let mut f = std::fs::File::create(path).unwrap();
    let chunk = vec![0u8; 16 * 1024];
    let mut written = 0u64;
    loop {
        match f.write(&chunk) {
            Ok(0) => break,
            Ok(n) => written += n as u64,
            Err(e) if e.raw_os_error() == Some(28) => break, // ENOSPC
            Err(e) => panic!("filling {}: {e}", path.display()),
        }
    }
    // A last partial block.
    while let Ok(n) = f.write(&chunk[..512]) {
        if n == 0 {
            break;
        }
        written += n as u64;
    }
    let _ = f.sync_all();
    written
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_answers_503_keeps_nothing_half_written_and_recovers() {
    let stage = tempfile::tempdir().unwrap();
    common::seed_linked_page(stage.path(), ACCOUNT, PAGE).await;
    let mnt = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let mut child = start(stage.path(), mnt.path(), port);
    let mut ready = false;
    for _ in 0..400 {
        if let Ok(res) = http.get(format!("{url}/healthz")).send().await
            && res.status().is_success()
        {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(ready, "the server in its namespace never became ready");
    // The server's view of its data dir, from outside its mount namespace.
    let data: PathBuf = format!("/proc/{}/root{}", child.id(), mnt.path().display()).into();
    assert!(data.join("socialconnect.db").exists(), "{}", data.display());

    let filler = data.join("filler");
    let took = fill(&filler);

    let mut statuses = Vec::with_capacity(EVENTS);
    for i in 0..EVENTS {
        statuses.push(send(&http, &url, i).await);
    }
    let health = http.get(format!("{url}/healthz")).send().await.unwrap();
    assert!(health.status().is_success(), "still serving while full");
    let acked: Vec<usize> = (0..EVENTS).filter(|i| statuses[*i] == 200).collect();
    let refused: Vec<usize> = (0..EVENTS).filter(|i| statuses[*i] == 503).collect();
    assert_eq!(
        acked.len() + refused.len(),
        EVENTS,
        "every answer is 200 or 503: {:?}",
        statuses
            .iter()
            .filter(|s| **s != 200 && **s != 503)
            .collect::<Vec<_>>()
    );
    assert!(!refused.is_empty(), "a full disk refused nothing");

    // Space again: nothing half-written (what was refused is absent, what was
    // acknowledged is there once), then the redelivery of the refused events.
    std::fs::remove_file(&filler).unwrap();
    let pid = child.id();
    let seen = exported(pid, mnt.path());
    let id = |i: usize| format!("m.full.{i}");
    assert!(
        acked.iter().all(|i| seen.get(&id(*i)) == Some(&1)),
        "acknowledged {} refused {} stored {}: {:?}",
        acked.len(),
        refused.len(),
        seen.len(),
        acked
            .iter()
            .filter(|i| seen.get(&id(**i)) != Some(&1))
            .take(5)
            .collect::<Vec<_>>()
    );
    assert!(refused.iter().all(|i| !seen.contains_key(&id(*i))));
    for i in &refused {
        let mut tries = 0;
        while send(&http, &url, *i).await != 200 {
            tries += 1;
            assert!(tries < 5, "event {i} refused after space came back");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let seen = exported(pid, mnt.path());
    let duplicated: usize = seen.values().map(|n| n - 1).sum();
    let stored = (0..EVENTS).filter(|i| seen.contains_key(&id(*i))).count();
    println!(
        "disk full: filler {} KB; events sent: {EVENTS}; acknowledged while full: {}; refused with 503: {}; stored after redelivery: {stored}; duplicated: {duplicated}",
        took / 1024,
        acked.len(),
        refused.len()
    );
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(duplicated, 0);
    assert_eq!(stored, EVENTS);
}
