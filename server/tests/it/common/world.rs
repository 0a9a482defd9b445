//! A server and a sandbox pointed at each other, with the sandbox's Facebook page and
//! Twitter/X account linked to the test brand and an admin signed in: for the outbound
//! tests.

use super::{ADMIN, TestServer};
use sandbox::Sandbox;
use serde_json::{Value, json};
use server::crypto::TokenCipher;
use server::store::SqliteStore;
use server::store::prelude::*;
use std::time::Duration;

pub struct World {
    pub sb: Sandbox,
    pub server: TestServer,
    pub store: SqliteStore,
    pub account_id: i64,
    pub agent: reqwest::Client,
    pub csrf: String,
    pub page: sandbox::facebook::Page,
    pub brand: sandbox::twitter::Brand,
}

/// Links the sandbox's pages and X accounts to brands through the real calls, as
/// `socialconnect link` does, with the apps' settings pointing at the sandbox.
pub struct Linker {
    cipher: TokenCipher,
    http: reqwest::Client,
    fb: server::config::FacebookArgs,
    tw: server::config::TwitterArgs,
}

impl Linker {
    /// For the server whose data (and token key) is in `dir`.
    pub fn new(sb: &Sandbox, dir: &std::path::Path) -> Linker {
        let settings = server::config::ServeArgs::for_tests(dir.into());
        let mut fb = settings.facebook.clone();
        fb.facebook_app_secret = Some(sb.credentials.facebook_app_secret.clone());
        fb.facebook_graph_url = sb.facebook.graph_url();
        let mut tw = settings.twitter.clone();
        tw.twitter_consumer_key = Some(sb.credentials.twitter_consumer_key.clone());
        tw.twitter_consumer_secret = Some(sb.credentials.twitter_consumer_secret.clone());
        tw.twitter_api_url = sb.twitter.api_url();
        Linker {
            cipher: TokenCipher::load(None, dir).unwrap(),
            http: reqwest::Client::new(),
            fb,
            tw,
        }
    }

    /// Links `page` to the brand `account_number`, on the `social` skill.
    pub async fn link_page(
        &self,
        store: &dyn Store,
        account_number: &str,
        page: &sandbox::facebook::Page,
    ) {
        server::link::link_facebook(
            store,
            &self.cipher,
            &self.http,
            &self.fb,
            server::link::FacebookPage {
                account_number,
                page_id: &page.id,
                page_name: &page.username,
                page_token: &page.access_token,
                skill: "social",
                by: "test",
            },
        )
        .await
        .unwrap();
    }

    /// A new X account `@acme`, linked to the test brand (its webhook at `url`).
    pub async fn link_x_brand(
        &self,
        store: &dyn Store,
        sb: &Sandbox,
        url: &str,
    ) -> sandbox::twitter::Brand {
        let brand = sb.twitter.add_brand("acme", "Acme Outdoor");
        let (_, warning) = server::link::link_twitter(
            store,
            &self.cipher,
            &self.http,
            &self.tw,
            Some(url),
            server::link::TwitterAccount {
                account_number: ADMIN.0,
                user_id: &brand.id,
                screen_name: &brand.screen_name,
                token: &brand.access_token,
                token_secret: &brand.access_token_secret,
                skill: "social",
                by: "test",
            },
        )
        .await
        .unwrap();
        assert!(warning.is_none(), "{warning:?}");
        brand
    }
}

pub async fn start_server(
    listener: tokio::net::TcpListener,
    data: tempfile::TempDir,
    sb: &Sandbox,
    allow_private: bool,
) -> TestServer {
    start_server_with(listener, data, sb, move |a| {
        a.allow_private_media_urls = allow_private
    })
    .await
}

/// Like [`start_server`], with any other settings adjusted by `adjust`.
pub async fn start_server_with(
    listener: tokio::net::TcpListener,
    data: tempfile::TempDir,
    sb: &Sandbox,
    adjust: impl FnOnce(&mut server::config::ServeArgs),
) -> TestServer {
    let media_hosts = sb.media_http_hosts();
    let c = sb.credentials.clone();
    let (graph, www, api, upload) = (
        sb.facebook.graph_url(),
        sb.facebook.www_url(),
        sb.twitter.api_url(),
        sb.twitter.upload_url(),
    );
    TestServer::start_on(listener, data, move |a| {
        a.facebook.facebook_app_id = Some(c.facebook_app_id.clone());
        a.facebook.facebook_app_secret = Some(c.facebook_app_secret.clone());
        a.facebook.facebook_verify_token = Some(c.facebook_verify_token.clone());
        a.facebook.facebook_graph_url = graph;
        a.facebook.facebook_www_url = www;
        a.twitter.twitter_consumer_key = Some(c.twitter_consumer_key.clone());
        a.twitter.twitter_consumer_secret = Some(c.twitter_consumer_secret.clone());
        a.twitter.twitter_api_url = api;
        a.twitter.twitter_upload_url = upload;
        a.media_http_hosts = media_hosts.parse().unwrap();
        adjust(a);
    })
    .await
}

pub async fn sign_in(url: &str) -> (reqwest::Client, String) {
    let agent = TestServer::client();
    let me: Value = agent
        .post(format!("{url}/api/session"))
        .json(&json!({"account_number": ADMIN.0, "email": ADMIN.1, "password": ADMIN.2}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (agent, me["csrf_token"].as_str().unwrap().to_owned())
}

impl World {
    pub async fn start() -> World {
        Self::start_with(false).await
    }

    pub async fn start_with(allow_private: bool) -> World {
        Self::start_adjusted(move |a| a.allow_private_media_urls = allow_private).await
    }

    /// A world whose server's settings are adjusted by `adjust`.
    pub async fn start_adjusted(adjust: impl FnOnce(&mut server::config::ServeArgs)) -> World {
        let (listener, url, sb) = super::sandbox_calling_back().await;
        let server = start_server_with(listener, tempfile::tempdir().unwrap(), &sb, adjust).await;
        let store = SqliteStore::open(server.data_dir.path()).await.unwrap();
        let linker = Linker::new(&sb, server.data_dir.path());
        let page = sb.facebook.add_page("Acme Outdoor", "AcmeOutdoor");
        linker.link_page(&store, ADMIN.0, &page).await;
        let brand = linker.link_x_brand(&store, &sb, &url).await;
        let account_id = store.account_by_number(ADMIN.0).await.unwrap().unwrap().id;
        let (agent, csrf) = sign_in(&url).await;
        World {
            sb,
            server,
            store,
            account_id,
            agent,
            csrf,
            page,
            brand,
        }
    }

    /// Waits until the export shows a conversation satisfying `pred`; returns its id.
    pub async fn conversation(&self, pred: impl Fn(&Value) -> bool) -> (i64, Value) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let convs = self.store.export(self.account_id, i64::MIN).await.unwrap();
            for c in convs {
                let v = serde_json::to_value(&c).unwrap();
                if pred(&v) {
                    return (c.id, v);
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "conversation never appeared"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Posts a reply `{"text", "mode"}`.
    pub async fn reply(&self, conversation: i64, mode: &str, text: &str) -> (u16, Value) {
        self.reply_with(conversation, json!({"text": text, "mode": mode}))
            .await
    }

    /// Posts a reply with any body.
    pub async fn reply_with(&self, conversation: i64, body: Value) -> (u16, Value) {
        let res = self
            .agent
            .post(format!(
                "{}/api/conversations/{conversation}/replies",
                self.server.url
            ))
            .header("x-csrf-token", &self.csrf)
            .json(&body)
            .send()
            .await
            .unwrap();
        (res.status().as_u16(), res.json().await.unwrap())
    }

    /// Waits until line `id` leaves `sending`; returns (status, error).
    pub async fn settled(&self, id: i64, patience: Duration) -> (String, Option<String>) {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            let (status, error) = self.store.line_status(id).await.unwrap().unwrap();
            if status != "sending" {
                return (status, error);
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "line {id} still sending; calls: {:#?}",
                self.sb
                    .facebook
                    .calls()
                    .all()
                    .iter()
                    .rev()
                    .take(4)
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

pub fn texts(c: &Value) -> Vec<String> {
    c["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_owned())
        .collect()
}
