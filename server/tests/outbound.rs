//! Replies out through the sandbox networks: every mode on each network, ordering,
//! retries, the network's refusals on the agent's line, and a restart with a full outbox.

mod common;

use common::{ADMIN, TestServer};
use sandbox::common::Fault;
use sandbox::{Sandbox, SandboxOptions};
use serde_json::{Value, json};
use server::crypto::TokenCipher;
use server::store::{SqliteStore, Store};
use std::time::Duration;

struct World {
    sb: Sandbox,
    server: TestServer,
    store: SqliteStore,
    account_id: i64,
    agent: reqwest::Client,
    csrf: String,
    page: sandbox::facebook::Page,
    brand: sandbox::twitter::Brand,
}

async fn start_server(
    listener: tokio::net::TcpListener,
    data: tempfile::TempDir,
    sb: &Sandbox,
) -> TestServer {
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
    })
    .await
}

async fn sign_in(url: &str) -> (reqwest::Client, String) {
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
    async fn start() -> World {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let sb = Sandbox::start(SandboxOptions {
            listen: "127.0.0.1:0".parse().unwrap(),
            callback: url.clone(),
            credentials: None,
        })
        .await
        .unwrap();
        let server = start_server(listener, tempfile::tempdir().unwrap(), &sb).await;
        let store = SqliteStore::open(server.data_dir.path()).await.unwrap();
        let cipher = TokenCipher::load(None, server.data_dir.path()).unwrap();
        let http = reqwest::Client::new();
        let settings = server::config::ServeArgs::for_tests(server.data_dir.path().into());
        let mut fb = settings.facebook.clone();
        fb.facebook_app_secret = Some(sb.credentials.facebook_app_secret.clone());
        fb.facebook_graph_url = sb.facebook.graph_url();
        let mut tw = settings.twitter.clone();
        tw.twitter_consumer_key = Some(sb.credentials.twitter_consumer_key.clone());
        tw.twitter_consumer_secret = Some(sb.credentials.twitter_consumer_secret.clone());
        tw.twitter_api_url = sb.twitter.api_url();
        let page = sb.facebook.add_page("Acme Outdoor", "AcmeOutdoor");
        server::link::link_facebook(
            &store,
            &cipher,
            &http,
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
        let brand = sb.twitter.add_brand("acme", "Acme Outdoor");
        let (_, warning) = server::link::link_twitter(
            &store,
            &cipher,
            &http,
            &tw,
            Some(&url),
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
    async fn conversation(&self, pred: impl Fn(&Value) -> bool) -> (i64, Value) {
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

    async fn reply(&self, conversation: i64, mode: &str, text: &str) -> (u16, Value) {
        let res = self
            .agent
            .post(format!(
                "{}/api/conversations/{conversation}/replies",
                self.server.url
            ))
            .header("x-csrf-token", &self.csrf)
            .json(&json!({"text": text, "mode": mode}))
            .send()
            .await
            .unwrap();
        (res.status().as_u16(), res.json().await.unwrap())
    }

    /// Waits until line `id` leaves `sending`; returns (status, error).
    async fn settled(&self, id: i64, patience: Duration) -> (String, Option<String>) {
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

fn texts(c: &Value) -> Vec<String> {
    c["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn facebook_private_public_and_private_response() {
    let w = World::start().await;
    let ann = w.sb.facebook.add_consumer("Ann Lee", true);
    w.sb.facebook
        .consumer_message(&w.page, &ann, "Where is my order?", &[]);
    let (messenger, _) = w
        .conversation(|c| texts(c).contains(&"Where is my order?".to_owned()))
        .await;
    let post =
        w.sb.facebook
            .consumer_post(&w.page, &ann, "The zip broke", None);
    let comment =
        w.sb.facebook
            .consumer_comment(&w.page, &post, &ann, "photo attached")
            .unwrap();
    let (feed, _) = w
        .conversation(|c| texts(c).contains(&"photo attached".to_owned()))
        .await;

    let (status, line) = w.reply(messenger, "private", "It ships today").await;
    assert_eq!(status, 201, "{line}");
    assert_eq!(line["tag"], "Private");
    assert_eq!(
        w.settled(line["id"].as_i64().unwrap(), Duration::from_secs(10))
            .await
            .0,
        "sent"
    );
    let inbox = w.sb.facebook.inbox(&w.page, &ann);
    assert!(
        inbox
            .iter()
            .any(|m| m.from_page && m.text.as_deref() == Some("It ships today"))
    );

    let (_, public) = w.reply(feed, "public", "Sorry! Sending a new one").await;
    assert_eq!(public["tag"], "Public/Comment");
    assert_eq!(
        w.settled(public["id"].as_i64().unwrap(), Duration::from_secs(10))
            .await
            .0,
        "sent"
    );
    let comments = w.sb.facebook.comments(&post);
    let ours = comments
        .iter()
        .find(|c| c.message == "Sorry! Sending a new one")
        .unwrap();
    assert_eq!(ours.from.id, w.page.id);
    assert_eq!(
        ours.parent_id, comment,
        "answers the consumer's last public line"
    );

    let (_, pr) = w
        .reply(feed, "private_response", "DMing you the label")
        .await;
    assert_eq!(
        w.settled(pr["id"].as_i64().unwrap(), Duration::from_secs(10))
            .await
            .0,
        "sent"
    );
    assert!(
        w.sb.facebook
            .inbox(&w.page, &ann)
            .iter()
            .any(|m| m.text.as_deref() == Some("DMing you the label"))
    );
    // Only one private reply per comment: the second is refused by the network.
    let (_, again) = w.reply(feed, "private_response", "and again").await;
    let (status, error) = w
        .settled(again["id"].as_i64().unwrap(), Duration::from_secs(10))
        .await;
    assert_eq!(status, "failed");
    assert!(error.unwrap().starts_with("Facebook:"));

    // A feed-only consumer cannot be messaged in Messenger first.
    let (status, body) = w.reply(feed, "private", "hi").await;
    assert_eq!(status, 400);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("Private Response")
    );

    // The echoes came back and were matched, not shown twice.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, c) = w
        .conversation(|c| texts(c).contains(&"Where is my order?".to_owned()))
        .await;
    assert_eq!(
        texts(&c).iter().filter(|t| *t == "It ships today").count(),
        1
    );
    w.server.stop().await;
}

#[tokio::test]
async fn twitter_public_reply_and_dm_in_order() {
    let w = World::start().await;
    let ann = w.sb.twitter.add_consumer("ann", "Ann Lee");
    let tweet =
        w.sb.twitter
            .consumer_tweet(&ann, "@acme my tent leaks", vec![]);
    w.sb.twitter
        .consumer_dm(&ann, &w.brand.id, "order 42", None)
        .unwrap();
    let (conv, _) = w.conversation(|c| texts(c).len() >= 2).await;

    let (status, public) = w.reply(conv, "public", "@ann so sorry, we'll fix it").await;
    assert_eq!(status, 201);
    assert_eq!(public["tag"], "Public/Thread");
    let mut ids = Vec::new();
    for n in 1..=3 {
        let (_, dm) = w.reply(conv, "private", &format!("step {n}")).await;
        ids.push(dm["id"].as_i64().unwrap());
    }
    assert_eq!(
        w.settled(public["id"].as_i64().unwrap(), Duration::from_secs(10))
            .await
            .0,
        "sent"
    );
    for id in ids {
        assert_eq!(w.settled(id, Duration::from_secs(10)).await.0, "sent");
    }
    let thread = w.sb.twitter.thread(&tweet);
    assert!(
        thread
            .iter()
            .any(|t| t.text == "@ann so sorry, we'll fix it"),
        "{thread:?}"
    );
    let dms: Vec<String> =
        w.sb.twitter
            .dm_conversation(&ann.id, &w.brand.id)
            .into_iter()
            .map(|d| d.text)
            .filter(|t| t.starts_with("step"))
            .collect();
    assert_eq!(dms, ["step 1", "step 2", "step 3"]);
    assert_eq!(w.reply(conv, "private_response", "x").await.0, 400);
    w.server.stop().await;
}

#[tokio::test]
async fn transient_failures_are_retried_and_permanent_ones_shown() {
    let w = World::start().await;
    let ann = w.sb.facebook.add_consumer("Ann Lee", true);
    w.sb.facebook.consumer_message(&w.page, &ann, "hello", &[]);
    let (conv, _) = w
        .conversation(|c| texts(c).contains(&"hello".to_owned()))
        .await;

    w.sb.facebook
        .faults()
        .inject("facebook", "POST /me/messages", Fault::ServerError(503), 2);
    let (_, line) = w.reply(conv, "private", "after two 503s").await;
    assert_eq!(
        w.settled(line["id"].as_i64().unwrap(), Duration::from_secs(30))
            .await
            .0,
        "sent"
    );
    let attempts =
        w.sb.facebook
            .calls()
            .matching("facebook", "POST", "/me/messages");
    assert_eq!(
        attempts.iter().map(|c| c.status).collect::<Vec<_>>(),
        [503, 503, 200]
    );

    let bob = w.sb.twitter.add_consumer("bob", "Bob");
    w.sb.twitter
        .consumer_dm(&bob, &w.brand.id, "hi", None)
        .unwrap();
    let (tconv, _) = w.conversation(|c| c["consumer"]["handle"] == "bob").await;
    w.sb.twitter.shared().faults.inject(
        "twitter",
        "POST /2/dm_conversations/with/{participant_id}/messages",
        Fault::RateLimited {
            retry_after: Duration::from_secs(1),
        },
        1,
    );
    let (_, dm) = w.reply(tconv, "private", "after a 429").await;
    assert_eq!(
        w.settled(dm["id"].as_i64().unwrap(), Duration::from_secs(30))
            .await
            .0,
        "sent"
    );

    // Outside Messenger's window: the network's reason on the line.
    w.sb.facebook
        .age_last_message(&w.page, &ann, Duration::from_secs(8 * 24 * 3600));
    let (_, late) = w.reply(conv, "private", "too late").await;
    let (status, error) = w
        .settled(late["id"].as_i64().unwrap(), Duration::from_secs(10))
        .await;
    assert_eq!(status, "failed");
    assert!(error.unwrap().contains("outside of allowed window"));

    // A revoked token fails the line and marks the page for relinking.
    w.sb.facebook.invalidate_token(&w.page.access_token);
    let (_, revoked) = w.reply(conv, "private", "token gone").await;
    assert_eq!(
        w.settled(revoked["id"].as_i64().unwrap(), Duration::from_secs(10))
            .await
            .0,
        "failed"
    );
    let linked = w
        .store
        .linked_account(shared::Channel::Facebook, &w.page.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(linked.status, server::store::LinkStatus::TokenInvalid);
    w.server.stop().await;
}

#[tokio::test]
async fn a_restart_with_replies_in_the_outbox_loses_and_duplicates_none() {
    let w = World::start().await;
    let ann = w.sb.facebook.add_consumer("Ann Lee", true);
    w.sb.facebook.consumer_message(&w.page, &ann, "hello", &[]);
    let (conv, _) = w
        .conversation(|c| texts(c).contains(&"hello".to_owned()))
        .await;

    // The network is down: replies wait in the outbox.
    w.sb.facebook.faults().inject(
        "facebook",
        "POST /me/messages",
        Fault::ServerError(500),
        1000,
    );
    let mut ids = Vec::new();
    for n in 1..=5 {
        let (_, line) = w.reply(conv, "private", &format!("queued {n}")).await;
        ids.push(line["id"].as_i64().unwrap());
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let World {
        sb, server, store, ..
    } = w;
    let url = server.url.clone();
    let data = server.stop().await;
    drop(store);
    sb.facebook.faults().clear();

    let addr = url.trim_start_matches("http://").to_owned();
    let listener = tokio::net::TcpListener::bind(&addr).await.unwrap();
    let server = start_server(listener, data, &sb).await;
    let store = SqliteStore::open(server.data_dir.path()).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    for id in &ids {
        loop {
            let (status, _) = store.line_status(*id).await.unwrap().unwrap();
            if status == "sent" {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "line {id}: {status}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let sent: Vec<String> = sb
        .facebook
        .inbox(&sb.facebook.pages()[0], &ann)
        .into_iter()
        .filter(|m| m.from_page)
        .filter_map(|m| m.text)
        .collect();
    assert_eq!(
        sent,
        ["queued 1", "queued 2", "queued 3", "queued 4", "queued 5"]
    );
    server.stop().await;
}

#[tokio::test]
async fn limits_are_counted_as_the_networks_count_them() {
    let w = World::start().await;
    let ann = w.sb.twitter.add_consumer("ann", "Ann Lee");
    w.sb.twitter.consumer_tweet(&ann, "@acme help", vec![]);
    let (conv, _) = w.conversation(|c| c["consumer"]["handle"] == "ann").await;

    // A URL weighs 23, an emoji 2, each CJK character 2: exactly 280.
    let exact = format!(
        "https://example.com/a/very/long/path/that/still/counts/23 😀 {}a",
        "漢".repeat(126)
    );
    assert_eq!(
        shared::count(shared::Target::TwitterPublic, &exact).length,
        280
    );
    let (_, ok) = w.reply(conv, "public", &exact).await;
    assert_eq!(
        w.settled(ok["id"].as_i64().unwrap(), Duration::from_secs(10))
            .await
            .0,
        "sent"
    );

    let over = format!("{exact}b");
    let calls_before =
        w.sb.twitter
            .shared()
            .calls
            .matching("twitter", "POST", "/2/tweets")
            .len();
    let (status, line) = w.reply(conv, "public", &over).await;
    assert_eq!(status, 201);
    assert_eq!(line["status"], "failed");
    assert_eq!(
        line["error"],
        "281 characters, over the 280 limit for a Twitter reply"
    );
    assert_eq!(
        w.sb.twitter
            .shared()
            .calls
            .matching("twitter", "POST", "/2/tweets")
            .len(),
        calls_before,
        "an over-limit reply never reaches the network"
    );

    let bo = w.sb.facebook.add_consumer("Bo Diaz", true);
    w.sb.facebook.consumer_message(&w.page, &bo, "hi", &[]);
    let (fb, _) = w
        .conversation(|c| texts(c).contains(&"hi".to_owned()))
        .await;
    let (_, ok) = w.reply(fb, "private", &"é".repeat(2000)).await;
    assert_eq!(
        w.settled(ok["id"].as_i64().unwrap(), Duration::from_secs(10))
            .await
            .0,
        "sent"
    );
    let (_, over) = w.reply(fb, "private", &"é".repeat(2001)).await;
    assert_eq!(over["status"], "failed");
    assert!(
        over["error"]
            .as_str()
            .unwrap()
            .starts_with("2001 characters, over the 2000 limit")
    );
    w.server.stop().await;
}
