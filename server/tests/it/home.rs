//! SocialConnect Home's API against the sandbox networks, driven over HTTP as the browser
//! would: the Facebook Login and X OAuth 1.0a flows end in linked, subscribed accounts
//! whose tokens never come back; flows are bound to the session that started them;
//! unlinking stops inbound and outbound and keeps history; relinking continues it; the
//! Send Image switch refuses uploads; every change lands in the audit log.

use crate::common;

use common::{ADMIN, TestServer, sandbox_calling_back};
use reqwest::StatusCode;
use sandbox::common::Fault;
use serde_json::{Value, json};
use server::store::SqliteStore;
use server::store::prelude::*;
use std::time::Duration;

type Admin = common::client::Client;

impl Admin {
    async fn home(&self) -> Value {
        let (status, home) = self.call(reqwest::Method::GET, "/api/home", None).await;
        assert_eq!(status, 200, "{home}");
        home
    }

    /// Follows a redirect to our own server with this session; returns the `Location`.
    async fn follow(&self, url: &str) -> String {
        let res = self.http.get(url).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{url}");
        res.headers()["location"].to_str().unwrap().to_owned()
    }
}

fn query(url: &str) -> std::collections::HashMap<String, String> {
    let absolute = if url.starts_with('/') {
        format!("http://x{url}")
    } else {
        url.to_owned()
    };
    url::Url::parse(&absolute)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

/// A server pointed at a sandbox, with a second brand whose admin must not see the first.
async fn world() -> (TestServer, sandbox::Sandbox) {
    let (listener, _url, sb) = sandbox_calling_back().await;
    let media_hosts = sb.media_http_hosts();
    let c = sb.credentials.clone();
    let (graph, www, api, upload) = (
        sb.facebook.graph_url(),
        sb.facebook.www_url(),
        sb.twitter.api_url(),
        sb.twitter.upload_url(),
    );
    let server = TestServer::start_on(listener, tempfile::tempdir().unwrap(), move |a| {
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
    })
    .await;
    (server, sb)
}

/// The Facebook Login dialog as the person submits it: Continue as `user_id`.
async fn facebook_dialog(dialog_url: &str, user_id: &str) -> String {
    let q = query(dialog_url);
    let mut form: Vec<(&str, &str)> = ["client_id", "redirect_uri", "state", "scope"]
        .iter()
        .map(|k| (*k, q[*k].as_str()))
        .collect();
    form.push(("user_id", user_id));
    form.push(("action", "continue"));
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = http
        .post(dialog_url.split('?').next().unwrap())
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    res.headers()["location"].to_str().unwrap().to_owned()
}

/// X's Authorize App page as the person submits it.
async fn twitter_authorize(authorize_url: &str, user_id: &str) -> String {
    let q = query(authorize_url);
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = http
        .post(authorize_url.split('?').next().unwrap())
        .form(&[
            ("oauth_token", q["oauth_token"].as_str()),
            ("user_id", user_id),
            ("decision", "allow"),
        ])
        .send()
        .await
        .unwrap();
    assert!(res.status().is_redirection(), "{}", res.status());
    res.headers()["location"].to_str().unwrap().to_owned()
}

fn x_signature(secret: &str, body: &str) -> String {
    use base64::Engine;
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    format!(
        "sha256={}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    )
}

async fn eventually(what: &str, mut f: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while !f().await {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn facebook_login_links_the_picked_page_and_no_token_reaches_the_browser() {
    let (server, sb) = world().await;
    let fb_user = sb.facebook.add_user("Dana Page-Admin");
    let page = sb.facebook.add_page("Acme Outdoor", "AcmeOutdoor");
    let other = sb.facebook.add_page("Acme Rentals", "AcmeRentals");
    let admin = Admin::sign_in(&server.url, ADMIN.0, ADMIN.1, ADMIN.2).await;

    let (status, start) = admin.post("/api/home/link/facebook", json!({})).await;
    assert_eq!(status, 200, "{start}");
    let dialog = start["url"].as_str().unwrap();
    assert!(dialog.starts_with(&format!("{}/dialog/oauth?", sb.facebook.www_url())));
    let back = facebook_dialog(dialog, &fb_user.id).await;
    assert!(back.starts_with(&format!("{}/oauth/facebook/callback?", server.url)));

    // Another session of the same admin cannot finish this flow.
    let thief = Admin::sign_in(&server.url, ADMIN.0, ADMIN.1, ADMIN.2).await;
    let to = thief.follow(&back).await;
    assert!(query(&to).contains_key("error"), "{to}");

    let to = admin.follow(&back).await;
    let pick = query(&to)["pick"].clone();
    let (status, pages) = admin
        .call(
            reqwest::Method::GET,
            &format!("/api/home/pending/{pick}"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let names: Vec<&str> = pages["pages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Acme Outdoor", "Acme Rentals"]);
    // The other session sees nothing of it either.
    let (status, _) = thief
        .call(
            reqwest::Method::GET,
            &format!("/api/home/pending/{pick}"),
            None,
        )
        .await;
    assert_eq!(status, 404);

    let (status, row) = admin
        .post(
            &format!("/api/home/pending/{pick}"),
            json!({"page_id": page.id}),
        )
        .await;
    assert_eq!(status, 201, "{row}");
    assert_eq!(row["name"], "AcmeOutdoor");
    assert_eq!(row["status"], "linked");
    assert_eq!(row["created_by"], format!("Admin ({})", ADMIN.1));
    assert_eq!(
        sb.facebook.subscribed_fields(&page),
        ["feed", "messages", "message_echoes"]
    );
    assert!(sb.facebook.subscribed_fields(&other).is_empty());
    // The flow is used up.
    let (status, _) = admin
        .post(
            &format!("/api/home/pending/{pick}"),
            json!({"page_id": other.id}),
        )
        .await;
    assert_eq!(status, 404);

    let home = admin.home().await;
    let text = home.to_string();
    assert!(
        !text.contains(&page.access_token),
        "a page token reached the browser"
    );
    assert!(!text.contains(&fb_user.access_token));
    assert!(!pages.to_string().contains("access_token"));
    assert_eq!(home["accounts"][0]["channel"], "facebook");
    assert_eq!(home["audit"][0]["action"], "linked");
    assert_eq!(home["audit"][0]["detail"], "Facebook AcmeOutdoor");
    // At rest, sealed.
    let store = SqliteStore::open(server.data_dir.path()).await.unwrap();
    let linked = store
        .linked_account(shared::Channel::Facebook, &page.id)
        .await
        .unwrap()
        .unwrap();
    assert!(
        !linked
            .token_sealed
            .windows(page.access_token.len())
            .any(|w| w == page.access_token.as_bytes())
    );
}

/// Linking waits for support to enable SocialConnect for the account (onboarding).
#[tokio::test]
async fn an_account_not_yet_enabled_cannot_start_linking() {
    let (server, _sb) = world().await;
    let store = SqliteStore::open(server.data_dir.path()).await.unwrap();
    let account = store
        .ensure_account("3131", "Not Yet", false)
        .await
        .unwrap();
    store
        .create_user(server::store::NewUser {
            account_id: Some(account.id),
            email: "admin@notyet.example",
            name: "Nia Admin",
            role: shared::Role::Admin,
            password_hash: &server::auth::hash_password("not-yet-pw".into())
                .await
                .unwrap(),
        })
        .await
        .unwrap()
        .unwrap();
    let admin = Admin::sign_in(&server.url, "3131", "admin@notyet.example", "not-yet-pw").await;
    for network in ["facebook", "twitter"] {
        let (status, body) = admin
            .post(&format!("/api/home/link/{network}"), json!({}))
            .await;
        assert_eq!(status, 403, "{body}");
        assert!(body["message"].as_str().unwrap().contains("not enabled"));
    }
    assert!(
        admin.home().await["accounts"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_cancelled_or_forged_facebook_sign_in_links_nothing() {
    let (server, sb) = world().await;
    sb.facebook.add_page("Acme Outdoor", "AcmeOutdoor");
    let admin = Admin::sign_in(&server.url, ADMIN.0, ADMIN.1, ADMIN.2).await;
    let (_, start) = admin.post("/api/home/link/facebook", json!({})).await;
    let state = query(start["url"].as_str().unwrap())["state"].clone();
    let cancelled = format!(
        "{}/oauth/facebook/callback?error=access_denied&error_reason=user_denied&state={state}",
        server.url
    );
    let to = admin.follow(&cancelled).await;
    assert_eq!(query(&to)["error"], "Facebook sign-in was cancelled.");
    let forged = format!(
        "{}/oauth/facebook/callback?code=abc&state=forged",
        server.url
    );
    let to = admin.follow(&forged).await;
    assert!(query(&to)["error"].contains("not started here"));
    assert!(
        admin.home().await["accounts"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn x_authorize_links_the_account_unlink_stops_it_and_relink_continues_history() {
    let (server, sb) = world().await;
    let brand = sb.twitter.add_brand("acme", "Acme Outdoor");
    let bo = sb.twitter.add_consumer("bo", "Bo Diaz");
    let admin = Admin::sign_in(&server.url, ADMIN.0, ADMIN.1, ADMIN.2).await;

    let link = async |path: &str| {
        let (status, start) = admin.post(path, json!({})).await;
        assert_eq!(status, 200, "{start}");
        let authorize = start["url"].as_str().unwrap().to_owned();
        assert!(authorize.starts_with(&format!("{}/oauth/authorize?", sb.twitter.api_url())));
        let back = twitter_authorize(&authorize, &brand.id).await;
        assert!(back.starts_with(&format!("{}/oauth/twitter/callback?", server.url)));
        admin.follow(&back).await
    };
    let to = link("/api/home/link/twitter").await;
    assert_eq!(query(&to)["done"], "Twitter/X acme is linked.", "{to}");
    let home = admin.home().await;
    let id = home["accounts"][0]["id"].as_i64().unwrap();
    assert_eq!(home["accounts"][0]["status"], "linked");
    assert!(!home.to_string().contains(&brand.access_token));

    let store = SqliteStore::open(server.data_dir.path()).await.unwrap();
    let account = store.account_by_number(ADMIN.0).await.unwrap().unwrap();
    let texts = async || -> Vec<(i64, Vec<String>)> {
        store
            .export(account.id, i64::MIN)
            .await
            .unwrap()
            .into_iter()
            .map(|c| {
                // Which lines, not their order (the network's clock orders them).
                let mut texts: Vec<String> = c.messages.into_iter().map(|m| m.text).collect();
                texts.sort();
                (c.id, texts)
            })
            .collect()
    };
    sb.twitter
        .consumer_dm(&bo, &brand.id, "before", None)
        .unwrap();
    eventually("the DM is stored", async || texts().await.len() == 1).await;
    let conversation = texts().await[0].0;

    // A reply queued while X is down does not go once the account is unlinked.
    const DM: &str = "POST /2/dm_conversations/with/{participant_id}/messages";
    sb.twitter
        .shared()
        .faults
        .inject("twitter", DM, Fault::ServerError(503), 1000);
    let (status, queued) = admin
        .post(
            &format!("/api/conversations/{conversation}/replies"),
            json!({"text": "queued before the unlink", "mode": "private"}),
        )
        .await;
    assert_eq!(status, 201, "{queued}");
    let queued = queued["id"].as_i64().unwrap();
    eventually("X refused the DM once", async || {
        sb.twitter.shared().calls.all().iter().any(|c| {
            c.network == "twitter" && c.status == 503 && c.path.starts_with("/2/dm_conversations")
        })
    })
    .await;
    eventually("the refusal counted by X's answer", async || {
        server::metrics::handle()
            .render()
            .contains(r#"socialconnect_send_errors_total{network="twitter",code="#)
    })
    .await;

    let (status, row) = admin
        .post(&format!("/api/home/accounts/{id}/unlink"), json!({}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(row["status"], "unlinked");
    sb.twitter.shared().faults.clear();
    eventually("the queued reply fails as unlinked", async || {
        store
            .line_status(queued)
            .await
            .unwrap()
            .is_some_and(|(status, error)| {
                status == "failed" && error.unwrap_or_default().contains("unlinked")
            })
    })
    .await;
    // Replies are refused while unlinked.
    let (status, refused) = admin
        .post(
            &format!("/api/conversations/{conversation}/replies"),
            json!({"text": "hello", "mode": "private"}),
        )
        .await;
    assert_eq!(status, 400, "{refused}");
    // The account's X Activity API subscriptions are gone.
    let calls = sb.twitter.shared().calls.all();
    assert!(
        calls.iter().any(|c| c.method == "DELETE"
            && c.path.starts_with("/2/activity/subscriptions/")
            && c.status == 200),
        "no subscription was deleted"
    );
    sb.twitter
        .consumer_dm(&bo, &brand.id, "while unlinked", None)
        .unwrap();
    // Whatever X would still deliver is ignored: a signed delivery of our own (the same
    // shape is stored once the account is relinked, below).
    let deliver = async |id: &str, text: &str| {
        let dm = json!({"for_user_id": brand.id, "direct_message_events": [{
            "type": "message_create", "id": id, "created_timestamp": "1700000000000",
            "message_create": {"target": {"recipient_id": brand.id}, "sender_id": bo.id,
                "message_data": {"text": text}}}]})
        .to_string();
        let res = reqwest::Client::new()
            .post(format!("{}/webhooks/twitter", server.url))
            .header("content-type", "application/json")
            .header(
                "x-twitter-webhooks-signature",
                x_signature(&sb.credentials.twitter_consumer_secret, &dm),
            )
            .body(dm)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    };
    deliver("999000111", "delivered while unlinked").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        texts().await,
        [(
            conversation,
            vec!["before".to_owned(), "queued before the unlink".to_owned()]
        )]
    );

    let to = link(&format!("/api/home/accounts/{id}/relink")).await;
    assert_eq!(query(&to)["done"], "Twitter/X acme is relinked.", "{to}");
    sb.twitter
        .consumer_dm(&bo, &brand.id, "after", None)
        .unwrap();
    deliver("999000112", "delivered after the relink").await;
    eventually("the DMs after the relink are stored", async || {
        texts().await[0].1.len() == 4
    })
    .await;
    assert_eq!(
        texts().await,
        [(
            conversation,
            vec![
                "after".to_owned(),
                "before".to_owned(),
                "delivered after the relink".to_owned(),
                "queued before the unlink".to_owned(),
            ]
        )]
    );
    let actions: Vec<String> = admin.home().await["audit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(actions, ["relinked", "unlinked", "linked"]);
}

#[tokio::test]
async fn routing_skills_and_send_image_are_the_admins_to_change_and_are_audited() {
    let (server, sb) = world().await;
    let brand = sb.twitter.add_brand("acme", "Acme Outdoor");
    let store = SqliteStore::open(server.data_dir.path()).await.unwrap();
    let account = store.account_by_number(ADMIN.0).await.unwrap().unwrap();
    server::auth::create_user(
        &store,
        Some(account.id),
        "agent@brand.example",
        "Alex Agent",
        shared::Role::Agent,
        "agent-pass-1",
    )
    .await
    .unwrap();
    let cipher = server::config::ServeArgs::for_tests(server.data_dir.path().to_path_buf())
        .store
        .cipher()
        .unwrap();
    let linked = server::link::link_twitter(
        &store,
        &cipher,
        &reqwest::Client::new(),
        &server::config::TwitterArgs {
            twitter_consumer_key: Some(sb.credentials.twitter_consumer_key.clone()),
            twitter_consumer_secret: Some(sb.credentials.twitter_consumer_secret.clone()),
            twitter_api_url: sb.twitter.api_url(),
            twitter_upload_url: sb.twitter.upload_url(),
        },
        None,
        server::link::TwitterAccount {
            account_number: ADMIN.0,
            user_id: &brand.id,
            screen_name: &brand.screen_name,
            token: &brand.access_token,
            token_secret: &brand.access_token_secret,
            skill: "social",
            by: "cli",
        },
    )
    .await
    .unwrap()
    .0;
    let admin = Admin::sign_in(&server.url, ADMIN.0, ADMIN.1, ADMIN.2).await;
    let agent = Admin::sign_in(&server.url, ADMIN.0, "agent@brand.example", "agent-pass-1").await;

    let (status, skill) = admin
        .post("/api/home/skills", json!({"name": " Billing "}))
        .await;
    assert_eq!(status, 201);
    assert_eq!(skill["name"], "Billing");
    let billing = skill["id"].as_i64().unwrap();
    let (status, _) = admin.post("/api/home/skills", json!({"name": "  "})).await;
    assert_eq!(status, 400);

    let (status, row) = admin
        .call(
            reqwest::Method::PUT,
            &format!("/api/home/accounts/{}/skill", linked.id),
            Some(json!({"skill_id": billing})),
        )
        .await;
    assert_eq!(status, 200, "{row}");
    assert_eq!(row["skill_id"], billing);

    let home = admin.home().await;
    let alex = home["people"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["email"] == "agent@brand.example")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let (status, person) = admin
        .call(
            reqwest::Method::PUT,
            &format!("/api/home/people/{alex}/skills"),
            Some(json!({"skills": [billing]})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(person["skills"], json!([billing]));

    // The agent may not do any of it.
    for (method, path, body) in [
        (reqwest::Method::GET, "/api/home".to_owned(), None),
        (
            reqwest::Method::PUT,
            "/api/home/settings".to_owned(),
            Some(json!({"send_image": false})),
        ),
        (
            reqwest::Method::POST,
            format!("/api/home/accounts/{}/unlink", linked.id),
            Some(json!({})),
        ),
    ] {
        let (status, _) = agent.call(method, &path, body).await;
        assert_eq!(status, 403, "{path}");
    }

    let (status, settings) = admin
        .call(
            reqwest::Method::PUT,
            "/api/home/settings",
            Some(json!({"send_image": false})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(settings["send_image"], false);
    // Uploads are refused while Send Image is off, for agents and admins alike.
    for who in [&agent, &admin] {
        let res = who
            .http
            .post(format!("{}/api/uploads", server.url))
            .header("x-csrf-token", &who.csrf)
            .header("content-type", "image/png")
            .body(b"\x89PNG\r\n\x1a\n0000".to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        let e: Value = res.json().await.unwrap();
        assert!(
            e["message"]
                .as_str()
                .unwrap()
                .contains("Send Image is switched off")
        );
    }

    let audit: Vec<(String, String)> = admin.home().await["audit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["detail"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        audit,
        [
            ("changed settings".to_owned(), "Send Image off".to_owned()),
            (
                "changed skills".to_owned(),
                "Alex Agent (agent@brand.example): Billing".to_owned()
            ),
            (
                "changed routing".to_owned(),
                "Twitter/X acme → skill Billing".to_owned()
            ),
            ("added skill".to_owned(), "Billing".to_owned()),
        ]
    );
}
