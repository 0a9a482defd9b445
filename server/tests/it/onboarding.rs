//! Onboarding against a real server on loopback: a brand's sign-up request, the chat with
//! support arriving live both ways (Server-Sent Events), support enabling the account and
//! the link to SocialConnect Home; other brands, agents and strangers refused.

use crate::common;

use common::TestServer;
use reqwest::StatusCode;
use serde_json::{Value, json};
use server::store::SqliteStore;
use server::store::prelude::*;
use shared::Role;
use std::time::Duration;

struct User {
    client: reqwest::Client,
    csrf: String,
}

async fn sign_in(url: &str, account: &str, email: &str, password: &str) -> User {
    let client = TestServer::client();
    let res = client
        .post(format!("{url}/api/session"))
        .json(&json!({"account_number": account, "email": email, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "sign-in of {email}");
    let me: Value = res.json().await.unwrap();
    User {
        client,
        csrf: me["csrf_token"].as_str().unwrap().to_owned(),
    }
}

impl User {
    async fn get(&self, url: &str) -> (StatusCode, Value) {
        let res = self.client.get(url).send().await.unwrap();
        let status = res.status();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    async fn post(&self, url: &str, body: Value) -> (StatusCode, Value) {
        let res = self
            .client
            .post(url)
            .header("x-csrf-token", &self.csrf)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = res.status();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// The onboarding event stream: each item is one event's `request_id`.
    async fn events(&self, url: &str) -> tokio::sync::mpsc::UnboundedReceiver<Option<i64>> {
        let res = self
            .client
            .get(format!("{url}/api/onboarding/events"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert!(
            res.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream")
        );
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut res = res;
            let mut buf = String::new();
            while let Ok(Some(chunk)) = res.chunk().await {
                buf.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(end) = buf.find("\n\n") {
                    let event: String = buf.drain(..end + 2).collect();
                    for line in event.lines() {
                        if let Some(data) = line.strip_prefix("data:") {
                            let v: Value = serde_json::from_str(data.trim()).unwrap();
                            let _ = tx.send(v["request_id"].as_i64());
                        }
                    }
                }
            }
        });
        rx
    }
}

async fn next_event(rx: &mut tokio::sync::mpsc::UnboundedReceiver<Option<i64>>) -> Option<i64> {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("an event within 10 s")
        .expect("the stream is open")
}

/// Brand 2000 (SocialConnect not enabled) with an admin and an agent, brand 3000 with an
/// admin, and a support user.
async fn seed(server: &TestServer) {
    let store = SqliteStore::open(server.data_dir.path()).await.unwrap();
    let a = store
        .ensure_account("2000", "Northwind", false)
        .await
        .unwrap();
    let b = store
        .ensure_account("3000", "Contoso", false)
        .await
        .unwrap();
    for (account, email, role) in [
        (Some(a.id), "admin@northwind.example", Role::Admin),
        (Some(a.id), "agent@northwind.example", Role::Agent),
        (Some(b.id), "admin@contoso.example", Role::Admin),
        (None, "support@sc.example", Role::Support),
    ] {
        server::auth::create_user(&store, account, email, email, role, "pass-word-1")
            .await
            .unwrap()
            .unwrap();
    }
}

#[tokio::test]
async fn sign_up_chat_live_both_ways_enable_and_the_link_to_home() {
    let server = TestServer::start(None).await;
    seed(&server).await;
    let url = server.url.as_str();
    let admin = sign_in(url, "2000", "admin@northwind.example", "pass-word-1").await;
    let agent = sign_in(url, "2000", "agent@northwind.example", "pass-word-1").await;
    let other = sign_in(url, "3000", "admin@contoso.example", "pass-word-1").await;
    let support = sign_in(url, "", "support@sc.example", "pass-word-1").await;
    let signup = format!("{url}/api/onboarding/signup");

    // No request yet; without the CSRF header none is made.
    assert_eq!(admin.get(&signup).await.0, StatusCode::NOT_FOUND);
    let res = admin.client.post(&signup).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(admin.get(&signup).await.0, StatusCode::NOT_FOUND);

    let mut support_live = support.events(url).await;
    let mut admin_live = admin.events(url).await;
    let mut other_live = other.events(url).await;

    let (status, request) = admin.post(&signup, json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{request}");
    let id = request["id"].as_i64().unwrap();
    assert_eq!(request["status"], "open");
    assert_eq!(request["account_number"], "2000");
    assert_eq!(request["home_url"], Value::Null);
    assert_eq!(next_event(&mut support_live).await, Some(id));
    assert_eq!(next_event(&mut admin_live).await, Some(id));
    // The same account signs up once: the agent gets the same request.
    let (status, again) = agent.post(&signup, json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["id"], id);

    // The brand writes; support hears of it live and reads it verbatim.
    let hostile = "<script>alert('x')</script> We'd like SocialConnect & more";
    let messages = format!("{url}/api/onboarding/requests/{id}/messages");
    let (status, msg) = admin
        .post(&messages, json!({"text": format!("  {hostile}\u{0} ")}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{msg}");
    assert_eq!(msg["text"], hostile);
    assert_eq!(msg["author"], "brand");
    assert_eq!(next_event(&mut support_live).await, Some(id));
    assert_eq!(next_event(&mut admin_live).await, Some(id));
    let (status, list) = support.get(&format!("{url}/api/onboarding/requests")).await;
    assert_eq!(status, StatusCode::OK);
    let listed = list
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id)
        .expect("support sees the request");
    assert_eq!(listed["last_author"], "brand");
    assert_eq!(listed["messages"], 2, "greeting and the brand's message");
    let (_, chat) = support
        .get(&format!("{url}/api/onboarding/requests/{id}"))
        .await;
    let texts: Vec<&str> = chat["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert!(
        texts[0].starts_with("Thank you for signing up"),
        "{texts:?}"
    );
    assert_eq!(texts[1], hostile);

    // Support answers; the brand hears of it live.
    let (status, msg) = support
        .post(&messages, json!({"text": "Hello Northwind!"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(msg["author"], "support");
    assert_eq!(next_event(&mut admin_live).await, Some(id));
    assert_eq!(next_event(&mut support_live).await, Some(id));

    // Another brand: its stream never carried brand 2000's request; the request itself
    // is as good as missing; support-only routes are refused.
    let (status, theirs) = other.post(&signup, json!({})).await;
    assert_eq!(status, StatusCode::CREATED);
    let their_id = theirs["id"].as_i64().unwrap();
    assert_eq!(next_event(&mut other_live).await, Some(their_id));
    assert_eq!(next_event(&mut support_live).await, Some(their_id));
    let chat_url = format!("{url}/api/onboarding/requests/{id}");
    let (status, body) = other.get(&chat_url).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(!body.to_string().contains("Northwind"));
    assert_eq!(
        other.post(&messages, json!({"text": "hi"})).await.0,
        StatusCode::NOT_FOUND
    );
    for who in [&admin, &agent, &other] {
        assert_eq!(
            who.get(&format!("{url}/api/onboarding/requests")).await.0,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            who.post(&format!("{chat_url}/enable"), json!({})).await.0,
            StatusCode::FORBIDDEN
        );
    }
    assert_eq!(support.get(&signup).await.0, StatusCode::FORBIDDEN);
    assert_eq!(
        support.post(&signup, json!({})).await.0,
        StatusCode::FORBIDDEN
    );

    // Support enables: the account is on, the link is on the request and in the chat.
    let (status, enabled) = support.post(&format!("{chat_url}/enable"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{enabled}");
    let home = format!("{url}/home");
    assert_eq!(enabled["status"], "enabled");
    assert_eq!(enabled["home_url"], home.as_str());
    assert_eq!(next_event(&mut admin_live).await, Some(id));
    let (_, me) = admin.get(&format!("{url}/api/session")).await;
    assert_eq!(me["account"]["socialconnect_enabled"], true);
    let (_, chat) = admin.get(&chat_url).await;
    let last = chat["messages"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["author"], "system");
    assert_eq!(last["link"], home.as_str());
    assert!(
        last["text"]
            .as_str()
            .unwrap()
            .contains("enabled for account 2000")
    );
    assert_eq!(chat["request"]["home_url"], home.as_str());
    // Enabling again changes nothing; brand 3000 stays off.
    let (status, _) = support.post(&format!("{chat_url}/enable"), json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let (_, chat2) = admin.get(&chat_url).await;
    assert_eq!(
        chat2["messages"].as_array().unwrap().len(),
        chat["messages"].as_array().unwrap().len()
    );
    let (_, me) = other.get(&format!("{url}/api/session")).await;
    assert_eq!(me["account"]["socialconnect_enabled"], false);
}

#[tokio::test]
async fn chat_text_and_sign_ups_are_bounded() {
    let server = TestServer::start(None).await;
    seed(&server).await;
    let url = server.url.as_str();
    let admin = sign_in(url, "2000", "admin@northwind.example", "pass-word-1").await;
    let signup = format!("{url}/api/onboarding/signup");
    let (_, request) = admin.post(&signup, json!({})).await;
    let messages = format!("{url}/api/onboarding/requests/{}/messages", request["id"]);

    for (text, why) in [
        ("   ".to_owned(), "empty"),
        ("\u{1b}\u{7}".to_owned(), "only control characters"),
        (
            "x".repeat(shared::onboarding::CHAT_MAX_CHARS + 1),
            "too long",
        ),
    ] {
        let (status, body) = admin.post(&messages, json!({"text": text})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{why}: {body}");
        assert_eq!(body["code"], "bad_request");
    }
    let (status, _) = admin
        .post(
            &messages,
            json!({"text": "é".repeat(shared::onboarding::CHAT_MAX_CHARS)}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "exactly the limit");
    // A body over the server's limit is refused before it is read.
    let res = admin
        .client
        .post(&messages)
        .header("x-csrf-token", &admin.csrf)
        .header("content-type", "application/json")
        .body(format!("{{\"text\":\"{}\"}}", "x".repeat(2 * 1024 * 1024)))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // A malformed body gets the shared error shape.
    let (status, body) = admin.post(&messages, json!({"words": 1})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], "bad_request");

    // Sign-up is rate limited per user: 5 in ten minutes, then 429.
    for _ in 0..4 {
        assert_eq!(admin.post(&signup, json!({})).await.0, StatusCode::OK);
    }
    let (status, body) = admin.post(&signup, json!({})).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["code"], "rate_limited");
    // So are chat messages: 30 a minute (one was sent above).
    let mut refused = 0;
    for i in 0..30 {
        let (status, _) = admin
            .post(&messages, json!({"text": format!("m{i}")}))
            .await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            refused += 1;
        } else {
            assert_eq!(status, StatusCode::CREATED);
        }
    }
    assert_eq!(refused, 1, "the 31st message in a minute is refused");
}
