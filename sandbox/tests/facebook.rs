//! The simulated Facebook, driven over HTTP exactly as a connector would drive the real
//! Graph API (appsecret_proof computed here), with a tiny webhook receiver that checks
//! `X-Hub-Signature-256`.

use axum::body::Bytes;
use axum::extract::Query;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use sandbox::common::{Fault, hmac_sha256};
use sandbox::facebook::{Consumer, MediaKind, Page, Sent};
use sandbox::{Sandbox, SandboxOptions};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(5);
const HOUR: Duration = Duration::from_secs(3600);

#[derive(Clone, Default)]
struct Receiver {
    secret: Arc<Mutex<String>>,
    verify_token: Arc<Mutex<String>>,
    /// Accepted bodies (signature valid).
    got: Arc<Mutex<Vec<Value>>>,
    bad_signatures: Arc<AtomicU32>,
    /// Answer 500 to this many deliveries first.
    fail_next: Arc<AtomicU32>,
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let secret = r.secret.lock().unwrap().clone();
    let expected = format!(
        "sha256={}",
        hex::encode(hmac_sha256(secret.as_bytes(), &body))
    );
    let sig = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !sandbox::common::same(sig, &expected) || headers.get("x-hub-signature").is_none() {
        r.bad_signatures.fetch_add(1, Ordering::SeqCst);
        return StatusCode::FORBIDDEN;
    }
    if r.fail_next
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    r.got
        .lock()
        .unwrap()
        .push(serde_json::from_slice(&body).unwrap());
    StatusCode::OK
}

async fn verify(
    State(r): State<Receiver>,
    Query(q): Query<HashMap<String, String>>,
) -> (StatusCode, String) {
    let ok = q.get("hub.mode").map(String::as_str) == Some("subscribe")
        && q.get("hub.verify_token") == Some(&*r.verify_token.lock().unwrap());
    match (ok, q.get("hub.challenge")) {
        (true, Some(c)) => (StatusCode::OK, c.clone()),
        _ => (StatusCode::FORBIDDEN, String::new()),
    }
}

struct Env {
    sb: Sandbox,
    rx: Receiver,
    http: reqwest::Client,
    graph: String,
    page: Page,
    alice: Consumer,
}

async fn env() -> Env {
    let rx = Receiver::default();
    let app = axum::Router::new()
        .route("/webhooks/facebook", post(receive).get(verify))
        .with_state(rx.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let callback = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let sb = Sandbox::start(SandboxOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        callback,
        credentials: None,
    })
    .await
    .unwrap();
    *rx.secret.lock().unwrap() = sb.credentials.facebook_app_secret.clone();
    *rx.verify_token.lock().unwrap() = sb.credentials.facebook_verify_token.clone();
    sb.facebook.add_user("Pat Admin");
    let page = sb.facebook.add_page("Acme Shoes", "acmeshoes");
    let alice = sb.facebook.add_consumer("Alice Martin", true);
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    Env {
        graph: sb.facebook.graph_url(),
        sb,
        rx,
        http,
        page,
        alice,
    }
}

impl Env {
    fn proof(&self, token: &str) -> String {
        hex::encode(hmac_sha256(
            self.sb.credentials.facebook_app_secret.as_bytes(),
            token.as_bytes(),
        ))
    }

    async fn get(&self, path: &str, token: &str, query: &[(&str, &str)]) -> (u16, Value) {
        let proof = self.proof(token);
        let mut q: Vec<(&str, &str)> = vec![("access_token", token), ("appsecret_proof", &proof)];
        q.extend_from_slice(query);
        let r = self
            .http
            .get(format!("{}{path}", self.graph))
            .query(&q)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    async fn post(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        let proof = self.proof(token);
        let r = self
            .http
            .post(format!("{}{path}", self.graph))
            .query(&[("access_token", token), ("appsecret_proof", &proof)])
            .json(&body)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    async fn subscribe(&self) {
        let (s, v) = self
            .post(
                &format!("/{}/subscribed_apps", self.page.id),
                &self.page.access_token,
                json!({"subscribed_fields": "feed,messages,message_echoes"}),
            )
            .await;
        assert_eq!((s, v), (200, json!({"success": true})));
    }

    async fn send_text(&self, psid: &str, text: &str, extra: Value) -> (u16, Value) {
        let mut body = json!({"recipient": {"id": psid}, "message": {"text": text}});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        self.post("/me/messages", &self.page.access_token, body)
            .await
    }

    /// Waits until the receiver accepted a webhook matching `pred`.
    async fn webhook(&self, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some(v) = self.rx.got.lock().unwrap().iter().find(|v| pred(v)) {
                return v.clone();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no matching webhook; got {:#?}",
                self.rx.got.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn messaging(v: &Value) -> &Value {
    &v["entry"][0]["messaging"][0]
}

fn change(v: &Value) -> &Value {
    &v["entry"][0]["changes"][0]["value"]
}

fn err(v: &Value) -> (i64, Option<i64>) {
    (
        v["error"]["code"].as_i64().unwrap(),
        v["error"]["error_subcode"].as_i64(),
    )
}

/// A form part: name, optional (file name, content type), bytes.
type Part<'a> = (&'a str, Option<(&'a str, &'a str)>, Vec<u8>);

fn multipart(parts: &[Part<'_>]) -> (String, Vec<u8>) {
    let boundary = "----sandboxboundary7MA4YWxk";
    let mut body = Vec::new();
    for (name, file, data) in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match file {
            Some((filename, ct)) => body.extend_from_slice(
                format!(
                    "Content-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\nContent-Type: {ct}\r\n\r\n"
                )
                .as_bytes(),
            ),
            None => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
            ),
        }
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

#[tokio::test]
async fn login_flow_end_to_end() {
    let e = env().await;
    let fb = &e.sb.facebook;
    let redirect = "http://127.0.0.1:9/oauth/facebook/callback";
    let www = fb.www_url();
    let dialog = e
        .http
        .get(format!("{www}/dialog/oauth"))
        .query(&[
            ("client_id", fb.app_id()),
            ("redirect_uri", redirect),
            ("state", "st4te"),
            ("scope", "pages_show_list,pages_messaging"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(dialog.status(), 200);
    let html = dialog.text().await.unwrap();
    assert!(html.contains("Pat Admin") && html.contains("Acme Shoes"));
    let bad = e
        .http
        .get(format!(
            "{www}/dialog/oauth?client_id=1&redirect_uri={redirect}"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);

    let user_id = html
        .split("name=user_id value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let consent = |action: &'static str| {
        e.http
            .post(format!("{www}/dialog/oauth"))
            .form(&[
                ("client_id", fb.app_id()),
                ("redirect_uri", redirect),
                ("state", "st4te"),
                ("scope", "pages_show_list"),
                ("user_id", &user_id),
                ("page", &e.page.id),
                ("action", action),
            ])
            .send()
    };
    let denied = consent("cancel").await.unwrap();
    assert_eq!(denied.status(), 302);
    let loc = denied.headers()["location"].to_str().unwrap().to_owned();
    assert!(loc.contains("error=access_denied") && loc.contains("state=st4te"));

    let ok = consent("continue").await.unwrap();
    assert_eq!(ok.status(), 302);
    let loc = url::Url::parse(ok.headers()["location"].to_str().unwrap()).unwrap();
    assert!(loc.as_str().starts_with(redirect));
    let q: std::collections::HashMap<_, _> = loc.query_pairs().into_owned().collect();
    assert_eq!(q["state"], "st4te");
    let code = q["code"].clone();

    let token_url = format!("{}/oauth/access_token", e.graph);
    let secret = e.sb.credentials.facebook_app_secret.clone();
    let exchange = |redirect_uri: &'static str, secret: String, code: String| {
        e.http
            .get(&token_url)
            .query(&[
                ("client_id", fb.app_id().to_owned()),
                ("redirect_uri", redirect_uri.to_owned()),
                ("client_secret", secret),
                ("code", code),
            ])
            .send()
    };
    let r = exchange(redirect, "wrong".into(), code.clone())
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(err(&r.json().await.unwrap()).0, 1);
    let r = exchange("http://127.0.0.1:9/elsewhere", secret.clone(), code.clone())
        .await
        .unwrap();
    assert_eq!(err(&r.json().await.unwrap()), (100, Some(36008)));
    let r = exchange(redirect, secret.clone(), code.clone())
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let short: Value = r.json().await.unwrap();
    assert_eq!(short["token_type"], "bearer");
    assert!(short["expires_in"].as_u64().unwrap() > 0);
    let r = exchange(redirect, secret.clone(), code).await.unwrap();
    assert_eq!(
        err(&r.json().await.unwrap()),
        (100, Some(36009)),
        "code is single-use"
    );

    let r = e
        .http
        .get(&token_url)
        .query(&[
            ("grant_type", "fb_exchange_token"),
            ("client_id", fb.app_id()),
            ("client_secret", &secret),
            ("fb_exchange_token", short["access_token"].as_str().unwrap()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let long: Value = r.json().await.unwrap();
    assert_eq!(long["expires_in"], 60 * 24 * 3600);
    let user_token = long["access_token"].as_str().unwrap();

    let (s, accounts) = e.get("/me/accounts", user_token, &[]).await;
    assert_eq!(s, 200, "{accounts}");
    let data = accounts["data"].as_array().unwrap();
    assert_eq!(data.len(), 1);
    assert_eq!(data[0]["id"], e.page.id.as_str());
    assert_eq!(data[0]["name"], "Acme Shoes");
    assert!(
        data[0]["tasks"]
            .as_array()
            .unwrap()
            .contains(&json!("MESSAGING"))
    );
    assert!(accounts["paging"]["cursors"]["after"].is_string());
    let page_token = data[0]["access_token"].as_str().unwrap();

    let (s, v) = e.get("/me/accounts", page_token, &[]).await;
    assert_eq!((s, err(&v).0), (400, 100));

    let sub = format!("/{}/subscribed_apps", e.page.id);
    let (s, v) = e
        .post(&sub, user_token, json!({"subscribed_fields": "feed"}))
        .await;
    assert_eq!((s, err(&v).0), (400, 210), "a page token is needed");
    let (s, v) = e
        .post(&sub, page_token, json!({"subscribed_fields": "bogus"}))
        .await;
    assert_eq!((s, err(&v).0), (400, 100));
    let (s, v) = e
        .post(
            &format!("{sub}?subscribed_fields=feed,messages,message_echoes"),
            page_token,
            json!({}),
        )
        .await;
    assert_eq!((s, v), (200, json!({"success": true})));
    let (s, v) = e.get(&sub, page_token, &[]).await;
    assert_eq!(s, 200);
    assert_eq!(v["data"][0]["id"], fb.app_id());
    assert_eq!(
        v["data"][0]["subscribed_fields"],
        json!(["feed", "messages", "message_echoes"])
    );
    let proof = e.proof(page_token);
    let r = e
        .http
        .delete(format!("{}{sub}", e.graph))
        .query(&[("access_token", page_token), ("appsecret_proof", &proof)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(fb.subscribed_fields(&e.page).is_empty());
    let (_, v) = e.get(&sub, page_token, &[]).await;
    assert_eq!(v["data"], json!([]));
}

#[tokio::test]
async fn tokens_and_appsecret_proof_are_checked() {
    let e = env().await;
    let psid = e.sb.facebook.psid(&e.page, &e.alice);
    let url = format!("{}/{psid}", e.graph);
    let t = e.page.access_token.as_str();

    let r = e
        .http
        .get(&url)
        .query(&[("access_token", t)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(err(&v).0, 100);
    assert_eq!(
        v["error"]["message"],
        "Invalid appsecret_proof provided in the API argument"
    );
    assert!(v["error"]["fbtrace_id"].is_string() && v["error"]["type"].is_string());

    let r = e
        .http
        .get(&url)
        .query(&[("access_token", t), ("appsecret_proof", &e.proof("other"))])
        .send()
        .await
        .unwrap();
    assert_eq!(err(&r.json().await.unwrap()).0, 100);

    // A proof computed with another app's secret.
    let foreign = hex::encode(hmac_sha256(b"not-the-secret", t.as_bytes()));
    let r = e
        .http
        .get(&url)
        .query(&[("access_token", t), ("appsecret_proof", &foreign)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // The token may also come as a bearer header.
    let r = e
        .http
        .get(&url)
        .bearer_auth(t)
        .query(&[("appsecret_proof", &e.proof(t))])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let (s, v) = e.get(&format!("/{psid}"), "EAAnotatoken", &[]).await;
    assert_eq!((s, err(&v)), (400, (190, None)));
    assert_eq!(v["error"]["type"], "OAuthException");

    let r = e.http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 400);

    let user = e.sb.facebook.add_user("Sam Other");
    e.sb.facebook.expire_token(&user.access_token);
    let (s, v) = e.get("/me", &user.access_token, &[]).await;
    assert_eq!((s, err(&v)), (400, (190, Some(463))));

    let user2 = e.sb.facebook.add_user("Kim Other");
    let (s, v) = e.get("/me", &user2.access_token, &[]).await;
    assert_eq!((s, v["name"].clone()), (200, json!("Kim Other")));
    e.sb.facebook.invalidate_token(&user2.access_token);
    let (s, v) = e.get("/me", &user2.access_token, &[]).await;
    assert_eq!((s, err(&v)), (400, (190, Some(460))));

    let calls =
        e.sb.facebook
            .calls()
            .matching("facebook", "GET", &format!("/{psid}"));
    assert!(calls.iter().any(|c| c.status == 200) && calls.iter().any(|c| c.status == 400));
}

#[tokio::test]
async fn profiles_return_what_the_consumer_has() {
    let e = env().await;
    let eu = e.sb.facebook.add_consumer("Élodie Dupont", false);
    let fields = "first_name,last_name,name,profile_pic,locale,timezone,gender";
    let t = &e.page.access_token;

    let psid = e.sb.facebook.psid(&e.page, &e.alice);
    let (s, v) = e.get(&format!("/{psid}"), t, &[("fields", fields)]).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["id"], psid.as_str());
    assert_eq!(v["first_name"], "Alice");
    assert_eq!(v["last_name"], "Martin");
    assert_eq!(v["name"], "Alice Martin");
    assert!(v["locale"].is_string() && v["timezone"].is_number() && v["gender"].is_string());
    let pic = v["profile_pic"].as_str().unwrap();
    let bytes = e.http.get(pic).send().await.unwrap().bytes().await.unwrap();
    assert!(bytes.starts_with(b"\x89PNG"));

    let eu_psid = e.sb.facebook.psid(&e.page, &eu);
    let (s, v) = e
        .get(&format!("/{eu_psid}"), t, &[("fields", fields)])
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["first_name"], "Élodie");
    for f in ["locale", "timezone", "gender"] {
        assert!(v.get(f).is_none(), "{f} must be absent: {v}");
    }
    let (_, v) = e
        .get(&format!("/{eu_psid}"), t, &[("fields", "first_name")])
        .await;
    assert_eq!(v, json!({"id": eu_psid, "first_name": "Élodie"}));

    let (s, v) = e.get(&format!("/{psid}"), t, &[("fields", "email")]).await;
    assert_eq!((s, err(&v).0), (400, 100));

    // PSIDs are page-scoped: another page's token cannot read it.
    let other = e.sb.facebook.add_page("Other Page", "otherpage");
    let (s, v) = e
        .get(
            &format!("/{psid}"),
            &other.access_token,
            &[("fields", "name")],
        )
        .await;
    assert_eq!((s, err(&v).0), (400, 100));
    assert_ne!(e.sb.facebook.psid(&other, &e.alice), psid);
}

#[tokio::test]
async fn messenger_send_echo_and_inbox() {
    let e = env().await;
    e.subscribe().await;
    let fb = &e.sb.facebook;
    let psid = fb.psid(&e.page, &e.alice);
    let mid = fb.consumer_message(&e.page, &e.alice, "Where is my order?", &[]);
    let hook = e
        .webhook(|v| messaging(v)["message"]["mid"] == mid.as_str())
        .await;
    assert_eq!(hook["object"], "page");
    assert_eq!(hook["entry"][0]["id"], e.page.id.as_str());
    let m = messaging(&hook);
    assert_eq!(m["sender"]["id"], psid.as_str());
    assert_eq!(m["recipient"]["id"], e.page.id.as_str());
    assert_eq!(m["message"]["text"], "Where is my order?");
    assert!(m["timestamp"].as_u64().unwrap() > 1_600_000_000_000);
    assert!(m["message"].get("is_echo").is_none());

    let (s, v) = e
        .send_text(
            &psid,
            "It ships today.",
            json!({"messaging_type": "RESPONSE"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["recipient_id"], psid.as_str());
    let sent_mid = v["message_id"].as_str().unwrap().to_owned();
    let echo = e
        .webhook(|v| messaging(v)["message"]["mid"] == sent_mid.as_str())
        .await;
    let m = messaging(&echo);
    assert_eq!(m["message"]["is_echo"], true);
    assert_eq!(m["message"]["app_id"].to_string(), fb.app_id());
    assert_eq!(m["sender"]["id"], e.page.id.as_str());
    assert_eq!(m["recipient"]["id"], psid.as_str());
    assert_eq!(m["message"]["text"], "It ships today.");

    // Form-encoded, as the Send API also accepts, on /{page-id}/messages.
    let proof = e.proof(&e.page.access_token);
    let r = e
        .http
        .post(format!("{}/{}/messages", e.graph, e.page.id))
        .form(&[
            ("access_token", e.page.access_token.as_str()),
            ("appsecret_proof", &proof),
            ("recipient", &json!({"id": psid}).to_string()),
            ("message", &json!({"text": "Also by form"}).to_string()),
            ("messaging_type", "RESPONSE"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let inbox = fb.inbox(&e.page, &e.alice);
    let texts: Vec<_> = inbox
        .iter()
        .map(|m| (m.from_page, m.text.clone().unwrap()))
        .collect();
    assert_eq!(
        texts,
        vec![
            (false, "Where is my order?".to_owned()),
            (true, "It ships today.".to_owned()),
            (true, "Also by form".to_owned()),
        ]
    );
    assert_eq!(fb.sent(&e.page).len(), 2);

    // Unknown PSID.
    let (s, v) = e.send_text("123", "hi", json!({})).await;
    assert_eq!((s, err(&v)), (400, (100, Some(2018001))));
    // Another page's id in the path.
    let other = fb.add_page("Other Page", "otherpage");
    let (s, _) = e
        .post(
            &format!("/{}/messages", other.id),
            &e.page.access_token,
            json!({"recipient": {"id": psid}, "message": {"text": "x"}}),
        )
        .await;
    assert_eq!(s, 400);
    assert_eq!(e.rx.bad_signatures.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn shared_links_arrive_as_messengers_fallback_attachments() {
    let e = env().await;
    e.subscribe().await;
    let fb = &e.sb.facebook;
    let mid = fb.consumer_shares_link(
        &e.page,
        &e.alice,
        "these ones",
        "Trail shoes",
        "https://shop.example/p?id=1",
    );
    let hook = e
        .webhook(|v| messaging(v)["message"]["mid"] == mid.as_str())
        .await;
    let m = &messaging(&hook)["message"];
    assert_eq!(m["text"], "these ones");
    // Messenger's `messages` webhook reference: a shared URL becomes a `fallback`
    // attachment with its title and URL.
    assert_eq!(
        m["attachments"],
        json!([{"type": "fallback", "title": "Trail shoes", "url": "https://shop.example/p?id=1",
                "payload": {"url": "https://shop.example/p?id=1"}}])
    );

    // The consumer console shares one too, and shows it as a link only when it is http(s).
    let console = format!("{}/facebook/console", e.sb.url);
    let ids = [
        ("page", e.page.id.as_str()),
        ("consumer", e.alice.id.as_str()),
    ];
    let r = e
        .http
        .post(format!("{console}/message"))
        .form(&[
            ids[0],
            ids[1],
            ("text", ""),
            ("link", "https://news.example/a"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let hook = e
        .webhook(|v| messaging(v)["message"]["attachments"][0]["url"] == "https://news.example/a")
        .await;
    assert_eq!(
        messaging(&hook)["message"]["attachments"][0]["type"],
        "fallback"
    );
    let html = e
        .http
        .get(&console)
        .query(&ids)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("<a href=\"https://shop.example/p?id=1\" rel=\"noopener noreferrer nofollow\">Trail shoes</a>"),
        "{html}"
    );
}

#[tokio::test]
async fn messaging_window_and_human_agent_tag() {
    let e = env().await;
    let fb = &e.sb.facebook;
    let psid = fb.psid(&e.page, &e.alice);
    let (s, v) = e.send_text(&psid, "Hello?", json!({})).await;
    assert_eq!(
        (s, err(&v)),
        (400, (10, Some(2018278))),
        "never wrote to us"
    );
    assert_eq!(
        v["error"]["message"],
        "This message is sent outside of allowed window."
    );

    fb.consumer_message(&e.page, &e.alice, "hi", &[]);
    fb.age_last_message(&e.page, &e.alice, 23 * HOUR);
    let (s, _) = e.send_text(&psid, "within 24h", json!({})).await;
    assert_eq!(s, 200);

    fb.age_last_message(&e.page, &e.alice, 2 * HOUR); // 25 h
    let (s, v) = e
        .send_text(&psid, "late", json!({"messaging_type": "RESPONSE"}))
        .await;
    assert_eq!((s, err(&v)), (400, (10, Some(2018278))));
    let (s, v) = e
        .send_text(
            &psid,
            "late, retired tag",
            json!({"messaging_type": "MESSAGE_TAG", "tag": "ACCOUNT_UPDATE"}),
        )
        .await;
    assert_eq!((s, err(&v)), (400, (100, None)), "a retired tag: {v}");
    let (s, v) = e
        .send_text(&psid, "no tag", json!({"messaging_type": "MESSAGE_TAG"}))
        .await;
    assert_eq!((s, err(&v).0), (400, 100));
    let human = json!({"messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT"});
    let (s, v) = e.send_text(&psid, "agent here", human.clone()).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        fb.inbox(&e.page, &e.alice).last().unwrap().tag.as_deref(),
        Some("HUMAN_AGENT")
    );

    fb.age_last_message(&e.page, &e.alice, 6 * 24 * HOUR); // 6 d 1 h
    let (s, v) = e.send_text(&psid, "too late", human.clone()).await;
    assert_eq!((s, err(&v)), (400, (10, Some(2018278))));

    // A new message from the person resets the clock.
    fb.consumer_message(&e.page, &e.alice, "still there?", &[]);
    let (s, _) = e.send_text(&psid, "yes", json!({})).await;
    assert_eq!(s, 200);
}

/// From 2026-04-27 HUMAN_AGENT is the one message tag: the three update tags and any tag
/// Graph never had are invalid parameters (code 100), inside the window or not.
#[tokio::test]
async fn retired_and_unknown_message_tags_are_refused() {
    let e = env().await;
    let fb = &e.sb.facebook;
    let psid = fb.psid(&e.page, &e.alice);
    fb.consumer_message(&e.page, &e.alice, "hi", &[]);
    for tag in [
        "CONFIRMED_EVENT_UPDATE",
        "ACCOUNT_UPDATE",
        "POST_PURCHASE_UPDATE",
        "MADE_UP",
    ] {
        let (s, v) = e
            .send_text(
                &psid,
                "tagged",
                json!({"messaging_type": "MESSAGE_TAG", "tag": tag}),
            )
            .await;
        assert_eq!((s, err(&v)), (400, (100, None)), "{tag}: {v}");
    }
    assert!(
        fb.inbox(&e.page, &e.alice).iter().all(|m| !m.from_page),
        "nothing tagged that way was delivered"
    );
    let (s, v) = e
        .send_text(
            &psid,
            "an agent",
            json!({"messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = e
        .send_text(&psid, "a response", json!({"messaging_type": "RESPONSE"}))
        .await;
    assert_eq!(s, 200, "{v}");
}

#[tokio::test]
async fn message_text_limit_counts_scalar_values() {
    let e = env().await;
    let fb = &e.sb.facebook;
    let psid = fb.psid(&e.page, &e.alice);
    fb.consumer_message(&e.page, &e.alice, "hi", &[]);
    let ok = "é".repeat(1999) + "😀"; // 2000 scalar values, 4002 bytes
    let (s, v) = e.send_text(&psid, &ok, json!({})).await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = e.send_text(&psid, &(ok + "x"), json!({})).await;
    assert_eq!((s, err(&v).0), (400, 100));
    let (s, v) = e.send_text(&psid, "", json!({})).await;
    assert_eq!((s, err(&v).0), (400, 100));
}

#[tokio::test]
async fn attachments_by_url_upload_and_reuse() {
    let e = env().await;
    e.subscribe().await;
    let fb = &e.sb.facebook;
    let psid = fb.psid(&e.page, &e.alice);

    // The consumer sends an image, a GIF and a video.
    let mid = fb.consumer_message(
        &e.page,
        &e.alice,
        "",
        &[MediaKind::Image, MediaKind::Gif, MediaKind::Video],
    );
    let hook = e
        .webhook(|v| messaging(v)["message"]["mid"] == mid.as_str())
        .await;
    let atts = messaging(&hook)["message"]["attachments"]
        .as_array()
        .unwrap()
        .clone();
    assert!(messaging(&hook)["message"].get("text").is_none());
    let kinds: Vec<_> = atts.iter().map(|a| a["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["image", "image", "video"]);
    let gif_url = atts[1]["payload"]["url"].as_str().unwrap();
    assert!(gif_url.ends_with(".gif"));
    let gif = e.http.get(gif_url).send().await.unwrap();
    assert_eq!(gif.headers()["content-type"], "image/gif");
    let gif = gif.bytes().await.unwrap();
    assert!(gif.starts_with(b"GIF89a") && gif.iter().filter(|&&b| b == 0x2C).count() == 2);
    let png = e
        .http
        .get(atts[0]["payload"]["url"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));

    // The page answers with an image by URL (the sandbox's own media), reusable.
    let image_url = fb.new_media(MediaKind::Image);
    let (s, v) = e
        .post(
            "/me/messages",
            &e.page.access_token,
            json!({"recipient": {"id": psid}, "messaging_type": "RESPONSE",
                   "message": {"attachment": {"type": "image",
                       "payload": {"url": image_url, "is_reusable": true}}}}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let attachment_id = v["attachment_id"].as_str().unwrap().to_owned();
    let mid = v["message_id"].as_str().unwrap().to_owned();
    let echo = e
        .webhook(|v| messaging(v)["message"]["mid"] == mid.as_str())
        .await;
    assert_eq!(
        messaging(&echo)["message"]["attachments"][0],
        json!({"type": "image", "payload": {"url": image_url}})
    );
    let (s, _) = e
        .post(
            "/me/messages",
            &e.page.access_token,
            json!({"recipient": {"id": psid},
                   "message": {"attachment": {"type": "image",
                       "payload": {"attachment_id": attachment_id}}}}),
        )
        .await;
    assert_eq!(s, 200);

    // A video by URL declared as an image is refused (magic bytes).
    let video_url = fb.new_media(MediaKind::Video);
    let (s, v) = e
        .post(
            "/me/messages",
            &e.page.access_token,
            json!({"recipient": {"id": psid},
                   "message": {"attachment": {"type": "image", "payload": {"url": video_url}}}}),
        )
        .await;
    assert_eq!((s, err(&v).0), (400, 100));

    // Multipart upload with `message` JSON and `filedata`.
    let upload = |bytes: Vec<u8>, ty: &'static str, ct: &'static str| {
        let (content_type, body) = multipart(&[
            (
                "recipient",
                None,
                json!({"id": psid}).to_string().into_bytes(),
            ),
            (
                "message",
                None,
                json!({"attachment": {"type": ty, "payload": {"is_reusable": false}}})
                    .to_string()
                    .into_bytes(),
            ),
            ("messaging_type", None, b"RESPONSE".to_vec()),
            ("filedata", Some(("f.bin", ct)), bytes),
        ]);
        let proof = e.proof(&e.page.access_token);
        e.http
            .post(format!("{}/me/messages", e.graph))
            .query(&[
                ("access_token", e.page.access_token.as_str()),
                ("appsecret_proof", &proof),
            ])
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let gif_bytes = fb.media(gif_url).unwrap().1;
    let r = upload(gif_bytes, "image", "image/gif").await.unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let mid = v["message_id"].as_str().unwrap().to_owned();
    let echo = e
        .webhook(|v| messaging(v)["message"]["mid"] == mid.as_str())
        .await;
    let url = messaging(&echo)["message"]["attachments"][0]["payload"]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(url.ends_with(".gif"), "{url}");
    // Text claiming to be an image.
    let r = upload(b"just text".to_vec(), "image", "image/png")
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(err(&r.json().await.unwrap()).0, 100);
    // Over 25 MB.
    let mut big = sandbox::facebook::media::png_2x2();
    big.resize(25 * 1024 * 1024 + 1, 0);
    let r = upload(big, "file", "application/octet-stream")
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // Attachment Upload API.
    let (s, v) = e
        .post(
            "/me/message_attachments",
            &e.page.access_token,
            json!({"message": {"attachment": {"type": "image",
                "payload": {"url": image_url, "is_reusable": true}}}}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert!(v["attachment_id"].is_string());
    let in_inbox = fb.inbox(&e.page, &e.alice);
    assert_eq!(in_inbox.iter().filter(|m| m.from_page).count(), 3);
}

#[tokio::test]
async fn private_replies() {
    let e = env().await;
    e.subscribe().await;
    let fb = &e.sb.facebook;
    let bob = fb.add_consumer("Bob Stone", true);
    let post = fb.consumer_post(&e.page, &bob, "My shoes broke", None);
    let comment = fb
        .consumer_comment(&e.page, &post, &e.alice, "Mine too!")
        .unwrap();
    let pr = |target: Value| {
        e.post(
            "/me/messages",
            &e.page.access_token,
            json!({"recipient": target, "message": {"text": "Sorry! Let's talk here."}}),
        )
    };
    let (s, v) = pr(json!({"comment_id": comment})).await;
    assert_eq!(s, 200, "{v}");
    let psid = fb.psid(&e.page, &e.alice);
    assert_eq!(v["recipient_id"], psid.as_str());
    let inbox = fb.inbox(&e.page, &e.alice);
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0].private_reply_to.as_deref(), Some(comment.as_str()));
    let mid = v["message_id"].as_str().unwrap().to_owned();
    let echo = e
        .webhook(|v| messaging(v)["message"]["mid"] == mid.as_str())
        .await;
    assert_eq!(messaging(&echo)["message"]["is_echo"], true);

    let (s, v) = pr(json!({"comment_id": comment})).await;
    assert_eq!(
        (s, err(&v).0),
        (400, 10900),
        "one private reply per comment"
    );

    // The comment does not open the standard window.
    let (s, v) = e.send_text(&psid, "follow-up", json!({})).await;
    assert_eq!((s, err(&v)), (400, (10, Some(2018278))));

    // A comment is not named as a post, nor a post as a comment (invalid parameter).
    let other = fb
        .consumer_comment(&e.page, &post, &bob, "Same here")
        .unwrap();
    let (s, v) = pr(json!({"post_id": other})).await;
    assert_eq!((s, err(&v)), (400, (100, None)), "{v}");
    let (s, v) = pr(json!({"comment_id": post})).await;
    assert_eq!((s, err(&v)), (400, (100, None)), "{v}");
    // Neither refusal used up the one private reply.
    let (s, v) = pr(json!({"comment_id": other})).await;
    assert_eq!(s, 200, "{v}");

    // To a visitor post, once.
    let (s, v) = pr(json!({"post_id": post})).await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = pr(json!({"post_id": post})).await;
    assert_eq!((s, err(&v).0), (400, 10900));
    assert_eq!(v["error"]["message"], "Activity already replied to");

    // Never to the page's own comments.
    let (_, v) = e
        .post(
            &format!("/{comment}/comments"),
            &e.page.access_token,
            json!({"message": "We are on it"}),
        )
        .await;
    let own = v["id"].as_str().unwrap().to_owned();
    let (s, _) = pr(json!({"comment_id": own})).await;
    assert_eq!(s, 400);

    // Not after 7 days from the comment's or post's creation: code 10 with the window's
    // words (Meta's public reference gives no subcode for it).
    let old = fb.consumer_comment(&e.page, &post, &bob, "old").unwrap();
    fb.age_object(&old, 7 * 24 * HOUR + HOUR);
    let (s, v) = pr(json!({"comment_id": old})).await;
    assert_eq!((s, err(&v)), (400, (10, None)));
    assert_eq!(
        v["error"]["message"],
        "This message is sent outside of allowed window."
    );
    let old_post = fb.consumer_post(&e.page, &bob, "last week's post", None);
    fb.age_object(&old_post, 7 * 24 * HOUR + HOUR);
    let (s, v) = pr(json!({"post_id": old_post})).await;
    assert_eq!((s, err(&v)), (400, (10, None)));
    // Just inside the window it still goes.
    let recent = fb.consumer_comment(&e.page, &post, &bob, "recent").unwrap();
    fb.age_object(&recent, 7 * 24 * HOUR - HOUR);
    let (s, v) = pr(json!({"comment_id": recent})).await;
    assert_eq!(s, 200, "{v}");
}

#[tokio::test]
async fn comments_thread_and_feed_webhooks() {
    let e = env().await;
    e.subscribe().await;
    let fb = &e.sb.facebook;
    let post = fb.consumer_post(
        &e.page,
        &e.alice,
        "Look <b>at</b> this",
        Some(MediaKind::Image),
    );
    let hook = e.webhook(|v| change(v)["post_id"] == post.as_str()).await;
    let v = change(&hook);
    assert_eq!(hook["entry"][0]["changes"][0]["field"], "feed");
    assert_eq!(v["item"], "photo");
    assert_eq!(v["verb"], "add");
    assert_eq!(v["from"], json!({"id": e.alice.id, "name": "Alice Martin"}));
    assert!(v["photo"].as_str().unwrap().ends_with(".png"));
    assert!(
        v["created_time"].as_u64().unwrap() < 10_000_000_000,
        "seconds"
    );

    let c1 = fb
        .consumer_comment(&e.page, &post, &e.alice, "first")
        .unwrap();
    let hook = e.webhook(|v| change(v)["comment_id"] == c1.as_str()).await;
    assert_eq!(change(&hook)["parent_id"], post.as_str());
    assert_eq!(change(&hook)["item"], "comment");

    // The page replies to the comment; then replies to its own reply.
    let (s, v) = e
        .post(
            &format!("/{c1}/comments"),
            &e.page.access_token,
            json!({"message": "Thanks!"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let r1 = v["id"].as_str().unwrap().to_owned();
    let post_num = post.split('_').nth(1).unwrap();
    assert!(r1.starts_with(&format!("{post_num}_")), "{r1}");
    let hook = e.webhook(|v| change(v)["comment_id"] == r1.as_str()).await;
    let v = change(&hook);
    assert_eq!(v["from"]["id"], e.page.id.as_str());
    assert_eq!(v["parent_id"], c1.as_str());
    assert_eq!(v["post_id"], post.as_str());
    assert_eq!(v["message"], "Thanks!");

    // Form-encoded with attachment_url, replying to a reply: attaches to the top level.
    let proof = e.proof(&e.page.access_token);
    let img = fb.new_media(MediaKind::Gif);
    let r = e
        .http
        .post(format!("{}/{r1}/comments", e.graph))
        .form(&[
            ("access_token", e.page.access_token.as_str()),
            ("appsecret_proof", &proof),
            ("message", "See this"),
            ("attachment_url", &img),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r2: Value = r.json().await.unwrap();
    let r2 = r2["id"].as_str().unwrap().to_owned();
    let c = fb.comments(&post);
    let r2c = c.iter().find(|c| c.id == r2).unwrap();
    assert_eq!(r2c.parent_id, c1);
    assert_eq!(r2c.attachment_url.as_deref(), Some(img.as_str()));
    assert!(matches!(fb.sent(&e.page).last(), Some(Sent::Comment(c)) if c.id == r2));

    // Reading comments back.
    let (s, v) = e
        .get(&format!("/{c1}/comments"), &e.page.access_token, &[])
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["data"].as_array().unwrap().len(), 2);

    // Over 5,000 characters.
    let (s, v) = e
        .post(
            &format!("/{post}/comments"),
            &e.page.access_token,
            json!({"message": "ü".repeat(5001)}),
        )
        .await;
    assert_eq!((s, err(&v).0), (400, 100));
    let (s, _) = e
        .post(
            &format!("/{post}/comments"),
            &e.page.access_token,
            json!({"message": "ü".repeat(5000)}),
        )
        .await;
    assert_eq!(s, 200);
    let (s, _) = e
        .post(
            "/999_999/comments",
            &e.page.access_token,
            json!({"message": "x"}),
        )
        .await;
    assert_eq!(s, 400);

    // Edit and remove.
    assert!(fb.consumer_edit(&e.page, &c1, "first (edited)"));
    let hook = e
        .webhook(|v| change(v)["comment_id"] == c1.as_str() && change(v)["verb"] == "edited")
        .await;
    assert_eq!(change(&hook)["message"], "first (edited)");
    assert!(fb.consumer_remove(&e.page, &post));
    let hook = e
        .webhook(|v| change(v)["post_id"] == post.as_str() && change(v)["verb"] == "remove")
        .await;
    assert!(change(&hook)["created_time"].is_number());

    // A page the app did not subscribe to sends nothing.
    let other = fb.add_page("Quiet Page", "quiet");
    let before = fb.webhooks().deliveries().len();
    fb.consumer_post(&other, &e.alice, "hello", None);
    fb.consumer_message(&other, &e.alice, "hello", &[]);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(fb.webhooks().deliveries().len(), before);
}

#[tokio::test]
async fn webhook_verification_handshake() {
    let e = env().await;
    assert!(e.sb.facebook.verify_webhook().await);
    *e.rx.verify_token.lock().unwrap() = "something else".into();
    assert!(!e.sb.facebook.verify_webhook().await);
}

#[tokio::test]
async fn webhooks_are_redelivered_after_errors() {
    let e = env().await;
    e.subscribe().await;
    let fb = &e.sb.facebook;
    e.rx.fail_next.store(2, Ordering::SeqCst);
    let mid = fb.consumer_message(&e.page, &e.alice, "retry me", &[]);
    e.webhook(|v| messaging(v)["message"]["mid"] == mid.as_str())
        .await;
    let attempts: Vec<_> = fb
        .webhooks()
        .deliveries()
        .into_iter()
        .filter(|d| d.body.contains(&mid))
        .map(|d| (d.attempt, d.status))
        .collect();
    assert_eq!(
        attempts,
        vec![(1, Some(500)), (2, Some(500)), (3, Some(200))]
    );
    assert!(
        fb.wait_for_webhook(WAIT, |v| v.to_string().contains(&mid))
            .await
            .is_some()
    );
}

#[tokio::test]
async fn injected_faults() {
    let e = env().await;
    e.subscribe().await;
    let fb = &e.sb.facebook;
    let psid = fb.psid(&e.page, &e.alice);
    fb.consumer_message(&e.page, &e.alice, "hi", &[]);

    fb.faults()
        .inject("facebook", "POST /me/messages", Fault::ServerError(503), 1);
    let (s, v) = e.send_text(&psid, "a", json!({})).await;
    assert_eq!((s, err(&v).0), (503, 2));
    assert_eq!(v["error"]["is_transient"], true);

    fb.faults().inject(
        "facebook",
        "POST /me/messages",
        Fault::RateLimited {
            retry_after: Duration::from_secs(120),
        },
        1,
    );
    let proof = e.proof(&e.page.access_token);
    let r = e
        .http
        .post(format!("{}/me/messages", e.graph))
        .query(&[
            ("access_token", e.page.access_token.as_str()),
            ("appsecret_proof", &proof),
        ])
        .json(&json!({"recipient": {"id": psid}, "message": {"text": "b"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let usage: Value =
        serde_json::from_str(r.headers()["x-business-use-case-usage"].to_str().unwrap()).unwrap();
    assert_eq!(usage[&e.page.id][0]["estimated_time_to_regain_access"], 2);
    assert_eq!(
        err(&r.json().await.unwrap()).0,
        32,
        "page tokens get code 32"
    );

    let user = fb.add_user("Rate Limited");
    fb.faults().inject(
        "facebook",
        "GET /me/accounts",
        Fault::RateLimited {
            retry_after: Duration::from_secs(60),
        },
        1,
    );
    let (s, v) = e.get("/me/accounts", &user.access_token, &[]).await;
    assert_eq!((s, err(&v).0), (403, 4));

    fb.faults()
        .inject("facebook", "GET /{psid}", Fault::ExpiredToken, 1);
    let (s, v) = e.get(&format!("/{psid}"), &e.page.access_token, &[]).await;
    assert_eq!((s, err(&v)), (400, (190, Some(463))));
    let (s, _) = e.get(&format!("/{psid}"), &e.page.access_token, &[]).await;
    assert_eq!(s, 200, "faults apply the given number of times");

    fb.faults().inject(
        "facebook",
        "POST /{object-id}/comments",
        Fault::Latency(Duration::from_millis(50)),
        1,
    );
    let post = fb.consumer_post(&e.page, &e.alice, "slow", None);
    let (s, _) = e
        .post(
            &format!("/{post}/comments"),
            &e.page.access_token,
            json!({"message": "ok"}),
        )
        .await;
    assert_eq!(s, 200);

    // Told to, the Send API answers that the page is restricted from sending.
    fb.faults().inject(
        "facebook",
        "POST /me/messages",
        Fault::facebook_sending_restricted(),
        1,
    );
    let (s, v) = e.send_text(&psid, "restricted", json!({})).await;
    assert_eq!((s, err(&v)), (400, (10, Some(1893063))));
    assert_eq!(
        v["error"]["message"],
        "(#10) Pages temporarily restricted from sending"
    );
    assert!(
        !fb.inbox(&e.page, &e.alice)
            .iter()
            .any(|m| m.text.as_deref() == Some("restricted"))
    );

    fb.faults()
        .inject("facebook", "webhook", Fault::DropWebhook, 1);
    let dropped = fb.consumer_message(&e.page, &e.alice, "dropped", &[]);
    let kept = fb.consumer_message(&e.page, &e.alice, "kept", &[]);
    e.webhook(|v| messaging(v)["message"]["mid"] == kept.as_str())
        .await;
    assert!(
        !fb.webhooks()
            .deliveries()
            .iter()
            .any(|d| d.body.contains(&dropped))
    );

    let statuses: Vec<u16> = fb
        .calls()
        .matching("facebook", "POST", "/me/messages")
        .iter()
        .map(|c| c.status)
        .collect();
    assert_eq!(statuses, vec![503, 400, 400]);
    let call = &fb
        .calls()
        .matching("facebook", "POST", &format!("/{post}/comments"))[0];
    assert_eq!(call.body["message"], "ok");
    assert_eq!(call.status, 200);
}

#[tokio::test]
async fn consumer_console() {
    let e = env().await;
    e.subscribe().await;
    let fb = &e.sb.facebook;
    let mallory = fb.add_consumer("<script>alert(1)</script> Mal", true);
    let console = format!("{}/facebook/console", e.sb.url);
    let ids = [
        ("page", e.page.id.as_str()),
        ("consumer", mallory.id.as_str()),
    ];

    let r = e
        .http
        .post(format!("{console}/post"))
        .form(&[
            ids[0],
            ids[1],
            ("text", "<img src=x onerror=alert(2)>"),
            ("media", "gif"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let post = fb.posts(&e.page)[0].id.clone();
    let r = e
        .http
        .post(format!("{console}/comment"))
        .form(&[
            ids[0],
            ids[1],
            ("parent", post.as_str()),
            ("text", "a comment"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let r = e
        .http
        .post(format!("{console}/message"))
        .form(&[
            ids[0],
            ids[1],
            ("text", "help <please>"),
            ("media", "video"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    e.webhook(|v| messaging(v)["message"]["text"] == "help <please>")
        .await;

    let psid = fb.psid(&e.page, &mallory);
    let (s, _) = e.send_text(&psid, "We <3 you", json!({})).await;
    assert_eq!(s, 200);
    let comment = fb.comments(&post)[0].id.clone();
    e.post(
        &format!("/{comment}/comments"),
        &e.page.access_token,
        json!({"message": "Page answer"}),
    )
    .await;

    let html = e
        .http
        .get(&console)
        .query(&ids)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!html.contains("<script>alert"));
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt; Mal"));
    assert!(html.contains("&lt;img src=x onerror=alert(2)&gt;"));
    assert!(html.contains("help &lt;please&gt;"));
    assert!(html.contains("We &lt;3 you"));
    assert!(html.contains("Page answer"));
    assert!(html.contains(".gif") && html.contains("<video"));
}

/// The brand publishes from the console; a consumer comments on the brand's post (the
/// common public case): Facebook tells the app of both, the post `from` the page and the
/// comment on it. Every field of the console has a visible label.
#[tokio::test]
async fn the_console_publishes_as_the_brand_for_consumers_to_comment_on() {
    let e = env().await;
    e.subscribe().await;
    let fb = &e.sb.facebook;
    let ann = fb.add_consumer("Ann Lee", true);
    let console = format!("{}/facebook/console", e.sb.url);
    let ids = [("page", e.page.id.as_str()), ("consumer", ann.id.as_str())];
    let r = e
        .http
        .post(format!("{console}/brand-post"))
        .form(&[ids[0], ids[1], ("text", "Our winter tents are here")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let post = fb.posts(&e.page)[0].clone();
    assert!(post.from.is_page, "published as the page");
    assert_eq!(post.from.id, e.page.id);
    e.webhook(|v| change(v)["message"] == "Our winter tents are here")
        .await;

    let r = e
        .http
        .post(format!("{console}/comment"))
        .form(&[
            ids[0],
            ids[1],
            ("parent", post.id.as_str()),
            ("text", "Do they fit four?"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(
        fb.comments(&post.id).len(),
        1,
        "the comment is on the brand's post"
    );
    e.webhook(|v| {
        change(v)["message"] == "Do they fit four?"
            && change(v)["post_id"] == post.id.as_str()
            && change(v)["from"]["name"] == "Ann Lee"
    })
    .await;

    let html = e
        .http
        .get(&console)
        .query(&ids)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Publish as the brand"));
    // Every field a person types in or picks from sits inside a visible label.
    let fields = html.matches("<textarea").count()
        + html.matches("<select").count()
        + html.matches("<input").count()
        - html.matches("type=hidden").count();
    assert_eq!(html.matches("<label>").count(), fields, "{html}");
}
