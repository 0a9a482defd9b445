//! Hostile webhook input through a real server: forged, missing and mismatched signatures,
//! replays, oversized bodies, deeply nested JSON, invalid UTF-8 and wrong content types.
//! Each refusal stores nothing (checked through the brand's export); a replayed, correctly
//! signed event is stored once; the server stays up throughout.

use crate::common;

use base64::Engine;
use common::{ADMIN, TestServer};
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde_json::json;
use server::store::prelude::*;
use server::store::{NewLink, SqliteStore};
use shared::Channel;

const FB_SECRET: &str = "fb-app-secret";
const X_SECRET: &str = "x-consumer-secret";
const PAGE: &str = "1122334455";
const BRAND: &str = "9988776655";

fn mac(secret: &str, body: &[u8]) -> Vec<u8> {
    let mut m = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    m.update(body);
    m.finalize().into_bytes().to_vec()
}

fn fb_sig(secret: &str, body: &[u8]) -> String {
    format!("sha256={}", hex::encode(mac(secret, body)))
}

fn x_sig(secret: &str, body: &[u8]) -> String {
    format!(
        "sha256={}",
        base64::engine::general_purpose::STANDARD.encode(mac(secret, body))
    )
}

fn messenger(mid: &str, text: &str) -> Vec<u8> {
    json!({"object":"page","entry":[{"id":PAGE,"time":1,"messaging":[{
        "sender":{"id":"2001"},"recipient":{"id":PAGE},"timestamp":1_700_000_000_000i64,
        "message":{"mid":mid,"text":text}}]}]})
    .to_string()
    .into_bytes()
}

fn x_dm(id: &str, text: &str) -> Vec<u8> {
    json!({"for_user_id":BRAND,"direct_message_events":[{"type":"message_create","id":id,
        "created_timestamp":"1700000000700","message_create":{"target":{"recipient_id":BRAND},
        "sender_id":"4002","message_data":{"text":text}}}]})
    .to_string()
    .into_bytes()
}

struct H {
    server: TestServer,
    store: SqliteStore,
    account: i64,
    http: reqwest::Client,
}

impl H {
    async fn start() -> H {
        let server = TestServer::start_with(tempfile::tempdir().unwrap(), |a| {
            a.facebook.facebook_app_id = Some("app".into());
            a.facebook.facebook_app_secret = Some(FB_SECRET.into());
            a.facebook.facebook_verify_token = Some("verify".into());
            a.facebook.facebook_graph_url = "http://127.0.0.1:9/v24.0".into();
            a.twitter.twitter_consumer_key = Some("ck".into());
            a.twitter.twitter_consumer_secret = Some(X_SECRET.into());
            a.twitter.twitter_api_url = "http://127.0.0.1:9".into();
        })
        .await;
        let store = SqliteStore::open(server.data_dir.path()).await.unwrap();
        let account = store.account_by_number(ADMIN.0).await.unwrap().unwrap().id;
        let skill = store.ensure_skill(account, "social").await.unwrap();
        for (channel, id) in [(Channel::Facebook, PAGE), (Channel::Twitter, BRAND)] {
            store
                .link(NewLink {
                    account_id: account,
                    channel,
                    network_id: id,
                    name: "brand",
                    token_sealed: vec![1],
                    token_secret_sealed: Some(vec![1]),
                    skill_id: Some(skill),
                    created_by: "test",
                })
                .await
                .unwrap();
        }
        H {
            server,
            store,
            account,
            http: reqwest::Client::new(),
        }
    }

    async fn post(
        &self,
        network: &str,
        sig: Option<String>,
        content_type: &str,
        body: Vec<u8>,
    ) -> StatusCode {
        let header = if network == "facebook" {
            "x-hub-signature-256"
        } else {
            "x-twitter-webhooks-signature"
        };
        let mut req = self
            .http
            .post(format!("{}/webhooks/{network}", self.server.url))
            .header("content-type", content_type)
            .body(body);
        if let Some(sig) = sig {
            req = req.header(header, sig);
        }
        match req.send().await {
            Ok(res) => res.status(),
            // An oversized body may be cut off mid-send once the answer is out.
            Err(e) => panic!("request failed: {e}"),
        }
    }

    /// Messages stored for the brand.
    async fn stored(&self) -> usize {
        self.store
            .export(self.account, i64::MIN)
            .await
            .unwrap()
            .into_iter()
            .map(|c| {
                serde_json::to_value(c).unwrap()["messages"]
                    .as_array()
                    .unwrap()
                    .len()
            })
            .sum()
    }

    async fn healthy(&self) {
        let res = self
            .http
            .get(format!("{}/healthz", self.server.url))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "the server stays up");
    }
}

const JSON: &str = "application/json";

/// Network, what is wrong, the signature header, the body, the expected status.
type Case = (
    &'static str,
    &'static str,
    Option<String>,
    Vec<u8>,
    StatusCode,
);

#[tokio::test]
async fn forged_and_mismatched_signatures_store_nothing_and_replays_store_once() {
    let h = H::start().await;
    let body = messenger("m1", "hello");
    let other = messenger("m2", "other");
    let xbody = x_dm("6001", "dm");
    let cases: Vec<Case> = vec![
        (
            "facebook",
            "missing",
            None,
            body.clone(),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "facebook",
            "wrong secret",
            Some(fb_sig("guess", &body)),
            body.clone(),
            StatusCode::FORBIDDEN,
        ),
        (
            "facebook",
            "another body's",
            Some(fb_sig(FB_SECRET, &other)),
            body.clone(),
            StatusCode::FORBIDDEN,
        ),
        (
            "facebook",
            "not hex",
            Some("sha256=zz".into()),
            body.clone(),
            StatusCode::FORBIDDEN,
        ),
        (
            "facebook",
            "sha1 form",
            Some(format!("sha1={}", hex::encode(mac(FB_SECRET, &body)))),
            body.clone(),
            StatusCode::FORBIDDEN,
        ),
        (
            "facebook",
            "empty",
            Some(String::new()),
            body.clone(),
            StatusCode::FORBIDDEN,
        ),
        (
            "twitter",
            "missing",
            None,
            xbody.clone(),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "twitter",
            "wrong secret",
            Some(x_sig("guess", &xbody)),
            xbody.clone(),
            StatusCode::FORBIDDEN,
        ),
        (
            "twitter",
            "facebook's form",
            Some(fb_sig(X_SECRET, &xbody)),
            xbody.clone(),
            StatusCode::FORBIDDEN,
        ),
        (
            "twitter",
            "another body's",
            Some(x_sig(X_SECRET, &x_dm("6002", "x"))),
            xbody.clone(),
            StatusCode::FORBIDDEN,
        ),
    ];
    for (network, what, sig, body, expected) in cases {
        assert_eq!(
            h.post(network, sig, JSON, body).await,
            expected,
            "{network}: {what} signature"
        );
        assert_eq!(
            h.stored().await,
            0,
            "{network}: {what} signature stored something"
        );
        println!("{network}: {what} signature → {expected}, nothing stored");
    }

    // A correctly signed body, replayed: acknowledged each time, stored once.
    for _ in 0..3 {
        assert_eq!(
            h.post(
                "facebook",
                Some(fb_sig(FB_SECRET, &body)),
                JSON,
                body.clone()
            )
            .await,
            StatusCode::OK
        );
        assert_eq!(
            h.post(
                "twitter",
                Some(x_sig(X_SECRET, &xbody)),
                JSON,
                xbody.clone()
            )
            .await,
            StatusCode::OK
        );
    }
    assert_eq!(h.stored().await, 2, "each replayed event stored once");
    println!("replayed 3×: stored once each");
    h.healthy().await;
}

#[tokio::test]
async fn oversized_nested_invalid_and_mistyped_bodies_are_refused() {
    let h = H::start().await;
    // Oversized: just past the webhook limit and past the app's limit; correctly signed.
    for size in [server::inbound::WEBHOOK_BODY_LIMIT + 1, 2 * 1024 * 1024] {
        let pad = "x".repeat(size);
        let body = json!({"object":"page","entry":[{"id":PAGE,"time":1,"messaging":[{
            "sender":{"id":"2001"},"recipient":{"id":PAGE},"timestamp":1,
            "message":{"mid":"big","text":pad}}]}]})
        .to_string()
        .into_bytes();
        let sig = fb_sig(FB_SECRET, &body);
        assert_eq!(
            h.post("facebook", Some(sig), JSON, body).await,
            StatusCode::PAYLOAD_TOO_LARGE,
            "{size} bytes"
        );
        assert_eq!(h.stored().await, 0);
        println!("{size} bytes → 413, nothing stored");
    }

    // 100,000 nested arrays (and objects): serde_json's recursion limit refuses them.
    let deep_arrays = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)).into_bytes();
    let deep_objects = format!("{}1{}", "{\"a\":".repeat(60_000), "}".repeat(60_000)).into_bytes();
    let invalid_utf8 = {
        let mut b = messenger("m-bad", "caf");
        let at = b.windows(3).position(|w| w == b"caf").unwrap() + 3;
        b.splice(at..at, [0xC3, 0x28, 0xFF]);
        b
    };
    for (what, body) in [
        ("100,000 nested arrays", deep_arrays),
        ("60,000 nested objects", deep_objects),
        ("invalid UTF-8", invalid_utf8),
        ("empty body", Vec::new()),
        ("not JSON", b"object=page&entry=1".to_vec()),
    ] {
        for network in ["facebook", "twitter"] {
            let sig = if network == "facebook" {
                fb_sig(FB_SECRET, &body)
            } else {
                x_sig(X_SECRET, &body)
            };
            let status = h.post(network, Some(sig), JSON, body.clone()).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{network}: {what}");
            assert_eq!(h.stored().await, 0, "{network}: {what}");
            h.healthy().await;
            println!("{network}: {what} → 400, nothing stored, server up");
        }
    }

    // Declared as something other than JSON: refused before parsing, even when signed.
    let body = messenger("m-typed", "hello");
    for ct in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/xml",
    ] {
        let status = h
            .post("facebook", Some(fb_sig(FB_SECRET, &body)), ct, body.clone())
            .await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{ct}");
        let xb = x_dm("6003", "hello");
        let status = h.post("twitter", Some(x_sig(X_SECRET, &xb)), ct, xb).await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{ct}");
        assert_eq!(h.stored().await, 0, "{ct}");
        println!("content type {ct} → 415, nothing stored");
    }
    // The networks' own content type (with a charset) is accepted.
    let status = h
        .post(
            "facebook",
            Some(fb_sig(FB_SECRET, &body)),
            "application/json; charset=utf-8",
            body,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(h.stored().await, 1);
    h.healthy().await;
}
