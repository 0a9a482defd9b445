//! A real server on `127.0.0.1:0` with its own temporary data dir, for integration tests.

#![allow(dead_code)]

pub mod client;
pub mod pg;
pub mod world;

use server::config::ServeArgs;
use server::store::prelude::*;
use std::path::PathBuf;
use tokio::sync::oneshot;

pub struct TestServer {
    pub url: String,
    pub data_dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

pub const ADMIN: (&str, &str, &str) = ("4242", "admin@brand.example", "admin-pass-1");

impl TestServer {
    /// A server with the bootstrap admin of [`ADMIN`] and, optionally, a widget dir.
    pub async fn start(widget_dir: Option<PathBuf>) -> TestServer {
        Self::start_in(tempfile::tempdir().unwrap(), widget_dir).await
    }

    /// Like [`TestServer::start`], on an existing data dir (a restart).
    pub async fn start_in(data_dir: tempfile::TempDir, widget_dir: Option<PathBuf>) -> TestServer {
        Self::start_with(data_dir, |args| {
            if let Some(dir) = widget_dir {
                args.widget_dir = dir;
            }
        })
        .await
    }

    /// A server on `data_dir` with settings adjusted by `adjust`.
    pub async fn start_with(
        data_dir: tempfile::TempDir,
        adjust: impl FnOnce(&mut ServeArgs),
    ) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::start_on(listener, data_dir, adjust).await
    }

    /// Like [`TestServer::start_with`] on a listener bound beforehand (so its address can
    /// be handed to a sandbox first).
    pub async fn start_on(
        listener: tokio::net::TcpListener,
        data_dir: tempfile::TempDir,
        adjust: impl FnOnce(&mut ServeArgs),
    ) -> TestServer {
        let mut args = ServeArgs::for_tests(data_dir.path().to_path_buf());
        args.bootstrap_admin = Some(
            format!("{}:{}:{}", ADMIN.0, ADMIN.1, ADMIN.2)
                .parse()
                .unwrap(),
        );
        adjust(&mut args);
        let url = format!("{}://{}", args.tls.scheme(), listener.local_addr().unwrap());
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(server::run(args, listener, async {
            let _ = rx.await;
        }));
        let server = TestServer {
            url,
            data_dir,
            stop: Some(tx),
            task: Some(task),
        };
        server.wait_ready().await;
        server
    }

    async fn wait_ready(&self) {
        // Readiness only: an HTTPS server's test certificate is checked by the test.
        let client = reqwest::Client::builder()
            .danger_accept_invalid_certs(true)
            .build()
            .unwrap();
        for _ in 0..200 {
            if let Ok(res) = client.get(format!("{}/healthz", self.url)).send().await
                && res.status().is_success()
            {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        panic!("server at {} never became ready", self.url);
    }

    pub fn client() -> reqwest::Client {
        reqwest::Client::builder()
            .cookie_store(true)
            .build()
            .unwrap()
    }

    /// Shuts down gracefully and hands back the data dir.
    pub async fn stop(mut self) -> tempfile::TempDir {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
        self.data_dir
    }
}

/// A listener for the server (not yet serving) and a sandbox sending its webhooks there:
/// the sandbox needs the server's address, the server the sandbox's settings.
pub async fn sandbox_calling_back() -> (tokio::net::TcpListener, String, sandbox::Sandbox) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let sb = sandbox::Sandbox::start(sandbox::SandboxOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        callback: url.clone(),
        credentials: None,
    })
    .await
    .unwrap();
    (listener, url, sb)
}

/// A brand account `number` with a Facebook page `page` linked (skill "social"), stored
/// under `data_dir` before a server process starts on it, its token sealed with the data
/// dir's key (a server refuses a key that opens none of the tokens).
pub async fn seed_linked_page(data_dir: &std::path::Path, number: &str, page: &str) {
    use server::store::{NewLink, SqliteStore};
    let cipher = server::crypto::TokenCipher::load(None, data_dir).unwrap();
    let store = SqliteStore::open(data_dir).await.unwrap();
    let account = store.ensure_account(number, "Brand", true).await.unwrap();
    let skill = store.ensure_skill(account.id, "social").await.unwrap();
    store
        .link(NewLink {
            account_id: account.id,
            channel: shared::Channel::Facebook,
            network_id: page,
            name: "page",
            token_sealed: cipher.seal("page-token"),
            token_secret_sealed: None,
            skill_id: Some(skill),
            created_by: "test",
        })
        .await
        .unwrap();
}

/// How many times each line's network id appears in a `socialconnect export`'s output,
/// checking the command succeeded.
pub fn exported_ids(out: std::process::Output) -> std::collections::HashMap<String, usize> {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut seen = std::collections::HashMap::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let conversation: serde_json::Value = serde_json::from_str(line).unwrap();
        for m in conversation["messages"].as_array().unwrap() {
            *seen
                .entry(m["network_id"].as_str().unwrap().to_owned())
                .or_default() += 1;
        }
    }
    seen
}
