//! The binary, its settings and the widget's serving, checked from outside.

use crate::common;

use common::TestServer;
use reqwest::StatusCode;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

fn widget_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("index.html"),
        "<!doctype html><title>SocialConnect</title><body>spa</body>",
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("admin")).unwrap();
    std::fs::write(
        dir.path().join("admin/index.html"),
        "<!doctype html><title>SocialConnect</title><body>admin spa</body>",
    )
    .unwrap();
    // Big enough for compression to be worth it.
    std::fs::write(
        dir.path().join("widget-0123456789abcdef.js"),
        "console.log('socialconnect');\n".repeat(400),
    )
    .unwrap();
    dir
}

#[tokio::test]
async fn serves_the_spa_with_cache_headers_compression_and_fallback() {
    let widget = widget_dir();
    let server = TestServer::start(Some(widget.path().to_path_buf())).await;
    let client = reqwest::Client::new();

    // Each page gets its bundle's index.html (`shared::bundles`).
    for (path, bundle) in [
        ("/", "<body>spa"),
        ("/workspace", "<body>spa"),
        ("/deep/link/into/the/app", "<body>spa"),
        ("/home", "<body>admin spa"),
    ] {
        let res = client
            .get(format!("{}{path}", server.url))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        assert_eq!(res.headers()["cache-control"], "no-cache", "{path}");
        assert!(res.text().await.unwrap().contains(bundle), "{path}");
    }

    let res = client
        .get(format!("{}/widget-0123456789abcdef.js", server.url))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(res.headers()["content-encoding"], "gzip");
    assert!(res.bytes().await.unwrap().len() < 2000);

    // The API never falls back to the SPA.
    let res = client
        .get(format!("{}/api/unknown", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );

    // Every answer carries a request id.
    let res = client
        .get(format!("{}/healthz", server.url))
        .send()
        .await
        .unwrap();
    assert!(res.headers().contains_key("x-request-id"));
    server.stop().await;
}

#[tokio::test]
async fn without_a_built_widget_it_says_how_to_build_one() {
    let empty = tempfile::tempdir().unwrap();
    let server = TestServer::start(Some(empty.path().to_path_buf())).await;
    let res = reqwest::get(format!("{}/workspace", server.url))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(res.text().await.unwrap().contains("cargo xtask demo"));
    server.stop().await;
}

/// Starts the real binary with `args` and `envs`, and returns it with the URL from its
/// ready line.
fn spawn_binary(
    args: &[&str],
    envs: &[(&str, &str)],
) -> (std::process::Child, String, Vec<String>) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_socialconnect"));
    cmd.args(args)
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    while let Some(line) = lines.next() {
        let line = line.unwrap();
        seen.push(line.clone());
        if let Some(i) = line.find("listening on http://") {
            let url = line[i + "listening on ".len()..].trim().to_owned();
            // Keep reading so the server's later log lines have somewhere to go.
            std::thread::spawn(move || lines.for_each(drop));
            return (child, url, seen);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("no ready line; saw {seen:?}");
}

fn terminate(child: &mut std::process::Child) -> std::process::ExitStatus {
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    child.wait().unwrap()
}

#[tokio::test]
async fn the_binary_reads_env_prints_its_ready_line_and_stops_gracefully() {
    let data = tempfile::tempdir().unwrap();
    let (mut child, url, _) = spawn_binary(
        &["serve"],
        &[
            ("SOCIALCONNECT_LISTEN", "127.0.0.1:0"),
            ("SOCIALCONNECT_DATA_DIR", data.path().to_str().unwrap()),
            (
                "SOCIALCONNECT_BOOTSTRAP_ADMIN",
                "77:ops@brand.example:pw-77",
            ),
        ],
    );
    let res = reqwest::get(format!("{url}/healthz")).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(data.path().join("socialconnect.db").exists());
    let res = reqwest::Client::new()
        .post(format!("{url}/api/session"))
        .json(&serde_json::json!({"account_number": "77", "email": "ops@brand.example", "password": "pw-77"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(terminate(&mut child).success());
}

#[tokio::test]
async fn a_flag_wins_over_its_env_var_and_demo_prints_the_sign_ins() {
    let data = tempfile::tempdir().unwrap();
    let (mut child, url, seen) = spawn_binary(
        &[
            "serve",
            "--demo",
            "--listen",
            "127.0.0.1:0",
            "--public-url",
            "http://sc.test:1234/",
        ],
        &[
            ("SOCIALCONNECT_LISTEN", "256.0.0.1:1"),
            ("SOCIALCONNECT_DATA_DIR", data.path().to_str().unwrap()),
        ],
    );
    let all = seen.join("\n");
    assert!(all.contains("http://sc.test:1234"), "{all}");
    for who in [
        "admin@demo.example",
        "agent@demo.example",
        "support@socialconnect.example",
    ] {
        assert!(all.contains(who), "{all}");
    }
    // The demo runs the sandbox networks and links the demo page through them.
    let console = all
        .split_whitespace()
        .find(|w| w.ends_with("/console"))
        .unwrap_or_else(|| panic!("no console URL in {all}"));
    assert_eq!(
        reqwest::get(console).await.unwrap().status(),
        StatusCode::OK
    );
    let facebook = reqwest::get(console.replace("/console", "/facebook/console"))
        .await
        .unwrap();
    assert!(facebook.text().await.unwrap().contains("Acme Outdoor"));
    let meta: serde_json::Value = reqwest::get(format!("{url}/api/meta"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(meta["demo"], true);
    assert!(terminate(&mut child).success());
}

#[test]
fn bad_settings_fail_with_a_clear_message() {
    let out = Command::new(env!("CARGO_BIN_EXE_socialconnect"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("SOCIALCONNECT_BOOTSTRAP_ADMIN", "missing-parts")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("ACCOUNT_NUMBER:EMAIL:PASSWORD"), "{err}");

    let data = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_socialconnect"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("SOCIALCONNECT_DATA_DIR", data.path())
        .env("SOCIALCONNECT_DATABASE_URL", "mysql://x")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("postgres://"));
}

#[tokio::test]
async fn the_sandbox_command_prints_settings_that_point_a_server_at_it() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_socialconnect"))
        .args([
            "sandbox",
            "--listen",
            "127.0.0.1:0",
            "--callback",
            "http://127.0.0.1:9",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut settings = std::collections::HashMap::new();
    while settings.len() < 13 {
        let line = lines.next().expect("settings lines").unwrap();
        let (k, v) = line.split_once('=').expect("KEY=VALUE");
        settings.insert(k.to_owned(), v.to_owned());
    }
    for key in [
        "SOCIALCONNECT_FACEBOOK_APP_ID",
        "SOCIALCONNECT_FACEBOOK_APP_SECRET",
        "SOCIALCONNECT_FACEBOOK_VERIFY_TOKEN",
        "SOCIALCONNECT_FACEBOOK_GRAPH_URL",
        "SOCIALCONNECT_FACEBOOK_WWW_URL",
        "SOCIALCONNECT_TWITTER_CONSUMER_KEY",
        "SOCIALCONNECT_TWITTER_CONSUMER_SECRET",
        "SOCIALCONNECT_TWITTER_API_URL",
        "SOCIALCONNECT_TWITTER_UPLOAD_URL",
        "SOCIALCONNECT_LIVEENGAGE_DOMAIN_URL",
        "SOCIALCONNECT_LIVEENGAGE_SDK_URL",
        "SOCIALCONNECT_FRAME_ANCESTORS",
        "SOCIALCONNECT_MEDIA_HTTP_HOSTS",
    ] {
        assert!(!settings[key].is_empty(), "{key}");
    }
    let graph = &settings["SOCIALCONNECT_FACEBOOK_GRAPH_URL"];
    let base = graph.split("/facebook/").next().unwrap();
    let console = reqwest::get(format!("{base}/console")).await.unwrap();
    assert_eq!(console.status(), StatusCode::OK);
    assert_eq!(
        settings["SOCIALCONNECT_LIVEENGAGE_DOMAIN_URL"],
        format!("{base}/liveengage/domain")
    );
    // The agent workspace that frames the widget, and the SDK the widget loads.
    assert_eq!(settings["SOCIALCONNECT_FRAME_ANCESTORS"], base);
    assert_eq!(
        settings["SOCIALCONNECT_LIVEENGAGE_SDK_URL"],
        format!("{base}/liveengage/webagent/client-SDK.js")
    );
    let sdk = reqwest::get(&settings["SOCIALCONNECT_LIVEENGAGE_SDK_URL"])
        .await
        .unwrap();
    assert_eq!(sdk.status(), StatusCode::OK);
    assert!(sdk.text().await.unwrap().contains("lpTag.agentSDK"));
    assert!(terminate(&mut child).success());
}

#[test]
fn count_reads_json_lines_and_answers_one_line_each() {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_socialconnect"))
        .args(["count", "--target", "twitter-public"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let input = format!(
        "{}\n{}\n",
        serde_json::json!({"text": "hi https://example.com/x 😀"}),
        serde_json::json!({"text": "漢".repeat(141)})
    );
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines[0],
        serde_json::json!({"length": 29, "limit": 280, "valid": true})
    );
    assert_eq!(
        lines[1],
        serde_json::json!({"length": 282, "limit": 280, "valid": false})
    );
}
