//! The authorisation matrix, generated from the router's own registry
//! (`server::api_routes()`): every route that needs a session × {no session, support,
//! agent of brand A, admin of brand A, agent of brand B, admin of brand B} × {brand A's
//! resource, brand B's resource}, with and without the CSRF header on state-changing
//! methods. Expected: 401 without a session; 403 without CSRF; 403 for support on
//! brand-only routes; 403 for agents on SocialConnect Home's admin-only routes; 404,
//! never 200, for another brand's resource; and no response body carrying the other
//! brand's data. A second test fails when a `route("…")` in the sources is not registered.

use crate::common;

use common::{ADMIN, TestServer};
use hmac::{Hmac, Mac};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use server::store::prelude::*;
use server::store::{MediaCopy, MediaStatus, NewChatMessage, NewLink, NewUser, SqliteStore};
use sha2::Digest;
use shared::onboarding::ChatAuthor;
use shared::{Channel, Role};
use std::collections::BTreeSet;
use std::time::Duration;

const FB_SECRET: &str = "fb-app-secret";

/// What identifies one brand's data in a response.
struct Brand {
    page: &'static str,
    psid: &'static str,
    secret_text: &'static str,
    conversation: i64,
    media: i64,
    upload: i64,
    /// SocialConnect Home's resources: the linked page, a skill, an agent.
    linked: i64,
    skill: i64,
    agent: i64,
    /// A canned response of the brand's.
    canned: i64,
}

impl Brand {
    fn markers(&self) -> [&str; 3] {
        [self.page, self.psid, self.secret_text]
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Who {
    Nobody,
    Support,
    AgentA,
    AdminA,
    AgentB,
    AdminB,
}

impl Who {
    const ALL: [Who; 6] = [
        Who::Nobody,
        Who::Support,
        Who::AgentA,
        Who::AdminA,
        Who::AgentB,
        Who::AdminB,
    ];
    fn label(self) -> &'static str {
        match self {
            Who::Nobody => "no session",
            Who::Support => "support",
            Who::AgentA => "agent A",
            Who::AdminA => "admin A",
            Who::AgentB => "agent B",
            Who::AdminB => "admin B",
        }
    }
    fn is_admin(self) -> bool {
        matches!(self, Who::AdminA | Who::AdminB)
    }
    /// The brand a caller belongs to: 0 for A, 1 for B.
    fn brand(self) -> Option<usize> {
        match self {
            Who::AgentA | Who::AdminA => Some(0),
            Who::AgentB | Who::AdminB => Some(1),
            _ => None,
        }
    }
}

fn png_bytes() -> Vec<u8> {
    let img = image::RgbImage::from_pixel(4, 4, image::Rgb([200, 10, 10]));
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut out, image::ImageFormat::Png)
        .unwrap();
    out.into_inner()
}

fn sign(body: &str) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(FB_SECRET.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// A session made straight in the store (sign-in is tested elsewhere): cookie and CSRF.
async fn session(store: &SqliteStore, user_id: i64) -> (String, String) {
    let token = format!("tok-{}", rand::random::<u64>());
    let csrf = format!("csrf-{}", rand::random::<u64>());
    let hash = hex::encode(sha2::Sha256::digest(token.as_bytes()));
    let now = server::auth::now_secs();
    store
        .create_session(&hash, user_id, &csrf, now, now + 3600)
        .await
        .unwrap();
    (format!("{}={token}", server::auth::SESSION_COOKIE), csrf)
}

async fn seed_brand(
    server: &TestServer,
    store: &SqliteStore,
    account_id: i64,
    page: &'static str,
    psid: &'static str,
    secret_text: &'static str,
) -> Brand {
    let skill = store.ensure_skill(account_id, "social").await.unwrap();
    let linked = store
        .link(NewLink {
            account_id,
            channel: Channel::Facebook,
            network_id: page,
            name: "page",
            token_sealed: vec![1],
            token_secret_sealed: None,
            skill_id: Some(skill),
            created_by: "test",
        })
        .await
        .unwrap()
        .id;
    let agent = store
        .create_user(NewUser {
            account_id: Some(account_id),
            email: &format!("routed-{psid}@x.example"),
            name: "Routed Agent",
            role: Role::Agent,
            password_hash: "not-a-hash",
        })
        .await
        .unwrap()
        .unwrap()
        .id;
    let body = json!({"object":"page","entry":[{"id":page,"time":1,"messaging":[{
        "sender":{"id":psid},"recipient":{"id":page},"timestamp":1_700_000_000_000i64,
        "message":{"mid":format!("mid-{psid}"),"text":secret_text,"attachments":[
            {"type":"image","payload":{"url":format!("http://127.0.0.1:9/{psid}.png")}}]}}]}]})
    .to_string();
    let res = reqwest::Client::new()
        .post(format!("{}/webhooks/facebook", server.url))
        .header("content-type", "application/json")
        .header("x-hub-signature-256", sign(&body))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let export = store.export(account_id, i64::MIN).await.unwrap();
    assert_eq!(export.len(), 1);
    let conversation = serde_json::to_value(&export[0]).unwrap()["id"]
        .as_i64()
        .unwrap();
    // The media line's record: wait for the fetcher's try (a refused private address),
    // then record a copy of our own so the owner is served 200.
    let mut media = None;
    for id in 1..=4 {
        if let Some(r) = store.media_record(id).await.unwrap()
            && r.account_id == account_id
        {
            media = Some(r.id);
        }
    }
    let media = media.expect("a media record");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while let Some(r) = store.media_record(media).await.unwrap()
        && r.status == MediaStatus::Pending
        && r.attempts == 0
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let dir = server.data_dir.path().join("media");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{psid}.png")), png_bytes()).unwrap();
    let path = format!("media/{psid}.png");
    store
        .media_stored(
            media,
            &MediaCopy {
                mime: "image/png".into(),
                bytes: 10,
                stored_path: path.clone(),
                thumb_path: Some(path.clone()),
                still_path: None,
                poster_path: None,
            },
        )
        .await
        .unwrap();
    std::fs::create_dir_all(server.data_dir.path().join("uploads")).unwrap();
    std::fs::write(
        server.data_dir.path().join(format!("uploads/{psid}.png")),
        png_bytes(),
    )
    .unwrap();
    let upload = store
        .create_upload(
            account_id,
            "image/png",
            10,
            &format!("uploads/{psid}.png"),
            0,
        )
        .await
        .unwrap();
    let canned = store
        .add_canned(
            account_id,
            &shared::canned::SaveCanned {
                shortcut: "seeded".into(),
                text: secret_text.into(),
            },
        )
        .await
        .unwrap()
        .id;
    Brand {
        page,
        psid,
        secret_text,
        conversation,
        media,
        upload,
        linked,
        skill,
        agent,
        canned,
    }
}

/// The request for a route against a brand's resource (`None`: a route without one);
/// `signup` is that brand's sign-up request.
fn request_for(
    method: &str,
    path: &str,
    target: Option<&Brand>,
    signup: Option<i64>,
) -> (String, Body) {
    let id = match target {
        Some(b) if path.starts_with("/media/") => b.media,
        Some(b) if path.starts_with("/api/automation/") => b.linked,
        Some(b) if path.starts_with("/api/home/accounts/") => b.linked,
        Some(b) if path.starts_with("/api/home/people/") => b.agent,
        Some(b) if path.starts_with("/api/home/skills/") => b.skill,
        Some(b) if path.starts_with("/api/home/canned/") => b.canned,
        // A sign-in flow nobody started.
        Some(_) if path.starts_with("/api/home/pending/") => 0,
        Some(_) if path.starts_with("/api/onboarding/") => signup.unwrap_or_default(),
        Some(b) => b.conversation,
        None => 0,
    };
    let concrete = match path {
        // Words both brands' conversations hold: each finds only its own.
        "/api/search" => "/api/search?q=secret-text".to_owned(),
        _ => path
            .replace("{id}", &id.to_string())
            .replace("{variant}", "thumb"),
    };
    let body = match (method, path) {
        ("POST", "/api/conversations/{id}/replies") => {
            Body::Json(json!({"text":"hello","mode":"private"}))
        }
        ("POST", "/api/uploads") => Body::Png,
        ("POST", "/api/onboarding/requests/{id}/messages") => Body::Json(json!({"text":"hello"})),
        ("POST", "/api/uploads/from-url") => Body::Json(json!({"url":"http://127.0.0.1:9/x.png"})),
        ("PUT", "/api/automation/{id}") => Body::Json(json!({"enabled": false})),
        ("POST", "/api/home/pending/{id}") => Body::Json(json!({"page_id":"918273645501"})),
        ("PUT", "/api/home/accounts/{id}/skill") => {
            Body::Json(json!({"skill_id": target.map_or(0, |b| b.skill)}))
        }
        ("PUT", "/api/home/people/{id}/skills") => {
            Body::Json(json!({"skills": [target.map_or(0, |b| b.skill)]}))
        }
        ("POST", "/api/home/skills") => Body::Json(json!({"name":"billing"})),
        ("POST", "/api/home/people") => {
            // A new person each time it is allowed.
            static INVITED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            let n = INVITED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Body::Json(
                json!({"email": format!("invited{n}@brand.example"), "name": "In", "role": "agent"}),
            )
        }
        ("PUT", "/api/home/people/{id}/role") => Body::Json(json!({"role":"agent"})),
        ("PUT", "/api/home/skills/{id}") => Body::Json(json!({"name":"renamed"})),
        ("PUT", "/api/home/sso") => Body::Json(json!({
            "issuer": "http://127.0.0.1:9/nowhere", "client_id": "c", "client_secret": "s",
            "password_sign_in": true,
        })),
        ("POST", "/api/conversations/{id}/transfer") => {
            Body::Json(json!({"skill_id": target.map_or(0, |b| b.skill)}))
        }
        ("PUT", "/api/session/password") => Body::Json(
            json!({"current_password": "not it", "new_password": "a long and unusual passphrase"}),
        ),
        ("PUT", "/api/home/settings") => Body::Json(json!({"send_image":true})),
        ("PUT", "/api/conversations/{id}/host-mode") => Body::Json(json!({"mode":"private"})),
        ("PUT", "/api/home/liveengage") => Body::Json(json!({
            "le_account_id": "12345678", "client_id": "c", "client_secret": "s", "skills": "",
        })),
        ("POST", "/api/conversations/{id}/notes") => Body::Json(json!({"text":"a note"})),
        ("POST", "/api/home/canned") => Body::Json(json!({"shortcut":"greet","text":"Hi"})),
        ("PUT", "/api/home/canned/{id}") => Body::Json(json!({"shortcut":"renamed","text":"Hi"})),
        _ => Body::None,
    };
    (concrete, body)
}

enum Body {
    None,
    Json(Value),
    Png,
}

/// Routes only a brand's admins may use.
fn admin_only(path: &str) -> bool {
    path.starts_with("/api/home")
        || path.starts_with("/oauth/")
        || path.starts_with("/api/automation")
}

/// What onboarding's routes answer: support sees and answers every sign-up request and
/// alone enables one; a brand user has their own account's request (another brand's is
/// 404) and no support-only route.
fn onboarding_expect(who: Who, method: &str, path: &str, other_brand: bool) -> &'static [u16] {
    let support_only = path == "/api/onboarding/requests" || path.ends_with("/enable");
    match (who, method, path) {
        (Who::Support, _, "/api/onboarding/signup") => &[403],
        (Who::Support, "POST", _) if path.ends_with("/messages") => &[201],
        (Who::Support, _, _) => &[200],
        _ if support_only => &[403],
        _ if other_brand => &[404],
        (_, "POST", _) if path.ends_with("/messages") => &[201],
        _ => &[200],
    }
}

/// What a route answers a brand user for their own brand's resource.
fn own_ok(method: &str, path: &str) -> &'static [u16] {
    match (method, path) {
        // Refused as a private address: authorisation passed.
        ("POST", "/api/uploads/from-url") => &[400],
        // Another of the brand's people may hold it.
        ("POST", "/api/conversations/{id}/take") => &[200, 409],
        // Twitter/X is not set up on the matrix's server.
        ("POST", "/api/home/link/twitter") => &[400],
        // No provider answers there: authorisation passed, the discovery failed.
        ("PUT", "/api/home/sso") => &[400],
        // No LiveEngage answers there: authorisation passed, the credentials check failed.
        ("PUT", "/api/home/liveengage") => &[400],
        // No LiveEngage conversation of that id was opened for the brand.
        ("GET", "/api/liveengage/conversations/{le_id}") => &[404],
        // The brand's page routes to its skill: it cannot be retired.
        ("POST", "/api/home/skills/{id}/retire") => &[409],
        // No sign-in flow was started for this session.
        ("GET" | "POST", "/api/home/pending/{id}") => &[404],
        // A callback without a flow of this session goes back to Home with a message.
        ("GET", "/oauth/facebook/callback" | "/oauth/twitter/callback") => &[303],
        _ => &[200, 201, 202, 204],
    }
}

#[tokio::test]
async fn every_route_refuses_whom_it_must_and_leaks_nothing() {
    let server = TestServer::start_with(tempfile::tempdir().unwrap(), |a| {
        a.facebook.facebook_app_id = Some("app".into());
        a.facebook.facebook_app_secret = Some(FB_SECRET.into());
        a.facebook.facebook_verify_token = Some("verify".into());
        // Replies queued by the matrix must not leave the machine.
        a.facebook.facebook_graph_url = "http://127.0.0.1:9/v24.0".into();
        a.liveengage.liveengage_domain_url = "http://127.0.0.1:9".into();
    })
    .await;
    let store = SqliteStore::open(server.data_dir.path()).await.unwrap();
    let a = store.account_by_number(ADMIN.0).await.unwrap().unwrap();
    let b = store.ensure_account("7777", "Brand B", true).await.unwrap();
    let brands = [
        seed_brand(
            &server,
            &store,
            a.id,
            "918273645501",
            "827364519902",
            "alpha-secret-text",
        )
        .await,
        seed_brand(
            &server,
            &store,
            b.id,
            "918273645512",
            "827364519913",
            "bravo-secret-text",
        )
        .await,
    ];
    let mut users = Vec::new();
    for (who, account, role) in [
        (Who::Support, None, Role::Support),
        (Who::AgentA, Some(a.id), Role::Agent),
        (Who::AdminA, Some(a.id), Role::Admin),
        (Who::AgentB, Some(b.id), Role::Agent),
        (Who::AdminB, Some(b.id), Role::Admin),
    ] {
        let email = format!("{}@x.example", who.label().replace(' ', "-"));
        let user = store
            .create_user(NewUser {
                account_id: account,
                email: &email,
                name: &email,
                role,
                password_hash: "not-a-hash",
            })
            .await
            .unwrap()
            .unwrap();
        users.push((who, user.id));
    }
    let user_id = |who: Who| users.iter().find(|(w, _)| *w == who).map(|(_, id)| *id);
    // Each brand's sign-up request, its chat holding the brand's secret text.
    let mut signups = Vec::new();
    for (account, who, brand) in [
        (a.id, Who::AgentA, &brands[0]),
        (b.id, Who::AgentB, &brands[1]),
    ] {
        let (request, _) = store
            .signup_create(account, user_id(who).unwrap(), "welcome", 1)
            .await
            .unwrap();
        store
            .signup_add_message(NewChatMessage {
                request_id: request.id,
                author_id: user_id(who),
                author: ChatAuthor::Brand,
                author_name: "someone",
                text: brand.secret_text,
                link: None,
                now_ms: 2,
            })
            .await
            .unwrap();
        signups.push(request.id);
    }

    // Redirects are part of what is checked (the OAuth callbacks answer with one).
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let routes = server::api_routes();
    let mut checks = 0usize;
    let mut leaks = Vec::new();
    let mut failures = Vec::new();
    let mut table = Vec::new();
    for &(method, path) in &routes {
        let has_resource = path.contains("{id}");
        for who in Who::ALL {
            let mut outcome = Vec::new();
            let targets: Vec<Option<usize>> = if has_resource {
                vec![Some(0), Some(1)]
            } else {
                vec![None]
            };
            for target in targets {
                let state_changing = method != "GET";
                for with_csrf in if state_changing {
                    vec![false, true]
                } else {
                    vec![true]
                } {
                    // Signing out ends the session: each request gets a fresh one.
                    let creds = match user_id(who) {
                        Some(id) => Some(session(&store, id).await),
                        None => None,
                    };
                    let (concrete, body) = request_for(
                        method,
                        path,
                        target.map(|t| &brands[t]),
                        target.map(|t| signups[t]),
                    );
                    let mut req = http.request(
                        Method::from_bytes(method.as_bytes()).unwrap(),
                        format!("{}{concrete}", server.url),
                    );
                    if let Some((cookie, csrf)) = &creds {
                        req = req.header("cookie", cookie);
                        if with_csrf {
                            req = req.header("x-csrf-token", csrf);
                        }
                    }
                    req = match body {
                        Body::None => req,
                        Body::Json(v) => req.json(&v),
                        Body::Png => req.header("content-type", "image/png").body(png_bytes()),
                    };
                    let res = req.send().await.unwrap();
                    let status = res.status().as_u16();
                    let is_sse = path.ends_with("/events") && status == 200;
                    let text = if is_sse {
                        String::new() // a stream that never ends; its status is the check
                    } else {
                        String::from_utf8_lossy(&res.bytes().await.unwrap()).into_owned()
                    };
                    let allowed: &[u16] = match (who, with_csrf) {
                        (Who::Nobody, _) => &[401],
                        (_, false) => &[403],
                        _ if path == "/api/session" || path == "/api/sessions" => &[200, 204],
                        // Everyone's own: refused here only for the wrong current password.
                        _ if path == "/api/session/password" => &[400],
                        _ if path.starts_with("/api/onboarding/") => onboarding_expect(
                            who,
                            method,
                            path,
                            target.is_some_and(|t| Some(t) != who.brand()),
                        ),
                        (Who::Support, _) => &[403],
                        // SocialConnect Home is for the brand's admins only.
                        (w, _) if admin_only(path) && !w.is_admin() => &[403],
                        _ => match target {
                            Some(t) if Some(t) != who.brand() => &[404],
                            _ => own_ok(method, path),
                        },
                    };
                    checks += 1;
                    let tgt = match (target, who.brand()) {
                        (None, _) => "-",
                        (Some(t), Some(b)) if t == b => "own",
                        (Some(_), Some(_)) => "other",
                        (Some(0), None) => "brand A",
                        (Some(_), None) => "brand B",
                    };
                    if !allowed.contains(&status) {
                        failures.push(format!(
                            "{method} {concrete} as {} ({tgt}, csrf {with_csrf}): {status}, allowed {allowed:?}: {text}",
                            who.label()
                        ));
                    }
                    // No response may carry a brand's data to someone outside it.
                    checks += 1;
                    // Support staff answer every brand's sign-up chat.
                    let entitled = who == Who::Support && path.starts_with("/api/onboarding/");
                    for (i, brand) in brands.iter().enumerate() {
                        if entitled {
                            break;
                        }
                        if Some(i) == who.brand() {
                            continue;
                        }
                        for m in brand.markers() {
                            if text.contains(m) {
                                leaks.push(format!(
                                    "{method} {concrete} as {}: body holds {m:?}",
                                    who.label()
                                ));
                            }
                        }
                    }
                    let csrf_mark = if state_changing && !with_csrf {
                        "/no-csrf"
                    } else {
                        ""
                    };
                    outcome.push(format!("{tgt}{csrf_mark}:{status}"));
                }
            }
            table.push((format!("{method} {path}"), who.label(), outcome.join(" ")));
        }
    }

    // A reply on one's own conversation with another brand's upload: 404 as well.
    for (who, own, other) in [(Who::AgentA, 0, 1), (Who::AgentB, 1, 0)] {
        let (cookie, csrf) = session(&store, user_id(who).unwrap()).await;
        let res = http
            .post(format!(
                "{}/api/conversations/{}/replies",
                server.url, brands[own].conversation
            ))
            .header("cookie", cookie)
            .header("x-csrf-token", csrf)
            .json(&json!({"text":"","mode":"private","upload_id":brands[other].upload}))
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        checks += 2;
        if status != 404 {
            failures.push(format!(
                "reply with another brand's upload as {}: {status}",
                who.label()
            ));
        }
        if brands[other].markers().iter().any(|m| text.contains(m)) {
            leaks.push(format!(
                "reply with another brand's upload as {}",
                who.label()
            ));
        }
        table.push((
            "POST /api/conversations/{id}/replies +upload".into(),
            who.label(),
            format!("own conv, other upload:{status}"),
        ));
    }

    println!("{:<48} {:<11} outcome", "route", "caller");
    for (route, who, outcome) in &table {
        println!("{route:<48} {who:<11} {outcome}");
    }
    println!(
        "{} routes, {checks} checks, {} failures, {} leaks",
        routes.len(),
        failures.len(),
        leaks.len()
    );
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(leaks.is_empty(), "{leaks:#?}");
}

/// Every `route("…")` in the server's sources is registered: a new route cannot be left
/// out of the matrix.
#[test]
fn every_route_in_the_sources_is_registered() {
    let registered: BTreeSet<(String, String)> = server::api_routes()
        .into_iter()
        .chain(server::public_routes())
        .map(|(m, p)| (m.to_owned(), p.to_owned()))
        .collect();
    let mut found = Vec::new();
    let mut stack = vec![std::path::PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src"
    ))];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let src = std::fs::read_to_string(&path).unwrap();
                for (at, _) in src.match_indices("route(") {
                    let line_start = src[..at].rfind('\n').map_or(0, |i| i + 1);
                    if src[line_start..at].trim_start().starts_with("//") {
                        continue; // a comment naming the call
                    }
                    // `.route("/path", …)`, the path possibly on the next line.
                    let Some(rest) = src[at + "route(".len()..].trim_start().strip_prefix('"')
                    else {
                        continue;
                    };
                    let pattern = &rest[..rest.find('"').unwrap()];
                    // The call's text up to its closing parenthesis names the methods.
                    let mut depth = 1;
                    let mut end = 0;
                    for (i, c) in rest.char_indices() {
                        match c {
                            '(' => depth += 1,
                            ')' => {
                                depth -= 1;
                                if depth == 0 {
                                    end = i;
                                    break;
                                }
                            }
                            _ => {}
                        }
                    }
                    let call = &rest[..end];
                    let mut methods = Vec::new();
                    for (name, method) in [
                        ("get(", "GET"),
                        ("post(", "POST"),
                        ("delete(", "DELETE"),
                        ("put(", "PUT"),
                        ("patch(", "PATCH"),
                        ("any(", "ANY"),
                    ] {
                        if call
                            .match_indices(name)
                            .any(|(i, _)| i == 0 || !call.as_bytes()[i - 1].is_ascii_alphanumeric())
                        {
                            methods.push(method);
                        }
                    }
                    assert!(!methods.is_empty(), "no method in route({pattern:?}…)");
                    for m in methods {
                        found.push((m.to_owned(), pattern.to_owned(), path.display().to_string()));
                    }
                }
            }
        }
    }
    assert!(
        found.len() >= 15,
        "only {} routes found: {found:?}",
        found.len()
    );
    let missing: Vec<_> = found
        .iter()
        .filter(|(m, p, _)| !registered.contains(&(m.clone(), p.clone())))
        .collect();
    assert!(
        missing.is_empty(),
        "routes not in server::api_routes() or public_routes(): {missing:?}"
    );
    // And nothing registered that is not routed.
    for (m, p) in &registered {
        assert!(
            found.iter().any(|(fm, fp, _)| fm == m && fp == p),
            "{m} {p} is registered but no route(…) serves it"
        );
    }
    println!("{} routes in the sources, all registered", found.len());
}
