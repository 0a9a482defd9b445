//! The simulated Twitter/X, driven over HTTP exactly as a connector would: requests are
//! signed here with an independent OAuth 1.0a signer, and webhooks land on a small
//! receiver that answers the CRC and checks signatures.

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use base64::Engine;
use hmac::{Hmac, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use sandbox::common::Fault;
use sandbox::twitter::{Brand, ConsumerOptions, Format, MediaFile};
use sandbox::{Credentials, Sandbox, SandboxOptions};
use serde_json::{Value, json};
use sha2::Sha256;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

type Res<T = ()> = anyhow::Result<T>;

const ENC: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn enc(s: &str) -> String {
    utf8_percent_encode(s, ENC).to_string()
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn nonce() -> String {
    sandbox::common::random_alnum(32)
}

fn now() -> u64 {
    sandbox::common::now_millis() / 1000
}

/// An OAuth 1.0a `Authorization` header (RFC 5849, HMAC-SHA1), written independently of
/// the sandbox's verifier.
#[allow(clippy::too_many_arguments)]
fn oauth_header(
    method: &str,
    url: &str,
    params: &[(&str, &str)],
    ck: &str,
    cs: &str,
    token: Option<(&str, &str)>,
    extra_oauth: &[(&str, &str)],
    nonce: &str,
    ts: u64,
) -> String {
    let ts = ts.to_string();
    let mut oauth: Vec<(String, String)> = vec![
        ("oauth_consumer_key".into(), ck.into()),
        ("oauth_nonce".into(), nonce.into()),
        ("oauth_signature_method".into(), "HMAC-SHA1".into()),
        ("oauth_timestamp".into(), ts),
        ("oauth_version".into(), "1.0".into()),
    ];
    if let Some((t, _)) = token {
        oauth.push(("oauth_token".into(), t.into()));
    }
    for (k, v) in extra_oauth {
        oauth.push(((*k).into(), (*v).into()));
    }
    let mut all: Vec<(String, String)> = oauth
        .iter()
        .cloned()
        .chain(params.iter().map(|(k, v)| ((*k).into(), (*v).into())))
        .map(|(k, v)| (enc(&k), enc(&v)))
        .collect();
    all.sort();
    let param_str = all
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let base = format!("{method}&{}&{}", enc(url), enc(&param_str));
    let key = format!("{}&{}", enc(cs), enc(token.map(|t| t.1).unwrap_or("")));
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(base.as_bytes());
    let sig = b64(&mac.finalize().into_bytes());
    oauth.push(("oauth_signature".into(), sig));
    let parts: Vec<String> = oauth
        .iter()
        .map(|(k, v)| format!("{}=\"{}\"", enc(k), enc(v)))
        .collect();
    format!("OAuth {}", parts.join(", "))
}

// ----- the product stand-in ---------------------------------------------------------

#[derive(Default)]
struct Rx {
    secret: String,
    crc_fails: AtomicBool,
    fail_posts: AtomicU32,
    posts: Mutex<Vec<(String, String)>>,
}

async fn crc(
    State(rx): State<Arc<Rx>>,
    Query(q): Query<HashMap<String, String>>,
) -> impl IntoResponse {
    if rx.crc_fails.load(Ordering::SeqCst) {
        return (
            StatusCode::OK,
            axum::Json(json!({"response_token": "sha256=wrong"})),
        );
    }
    let token = q.get("crc_token").cloned().unwrap_or_default();
    let mut mac = Hmac::<Sha256>::new_from_slice(rx.secret.as_bytes()).unwrap();
    mac.update(token.as_bytes());
    let t = format!("sha256={}", b64(&mac.finalize().into_bytes()));
    (StatusCode::OK, axum::Json(json!({ "response_token": t })))
}

async fn receive(State(rx): State<Arc<Rx>>, headers: HeaderMap, body: String) -> StatusCode {
    let sig = headers
        .get("x-twitter-webhooks-signature")
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    rx.posts.lock().unwrap().push((body, sig));
    if rx
        .fail_posts
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    StatusCode::OK
}

struct Env {
    sb: Sandbox,
    rx: Arc<Rx>,
    http: reqwest::Client,
    api: String,
    upload: String,
    ck: String,
    cs: String,
    brand: Brand,
    hook_url: String,
}

impl Env {
    async fn start() -> Res<Env> {
        let creds = Credentials::random();
        let rx = Arc::new(Rx {
            secret: creds.twitter_consumer_secret.clone(),
            ..Rx::default()
        });
        let app = Router::new()
            .route("/webhooks/twitter", get(crc).post(receive))
            .with_state(rx.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let callback = format!("http://{}", listener.local_addr()?);
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let sb = Sandbox::start(SandboxOptions {
            listen: "127.0.0.1:0".parse()?,
            callback: callback.clone(),
            credentials: Some(creds.clone()),
        })
        .await?;
        let brand = sb.twitter.add_brand("AcmeCare", "Acme Support");
        Ok(Env {
            api: sb.twitter.api_url(),
            upload: sb.twitter.upload_url(),
            sb,
            rx,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()?,
            ck: creds.twitter_consumer_key,
            cs: creds.twitter_consumer_secret,
            brand,
            hook_url: format!("{callback}/webhooks/twitter"),
        })
    }

    fn token(&self) -> (&str, &str) {
        (&self.brand.access_token, &self.brand.access_token_secret)
    }

    fn auth(&self, method: &str, url: &str, params: &[(&str, &str)]) -> String {
        oauth_header(
            method,
            url,
            params,
            &self.ck,
            &self.cs,
            Some(self.token()),
            &[],
            &nonce(),
            now(),
        )
    }

    /// A signed JSON request as the brand.
    async fn json(&self, method: &str, path: &str, body: Value) -> Res<(u16, Value, HeaderMap)> {
        let url = format!("{}{path}", self.api);
        let m = reqwest::Method::from_bytes(method.as_bytes())?;
        let res = self
            .http
            .request(m, &url)
            .header("authorization", self.auth(method, &url, &[]))
            .json(&body)
            .send()
            .await?;
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let v = res.json().await.unwrap_or(Value::Null);
        Ok((status, v, headers))
    }

    /// A signed GET with query parameters, as the brand.
    async fn get(&self, path: &str, query: &[(&str, &str)]) -> Res<(u16, Value)> {
        let url = format!("{}{path}", self.api);
        let res = self
            .http
            .get(&url)
            .query(query)
            .header("authorization", self.auth("GET", &url, query))
            .send()
            .await?;
        Ok((
            res.status().as_u16(),
            res.json().await.unwrap_or(Value::Null),
        ))
    }

    async fn bearer(&self) -> Res<String> {
        let basic = b64(format!("{}:{}", enc(&self.ck), enc(&self.cs)).as_bytes());
        let res: Value = self
            .http
            .post(format!("{}/oauth2/token", self.api))
            .header("authorization", format!("Basic {basic}"))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await?
            .json()
            .await?;
        assert_eq!(res["token_type"], "bearer");
        Ok(res["access_token"].as_str().unwrap().to_owned())
    }

    async fn app(&self, method: &str, path: &str, body: Option<Value>) -> Res<(u16, Value)> {
        let bearer = self.bearer().await?;
        let m = reqwest::Method::from_bytes(method.as_bytes())?;
        let mut req = self
            .http
            .request(m, format!("{}{path}", self.api))
            .bearer_auth(bearer);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await?;
        Ok((
            res.status().as_u16(),
            res.json().await.unwrap_or(Value::Null),
        ))
    }

    async fn register_webhook(&self) -> Res<String> {
        let (s, v) = self
            .app("POST", "/2/webhooks", Some(json!({"url": self.hook_url})))
            .await?;
        assert_eq!(s, 200, "{v}");
        Ok(v["data"]["id"].as_str().unwrap().to_owned())
    }

    async fn subscribe_xaa(&self, events: &[&str]) -> Res<String> {
        let hook = self.register_webhook().await?;
        for e in events {
            let (s, v, _) = self
                .json(
                    "POST",
                    "/2/activity/subscriptions",
                    json!({"event_type": e, "filter": {"user_id": self.brand.id}, "webhook_id": hook, "tag": "sc"}),
                )
                .await?;
            assert_eq!(s, 200, "{v}");
        }
        Ok(hook)
    }

    /// Waits for a delivery whose body matches; checks its signature.
    async fn wait_for(&self, pred: impl Fn(&Value) -> bool) -> Res<Value> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let found = self
                .rx
                .posts
                .lock()
                .unwrap()
                .iter()
                .find(|(b, _)| serde_json::from_str(b).is_ok_and(|v: Value| pred(&v)))
                .cloned();
            if let Some((body, sig)) = found {
                let mut mac = Hmac::<Sha256>::new_from_slice(self.cs.as_bytes()).unwrap();
                mac.update(body.as_bytes());
                assert_eq!(sig, format!("sha256={}", b64(&mac.finalize().into_bytes())));
                return Ok(serde_json::from_str(&body)?);
            }
            if Instant::now() > deadline {
                anyhow::bail!(
                    "no matching delivery; got {:?}",
                    self.rx.posts.lock().unwrap()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn count(&self, pred: impl Fn(&Value) -> bool) -> usize {
        self.rx
            .posts
            .lock()
            .unwrap()
            .iter()
            .filter(|(b, _)| serde_json::from_str(b).is_ok_and(|v: Value| pred(&v)))
            .count()
    }

    /// Chunked upload through `{upload}/2/media/upload`; returns (status, body) of the
    /// last step.
    async fn upload(
        &self,
        bytes: &[u8],
        media_type: &str,
        category: &str,
        total: usize,
    ) -> Res<(u16, Value)> {
        let url = format!("{}/2/media/upload", self.upload);
        let total_s = total.to_string();
        let init = [
            ("command", "INIT"),
            ("total_bytes", total_s.as_str()),
            ("media_type", media_type),
            ("media_category", category),
        ];
        let res = self
            .http
            .post(&url)
            .header("authorization", self.auth("POST", &url, &init))
            .form(&init)
            .send()
            .await?;
        let status = res.status().as_u16();
        let v: Value = res.json().await?;
        if status != 200 {
            return Ok((status, v));
        }
        let id = v["data"]["id"].as_str().unwrap().to_owned();
        for (i, chunk) in bytes.chunks(1024).enumerate() {
            let idx = i.to_string();
            let (ctype, body) = multipart(
                &[
                    ("command", "APPEND"),
                    ("media_id", &id),
                    ("segment_index", &idx),
                ],
                ("media", "blob", chunk),
            );
            let res = self
                .http
                .post(&url)
                .header("authorization", self.auth("POST", &url, &[]))
                .header("content-type", ctype)
                .body(body)
                .send()
                .await?;
            let s = res.status().as_u16();
            if s != 200 {
                return Ok((s, res.json().await.unwrap_or(Value::Null)));
            }
        }
        let fin = [("command", "FINALIZE"), ("media_id", id.as_str())];
        let res = self
            .http
            .post(&url)
            .header("authorization", self.auth("POST", &url, &fin))
            .form(&fin)
            .send()
            .await?;
        Ok((res.status().as_u16(), res.json().await?))
    }

    async fn status(&self, id: &str) -> Res<Value> {
        let url = format!("{}/2/media/upload", self.upload);
        let q = [("command", "STATUS"), ("media_id", id)];
        Ok(self
            .http
            .get(&url)
            .query(&q)
            .header("authorization", self.auth("GET", &url, &q))
            .send()
            .await?
            .json()
            .await?)
    }
}

/// A `multipart/form-data` body with text fields and one file.
fn multipart(fields: &[(&str, &str)], file: (&str, &str, &[u8])) -> (String, Vec<u8>) {
    let b = "sandboxboundary7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    for (k, v) in fields {
        body.extend(
            format!("--{b}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    body.extend(
        format!(
            "--{b}\r\nContent-Disposition: form-data; name=\"{}\"; filename=\"{}\"\r\nContent-Type: application/octet-stream\r\n\r\n",
            file.0, file.1
        )
        .as_bytes(),
    );
    body.extend(file.2);
    body.extend(format!("\r\n--{b}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={b}"), body)
}

fn png(len: usize) -> Vec<u8> {
    let mut v = b"\x89PNG\r\n\x1a\n".to_vec();
    v.resize(len, 7);
    v
}

fn gif(len: usize) -> Vec<u8> {
    let mut v = b"GIF89a".to_vec();
    v.resize(len, 1);
    v
}

fn event_is(v: &Value, t: &str) -> bool {
    v["data"]["event_type"] == t
}

// ----- tests ------------------------------------------------------------------------

#[tokio::test]
async fn three_legged_oauth_flow_end_to_end() -> Res {
    let env = Env::start().await?;
    let url = format!("{}/oauth/request_token", env.api);
    let cb = "http://product.test/auth/twitter/callback";
    let h = oauth_header(
        "POST",
        &url,
        &[],
        &env.ck,
        &env.cs,
        None,
        &[("oauth_callback", cb)],
        &nonce(),
        now(),
    );
    let body = env
        .http
        .post(&url)
        .header("authorization", h)
        .send()
        .await?
        .text()
        .await?;
    let p: HashMap<String, String> = url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    assert_eq!(p["oauth_callback_confirmed"], "true");
    let (rt, rts) = (p["oauth_token"].clone(), p["oauth_token_secret"].clone());

    let page = env
        .http
        .get(format!("{}/oauth/authorize", env.api))
        .query(&[("oauth_token", &rt)])
        .send()
        .await?
        .text()
        .await?;
    assert!(page.contains(">Authorize App</button>"), "{page}");
    assert!(page.contains("@AcmeCare"));

    let res = env
        .http
        .post(format!("{}/oauth/authorize", env.api))
        .form(&[
            ("oauth_token", rt.as_str()),
            ("user_id", &env.brand.id),
            ("decision", "allow"),
        ])
        .send()
        .await?;
    assert!(res.status().is_redirection());
    let loc = res.headers()["location"].to_str()?.to_owned();
    assert!(loc.starts_with(cb));
    let q: HashMap<String, String> = url::Url::parse(&loc)?.query_pairs().into_owned().collect();
    assert_eq!(q["oauth_token"], rt);

    let url = format!("{}/oauth/access_token", env.api);
    let h = oauth_header(
        "POST",
        &url,
        &[],
        &env.ck,
        &env.cs,
        Some((&rt, &rts)),
        &[("oauth_verifier", &q["oauth_verifier"])],
        &nonce(),
        now(),
    );
    let body = env
        .http
        .post(&url)
        .header("authorization", h)
        .send()
        .await?
        .text()
        .await?;
    let a: HashMap<String, String> = url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    assert_eq!(a["user_id"], env.brand.id);
    assert_eq!(a["screen_name"], "AcmeCare");

    // The new pair works; the request token is spent.
    let url = format!("{}/2/users/me", env.api);
    let h = oauth_header(
        "GET",
        &url,
        &[],
        &env.ck,
        &env.cs,
        Some((&a["oauth_token"], &a["oauth_token_secret"])),
        &[],
        &nonce(),
        now(),
    );
    let me: Value = env
        .http
        .get(&url)
        .header("authorization", h)
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(me["data"]["id"], env.brand.id.as_str());
    let url = format!("{}/oauth/access_token", env.api);
    let h = oauth_header(
        "POST",
        &url,
        &[],
        &env.ck,
        &env.cs,
        Some((&rt, &rts)),
        &[("oauth_verifier", "x")],
        &nonce(),
        now(),
    );
    assert_eq!(
        env.http
            .post(&url)
            .header("authorization", h)
            .send()
            .await?
            .status(),
        401
    );
    Ok(())
}

#[tokio::test]
async fn bad_signatures_reused_nonces_and_stale_timestamps_are_refused() -> Res {
    let env = Env::start().await?;
    let url = format!("{}/2/tweets", env.api);
    // Wrong token secret.
    let h = oauth_header(
        "POST",
        &url,
        &[],
        &env.ck,
        &env.cs,
        Some((&env.brand.access_token, "nope")),
        &[],
        &nonce(),
        now(),
    );
    let res = env
        .http
        .post(&url)
        .header("authorization", h)
        .json(&json!({"text": "hi"}))
        .send()
        .await?;
    assert_eq!(res.status(), 401);
    let v: Value = res.json().await?;
    assert_eq!(v["status"], 401);
    assert_eq!(v["title"], "Unauthorized");
    // Form parameters are part of the signature: signing without them fails.
    let url1 = format!("{}/1.1/direct_messages/events/new.json", env.api);
    let h = env.auth("POST", &url1, &[]);
    let res = env
        .http
        .post(&url1)
        .header("authorization", h)
        .form(&[("x", "1")])
        .send()
        .await?;
    assert_eq!(res.status(), 401);
    let v: Value = res.json().await?;
    assert_eq!(v["errors"][0]["code"], 32);
    // A nonce is good once.
    let n = nonce();
    let h = oauth_header(
        "POST",
        &url,
        &[],
        &env.ck,
        &env.cs,
        Some(env.token()),
        &[],
        &n,
        now(),
    );
    let ok = env
        .http
        .post(&url)
        .header("authorization", &h)
        .json(&json!({"text": "first"}))
        .send()
        .await?;
    assert_eq!(ok.status(), 201);
    let again = env
        .http
        .post(&url)
        .header("authorization", &h)
        .json(&json!({"text": "second"}))
        .send()
        .await?;
    assert_eq!(again.status(), 401);
    // Stale timestamp.
    let h = oauth_header(
        "POST",
        &url,
        &[],
        &env.ck,
        &env.cs,
        Some(env.token()),
        &[],
        &nonce(),
        now() - 3600,
    );
    let res = env
        .http
        .post(&url)
        .header("authorization", h)
        .json(&json!({"text": "late"}))
        .send()
        .await?;
    assert_eq!(res.status(), 401);
    // Unknown token: code 89.
    let h = oauth_header(
        "POST",
        &url,
        &[],
        &env.ck,
        &env.cs,
        Some(("1-abc", "s")),
        &[],
        &nonce(),
        now(),
    );
    let v: Value = env
        .http
        .post(&url)
        .header("authorization", h)
        .json(&json!({"text": "x"}))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(v["errors"][0]["code"], 89);
    Ok(())
}

#[tokio::test]
async fn webhook_registration_runs_the_crc() -> Res {
    let env = Env::start().await?;
    env.rx.crc_fails.store(true, Ordering::SeqCst);
    let (s, v) = env
        .app("POST", "/2/webhooks", Some(json!({"url": env.hook_url})))
        .await?;
    assert_eq!(s, 400, "{v}");
    assert!(v["errors"][0]["message"].as_str().unwrap().contains("CRC"));
    let (_, list) = env.app("GET", "/2/webhooks", None).await?;
    assert_eq!(list["meta"]["result_count"], 0);
    // A user-context token is the wrong kind for webhooks.
    let (s, _, _) = env
        .json("POST", "/2/webhooks", json!({"url": env.hook_url}))
        .await?;
    assert_eq!(s, 403);

    env.rx.crc_fails.store(false, Ordering::SeqCst);
    let id = env.register_webhook().await?;
    let (_, list) = env.app("GET", "/2/webhooks", None).await?;
    assert_eq!(list["data"][0]["valid"], true);

    env.rx.crc_fails.store(true, Ordering::SeqCst);
    assert_eq!(
        env.sb.twitter.recheck_crc().await,
        vec![(id.clone(), false)]
    );
    assert!(!env.sb.twitter.webhooks()[0].valid);
    env.rx.crc_fails.store(false, Ordering::SeqCst);
    let (s, v) = env.app("PUT", &format!("/2/webhooks/{id}"), None).await?;
    assert_eq!((s, v["data"]["valid"].clone()), (200, json!(true)));
    let (s, _) = env
        .app("DELETE", &format!("/2/webhooks/{id}"), None)
        .await?;
    assert_eq!(s, 200);
    assert!(env.sb.twitter.webhooks().is_empty());
    Ok(())
}

#[tokio::test]
async fn xaa_deliveries_for_mentions_replies_dms_and_revoke() -> Res {
    let env = Env::start().await?;
    env.subscribe_xaa(&[
        "post.mention.create",
        "post.reply.create",
        "post.create",
        "dm.received",
        "dm.sent",
        "oauth.revoke",
    ])
    .await?;
    let (_, subs) = env.app("GET", "/2/activity/subscriptions", None).await?;
    assert_eq!(subs["meta"]["result_count"], 6);
    let tw = &env.sb.twitter;
    let ann = tw.add_consumer("ann", "Ann Example");

    let t1 = tw.consumer_tweet(
        &ann,
        "@AcmeCare my order is late",
        vec![MediaFile {
            mime: "image/png".into(),
            bytes: png(100),
        }],
    );
    let ev = env.wait_for(|v| event_is(v, "post.mention.create")).await?;
    let d = &ev["data"];
    assert_eq!(d["filter"]["user_id"], env.brand.id.as_str());
    assert_eq!(d["tag"], "sc");
    assert!(d["event_uuid"].is_string());
    assert_eq!(d["payload"]["id"], t1.as_str());
    assert_eq!(d["payload"]["author_id"], ann.id.as_str());
    assert_eq!(d["payload"]["conversation_id"], t1.as_str());
    assert_eq!(
        d["payload"]["entities"]["mentions"][0]["username"],
        "AcmeCare"
    );
    assert_eq!(
        d["payload"]["entities"]["mentions"][0]["id"],
        env.brand.id.as_str()
    );
    let key = d["payload"]["attachments"]["media_keys"][0]
        .as_str()
        .unwrap();
    assert_eq!(d["includes"]["media"][0]["media_key"], key);
    assert_eq!(d["includes"]["media"][0]["type"], "photo");
    let users = d["includes"]["users"].as_array().unwrap();
    let author = users.iter().find(|u| u["id"] == ann.id.as_str()).unwrap();
    assert_eq!(author["username"], "ann");
    assert!(author["public_metrics"]["followers_count"].is_u64());

    // The brand answers: 201, post.create, visible in the consumer's thread.
    let (s, v, _) = env
        .json(
            "POST",
            "/2/tweets",
            json!({"text": "Sorry Ann, we're on it", "reply": {"in_reply_to_tweet_id": t1}}),
        )
        .await?;
    assert_eq!(s, 201, "{v}");
    let reply_id = v["data"]["id"].as_str().unwrap().to_owned();
    let ev = env.wait_for(|v| event_is(v, "post.create")).await?;
    assert_eq!(ev["data"]["payload"]["in_reply_to_tweet_id"], t1.as_str());
    assert_eq!(
        ev["data"]["payload"]["referenced_tweets"][0]["type"],
        "replied_to"
    );
    let thread = tw.thread(&t1);
    assert_eq!(thread.len(), 2);
    assert_eq!(thread[1].author_id, env.brand.id);
    assert!(tw.timeline(&ann.id).iter().any(|t| t.id == reply_id));

    // Ann replies to the brand's post: post.reply.create.
    let t2 = tw
        .consumer_reply(&ann, &reply_id, "thanks!", vec![])
        .unwrap();
    let ev = env.wait_for(|v| event_is(v, "post.reply.create")).await?;
    assert_eq!(ev["data"]["payload"]["id"], t2.as_str());
    assert_eq!(ev["data"]["payload"]["conversation_id"], t1.as_str());

    // DMs both ways.
    tw.consumer_dm(
        &ann,
        &env.brand.id,
        "here is the receipt",
        Some(MediaFile {
            mime: "image/png".into(),
            bytes: png(64),
        }),
    )
    .unwrap();
    let ev = env.wait_for(|v| event_is(v, "dm.received")).await?;
    let e = &ev["data"]["payload"]["direct_message_events"][0];
    assert_eq!(e["type"], "message_create");
    assert_eq!(e["message_create"]["sender_id"], ann.id.as_str());
    assert_eq!(
        e["message_create"]["target"]["recipient_id"],
        env.brand.id.as_str()
    );
    assert_eq!(
        e["message_create"]["message_data"]["attachment"]["media"]["type"],
        "photo"
    );
    assert_eq!(
        ev["data"]["payload"]["users"][&ann.id]["data"]["username"],
        "ann"
    );
    // DM media is served only to a GET signed by a participant (X's "Retrieving media").
    let url = e["message_create"]["message_data"]["attachment"]["media"]["media_url_https"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        url.starts_with(&format!("{}/1.1/ton/data/dm/", env.api)),
        "{url}"
    );
    let unsigned = env.http.get(&url).send().await?;
    assert_eq!(unsigned.status(), 401);
    let signed = env
        .http
        .get(&url)
        .header("authorization", env.auth("GET", &url, &[]))
        .send()
        .await?;
    assert_eq!(signed.status(), 200);
    assert_eq!(signed.bytes().await?.to_vec(), png(64));
    let (s, v, _) = env
        .json(
            "POST",
            &format!("/2/dm_conversations/with/{}/messages", ann.id),
            json!({"text": "Got it"}),
        )
        .await?;
    assert_eq!(s, 201, "{v}");
    assert!(
        v["data"]["dm_conversation_id"]
            .as_str()
            .unwrap()
            .contains(&ann.id)
    );
    let ev = env.wait_for(|v| event_is(v, "dm.sent")).await?;
    assert_eq!(
        ev["data"]["payload"]["direct_message_events"][0]["id"],
        v["data"]["dm_event_id"]
    );
    assert_eq!(tw.dm_conversation(&ann.id, &env.brand.id).len(), 2);

    // Revoke: event, and the token stops working.
    tw.revoke(&env.brand.id);
    env.wait_for(|v| event_is(v, "oauth.revoke")).await?;
    let (s, v, _) = env
        .json("POST", "/2/tweets", json!({"text": "after revoke"}))
        .await?;
    assert_eq!(s, 401, "{v}");
    Ok(())
}

#[tokio::test]
async fn private_events_need_the_users_authorisation() -> Res {
    let env = Env::start().await?;
    let hook = env.register_webhook().await?;
    let bob = env.sb.twitter.add_consumer("bob", "Bob");
    let (s, v) = env
        .app("POST", "/2/activity/subscriptions", Some(json!({"event_type": "dm.received", "filter": {"user_id": bob.id}, "webhook_id": hook})))
        .await?;
    assert_eq!(s, 403, "{v}");
    let (s, _) = env
        .app("POST", "/2/activity/subscriptions", Some(json!({"event_type": "post.mention.create", "filter": {"user_id": bob.id}, "webhook_id": hook})))
        .await?;
    assert_eq!(s, 200);
    let (s, _) = env
        .app("POST", "/2/activity/subscriptions", Some(json!({"event_type": "dm.received", "filter": {"user_id": env.brand.id}, "webhook_id": hook})))
        .await?;
    assert_eq!(s, 200);
    Ok(())
}

#[tokio::test]
async fn aaa_deliveries_use_the_legacy_shapes() -> Res {
    let env = Env::start().await?;
    let hook = env.register_webhook().await?;
    let tw = &env.sb.twitter;
    tw.set_format(&env.brand.id, Format::Aaa);
    let path = format!("/2/account_activity/webhooks/{hook}/subscriptions/all");
    let (s, v, _) = env.json("POST", &path, json!({})).await?;
    assert_eq!((s, v["data"]["subscribed"].clone()), (200, json!(true)));
    let (s, v) = env.get(&path, &[]).await?;
    assert_eq!((s, v["data"]["subscribed"].clone()), (200, json!(true)));
    let (_, list) = env.app("GET", &format!("{path}/list"), None).await?;
    assert_eq!(
        list["data"]["subscriptions"][0]["user_id"],
        env.brand.id.as_str()
    );

    let cat = tw.add_consumer("cat", "Cat");
    let t = tw.consumer_tweet(
        &cat,
        "hey @acmecare",
        vec![MediaFile {
            mime: "image/png".into(),
            bytes: png(50),
        }],
    );
    let ev = env
        .wait_for(|v| v["tweet_create_events"].is_array())
        .await?;
    assert_eq!(ev["for_user_id"], env.brand.id.as_str());
    let tweet = &ev["tweet_create_events"][0];
    assert_eq!(tweet["id_str"], t.as_str());
    assert_eq!(tweet["user"]["screen_name"], "cat");
    assert_eq!(
        tweet["entities"]["user_mentions"][0]["id_str"],
        env.brand.id.as_str()
    );
    assert_eq!(tweet["extended_entities"]["media"][0]["type"], "photo");
    assert!(tweet["timestamp_ms"].is_string());
    assert!(tweet["in_reply_to_status_id_str"].is_null());

    tw.consumer_dm(&cat, &env.brand.id, "psst", None).unwrap();
    let ev = env
        .wait_for(|v| v["direct_message_events"].is_array())
        .await?;
    let e = &ev["direct_message_events"][0];
    assert_eq!(e["type"], "message_create");
    assert!(e["created_timestamp"].is_string());
    assert_eq!(e["message_create"]["message_data"]["text"], "psst");
    assert_eq!(ev["users"][&cat.id]["screen_name"], "cat");

    tw.revoke(&env.brand.id);
    let ev = env
        .wait_for(|v| v["user_event"]["revoke"].is_object())
        .await?;
    assert_eq!(
        ev["user_event"]["revoke"]["source"]["user_id"],
        env.brand.id.as_str()
    );
    // No XAA envelope was sent for this brand.
    assert_eq!(env.count(|v| v["data"]["event_type"].is_string()), 0);
    Ok(())
}

/// GETs a file the sandbox serves: status, content type and bytes.
async fn fetch(env: &Env, url: &str) -> Res<(u16, String, Vec<u8>)> {
    let res = env.http.get(url).send().await?;
    let status = res.status().as_u16();
    let ctype = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    Ok((status, ctype, res.bytes().await?.to_vec()))
}

/// The MP4 variants of a v2 or v1.1 `variants` array: (bit rate, URL); and the URL of its
/// one HLS playlist.
fn mp4s_and_hls(variants: &Value, rate: &str) -> (Vec<(u64, String)>, String) {
    let all = variants.as_array().expect("variants");
    let mp4 = all
        .iter()
        .filter(|v| v["content_type"] == "video/mp4")
        .map(|v| {
            (
                v[rate].as_u64().expect("a rate"),
                v["url"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let hls: Vec<&Value> = all
        .iter()
        .filter(|v| v["content_type"] == "application/x-mpegURL")
        .collect();
    assert_eq!(hls.len(), 1, "{variants}");
    (mp4, hls[0]["url"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn x_gifs_and_videos_arrive_as_mp4_variants_with_a_preview() -> Res {
    let env = Env::start().await?;
    env.subscribe_xaa(&["post.mention.create", "dm.received"])
        .await?;
    let tw = &env.sb.twitter;
    let ann = tw.add_consumer("ann", "Ann");
    let mut video = sandbox::twitter::GIF_MP4.to_vec();
    video.extend_from_slice(b"\0\0\0\x08free");

    // A GIF in a post: one MP4 (bit rate 0) and an HLS playlist, never the GIF itself.
    tw.consumer_tweet(
        &ann,
        "@acmecare this happens",
        vec![MediaFile {
            mime: "image/gif".into(),
            bytes: gif(64),
        }],
    );
    let ev = env.wait_for(|v| event_is(v, "post.mention.create")).await?;
    let m = &ev["data"]["includes"]["media"][0];
    assert_eq!(m["type"], "animated_gif");
    assert!(m["media_key"].as_str().unwrap().starts_with("16_"));
    assert!(m.get("url").is_none(), "only photos have url: {m}");
    let (mp4, hls) = mp4s_and_hls(&m["variants"], "bit_rate");
    assert_eq!(mp4.len(), 1, "{m}");
    assert_eq!(mp4[0].0, 0);
    let (status, ctype, bytes) = fetch(&env, &mp4[0].1).await?;
    assert_eq!((status, ctype.as_str()), (200, "video/mp4"));
    assert_eq!(&bytes[4..8], b"ftyp");
    assert_eq!(bytes, sandbox::twitter::GIF_MP4);
    let (status, ctype, bytes) = fetch(&env, &hls).await?;
    assert_eq!((status, ctype.as_str()), (200, "application/x-mpegURL"));
    assert!(bytes.starts_with(b"#EXTM3U"));
    let preview = m["preview_image_url"].as_str().unwrap();
    let (status, ctype, bytes) = fetch(&env, preview).await?;
    assert_eq!((status, ctype.as_str()), (200, "image/jpeg"));
    assert!(bytes.starts_with(&[0xFF, 0xD8, 0xFF]));
    // The uploaded GIF file is not served, under its key or as another rendition.
    let key = m["media_key"].as_str().unwrap();
    let base = mp4[0].1.split("/tweet_video/").next().unwrap().to_owned();
    for path in [
        key.to_owned(),
        format!("tweet_video/{key}/64000.mp4"),
        format!("dm_gif/{key}/0.mp4"),
    ] {
        let (status, ..) = fetch(&env, &format!("{base}/{path}")).await?;
        assert_eq!(status, 404, "{path}");
    }

    // A video in a DM: several MP4 bit rates, an HLS playlist, a preview; served without
    // a signature from the video host (only DM photos need one).
    tw.consumer_dm(
        &ann,
        &env.brand.id,
        "and a video",
        Some(MediaFile {
            mime: "video/mp4".into(),
            bytes: video.clone(),
        }),
    )
    .unwrap();
    let ev = env.wait_for(|v| event_is(v, "dm.received")).await?;
    let m = &ev["data"]["payload"]["direct_message_events"][0]["message_create"]["message_data"]["attachment"]
        ["media"];
    assert_eq!(m["type"], "video");
    let (mp4, hls) = mp4s_and_hls(&m["video_info"]["variants"], "bitrate");
    let mut rates: Vec<u64> = mp4.iter().map(|(r, _)| *r).collect();
    rates.sort_unstable();
    assert_eq!(rates, [256_000, 832_000, 2_176_000]);
    assert!(hls.contains("/dm_video/"), "{hls}");
    for (_, url) in &mp4 {
        let (status, ctype, bytes) = fetch(&env, url).await?;
        assert_eq!((status, ctype.as_str()), (200, "video/mp4"), "{url}");
        assert_eq!(bytes, video);
    }
    let still = m["media_url_https"].as_str().unwrap();
    assert!(still.contains("/dm_video_preview/"), "{still}");
    let (status, ctype, _) = fetch(&env, still).await?;
    assert_eq!((status, ctype.as_str()), (200, "image/jpeg"));

    // The same GIF in the legacy shape: `video_info.variants` with `bitrate`, the preview
    // as `media_url_https`.
    tw.set_format(&env.brand.id, Format::Aaa);
    let hook = env.register_webhook().await?;
    let path = format!("/2/account_activity/webhooks/{hook}/subscriptions/all");
    let (s, _, _) = env.json("POST", &path, json!({})).await?;
    assert_eq!(s, 200);
    tw.consumer_tweet(
        &ann,
        "@acmecare again",
        vec![MediaFile {
            mime: "image/gif".into(),
            bytes: gif(64),
        }],
    );
    let ev = env
        .wait_for(|v| v["tweet_create_events"].is_array())
        .await?;
    let m = &ev["tweet_create_events"][0]["extended_entities"]["media"][0];
    assert_eq!(m["type"], "animated_gif");
    let (mp4, _) = mp4s_and_hls(&m["video_info"]["variants"], "bitrate");
    assert_eq!(mp4.len(), 1);
    let (status, _, bytes) = fetch(&env, &mp4[0].1).await?;
    assert_eq!((status, bytes.as_slice()), (200, sandbox::twitter::GIF_MP4));
    let (status, ctype, _) = fetch(&env, m["media_url_https"].as_str().unwrap()).await?;
    assert_eq!((status, ctype.as_str()), (200, "image/jpeg"));

    // Every file fetched is in the call log.
    let media_gets = env
        .sb
        .calls()
        .all()
        .into_iter()
        .filter(|c| c.path.starts_with("/media/"))
        .count();
    assert!(media_gets >= 10, "{media_gets}");
    Ok(())
}

#[tokio::test]
async fn posting_rules_length_summoning_and_duplicates() -> Res {
    let env = Env::start().await?;
    let tw = &env.sb.twitter;
    let dan = tw.add_consumer("dan", "Dan");
    let (s, v, _) = env
        .json("POST", "/2/tweets", json!({"text": "x".repeat(281)}))
        .await?;
    assert_eq!(s, 403, "{v}");
    assert!(v["detail"].as_str().unwrap().contains("too long"));
    // CJK weighs 2: 140 fit, 141 do not.
    let (s, _, _) = env
        .json("POST", "/2/tweets", json!({"text": "日".repeat(140)}))
        .await?;
    assert_eq!(s, 201);
    let (s, _, _) = env
        .json("POST", "/2/tweets", json!({"text": "本".repeat(141)}))
        .await?;
    assert_eq!(s, 403);

    let unsummoned = tw.consumer_tweet(&dan, "just talking to myself", vec![]);
    let (s, v, _) = env
        .json(
            "POST",
            "/2/tweets",
            json!({"text": "hello", "reply": {"in_reply_to_tweet_id": unsummoned}}),
        )
        .await?;
    assert_eq!(s, 403);
    assert_eq!(
        v["detail"],
        "Reply to this conversation is not allowed because you have not been mentioned or otherwise engaged by the author of the post you are replying to."
    );

    let summoned = tw.consumer_tweet(&dan, "@AcmeCare help", vec![]);
    let body = json!({"text": "On it!", "reply": {"in_reply_to_tweet_id": summoned}});
    let (s, _, _) = env.json("POST", "/2/tweets", body.clone()).await?;
    assert_eq!(s, 201);
    let (s, v, _) = env.json("POST", "/2/tweets", body).await?;
    assert_eq!(s, 403);
    assert!(v["detail"].as_str().unwrap().contains("duplicate"));
    Ok(())
}

#[tokio::test]
async fn dm_rules() -> Res {
    let env = Env::start().await?;
    let tw = &env.sb.twitter;
    let eve = tw.add_consumer_with(
        "eve",
        "Eve",
        ConsumerOptions {
            accepts_dms: false,
            protected: false,
        },
    );
    let path = format!("/2/dm_conversations/with/{}/messages", eve.id);
    let (s, v, _) = env.json("POST", &path, json!({"text": "hi"})).await?;
    assert_eq!(s, 403, "{v}");
    assert_eq!(v["detail"], "You cannot send messages to this user.");
    // v1.1: code 349.
    let (s, v, _) = env
        .json("POST", "/1.1/direct_messages/events/new.json", json!({"event": {"type": "message_create", "message_create": {"target": {"recipient_id": eve.id}, "message_data": {"text": "hi"}}}}))
        .await?;
    assert_eq!((s, v["errors"][0]["code"].clone()), (403, json!(349)));
    // Once Eve has written, the brand may answer.
    tw.consumer_dm(&eve, &env.brand.id, "hello?", None).unwrap();
    let (s, _, _) = env.json("POST", &path, json!({"text": "hi"})).await?;
    assert_eq!(s, 201);
    let (s, v, _) = env
        .json("POST", &path, json!({"text": "a".repeat(10_001)}))
        .await?;
    assert_eq!(s, 400, "{v}");
    let (s, _, _) = env
        .json("POST", &path, json!({"text": "a".repeat(10_000)}))
        .await?;
    assert_eq!(s, 201);
    // v1.1 endpoint works too.
    let (s, v, _) = env
        .json("POST", "/1.1/direct_messages/events/new.json", json!({"event": {"type": "message_create", "message_create": {"target": {"recipient_id": eve.id}, "message_data": {"text": "v1 hi"}}}}))
        .await?;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v["event"]["message_create"]["sender_id"],
        env.brand.id.as_str()
    );

    // Media: tweet category refused in a DM; dm_image accepted; one attachment only.
    let (_, t) = env
        .upload(&png(300), "image/png", "tweet_image", 300)
        .await?;
    let tid = t["data"]["id"].as_str().unwrap().to_owned();
    let (s, _, _) = env
        .json(
            "POST",
            &path,
            json!({"text": "pic", "attachments": [{"media_id": tid}]}),
        )
        .await?;
    assert_eq!(s, 400);
    let (_, d) = env.upload(&png(300), "image/png", "dm_image", 300).await?;
    let did = d["data"]["id"].as_str().unwrap().to_owned();
    let (s, _, _) = env
        .json(
            "POST",
            &path,
            json!({"text": "pic", "attachments": [{"media_id": did}, {"media_id": did}]}),
        )
        .await?;
    assert_eq!(s, 400);
    let (s, v, _) = env
        .json(
            "POST",
            &path,
            json!({"text": "pic", "attachments": [{"media_id": did}]}),
        )
        .await?;
    assert_eq!(s, 201, "{v}");
    assert!(
        tw.dm_conversation(&eve.id, &env.brand.id)
            .iter()
            .any(|d| d.media_url.is_some())
    );
    // Media uploaded by someone else cannot be attached.
    let other = tw.add_brand("Other", "Other Brand");
    let mut env2 = env;
    let (_, o) = {
        let saved = std::mem::replace(&mut env2.brand, other);
        let r = env2.upload(&png(300), "image/png", "dm_image", 300).await?;
        env2.brand = saved;
        r
    };
    let oid = o["data"]["id"].as_str().unwrap().to_owned();
    let (s, _, _) = env2
        .json(
            "POST",
            &path,
            json!({"text": "pic", "attachments": [{"media_id": oid}]}),
        )
        .await?;
    assert_eq!(s, 400);
    Ok(())
}

#[tokio::test]
async fn media_upload_checks_type_size_and_byte_count() -> Res {
    let env = Env::start().await?;
    // Image: no processing, usable at once.
    let (s, v) = env
        .upload(&png(3000), "image/png", "tweet_image", 3000)
        .await?;
    assert_eq!(s, 200, "{v}");
    assert!(v["data"]["processing_info"].is_null());
    assert!(v["data"]["media_key"].as_str().unwrap().starts_with("3_"));
    let id = v["data"]["id"].as_str().unwrap().to_owned();
    let (s, _, _) = env
        .json(
            "POST",
            "/2/tweets",
            json!({"text": "with pic", "media": {"media_ids": [id]}}),
        )
        .await?;
    assert_eq!(s, 201);

    // GIF: processing, then STATUS until succeeded.
    let (s, v) = env
        .upload(&gif(2000), "image/gif", "tweet_gif", 2000)
        .await?;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"]["processing_info"]["state"], "pending");
    let gid = v["data"]["id"].as_str().unwrap().to_owned();
    let (s, _, _) = env
        .json(
            "POST",
            "/2/tweets",
            json!({"text": "too soon", "media": {"media_ids": [gid]}}),
        )
        .await?;
    assert_eq!(s, 400);
    let mut state = String::new();
    for _ in 0..10 {
        let st = env.status(&gid).await?;
        state = st["data"]["processing_info"]["state"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if state == "succeeded" {
            break;
        }
    }
    assert_eq!(state, "succeeded");

    // Video for a DM: processing too; its key is a video key.
    let mut mp4 = b"\0\0\0\x18ftypmp42".to_vec();
    mp4.resize(5000, 0);
    let (s, v) = env.upload(&mp4, "video/mp4", "dm_video", 5000).await?;
    assert_eq!(s, 200, "{v}");
    assert!(v["data"]["media_key"].as_str().unwrap().starts_with("7_"));
    assert_eq!(v["data"]["processing_info"]["state"], "pending");

    // Wrong bytes for the declared type.
    let (s, v) = env
        .upload(
            b"%PDF-1.4 not an image at all",
            "image/png",
            "tweet_image",
            28,
        )
        .await?;
    assert_eq!(s, 400, "{v}");
    // Unsupported type, category mismatch, too large.
    let (s, _) = env
        .upload(b"x", "application/pdf", "tweet_image", 1)
        .await?;
    assert_eq!(s, 400);
    let (s, _) = env.upload(b"x", "image/gif", "tweet_image", 1).await?;
    assert_eq!(s, 400);
    let (s, v) = env
        .upload(b"x", "image/png", "tweet_image", 6 * 1024 * 1024)
        .await?;
    assert_eq!(s, 400, "{v}");
    let (s, _) = env
        .upload(b"x", "image/gif", "tweet_gif", 14 * 1024 * 1024)
        .await?;
    assert_eq!(
        s, 400,
        "finalize fails on a short upload but INIT accepts 14 MB GIFs"
    );
    // Byte count mismatch: fewer bytes than announced.
    let (s, v) = env
        .upload(&png(1000), "image/png", "tweet_image", 1500)
        .await?;
    assert_eq!(s, 400);
    assert!(
        v["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("total file size")
    );
    // More bytes than announced: refused at APPEND.
    let (s, _) = env
        .upload(&png(2000), "image/png", "tweet_image", 1500)
        .await?;
    assert_eq!(s, 400);

    // v1.1 host path and shape.
    let url = format!("{}/1.1/media/upload.json", env.upload);
    let init = [
        ("command", "INIT"),
        ("total_bytes", "10"),
        ("media_type", "image/png"),
    ];
    let v: Value = env
        .http
        .post(&url)
        .header("authorization", env.auth("POST", &url, &init))
        .form(&init)
        .send()
        .await?
        .json()
        .await?;
    assert!(v["media_id_string"].is_string(), "{v}");
    Ok(())
}

#[tokio::test]
async fn users_have_v2_profiles_with_only_the_requested_fields() -> Res {
    let env = Env::start().await?;
    let fay = env.sb.twitter.add_consumer("fay", "Fay <b>");
    let (s, v) = env
        .get(
            &format!("/2/users/{}", fay.id),
            &[("user.fields", "public_metrics,created_at")],
        )
        .await?;
    assert_eq!(s, 200);
    let d = v["data"].as_object().unwrap();
    let mut keys: Vec<&str> = d.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        ["created_at", "id", "name", "public_metrics", "username"]
    );
    assert!(d["public_metrics"]["like_count"].is_u64());
    let (_, v) = env
        .app(
            "GET",
            &format!(
                "/2/users/{}?user.fields=description,location,url,profile_image_url",
                fay.id
            ),
            None,
        )
        .await?;
    assert!(v["data"]["profile_image_url"].is_string());
    assert!(v["data"]["public_metrics"].is_null());
    let (s, v) = env.get("/2/users/123", &[]).await?;
    assert_eq!(s, 200);
    assert_eq!(v["errors"][0]["resource_type"], "user");
    let (_, v) = env.get("/2/users/me", &[]).await?;
    assert_eq!(v["data"]["username"], "AcmeCare");
    Ok(())
}

#[tokio::test]
async fn injected_faults() -> Res {
    let env = Env::start().await?;
    let faults = &env.sb.twitter_faults();
    faults.inject(
        "twitter",
        "POST /2/tweets",
        Fault::RateLimited {
            retry_after: Duration::from_secs(60),
        },
        1,
    );
    let (s, v, h) = env
        .json("POST", "/2/tweets", json!({"text": "one"}))
        .await?;
    assert_eq!(s, 429, "{v}");
    assert_eq!(h["x-rate-limit-remaining"], "0");
    assert!(h["x-rate-limit-limit"].to_str()?.parse::<u32>()? > 0);
    assert!(h["x-rate-limit-reset"].to_str()?.parse::<u64>()? >= now() + 59);
    let (s, _, h) = env
        .json("POST", "/2/tweets", json!({"text": "one"}))
        .await?;
    assert_eq!(s, 201);
    assert!(h.contains_key("x-rate-limit-remaining"));

    // v1.1 rate limit: code 88.
    faults.inject(
        "twitter",
        "POST /1.1/direct_messages/events/new.json",
        Fault::RateLimited {
            retry_after: Duration::from_secs(5),
        },
        1,
    );
    let (s, v, _) = env
        .json("POST", "/1.1/direct_messages/events/new.json", json!({}))
        .await?;
    assert_eq!((s, v["errors"][0]["code"].clone()), (429, json!(88)));

    let ann = env.sb.twitter.add_consumer("ann", "Ann");
    let dm = format!("/2/dm_conversations/with/{}/messages", ann.id);
    faults.inject(
        "twitter",
        "POST /2/dm_conversations/with/{participant_id}/messages",
        Fault::ServerError(503),
        1,
    );
    let (s, _, _) = env.json("POST", &dm, json!({"text": "x"})).await?;
    assert_eq!(s, 503);
    faults.inject(
        "twitter",
        "POST /2/dm_conversations/with/{participant_id}/messages",
        Fault::ExpiredToken,
        1,
    );
    let (s, v, _) = env.json("POST", &dm, json!({"text": "x"})).await?;
    assert_eq!((s, v["errors"][0]["code"].clone()), (401, json!(89)));
    faults.inject(
        "twitter",
        "POST /2/dm_conversations/with/{participant_id}/messages",
        Fault::Latency(Duration::from_millis(50)),
        1,
    );
    let (s, _, _) = env.json("POST", &dm, json!({"text": "slow"})).await?;
    assert_eq!(s, 201);

    faults.inject(
        "twitter",
        "POST /2/media/upload",
        Fault::RateLimited {
            retry_after: Duration::from_secs(10),
        },
        1,
    );
    let (s, _) = env.upload(&png(10), "image/png", "tweet_image", 10).await?;
    assert_eq!(s, 429);

    // Dropped webhook: the first event is lost, the next arrives.
    env.subscribe_xaa(&["post.mention.create"]).await?;
    faults.inject("twitter", "webhook", Fault::DropWebhook, 1);
    let lost = env.sb.twitter.consumer_tweet(&ann, "@AcmeCare one", vec![]);
    let kept = env.sb.twitter.consumer_tweet(&ann, "@AcmeCare two", vec![]);
    env.wait_for(|v| v["data"]["payload"]["id"] == kept.as_str())
        .await?;
    assert_eq!(
        env.count(|v| v["data"]["payload"]["id"] == lost.as_str()),
        0
    );

    // Every call was recorded, with its status.
    let calls = env.sb.calls().matching("twitter", "POST", "/2/tweets");
    assert_eq!(
        calls.iter().map(|c| c.status).collect::<Vec<_>>(),
        vec![429, 201]
    );
    assert_eq!(calls[1].body["text"], "one");
    Ok(())
}

#[tokio::test]
async fn deliveries_are_retried_after_a_500() -> Res {
    let env = Env::start().await?;
    env.subscribe_xaa(&["dm.received"]).await?;
    env.rx.fail_posts.store(2, Ordering::SeqCst);
    let gus = env.sb.twitter.add_consumer("gus", "Gus");
    env.sb
        .twitter
        .consumer_dm(&gus, &env.brand.id, "anyone there?", None)
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while env.count(|v| event_is(v, "dm.received")) < 3 {
        assert!(Instant::now() < deadline, "no redelivery");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let posts = env.rx.posts.lock().unwrap().clone();
    assert!(
        posts.iter().all(|(b, _)| *b == posts[0].0),
        "same body each time"
    );
    Ok(())
}

#[tokio::test]
async fn consumer_console_escapes_and_posts() -> Res {
    let env = Env::start().await?;
    let tw = &env.sb.twitter;
    let c = tw.add_consumer("hal", "Hal <script>alert(1)</script>");
    tw.consumer_tweet(&c, "@AcmeCare <img src=x onerror=alert(1)>", vec![]);
    let url = format!("{}/twitter/console?as={}", env.sb.url, c.id);
    let page = env.http.get(&url).send().await?.text().await?;
    assert!(!page.contains("<script>alert"));
    assert!(page.contains("&lt;script&gt;"));
    assert!(page.contains("&lt;img src=x"));
    let g = gif(40);
    let (ctype, body) = multipart(
        &[
            ("consumer", &c.id),
            ("brand", &env.brand.id),
            ("text", "from the console"),
        ],
        ("media", "a.gif", &g),
    );
    let res = env
        .http
        .post(format!("{}/twitter/console/dm", env.sb.url))
        .header("content-type", ctype)
        .body(body)
        .send()
        .await?;
    assert!(res.status().is_redirection());
    let dms = tw.dm_conversation(&c.id, &env.brand.id);
    assert_eq!(dms[0].text, "from the console");
    assert!(dms[0].media_url.is_some());
    Ok(())
}

trait SandboxExt {
    fn twitter_faults(&self) -> sandbox::common::Faults;
    fn calls(&self) -> sandbox::common::CallLog;
}

impl SandboxExt for Sandbox {
    fn twitter_faults(&self) -> sandbox::common::Faults {
        self.twitter.shared().faults.clone()
    }
    fn calls(&self) -> sandbox::common::CallLog {
        self.twitter.shared().calls.clone()
    }
}
