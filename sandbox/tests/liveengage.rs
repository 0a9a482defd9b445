//! The simulated LiveEngage, driven over HTTP exactly as a connector drives LivePerson's
//! Connector API (domain look-up, app token, consumer token, CONVERSATION, SEND, Swift),
//! with a tiny webhook receiver that checks `x-liveperson-signature` independently.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use base64::Engine;
use hmac::{Hmac, Mac};
use sandbox::common::Fault;
use sandbox::liveengage::{Role, endpoints};
use sandbox::{Sandbox, SandboxOptions};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

#[derive(Clone, Default)]
struct Receiver {
    secret: Arc<Mutex<String>>,
    account: Arc<Mutex<String>>,
    /// Accepted bodies (signature valid), in arrival order.
    got: Arc<Mutex<Vec<Value>>>,
    bad_signatures: Arc<AtomicU32>,
    /// Answer 503 to this many deliveries first.
    fail_next: Arc<AtomicU32>,
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(r.secret.lock().unwrap().as_bytes()).unwrap();
    mac.update(&body);
    let expected = format!(
        "sha1={}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    );
    let header = |k: &str| {
        headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    if header("x-liveperson-signature") != expected
        || header("x-liveperson-account-id") != *r.account.lock().unwrap()
        || header("x-liveperson-client-id").is_empty()
    {
        r.bad_signatures.fetch_add(1, Ordering::SeqCst);
        return StatusCode::FORBIDDEN;
    }
    if r.fail_next
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    r.got
        .lock()
        .unwrap()
        .push(serde_json::from_slice(&body).unwrap());
    StatusCode::OK
}

struct Env {
    sb: Sandbox,
    rx: Receiver,
    http: reqwest::Client,
    account: String,
}

async fn env() -> Env {
    let rx = Receiver::default();
    let app = axum::Router::new()
        .route("/webhooks/liveengage", post(receive))
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
    *rx.secret.lock().unwrap() = sb.credentials.liveengage_client_secret.clone();
    *rx.account.lock().unwrap() = sb.credentials.liveengage_account_id.clone();
    Env {
        account: sb.credentials.liveengage_account_id.clone(),
        sb,
        rx,
        http: reqwest::Client::new(),
    }
}

impl Env {
    /// The Domain API's answer for `service`, as a base URL (the look-up's scheme).
    async fn base(&self, service: &str) -> String {
        let r = self
            .http
            .get(format!(
                "{}/api/account/{}/service/{service}/baseURI.json?version=1.0",
                self.sb.liveengage.domain_url(),
                self.account
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["service"], service);
        assert_eq!(v["account"], self.account.as_str());
        format!("http://{}", v["baseURI"].as_str().unwrap())
    }

    async fn app_token(&self) -> String {
        let c = &self.sb.credentials;
        let r = self
            .http
            .post(format!(
                "{}/sentinel/api/account/{}/app/token?v=1.0&grant_type=client_credentials",
                self.base("sentinel").await,
                self.account
            ))
            .form(&[
                ("client_id", c.liveengage_client_id.as_str()),
                ("client_secret", c.liveengage_client_secret.as_str()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["token_type"], "Bearer");
        v["access_token"].as_str().unwrap().to_owned()
    }

    async fn consumer_token(&self, app: &str, ext: &str) -> String {
        let r = self
            .http
            .post(format!(
                "{}/api/account/{}/consumer?v=1.0",
                self.base("idp").await,
                self.account
            ))
            .header("authorization", app)
            .json(&json!({"ext_consumer_id": ext}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        r.json::<Value>().await.unwrap()["token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn messaging(
        &self,
        path: &str,
        app: Option<&str>,
        consumer: Option<&str>,
        body: Value,
    ) -> (u16, Value) {
        let mut req = self.http.post(format!(
            "{}/api/account/{}/messaging/consumer/conversation{path}?v=3",
            self.base("asyncMessagingEnt").await,
            self.account
        ));
        if let Some(a) = app {
            req = req.header("authorization", a);
        }
        if let Some(c) = consumer {
            req = req.header("x-lp-on-behalf", c);
        }
        let r = req.json(&body).send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    async fn create(&self, app: &str, consumer: &str, skill: Option<&str>) -> String {
        let mut request = json!({"brandId": self.account, "channelType": "MESSAGING"});
        if let Some(s) = skill {
            request["skillId"] = json!(s);
        }
        let (status, v) = self
            .messaging(
                "",
                Some(app),
                Some(consumer),
                json!([
                    {"kind": "req", "id": "1,", "type": "userprofile.SetUserProfile",
                     "body": {"authenticatedData": {"lp_sdes": [
                        {"type": "ctmrinfo", "info": {"socialId": "1234"}},
                        {"type": "personal", "personal": {"firstname": "Ann"}}]}}},
                    {"kind": "req", "id": "2,", "type": "cm.ConsumerRequestConversation",
                     "body": request},
                ]),
            )
            .await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(v[0]["code"], "OK");
        v[1]["body"]["conversationId"].as_str().unwrap().to_owned()
    }

    async fn publish(
        &self,
        app: &str,
        consumer: &str,
        conversation: &str,
        text: &str,
    ) -> (u16, Value) {
        self.messaging(
            "/send",
            Some(app),
            Some(consumer),
            json!({"kind": "req", "id": "1", "type": "ms.PublishEvent", "body": {
                "dialogId": conversation,
                "event": {"type": "ContentEvent", "contentType": "text/plain", "message": text}}}),
        )
        .await
    }

    async fn received(&self, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let got = self.rx.got.lock().unwrap().clone();
            if let Some(v) = got.into_iter().find(|v| pred(v)) {
                return v;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no such webhook; got {:#?}",
                self.rx.got.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn content(v: &Value) -> Option<(&str, u64, &str)> {
    let c = &v["body"]["changes"][0];
    (v["type"] == "ms.MessagingEventNotification" && c["event"]["type"] == "ContentEvent").then(
        || {
            (
                c["originatorMetadata"]["role"].as_str().unwrap_or(""),
                c["sequence"].as_u64().unwrap_or(u64::MAX),
                c["event"]["message"].as_str().unwrap_or(""),
            )
        },
    )
}

fn state_of(v: &Value, conversation: &str) -> Option<String> {
    let r = &v["body"]["changes"][0]["result"];
    (v["type"] == "cqm.ExConversationChangeNotification" && r["convId"] == conversation).then(
        || {
            r["conversationDetails"]["state"]
                .as_str()
                .unwrap_or("")
                .to_owned()
        },
    )
}

#[tokio::test]
async fn a_connector_creates_publishes_and_hears_the_agent_back_signed() {
    let e = env().await;
    let app = e.app_token().await;
    let ann = e.consumer_token(&app, "facebook:1:ann").await;
    let id = e.create(&app, &ann, Some("42")).await;
    e.received(|v| state_of(v, &id).as_deref() == Some("OPEN"))
        .await;
    let (status, v) = e.publish(&app, &ann, &id, "[Public/Comment] hello").await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["body"]["sequence"], 0);
    let c = e.sb.liveengage.conversation(&id).unwrap();
    assert_eq!(c.skill_id.as_deref(), Some("42"));
    assert_eq!(c.sdes[1]["personal"]["firstname"], "Ann");
    assert_eq!(c.lines[0].text.as_deref(), Some("[Public/Comment] hello"));
    assert_eq!(c.lines[0].role, Role::Consumer);

    assert_eq!(e.sb.liveengage.agent_says(&id, "Hi Ann").unwrap(), 1);
    let agent = e
        .received(|v| content(v).is_some_and(|(role, _, _)| role == "ASSIGNED_AGENT"))
        .await;
    assert_eq!(content(&agent), Some(("ASSIGNED_AGENT", 1, "Hi Ann")));
    assert_eq!(agent["body"]["changes"][0]["dialogId"], id.as_str());
    assert_eq!(e.rx.bad_signatures.load(Ordering::SeqCst), 0);

    // The same consumer again is the same consumer, under a new token.
    let again = e.consumer_token(&app, "facebook:1:ann").await;
    assert_ne!(again, ann);
    assert_eq!(e.publish(&app, &again, &id, "still me").await.0, 200);

    // Closing: the conversation takes no more lines; the app hears of the close.
    let (status, _) = e
        .messaging(
            "/send",
            Some(&app),
            Some(&ann),
            json!({"kind": "req", "id": 1, "type": "cm.UpdateConversationField", "body": {
                "conversationId": id,
                "conversationField": {"field": "ConversationStateField",
                                      "conversationState": "CLOSE"}}}),
        )
        .await;
    assert_eq!(status, 200);
    e.received(|v| state_of(v, &id).as_deref() == Some("CLOSE"))
        .await;
    let (status, v) = e.publish(&app, &ann, &id, "late").await;
    assert_eq!(status, 400, "{v}");
    assert!(e.sb.liveengage.agent_says(&id, "late").is_err());
}

#[tokio::test]
async fn bad_or_missing_tokens_are_refused_with_the_documented_codes() {
    let e = env().await;
    let app = e.app_token().await;
    let ann = e.consumer_token(&app, "ann").await;
    let id = e.create(&app, &ann, None).await;
    let body = json!({"kind": "req", "id": "1", "type": "ms.PublishEvent", "body": {
        "dialogId": id, "event": {"type": "ContentEvent", "contentType": "text/plain",
        "message": "x"}}});
    for (a, c, code) in [
        (None, Some(ann.as_str()), 40105),
        (Some("nonsense"), Some(ann.as_str()), 40102),
        (Some(app.as_str()), None, 40104),
        (Some(app.as_str()), Some("nonsense"), 40103),
    ] {
        let (status, v) = e.messaging("/send", a, c, body.clone()).await;
        assert_eq!(
            (status, v["body"]["errorCode"].as_u64()),
            (401, Some(code)),
            "{v}"
        );
        assert_eq!(v["type"], ".ReqBody$ErrorResp");
    }
    // An hour later the app token is no longer good.
    e.sb.liveengage.expire_app_tokens();
    let (status, v) = e.publish(&app, &ann, &id, "x").await;
    assert_eq!(
        (status, v["body"]["errorCode"].as_u64()),
        (401, Some(40102))
    );
    // Wrong app credentials get no token.
    let r = e
        .http
        .post(format!(
            "{}/sentinel/api/account/{}/app/token?v=1.0&grant_type=client_credentials",
            e.base("sentinel").await,
            e.account
        ))
        .form(&[("client_id", "x"), ("client_secret", "y")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // Another consumer's conversation is not theirs to write in.
    let app = e.app_token().await;
    let bob = e.consumer_token(&app, "bob").await;
    assert_eq!(e.publish(&app, &bob, &id, "x").await.0, 400);
    // The batch must come in its order.
    let (status, _) = e
        .messaging(
            "",
            Some(&app),
            Some(&bob),
            json!([
                {"kind": "req", "id": "2,", "type": "cm.ConsumerRequestConversation",
                 "body": {"brandId": e.account}},
                {"kind": "req", "id": "1,", "type": "userprofile.SetUserProfile", "body": {}},
            ]),
        )
        .await;
    assert_eq!(status, 400);
    // The look-up knows only the account's services.
    let r = e
        .http
        .get(format!(
            "{}/api/account/{}/service/nothing/baseURI.json?version=1.0",
            e.sb.liveengage.domain_url(),
            e.account
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn outages_and_rate_limits_are_injected_per_endpoint() {
    let e = env().await;
    let app = e.app_token().await;
    let ann = e.consumer_token(&app, "ann").await;
    let id = e.create(&app, &ann, None).await;
    let faults = e.sb.liveengage.faults();
    faults.inject("liveengage", endpoints::SEND, Fault::ServerError(503), 1);
    faults.inject(
        "liveengage",
        endpoints::CONVERSATION,
        Fault::RateLimited {
            retry_after: Duration::from_secs(2),
        },
        1,
    );
    assert_eq!(e.publish(&app, &ann, &id, "one").await.0, 503);
    assert_eq!(e.publish(&app, &ann, &id, "one").await.0, 200);
    let r = e
        .http
        .post(format!(
            "{}/api/account/{}/messaging/consumer/conversation?v=3",
            e.base("asyncMessagingEnt").await,
            e.account
        ))
        .header("authorization", &app)
        .header("x-lp-on-behalf", &ann)
        .json(&json!([]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "2");
    let lines = e.sb.liveengage.conversation(&id).unwrap().lines;
    assert_eq!(lines.len(), 1, "the refused publish stored nothing");
    let sends =
        e.sb.liveengage
            .calls()
            .all()
            .into_iter()
            .filter(|c| c.network == "liveengage" && c.path.ends_with("/conversation/send"))
            .map(|c| c.status)
            .collect::<Vec<_>>();
    assert_eq!(sends, vec![503, 200]);
}

#[tokio::test]
async fn webhooks_are_redelivered_until_accepted_in_order_per_conversation() {
    let e = env().await;
    let app = e.app_token().await;
    let ann = e.consumer_token(&app, "ann").await;
    let id = e.create(&app, &ann, None).await;
    e.received(|v| state_of(v, &id).as_deref() == Some("OPEN"))
        .await;
    e.rx.fail_next.store(2, Ordering::SeqCst);
    for text in ["one", "two", "three"] {
        e.sb.liveengage.agent_says(&id, text).unwrap();
    }
    e.received(|v| content(v).is_some_and(|(_, _, t)| t == "three"))
        .await;
    let said: Vec<String> =
        e.rx.got
            .lock()
            .unwrap()
            .iter()
            .filter_map(|v| content(v).map(|(_, _, t)| t.to_owned()))
            .collect();
    assert_eq!(
        said,
        ["one", "two", "three"],
        "in order, each once accepted"
    );
    let refused =
        e.sb.liveengage
            .webhooks()
            .deliveries()
            .iter()
            .filter(|d| d.network == "liveengage" && d.status == Some(503))
            .count();
    assert_eq!(refused, 2);

    // Sent again as it was: the same body, the same sequence.
    let before = e.rx.got.lock().unwrap().len();
    e.sb.liveengage.deliver_again(&id, 1).unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    while e.rx.got.lock().unwrap().len() == before {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not delivered again"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let last = e.rx.got.lock().unwrap().last().cloned().unwrap();
    assert_eq!(content(&last), Some(("ASSIGNED_AGENT", 1, "two")));

    // The agent closes.
    e.sb.liveengage.agent_closes(&id).unwrap();
    e.received(|v| state_of(v, &id).as_deref() == Some("CLOSE"))
        .await;
    assert_eq!(e.publish(&app, &ann, &id, "after").await.0, 400);
}

#[tokio::test]
async fn images_go_up_to_swift_and_are_published_as_hosted_files() {
    let e = env().await;
    let app = e.app_token().await;
    let ann = e.consumer_token(&app, "ann").await;
    let id = e.create(&app, &ann, None).await;
    let png = b"\x89PNG\r\n\x1a\n0000".to_vec();
    let (status, v) = e
        .messaging(
            "/send",
            Some(&app),
            Some(&ann),
            json!({"kind": "req", "id": 3, "type": "ms.GenerateURLForUploadFile",
                   "body": {"fileSize": png.len().to_string(), "fileType": "PNG"}}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let path = v["body"]["relativePath"].as_str().unwrap().to_owned();
    let sig = v["body"]["queryParams"]["temp_url_sig"].as_str().unwrap();
    let expires = v["body"]["queryParams"]["temp_url_expires"]
        .as_str()
        .unwrap();
    let swift = e.base("swift").await;
    // A wrong signature or another type's bytes are refused.
    let put = |sig: &str, bytes: Vec<u8>| {
        e.http
            .put(format!("{swift}{path}"))
            .query(&[("temp_url_sig", sig), ("temp_url_expires", expires)])
            .body(bytes)
            .send()
    };
    assert_eq!(put("wrong", png.clone()).await.unwrap().status(), 401);
    assert_eq!(put(sig, b"GIF89a".to_vec()).await.unwrap().status(), 400);
    assert_eq!(put(sig, png.clone()).await.unwrap().status(), 201);
    let (status, v) = e
        .messaging(
            "/send",
            Some(&app),
            Some(&ann),
            json!({"kind": "req", "id": "4", "type": "ms.PublishEvent", "body": {
                "dialogId": id, "event": {"type": "ContentEvent", "contentType": "hosted/file",
                "message": {"caption": "[Private]", "relativePath": path, "fileType": "PNG"}}}}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let line = e.sb.liveengage.conversation(&id).unwrap().lines[0].clone();
    let file = line.file.unwrap();
    assert_eq!(file.caption.as_deref(), Some("[Private]"));
    assert_eq!(e.sb.liveengage.file(&file.relative_path).unwrap().1, png);
}

/// The page's `Content-Security-Policy` directive `name`.
fn directive(csp: &str, name: &str) -> String {
    csp.split(';')
        .map(str::trim)
        .find(|d| d.starts_with(name))
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn the_agent_workspace_page_hosts_the_products_widget_with_scripts_as_files() {
    let e = env().await;
    let le = &e.sb.liveengage;
    let callback = le.widget_url().trim_end_matches("/widget").to_owned();
    assert_eq!(
        le.workspace_url(),
        format!("{}/liveengage/agent/", e.sb.url)
    );
    assert_eq!(le.workspace_origin(), e.sb.url);

    let page = e.http.get(le.workspace_url()).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    let html = page.text().await.unwrap();
    assert!(
        html.contains(&format!(
            r#"<iframe id="le-widget" title="Social Widget" src="{callback}/widget">"#
        )),
        "{html}"
    );
    assert!(html.contains(&format!(r#"data-account="{}""#, e.account)));
    // Scripts are files of the sandbox's; frames only from the widget's origin.
    assert!(html.contains(r#"<script src="/liveengage/agent/workspace.js" defer></script>"#));
    assert_eq!(html.matches("<script").count(), 1, "{html}");
    assert_eq!(directive(&csp, "script-src"), "script-src 'self'");
    assert_eq!(
        directive(&csp, "frame-src"),
        format!("frame-src {callback}")
    );
    for label in [
        "Open conversations",
        r#"<label for="le-compose-text">Message</label>"#,
        ">Send</button>",
        ">Close conversation</button>",
    ] {
        assert!(html.contains(label), "{label}");
    }
    // Without the trailing slash: the page.
    let bare = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}/liveengage/agent", e.sb.url))
        .send()
        .await
        .unwrap();
    assert_eq!(bare.headers()["location"], "/liveengage/agent/");

    // The widget settings: another widget, for the page or for every page.
    let other = e
        .http
        .get(le.workspace_url())
        .query(&[("widget", "https://widget.example/w?x=1&y=<2>")])
        .send()
        .await
        .unwrap();
    let csp = other.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        directive(&csp, "frame-src"),
        "frame-src https://widget.example"
    );
    assert!(
        other
            .text()
            .await
            .unwrap()
            .contains(r#"src="https://widget.example/w?x=1&amp;y=&lt;2&gt;""#)
    );
    le.set_widget_url("https://sc.example/widget");
    assert_eq!(le.widget_url(), "https://sc.example/widget");
    let html = e
        .http
        .get(le.workspace_url())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains(r#"src="https://sc.example/widget""#));
    for (query, status) in [
        ("widget=javascript:alert(1)", 400),
        ("widget=/widget", 400),
        ("account=nobody", 404),
    ] {
        let r = e
            .http
            .get(format!("{}?{query}", le.workspace_url()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), status, "{query}");
    }

    for (path, kind, has) in [
        (
            "/liveengage/agent/workspace.js",
            "text/javascript",
            "postMessage",
        ),
        ("/liveengage/agent/workspace.css", "text/css", ".le-layout"),
        (
            "/liveengage/webagent/client-SDK.js",
            "text/javascript",
            "lpTag.agentSDK",
        ),
    ] {
        let r = e
            .http
            .get(format!("{}{path}", e.sb.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with(kind),
            "{path}"
        );
        assert!(r.text().await.unwrap().contains(has), "{path}");
    }
    assert_eq!(
        le.sdk_url(),
        format!("{}/liveengage/webagent/client-SDK.js", e.sb.url)
    );
}

#[tokio::test]
async fn the_sdk_offers_lptags_methods_and_checks_origins_and_init() {
    let e = env().await;
    let sdk = e
        .http
        .get(e.sb.liveengage.sdk_url())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for method in [
        "init:",
        "get:",
        "bind:",
        "unbind:",
        "command:",
        "dispose:",
        "cmdNames",
        "\"Write ChatLine\"",
    ] {
        assert!(sdk.contains(method), "{method}");
    }
    // Messages go to the workspace's origin only, and only its are read.
    assert!(sdk.contains("host.postMessage(message, hostOrigin)"));
    assert!(sdk.contains("e.source !== host || e.origin !== hostOrigin"));
    assert!(sdk.contains("call lpTag.agentSDK.init first"));
    assert!(!sdk.contains("postMessage(message, \"*\")"));
    let page = e
        .http
        .get(format!("{}/liveengage/agent/workspace.js", e.sb.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("e.source !== frame.contentWindow || e.origin !== widgetOrigin"));
    assert!(page.contains("postMessage(message, widgetOrigin)"));
    assert!(page.contains("\"call init first\""));
}

#[tokio::test]
async fn the_agents_list_names_each_visitor_and_keeps_to_an_account() {
    let e = env().await;
    let app = e.app_token().await;
    let ann = e.consumer_token(&app, "fb-ann").await;
    let id = e.create(&app, &ann, None).await;
    let list = |query: String| {
        let http = e.http.clone();
        let url = format!("{}/liveengage/agent/api/conversations{query}", e.sb.url);
        async move {
            http.get(url)
                .send()
                .await
                .unwrap()
                .json::<Vec<Value>>()
                .await
                .unwrap()
        }
    };
    let all = list(String::new()).await;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0]["id"], id.as_str());
    assert_eq!(all[0]["visitor_name"], "Ann");
    assert_eq!(list(format!("?account={}", e.account)).await.len(), 1);
    assert!(list("?account=999".into()).await.is_empty());
}
