//! Measured in production: `GET /metrics` (Prometheus' text format) only with its bearer
//! token and only when one is set; webhooks, their events and their time to the 200, the
//! outbox and live streams are there. `SOCIALCONNECT_LOG_FORMAT=json` writes one JSON
//! object per log line.

use crate::common;

use common::TestServer;
use hmac::{Hmac, Mac};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

const SECRET: &str = "metrics-app-secret";
const TOKEN: &str = "scrape-me-please";

fn signed(body: &str) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[tokio::test]
async fn metrics_need_their_token_and_count_webhooks() {
    let off = TestServer::start(None).await;
    let res = reqwest::get(format!("{}/metrics", off.url)).await.unwrap();
    assert_eq!(res.status(), 404, "no token set: no endpoint");
    off.stop().await;

    let server = TestServer::start_with(tempfile::tempdir().unwrap(), |a| {
        a.metrics_token = Some(TOKEN.into());
        a.facebook.facebook_app_id = Some("app".into());
        a.facebook.facebook_app_secret = Some(SECRET.into());
        a.facebook.facebook_verify_token = Some("verify".into());
    })
    .await;
    let http = reqwest::Client::new();
    let scrape = |token: Option<&str>| {
        let mut req = http.get(format!("{}/metrics", server.url));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send()
    };
    assert_eq!(scrape(None).await.unwrap().status(), 401);
    assert_eq!(scrape(Some("wrong")).await.unwrap().status(), 401);

    let body = r#"{"object":"page","entry":[]}"#;
    let webhook = |signature: Option<String>| {
        let mut req = http
            .post(format!("{}/webhooks/facebook", server.url))
            .header("content-type", "application/json")
            .body(body);
        if let Some(s) = signature {
            req = req.header("x-hub-signature-256", s);
        }
        req.send()
    };
    assert_eq!(webhook(Some(signed(body))).await.unwrap().status(), 200);
    assert_eq!(webhook(None).await.unwrap().status(), 401);
    // A page's open event stream, counted while open.
    let (agent, _) = common::world::sign_in(&server.url).await;
    let stream = agent
        .get(format!("{}/api/events", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);

    let res = scrape(Some(TOKEN)).await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = res.text().await.unwrap();
    let value = |series: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("{series} in:\n{text}"))
    };
    assert!(value(r#"socialconnect_webhooks_total{network="facebook",outcome="accepted"}"#) >= 1.0);
    assert!(value(r#"socialconnect_webhooks_total{network="facebook",outcome="refused"}"#) >= 1.0);
    assert!(value(r#"socialconnect_webhook_seconds_count{network="facebook"}"#) >= 1.0);
    assert!(
        text.contains(r#"socialconnect_webhook_seconds_bucket{network="facebook",le="0.001"}"#)
    );
    assert_eq!(value("socialconnect_outbox_depth"), 0.0);
    assert!(value("socialconnect_event_streams_open") >= 1.0);
    drop(stream);
    server.stop().await;
}

#[tokio::test]
async fn json_logs_are_one_object_per_line() {
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_socialconnect"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("SOCIALCONNECT_DATA_DIR", data.path())
        .env("SOCIALCONNECT_LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let lines = tokio::task::spawn_blocking(move || {
        let mut seen = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            let done = line.contains("listening on http://");
            seen.push(line);
            if done {
                break;
            }
        }
        seen
    })
    .await
    .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let last = lines.last().expect("some log lines");
    assert!(last.contains("listening on http://"), "{lines:?}");
    for line in &lines {
        let object: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not one JSON object: {line:?}: {e}"));
        assert!(
            object["level"].is_string() && object["fields"].is_object(),
            "{object}"
        );
    }
    let bad = Command::new(env!("CARGO_BIN_EXE_socialconnect"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("SOCIALCONNECT_DATA_DIR", data.path())
        .env("SOCIALCONNECT_LOG_FORMAT", "yaml")
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("yaml"));
}
