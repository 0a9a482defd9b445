//! Inbound end to end against the simulated Facebook: `socialconnect link facebook`
//! subscribes the page through the Graph API, the sandbox's signed webhooks arrive, and
//! the lines are stored, tagged and routed.

use crate::common;

use common::{ADMIN, TestServer};
use sandbox::Sandbox;
use sandbox::facebook::MediaKind;
use serde_json::Value;
use server::store::SqliteStore;
use server::store::prelude::*;
use std::time::Duration;

async fn export_until(store: &SqliteStore, account_id: i64, lines: usize) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let convs: Vec<Value> = store
            .export(account_id, i64::MIN)
            .await
            .unwrap()
            .into_iter()
            .map(|c| serde_json::to_value(c).unwrap())
            .collect();
        let n: usize = convs
            .iter()
            .map(|c| c["messages"].as_array().unwrap().len())
            .sum();
        if n >= lines || tokio::time::Instant::now() > deadline {
            return convs;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_linked_page_delivers_messenger_posts_and_comments() {
    let (listener, _server_url, sb) = common::sandbox_calling_back().await;
    let settings = sb.settings();
    let server = TestServer::start_on(listener, tempfile::tempdir().unwrap(), |a| {
        a.facebook.facebook_app_id = Some(sb.credentials.facebook_app_id.clone());
        a.facebook.facebook_app_secret = Some(sb.credentials.facebook_app_secret.clone());
        a.facebook.facebook_verify_token = Some(sb.credentials.facebook_verify_token.clone());
        a.facebook.facebook_graph_url = sb.facebook.graph_url();
        a.facebook.facebook_www_url = sb.facebook.www_url();
        a.media_http_hosts = sb.media_http_hosts().parse().unwrap();
    })
    .await;

    let page = sb.facebook.add_page("Acme Outdoor", "AcmeOutdoor");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_socialconnect"))
        .args([
            "link",
            "facebook",
            "--account",
            ADMIN.0,
            "--page-id",
            &page.id,
        ])
        .args([
            "--page-name",
            &page.username,
            "--page-token",
            &page.access_token,
        ])
        .args(["--skill", "fb-care"])
        .env("SOCIALCONNECT_DATA_DIR", server.data_dir.path())
        .envs(settings.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let fields = sb.facebook.subscribed_fields(&page);
    for f in ["feed", "messages", "message_echoes"] {
        assert!(fields.iter().any(|x| x == f), "{fields:?}");
    }
    // The token is sealed at rest.
    let db = std::fs::read(server.data_dir.path().join("socialconnect.db")).unwrap();
    assert!(
        !db.windows(page.access_token.len())
            .any(|w| w == page.access_token.as_bytes())
    );
    assert!(sb.facebook.verify_webhook().await, "verification handshake");

    let ann = sb.facebook.add_consumer("Ann Lee", true);
    sb.facebook
        .consumer_message(&page, &ann, "Where is my order?", &[MediaKind::Gif]);
    let post = sb
        .facebook
        .consumer_post(&page, &ann, "The zip broke", None);
    sb.facebook
        .consumer_comment(&page, &post, &ann, "photo attached")
        .unwrap();

    let store = SqliteStore::open(server.data_dir.path()).await.unwrap();
    let account = store.account_by_number(ADMIN.0).await.unwrap().unwrap();
    let convs = export_until(&store, account.id, 3).await;
    // Messenger names the consumer by page-scoped id, the feed by their user id: two
    // conversations until a private reply's `recipient_id` matches the two (outbound.rs).
    assert_eq!(convs.len(), 2, "{convs:#?}");
    let lines: Vec<&Value> = convs
        .iter()
        .flat_map(|c| c["messages"].as_array().unwrap())
        .collect();
    let mut tags: Vec<&str> = lines.iter().map(|m| m["tag"].as_str().unwrap()).collect();
    tags.sort();
    assert_eq!(tags, ["Private", "Public/Comment", "Public/Post"]);
    assert!(convs.iter().all(
        |c| c["skill"] == "fb-care" && c["consumer"]["name"] == "Ann Lee"
            || c["consumer"]["name"].is_null()
    ));
    let private = lines.iter().find(|m| m["tag"] == "Private").unwrap();
    assert_eq!(private["text"], "Where is my order?");
    assert_eq!(private["media"][0]["kind"], "gif");
    let feed = convs
        .iter()
        .find(|c| c["messages"].as_array().unwrap().len() == 2)
        .unwrap();
    assert_eq!(feed["consumer"]["name"], "Ann Lee");

    // Every webhook the sandbox sent was acknowledged.
    let deliveries = sb.facebook.webhooks().deliveries();
    assert!(
        deliveries.iter().all(|d| d.status == Some(200)),
        "{deliveries:?}"
    );
    server.stop().await;
    sb.stop().await;
}

/// A sandbox and a server pointed at each other, both networks configured.
async fn pair(data: tempfile::TempDir) -> (Sandbox, TestServer) {
    let (listener, _server_url, sb) = common::sandbox_calling_back().await;
    let server = serve_on(listener, data, &sb).await;
    (sb, server)
}

async fn serve_on(
    listener: tokio::net::TcpListener,
    data: tempfile::TempDir,
    sb: &Sandbox,
) -> TestServer {
    let media_hosts = sb.media_http_hosts();
    let c = sb.credentials.clone();
    let (api, upload) = (sb.twitter.api_url(), sb.twitter.upload_url());
    TestServer::start_on(listener, data, move |a| {
        a.twitter.twitter_consumer_key = Some(c.twitter_consumer_key.clone());
        a.twitter.twitter_consumer_secret = Some(c.twitter_consumer_secret.clone());
        a.twitter.twitter_api_url = api;
        a.twitter.twitter_upload_url = upload;
        a.media_http_hosts = media_hosts.parse().unwrap();
    })
    .await
}

async fn link_twitter(
    sb: &Sandbox,
    data: &std::path::Path,
    brand: &sandbox::twitter::Brand,
    public_url: Option<&str>,
) -> std::process::Output {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_socialconnect"));
    cmd.args([
        "link",
        "twitter",
        "--account",
        ADMIN.0,
        "--user-id",
        &brand.id,
    ])
    .args([
        "--screen-name",
        &brand.screen_name,
        "--token",
        &brand.access_token,
    ])
    .args(["--token-secret", &brand.access_token_secret])
    .env("SOCIALCONNECT_DATA_DIR", data)
    .env_remove("SOCIALCONNECT_PUBLIC_URL")
    .envs(sb.settings().iter().map(|(k, v)| (*k, v.as_str())));
    if let Some(url) = public_url {
        cmd.env("SOCIALCONNECT_PUBLIC_URL", url);
    }
    cmd.output().await.unwrap()
}

#[tokio::test]
async fn a_linked_twitter_account_delivers_mentions_threads_and_dms() {
    let (sb, server) = pair(tempfile::tempdir().unwrap()).await;
    let brand = sb.twitter.add_brand("acme", "Acme Outdoor");
    let out = link_twitter(&sb, server.data_dir.path(), &brand, Some(&server.url)).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("warning"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let hooks = sb.twitter.webhooks();
    assert_eq!(hooks.len(), 1);
    assert!(hooks[0].valid && hooks[0].url.ends_with("/webhooks/twitter"));

    let ann = sb.twitter.add_consumer("ann", "Ann Lee");
    let tweet = sb
        .twitter
        .consumer_tweet(&ann, "@acme my tent leaks", vec![]);
    sb.twitter
        .consumer_dm(&ann, &brand.id, "order 42", None)
        .unwrap();
    sb.twitter
        .consumer_reply(&ann, &tweet, "@acme still leaking", vec![])
        .unwrap();

    let store = SqliteStore::open(server.data_dir.path()).await.unwrap();
    let account = store.account_by_number(ADMIN.0).await.unwrap().unwrap();
    let convs = export_until(&store, account.id, 3).await;
    assert_eq!(convs.len(), 1, "{convs:#?}");
    let lines = convs[0]["messages"].as_array().unwrap();
    let mut tags: Vec<&str> = lines.iter().map(|m| m["tag"].as_str().unwrap()).collect();
    tags.sort();
    assert_eq!(tags, ["Private", "Public/Post", "Public/Thread"]);
    let times: Vec<&str> = lines
        .iter()
        .map(|m| m["created_at"].as_str().unwrap())
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "ordered by the network's time: {times:?}"
    );
    assert_eq!(convs[0]["consumer"]["handle"], "ann");

    sb.twitter.revoke(&brand.id);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let l = store
            .linked_account(shared::Channel::Twitter, &brand.id)
            .await
            .unwrap()
            .unwrap();
        if l.status == server::store::LinkStatus::TokenInvalid {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "revocation never marked"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.stop().await;
    sb.stop().await;
}

#[tokio::test]
async fn linking_twitter_without_a_running_server_connects_at_the_next_start() {
    let (listener, server_url, sb) = common::sandbox_calling_back().await;
    let brand = sb.twitter.add_brand("acme", "Acme Outdoor");
    // The brand account must exist before linking: a first start creates it, then stop.
    let data = tempfile::tempdir().unwrap();
    let first = TestServer::start_with(data, |_| {}).await;
    let data = first.stop().await;

    // No server listens at the public URL now, so X's CRC cannot pass.
    let out = link_twitter(&sb, data.path(), &brand, Some(&server_url)).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("registers it when it starts"));
    let store = SqliteStore::open(data.path()).await.unwrap();
    let l = store
        .linked_account(shared::Channel::Twitter, &brand.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(l.status, server::store::LinkStatus::WebhooksFailing);

    let server = serve_on(listener, data, &sb).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let l = store
            .linked_account(shared::Channel::Twitter, &brand.id)
            .await
            .unwrap()
            .unwrap();
        if l.status == server::store::LinkStatus::Linked {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never connected: {:?}",
            l.status
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ann = sb.twitter.add_consumer("ann", "Ann Lee");
    sb.twitter
        .consumer_dm(&ann, &brand.id, "hello?", None)
        .unwrap();
    let account = store.account_by_number(ADMIN.0).await.unwrap().unwrap();
    let convs = export_until(&store, account.id, 1).await;
    assert_eq!(convs.len(), 1);
    server.stop().await;
    sb.stop().await;
}

#[tokio::test]
async fn the_demo_links_both_networks_through_its_sandbox() {
    let server = TestServer::start_with(tempfile::tempdir().unwrap(), |a| a.demo = true).await;
    let store = SqliteStore::open(server.data_dir.path()).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let fb = store
            .linked_accounts(shared::Channel::Facebook)
            .await
            .unwrap();
        let tw = store
            .linked_accounts(shared::Channel::Twitter)
            .await
            .unwrap();
        let linked = |l: &[server::store::LinkedAccount]| {
            l.len() == 1 && l[0].status == server::store::LinkStatus::Linked
        };
        if linked(&fb) && linked(&tw) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{fb:?} {tw:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.stop().await;
}

#[tokio::test]
async fn profiles_are_fetched_at_first_contact_with_what_the_network_gives() {
    let (listener, server_url, sb) = common::sandbox_calling_back().await;
    let c = sb.credentials.clone();
    let (graph, api) = (sb.facebook.graph_url(), sb.twitter.api_url());
    let media_hosts = sb.media_http_hosts();
    let server = TestServer::start_on(listener, tempfile::tempdir().unwrap(), move |a| {
        a.facebook.facebook_app_id = Some(c.facebook_app_id.clone());
        a.facebook.facebook_app_secret = Some(c.facebook_app_secret.clone());
        a.facebook.facebook_graph_url = graph;
        a.twitter.twitter_consumer_key = Some(c.twitter_consumer_key.clone());
        a.twitter.twitter_consumer_secret = Some(c.twitter_consumer_secret.clone());
        a.twitter.twitter_api_url = api;
        a.media_http_hosts = media_hosts.parse().unwrap();
    })
    .await;
    let page = sb.facebook.add_page("Acme Outdoor", "AcmeOutdoor");
    let brand = sb.twitter.add_brand("acme", "Acme Outdoor");
    for args in [
        vec![
            "link",
            "facebook",
            "--account",
            ADMIN.0,
            "--page-id",
            &page.id,
            "--page-name",
            &page.username,
            "--page-token",
            &page.access_token,
        ],
        vec![
            "link",
            "twitter",
            "--account",
            ADMIN.0,
            "--user-id",
            &brand.id,
            "--screen-name",
            &brand.screen_name,
            "--token",
            &brand.access_token,
            "--token-secret",
            &brand.access_token_secret,
        ],
    ] {
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_socialconnect"))
            .args(&args)
            .env("SOCIALCONNECT_DATA_DIR", server.data_dir.path())
            .env("SOCIALCONNECT_PUBLIC_URL", &server_url)
            .envs(sb.settings().iter().map(|(k, v)| (*k, v.as_str())))
            .output()
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // One consumer gives every field, one (an EU user) gives no locale, time zone or gender.
    let ann = sb.facebook.add_consumer("Ann Lee", true);
    let eu = sb.facebook.add_consumer("Eva Berg", false);
    sb.facebook.consumer_message(&page, &ann, "hi", &[]);
    sb.facebook.consumer_message(&page, &eu, "hallo", &[]);
    let bo = sb.twitter.add_consumer("bo", "Bo Diaz");
    sb.twitter.consumer_dm(&bo, &brand.id, "yo", None).unwrap();

    let store = SqliteStore::open(server.data_dir.path()).await.unwrap();
    let account = store.account_by_number(ADMIN.0).await.unwrap().unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let convs = loop {
        let convs = export_until(&store, account.id, 3).await;
        let fetched = convs
            .iter()
            .filter(|c| c["consumer"]["profile"] != serde_json::json!({}))
            .count();
        if fetched == 3 || tokio::time::Instant::now() > deadline {
            break convs;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let by_name = |n: &str| {
        convs
            .iter()
            .find(|c| c["consumer"]["name"] == n)
            .unwrap_or_else(|| panic!("{n}: {convs:#?}"))
    };
    let ann = &by_name("Ann Lee")["consumer"]["profile"];
    assert!(
        ann["profile_pic"].is_string() && ann["timezone"].is_number() && ann["gender"].is_string(),
        "{ann}"
    );
    let eva = &by_name("Eva Berg")["consumer"]["profile"];
    assert!(
        eva.get("gender").is_none() && eva.get("timezone").is_none(),
        "{eva}"
    );
    let bo = &by_name("Bo Diaz")["consumer"];
    assert_eq!(bo["handle"], "bo");
    for field in [
        "created_at",
        "description",
        "location",
        "url",
        "public_metrics",
    ] {
        assert!(
            bo["profile"].get(field).is_some(),
            "{field} missing: {}",
            bo["profile"]
        );
    }
    server.stop().await;
    sb.stop().await;
}

/// Signed as the network signs, posted to the server's webhook.
async fn deliver(w: &common::world::World, network: &str, body: &Value) -> u16 {
    use base64::Engine;
    use hmac::{Hmac, Mac};
    let raw = body.to_string();
    let c = &w.sb.credentials;
    let (secret, header) = match network {
        "facebook" => (&c.facebook_app_secret, "x-hub-signature-256"),
        _ => (&c.twitter_consumer_secret, "x-twitter-webhooks-signature"),
    };
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(raw.as_bytes());
    let sig = mac.finalize().into_bytes();
    let sig = match network {
        "facebook" => hex::encode(sig),
        _ => base64::engine::general_purpose::STANDARD.encode(sig),
    };
    reqwest::Client::new()
        .post(format!("{}/webhooks/{network}", w.server.url))
        .header("content-type", "application/json")
        .header(header, format!("sha256={sig}"))
        .body(raw)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Ids from webhooks go into the calls the profile fetcher makes (`GET /{psid}`,
/// `GET /2/users/:id`): an id of another shape is refused where the event is read, so no
/// call is ever built from it, while the well-formed events of the same batch go on.
#[tokio::test]
async fn ids_of_another_shape_never_reach_a_call_to_the_network() {
    use serde_json::json;
    let w = common::world::World::start().await;
    let page = w.page.id.as_str();
    let brand = w.brand.id.as_str();
    let hostile = [
        "../../me",
        "me",
        "2001/feed",
        "2001?fields=access_token",
        "2001#x",
    ];
    let mut messaging: Vec<Value> = hostile
        .iter()
        .enumerate()
        .map(|(i, psid)| {
            json!({"sender":{"id":psid},"recipient":{"id":page},"timestamp":1_700_000_000_000i64,
                   "message":{"mid":format!("m_bad{i}"),"text":"forged path"}})
        })
        .collect();
    messaging.push(json!({"sender":{"id":"2001"},"recipient":{"id":page},
        "timestamp":1_700_000_000_001i64,"message":{"mid":"m_good","text":"hello"}}));
    let fb = json!({"object":"page","entry":[{"id":page,"time":1,"messaging":messaging}]});
    assert_eq!(deliver(&w, "facebook", &fb).await, 200);
    let mut dms: Vec<Value> = hostile
        .iter()
        .enumerate()
        .map(|(i, sender)| {
            json!({"type":"message_create","id":format!("600{i}"),"created_timestamp":"1700000000000",
                   "message_create":{"target":{"recipient_id":brand},"sender_id":sender,
                   "message_data":{"text":"forged path"}}})
        })
        .collect();
    dms.push(
        json!({"type":"message_create","id":"6099","created_timestamp":"1700000000001",
        "message_create":{"target":{"recipient_id":brand},"sender_id":"4001",
        "message_data":{"text":"hello"}}}),
    );
    let x = json!({"for_user_id":brand,"direct_message_events":dms});
    assert_eq!(deliver(&w, "twitter", &x).await, 200);

    // The good ones are stored and looked up (the sandbox knows neither person: it
    // answers an error, and records the call).
    let calls = w.sb.facebook.calls();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while calls.matching("facebook", "GET", "/2001").is_empty()
        || calls.matching("twitter", "GET", "/2/users/4001").is_empty()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never looked up: {:#?}",
            calls.all()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Every GET but the webhook's own upkeep (X's registration and subscriptions).
    let lookups: Vec<String> = calls
        .all()
        .into_iter()
        .filter(|c| c.method == "GET")
        .filter(|c| !c.path.starts_with("/2/webhooks") && !c.path.starts_with("/2/activity/"))
        .map(|c| format!("{} {}", c.network, c.path))
        .collect();
    assert_eq!(
        lookups,
        ["facebook /2001", "twitter /2/users/4001"],
        "no call was built from a forged id"
    );
    let texts: Vec<String> = w
        .store
        .export(w.account_id, i64::MIN)
        .await
        .unwrap()
        .into_iter()
        .flat_map(|c| c.messages)
        .map(|m| m.text)
        .collect();
    assert_eq!(texts, ["hello", "hello"]);
    w.server.stop().await;
}
