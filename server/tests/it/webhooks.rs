//! Webhooks in: handshakes, signatures, and what ends up stored, through a real server.

use crate::common;

use base64::Engine;
use common::{ADMIN, TestServer};
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde_json::{Value, json};
use server::store::prelude::*;
use server::store::{LinkStatus, NewLink, SqliteStore};
use shared::Channel;

const FB_SECRET: &str = "fb-app-secret";
const FB_VERIFY: &str = "fb-verify";
const TW_SECRET: &str = "tw-consumer-secret";
const PAGE: &str = "1122334455";
const BRAND: &str = "9988776655";

fn mac(key: &str, body: &[u8]) -> Vec<u8> {
    let mut m = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
    m.update(body);
    m.finalize().into_bytes().to_vec()
}

struct Fixture {
    server: TestServer,
    store: SqliteStore,
    account_id: i64,
    http: reqwest::Client,
}

impl Fixture {
    async fn start() -> Fixture {
        let server = TestServer::start_with(tempfile::tempdir().unwrap(), |a| {
            a.facebook.facebook_app_id = Some("app".into());
            a.facebook.facebook_app_secret = Some(FB_SECRET.into());
            a.facebook.facebook_verify_token = Some(FB_VERIFY.into());
            a.twitter.twitter_consumer_key = Some("ck".into());
            a.twitter.twitter_consumer_secret = Some(TW_SECRET.into());
        })
        .await;
        let store = SqliteStore::open(server.data_dir.path()).await.unwrap();
        let account = store.account_by_number(ADMIN.0).await.unwrap().unwrap();
        let skill = store.ensure_skill(account.id, "social").await.unwrap();
        for (channel, id) in [(Channel::Facebook, PAGE), (Channel::Twitter, BRAND)] {
            store
                .link(NewLink {
                    account_id: account.id,
                    channel,
                    network_id: id,
                    name: "acme",
                    token_sealed: vec![1, 2, 3],
                    token_secret_sealed: None,
                    skill_id: Some(skill),
                    created_by: "test",
                })
                .await
                .unwrap();
        }
        Fixture {
            server,
            store,
            account_id: account.id,
            http: reqwest::Client::new(),
        }
    }

    async fn facebook(&self, body: &Value) -> StatusCode {
        let raw = body.to_string();
        let sig = format!("sha256={}", hex::encode(mac(FB_SECRET, raw.as_bytes())));
        self.post(
            "/webhooks/facebook",
            raw,
            Some(("x-hub-signature-256", sig)),
        )
        .await
    }

    async fn twitter(&self, body: &Value) -> StatusCode {
        let raw = body.to_string();
        let sig = format!(
            "sha256={}",
            base64::engine::general_purpose::STANDARD.encode(mac(TW_SECRET, raw.as_bytes()))
        );
        self.post(
            "/webhooks/twitter",
            raw,
            Some(("x-twitter-webhooks-signature", sig)),
        )
        .await
    }

    async fn post(&self, path: &str, body: String, header: Option<(&str, String)>) -> StatusCode {
        let mut req = self
            .http
            .post(format!("{}{path}", self.server.url))
            .header("content-type", "application/json")
            .body(body);
        if let Some((k, v)) = header {
            req = req.header(k, v);
        }
        req.send().await.unwrap().status()
    }

    async fn export(&self) -> Vec<Value> {
        self.store
            .export(self.account_id, i64::MIN)
            .await
            .unwrap()
            .into_iter()
            .map(|c| serde_json::to_value(c).unwrap())
            .collect()
    }
}

fn messenger(page: &str, psid: &str, mid: &str, ts: i64, text: &str) -> Value {
    json!({"object":"page","entry":[{"id":page,"time":ts,"messaging":[{
        "sender":{"id":psid},"recipient":{"id":page},"timestamp":ts,
        "message":{"mid":mid,"text":text}}]}]})
}

#[tokio::test]
async fn handshakes_answer_only_the_right_secrets() {
    let f = Fixture::start().await;
    let url = &f.server.url;
    let ok = f
        .http
        .get(format!("{url}/webhooks/facebook?hub.mode=subscribe&hub.verify_token={FB_VERIFY}&hub.challenge=12345"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(ok.text().await.unwrap(), "12345");
    let bad = f
        .http
        .get(format!(
            "{url}/webhooks/facebook?hub.mode=subscribe&hub.verify_token=nope&hub.challenge=1"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::FORBIDDEN);

    let crc: Value = f
        .http
        .get(format!("{url}/webhooks/twitter?crc_token=abc"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let expected = format!(
        "sha256={}",
        base64::engine::general_purpose::STANDARD.encode(mac(TW_SECRET, b"abc"))
    );
    assert_eq!(crc["response_token"], expected);
    f.server.stop().await;
}

/// X's CRC answer is the HMAC that signs event bodies: it must never sign a body.
#[tokio::test]
async fn the_crc_signs_only_tokens_of_xs_shape_so_no_event_can_be_forged_with_it() {
    let f = Fixture::start().await;
    let url = &f.server.url;
    let crc = |token: &str| {
        f.http
            .get(format!("{url}/webhooks/twitter"))
            .query(&[("crc_token", token)])
            .send()
    };
    // A stranger asks the CRC to sign a whole event: refused, nothing signed.
    let event = json!({"for_user_id":BRAND,"direct_message_events":[{"type":"message_create",
        "id":"6002","created_timestamp":"1795601000000","message_create":{
        "target":{"recipient_id":BRAND},"sender_id":"4001","message_data":{"text":"forged"}}}]});
    let raw = event.to_string();
    let asked = crc(&raw).await.unwrap();
    assert_eq!(asked.status(), StatusCode::BAD_REQUEST);
    assert!(!asked.text().await.unwrap().contains("sha256="));
    for bad in ["", "a b", "<script>", "a.b", &"a".repeat(256)] {
        assert_eq!(
            crc(bad).await.unwrap().status(),
            StatusCode::BAD_REQUEST,
            "{bad:?}"
        );
    }
    // A token of X's shape is answered (X's own example is a UUID)...
    let answer: Value = crc("9b4507b3-9040-4669-9ca3-6b94edb50553")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let response_token = answer["response_token"].as_str().unwrap().to_owned();
    // ...but that answer signs only that token: as a body's signature it is refused.
    assert_eq!(
        f.post(
            "/webhooks/twitter",
            raw,
            Some(("x-twitter-webhooks-signature", response_token))
        )
        .await,
        StatusCode::FORBIDDEN
    );
    assert!(f.export().await.is_empty());

    // Facebook's challenge is echoed only when it is of Facebook's shape.
    let verify = |challenge: &str| {
        f.http
            .get(format!("{url}/webhooks/facebook"))
            .query(&[
                ("hub.mode", "subscribe"),
                ("hub.verify_token", FB_VERIFY),
                ("hub.challenge", challenge),
            ])
            .send()
    };
    let echoed = verify("1158201444").await.unwrap();
    assert_eq!(echoed.status(), StatusCode::OK);
    assert_eq!(echoed.text().await.unwrap(), "1158201444");
    for bad in ["<script>alert(1)</script>", "a b", &"1".repeat(256)] {
        let res = verify(bad).await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{bad:?}");
        assert!(!res.text().await.unwrap().contains(bad));
    }
    f.server.stop().await;
}

/// Ids from a webhook go into calls to the network (`/{psid}`, `/{comment-id}/comments`,
/// `/2/users/:id`): an event whose ids are not of the network's shape is dropped, and the
/// rest of its batch is stored.
#[tokio::test]
async fn events_with_ids_of_another_shape_are_dropped_and_the_rest_stored() {
    let f = Fixture::start().await;
    let hostile = [
        "../2001",
        "2001/feed",
        "2001?fields=x",
        "2001#x",
        "20 01",
        "..",
    ];
    let mut messaging: Vec<Value> = hostile
        .iter()
        .enumerate()
        .map(|(i, psid)| {
            json!({"sender":{"id":psid},"recipient":{"id":PAGE},"timestamp":1_700_000_000_000i64 + i as i64,
                   "message":{"mid":format!("m.{i}"),"text":"bad psid"}})
        })
        .collect();
    messaging.extend(hostile.iter().map(|mid| {
        json!({"sender":{"id":"2001"},"recipient":{"id":PAGE},"timestamp":1_700_000_001_000i64,
               "message":{"mid":mid,"text":"bad mid"}})
    }));
    messaging.push(json!({"sender":{"id":"2001"},"recipient":{"id":PAGE},
        "timestamp":1_700_000_002_000i64,"message":{"mid":"m.ok","text":"kept"}}));
    let body = json!({"object":"page","entry":[{"id":PAGE,"time":1,"messaging":messaging}]});
    assert_eq!(f.facebook(&body).await, StatusCode::OK);
    let feed = |value: Value| json!({"object":"page","entry":[{"id":PAGE,"time":1,"changes":[{"field":"feed","value":value}]}]});
    for id in hostile {
        let comment = json!({"from":{"id":"3001"},"item":"comment","verb":"add",
            "post_id":format!("{PAGE}_1"),"comment_id":id,"parent_id":format!("{PAGE}_1"),
            "message":"bad comment id","created_time":1_700_000_010});
        assert_eq!(f.facebook(&feed(comment)).await, StatusCode::OK);
        let post = json!({"from":{"id":"3001"},"item":"status","verb":"add","post_id":id,
            "message":"bad post id","created_time":1_700_000_010});
        assert_eq!(f.facebook(&feed(post)).await, StatusCode::OK);
        let tweet = json!({"data":{"event_uuid":"u","filter":{"user_id":BRAND},
            "event_type":"post.mention.create","payload":{"id":"5001","text":"@acme x","author_id":id}}});
        assert_eq!(f.twitter(&tweet).await, StatusCode::OK);
        let dm = json!({"for_user_id":BRAND,"direct_message_events":[{"type":"message_create",
            "id":id,"created_timestamp":"1795601000000","message_create":{
            "target":{"recipient_id":BRAND},"sender_id":"4001","message_data":{"text":"bad dm id"}}}]});
        assert_eq!(f.twitter(&dm).await, StatusCode::OK);
    }
    let convs = f.export().await;
    let texts: Vec<&str> = convs
        .iter()
        .flat_map(|c| c["messages"].as_array().unwrap())
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["kept"], "{convs:#?}");
    f.server.stop().await;
}

#[tokio::test]
async fn forged_missing_or_oversized_deliveries_store_nothing() {
    let f = Fixture::start().await;
    let body = messenger(PAGE, "2001", "m.1", 1_700_000_000_000, "hi").to_string();
    assert_eq!(
        f.post("/webhooks/facebook", body.clone(), None).await,
        StatusCode::UNAUTHORIZED
    );
    let forged = format!("sha256={}", hex::encode(mac("wrong", body.as_bytes())));
    assert_eq!(
        f.post(
            "/webhooks/facebook",
            body.clone(),
            Some(("x-hub-signature-256", forged))
        )
        .await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        f.post(
            "/webhooks/twitter",
            body,
            Some(("x-twitter-webhooks-signature", "sha256=AAAA".into()))
        )
        .await,
        StatusCode::FORBIDDEN
    );
    let huge = json!({"object":"page","entry":[],"pad":"x".repeat(600 * 1024)});
    assert_eq!(f.facebook(&huge).await, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(f.export().await.is_empty());
    f.server.stop().await;
}

#[tokio::test]
async fn messenger_lines_land_once_in_network_time_order_with_echoes_matched() {
    let f = Fixture::start().await;
    let later = messenger(PAGE, "2001", "m.2", 1_700_000_002_000, "second");
    let earlier = messenger(PAGE, "2001", "m.1", 1_700_000_001_000, "first");
    assert_eq!(f.facebook(&later).await, StatusCode::OK);
    assert_eq!(f.facebook(&earlier).await, StatusCode::OK);
    // Facebook redelivers what it believes failed.
    assert_eq!(f.facebook(&later).await, StatusCode::OK);
    let echo = json!({"object":"page","entry":[{"id":PAGE,"messaging":[{
        "sender":{"id":PAGE},"recipient":{"id":"2001"},"timestamp":1_700_000_003_000i64,
        "message":{"mid":"m.3","text":"we are on it","is_echo":true,"app_id":1}}]}]});
    assert_eq!(f.facebook(&echo).await, StatusCode::OK);
    assert_eq!(f.facebook(&echo).await, StatusCode::OK);

    let convs = f.export().await;
    assert_eq!(convs.len(), 1, "{convs:#?}");
    let c = &convs[0];
    assert_eq!(c["channel"], "facebook");
    assert_eq!(c["account"], ADMIN.0);
    assert_eq!(c["skill"], "social");
    assert_eq!(c["status"], "open");
    assert_eq!(c["consumer"]["network_id"], "2001");
    let lines: Vec<(&str, &str, &str, &str)> = c["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["text"].as_str().unwrap(),
                m["tag"].as_str().unwrap(),
                m["direction"].as_str().unwrap(),
                m["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            ("first", "Private", "in", "received"),
            ("second", "Private", "in", "received"),
            ("we are on it", "Private", "out", "sent"),
        ]
    );
    assert_eq!(c["messages"][0]["created_at"], "2023-11-14T22:13:21.000Z");
    f.server.stop().await;
}

#[tokio::test]
async fn comments_threads_edits_and_removals() {
    let f = Fixture::start().await;
    let feed = |value: Value| json!({"object":"page","entry":[{"id":PAGE,"time":1,"changes":[{"field":"feed","value":value}]}]});
    let steps = [
        json!({"from":{"id":"3001","name":"Ann"},"item":"status","verb":"add","post_id":format!("{PAGE}_1"),"message":"broken zip","created_time":1_700_000_000}),
        json!({"from":{"id":"3001","name":"Ann"},"item":"comment","verb":"add","post_id":format!("{PAGE}_1"),"comment_id":"1_2","parent_id":format!("{PAGE}_1"),"message":"photo attached","created_time":1_700_000_010}),
        json!({"from":{"id":PAGE,"name":"Acme"},"item":"comment","verb":"add","post_id":format!("{PAGE}_1"),"comment_id":"1_3","parent_id":"1_2","message":"sorry! DM us","created_time":1_700_000_020}),
        json!({"from":{"id":"3001","name":"Ann"},"item":"comment","verb":"edited","post_id":format!("{PAGE}_1"),"comment_id":"1_2","parent_id":format!("{PAGE}_1"),"message":"photo attached (edited)","created_time":1_700_000_010}),
        json!({"from":{"id":"3001"},"item":"status","verb":"remove","post_id":format!("{PAGE}_1"),"created_time":1_700_000_030}),
    ];
    for v in steps {
        assert_eq!(f.facebook(&feed(v)).await, StatusCode::OK);
    }
    let convs = f.export().await;
    assert_eq!(convs.len(), 1);
    let m = convs[0]["messages"].as_array().unwrap();
    assert_eq!(m.len(), 3);
    assert_eq!(
        (m[0]["tag"].as_str(), m[0]["removed"].as_bool()),
        (Some("Public/Post"), Some(true))
    );
    assert_eq!(m[1]["text"], "photo attached (edited)");
    assert_eq!(m[1]["edited"], true);
    assert_eq!(
        (m[2]["direction"].as_str(), m[2]["author"].as_str()),
        (Some("out"), Some("agent"))
    );
    assert_eq!(convs[0]["consumer"]["name"], "Ann");
    f.server.stop().await;
}

#[tokio::test]
async fn twitter_public_and_private_lines_share_one_conversation() {
    let f = Fixture::start().await;
    let xaa = |event_type: &str, payload: Value| {
        json!({"data":{"event_uuid":"u","filter":{"user_id":BRAND},"event_type":event_type,"tag":"sc",
            "payload":payload,"includes":{"users":[{"id":"4001","username":"ann","name":"Ann"}]}}})
    };
    let mention = xaa(
        "post.mention.create",
        json!({"id":"5001","text":"@acme help","author_id":"4001","created_at":"2026-11-25T10:00:00.000Z"}),
    );
    let thread = xaa(
        "post.mention.create",
        json!({"id":"5002","text":"@acme still","author_id":"4001","in_reply_to_tweet_id":"5001","created_at":"2026-11-25T10:01:00.000Z"}),
    );
    let dm = xaa(
        "dm.received",
        json!({"direct_message_events":[{"type":"message_create","id":"6001","created_timestamp":"1795601000000",
        "message_create":{"target":{"recipient_id":BRAND},"sender_id":"4001","message_data":{"text":"order 42"}}}]}),
    );
    for body in [&mention, &thread, &dm, &dm] {
        assert_eq!(f.twitter(body).await, StatusCode::OK);
    }
    // The legacy Account Activity payload of the same DM is the same line.
    let aaa = json!({"for_user_id":BRAND,"direct_message_events":[{"type":"message_create","id":"6001","created_timestamp":"1795601000000",
        "message_create":{"target":{"recipient_id":BRAND},"sender_id":"4001","message_data":{"text":"order 42"}}}]});
    assert_eq!(f.twitter(&aaa).await, StatusCode::OK);

    let convs = f.export().await;
    assert_eq!(convs.len(), 1, "{convs:#?}");
    let tags: Vec<&str> = convs[0]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["tag"].as_str().unwrap())
        .collect();
    assert_eq!(tags, ["Public/Post", "Public/Thread", "Private"]);
    assert_eq!(convs[0]["consumer"]["handle"], "ann");

    let revoke = xaa("oauth.revoke", json!({}));
    assert_eq!(f.twitter(&revoke).await, StatusCode::OK);
    let linked = f
        .store
        .linked_account(Channel::Twitter, BRAND)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(linked.status, LinkStatus::TokenInvalid);
    f.server.stop().await;
}

#[tokio::test]
async fn events_for_unlinked_pages_are_acknowledged_and_dropped() {
    let f = Fixture::start().await;
    let other = messenger("5555", "2009", "m.9", 1, "hello?");
    assert_eq!(f.facebook(&other).await, StatusCode::OK);
    assert!(f.export().await.is_empty());
    f.server.stop().await;
}

#[tokio::test]
async fn export_cli_writes_json_lines() {
    let f = Fixture::start().await;
    assert_eq!(
        f.facebook(&messenger(PAGE, "2001", "m.1", 1_700_000_001_000, "hi"))
            .await,
        StatusCode::OK
    );
    assert_eq!(
        f.facebook(&messenger(PAGE, "2002", "m.2", 1_700_000_009_000, "yo"))
            .await,
        StatusCode::OK
    );
    let run = |since: Option<&str>| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_socialconnect"));
        cmd.args(["export", "--account", ADMIN.0])
            .env("SOCIALCONNECT_DATA_DIR", f.server.data_dir.path());
        if let Some(s) = since {
            cmd.args(["--since", s]);
        }
        cmd.output().unwrap()
    };
    let out = run(None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    let recent = run(Some("2023-11-14T22:13:25Z"));
    assert_eq!(String::from_utf8(recent.stdout).unwrap().lines().count(), 1);
    let bad = run(Some("yesterday"));
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("RFC 3339"));
    f.server.stop().await;
}

#[tokio::test]
async fn a_burst_of_new_consumers_is_looked_up_without_waiting_for_more_webhooks() {
    // The Graph API is unreachable here: a look-up fails at once, and counts as tried.
    let f = Fixture::start().await;
    // More new consumers than one pass looks up, in a single webhook: one wake.
    let messaging: Vec<Value> = (0..45)
        .map(|i| {
            json!({"sender":{"id":format!("7000{i}")},"recipient":{"id":PAGE},
                   "timestamp":1_700_000_000_000i64 + i,
                   "message":{"mid":format!("m.burst.{i}"),"text":"hi"}})
        })
        .collect();
    let body = json!({"object":"page","entry":[{"id":PAGE,"time":1,"messaging":messaging}]});
    assert_eq!(f.facebook(&body).await, StatusCode::OK);
    let db = rusqlite::Connection::open(f.server.data_dir.path().join("socialconnect.db")).unwrap();
    let tried = || -> i64 {
        db.query_row(
            "SELECT count(*) FROM consumers WHERE profile_attempted_at IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .unwrap()
    };
    // Without another webhook, the passes after the first used to wait a minute; the
    // deadline is only this test's patience, well inside that.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while tried() < 45 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} of 45 consumers looked up",
            tried()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    f.server.stop().await;
}
