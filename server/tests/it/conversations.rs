//! The conversation API through a real server: queue views, transcripts, take and close,
//! who may see what, and the live stream of changes.

use crate::common;

use common::{ADMIN, TestServer};
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde_json::{Value, json};
use server::store::prelude::*;
use server::store::{NewLink, SqliteStore};
use shared::api::{QueueItem, Transcript};
use shared::{Channel, Role};
use std::time::Duration;

const FB_SECRET: &str = "fb-app-secret";
const PAGE: &str = "1122334455";
const OTHER_PAGE: &str = "5544332211";

struct Fixture {
    server: TestServer,
    store: SqliteStore,
    account_id: i64,
    skill: i64,
}

/// A signed-in user: a client with the session cookie, and the CSRF token.
struct User {
    http: reqwest::Client,
    csrf: String,
    base: String,
}

impl User {
    async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
    }

    async fn post(&self, path: &str) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.base))
            .header("x-csrf-token", &self.csrf)
            .send()
            .await
            .unwrap()
    }

    async fn post_json(&self, path: &str, body: Value) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.base))
            .header("x-csrf-token", &self.csrf)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn queue(&self, view: &str) -> Vec<QueueItem> {
        let res = self.get(&format!("/api/conversations?view={view}")).await;
        assert_eq!(res.status(), StatusCode::OK);
        res.json().await.unwrap()
    }
}

fn messenger(psid: &str, mid: &str, ts: i64, text: &str) -> Value {
    json!({"object":"page","entry":[{"id":PAGE,"time":ts,"messaging":[{
        "sender":{"id":psid},"recipient":{"id":PAGE},"timestamp":ts,
        "message":{"mid":mid,"text":text}}]}]})
}

fn comment(from: &str, name: &str, id: &str, at_secs: i64, text: &str) -> Value {
    json!({"object":"page","entry":[{"id":PAGE,"time":1,"changes":[{"field":"feed","value":
        {"from":{"id":from,"name":name},"item":"comment","verb":"add",
         "post_id":format!("{PAGE}_1"),"comment_id":id,"parent_id":format!("{PAGE}_1"),
         "message":text,"created_time":at_secs}}]}]})
}

impl Fixture {
    async fn start() -> Fixture {
        let server = TestServer::start_with(tempfile::tempdir().unwrap(), |a| {
            a.facebook.facebook_app_id = Some("app".into());
            a.facebook.facebook_app_secret = Some(FB_SECRET.into());
            a.facebook.facebook_verify_token = Some("verify".into());
        })
        .await;
        let store = SqliteStore::open(server.data_dir.path()).await.unwrap();
        let account = store.account_by_number(ADMIN.0).await.unwrap().unwrap();
        let skill = store.ensure_skill(account.id, "social").await.unwrap();
        let other = store
            .ensure_account("7777", "Other brand", true)
            .await
            .unwrap();
        let other_skill = store.ensure_skill(other.id, "social").await.unwrap();
        for (account_id, page, skill) in [
            (account.id, PAGE, skill),
            (other.id, OTHER_PAGE, other_skill),
        ] {
            store
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
                .unwrap();
        }
        let people = [
            (Some(account.id), "agent@brand.example", Role::Agent),
            (Some(account.id), "agent2@brand.example", Role::Agent),
            (Some(other.id), "agent@other.example", Role::Agent),
            (None, "support@sc.example", Role::Support),
        ];
        for (account_id, email, role) in people {
            server::auth::create_user(&store, account_id, email, email, role, "pass-word-1")
                .await
                .unwrap()
                .unwrap();
        }
        Fixture {
            server,
            store,
            account_id: account.id,
            skill,
        }
    }

    async fn sign_in(&self, account: &str, email: &str, password: &str) -> User {
        let http = TestServer::client();
        let res = http
            .post(format!("{}/api/session", self.server.url))
            .json(&json!({"account_number": account, "email": email, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "signing in {email}");
        let me: Value = res.json().await.unwrap();
        User {
            http,
            csrf: me["csrf_token"].as_str().unwrap().to_owned(),
            base: self.server.url.clone(),
        }
    }

    async fn agent(&self) -> User {
        self.sign_in(ADMIN.0, "agent@brand.example", "pass-word-1")
            .await
    }

    async fn webhook(&self, body: &Value) {
        let raw = body.to_string();
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(FB_SECRET.as_bytes()).unwrap();
        mac.update(raw.as_bytes());
        let sig = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        let res = reqwest::Client::new()
            .post(format!("{}/webhooks/facebook", self.server.url))
            .header("content-type", "application/json")
            .header("x-hub-signature-256", sig)
            .body(raw)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }
}

#[tokio::test]
async fn queue_views_transcript_take_close_and_reopen() {
    let f = Fixture::start().await;
    // Ann's lines arrive out of order; Bruno comments later than Ann's last line.
    f.webhook(&messenger("2001", "m2", 1_700_000_002_000, "second"))
        .await;
    f.webhook(&messenger("2001", "m1", 1_700_000_001_000, "first"))
        .await;
    f.webhook(&comment(
        "2002",
        "Bruno Diaz",
        "1_9",
        1_700_000_100,
        "<b>hi</b>",
    ))
    .await;
    let agent = f.agent().await;

    let new = agent.queue("new").await;
    assert_eq!(new.len(), 2, "{new:?}");
    assert_eq!(new[0].consumer_name.as_deref(), Some("Bruno Diaz"));
    assert!(new.iter().all(|c| c.new && c.assigned_to.is_none()));
    let bruno = &new[0];
    let last = bruno.last.as_ref().unwrap();
    assert_eq!(last.tag, shared::Tag::PublicComment);
    assert_eq!(last.text, "<b>hi</b>");
    assert!(last.at.starts_with("2023-11-14T22:15:00"), "{}", last.at);
    assert_eq!(new[1].last.as_ref().unwrap().text, "second");
    let res = agent.get("/api/conversations?view=everything").await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        agent.get("/api/conversations").await.status(),
        StatusCode::OK
    );

    // The transcript: the network's time order, tags and authors on every line.
    let ann = new[1].id;
    let res = agent.get(&format!("/api/conversations/{ann}")).await;
    assert_eq!(res.status(), StatusCode::OK);
    let t: Transcript = res.json().await.unwrap();
    let texts: Vec<_> = t.lines.iter().map(|l| l.text.as_str()).collect();
    assert_eq!(texts, ["first", "second"]);
    assert_eq!(t.consumer.network_id, "2001");
    assert_eq!(t.consumer.profile, shared::api::Profile::default());
    assert_eq!(t.brand.channel, shared::Channel::Facebook);
    assert!(t.brand.send_image);
    assert!(t.lines.iter().all(|l| l.tag == shared::Tag::Private
        && l.author == shared::api::Author::Consumer
        && l.status == shared::api::LineStatus::Received));
    assert_eq!(
        serde_json::to_value(&t.lines[0]).unwrap()["tag"],
        json!("Private")
    );

    // Take: it leaves New for Mine; another agent may not take it from me.
    let res = agent.post(&format!("/api/conversations/{ann}/take")).await;
    assert_eq!(res.status(), StatusCode::OK);
    let info: Value = res.json().await.unwrap();
    assert_eq!(info["assigned_to"]["name"], "agent@brand.example");
    assert_eq!(agent.queue("new").await.len(), 1);
    let mine = agent.queue("mine").await;
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].id, ann);
    assert!(!mine[0].new);
    assert_eq!(agent.queue("all").await.len(), 2);
    let agent2 = f
        .sign_in(ADMIN.0, "agent2@brand.example", "pass-word-1")
        .await;
    let res = agent2.post(&format!("/api/conversations/{ann}/take")).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert!(agent2.queue("mine").await.is_empty());

    // Close: it leaves every view; the consumer's next line brings it back as new.
    let res = agent.post(&format!("/api/conversations/{ann}/close")).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(agent.queue("all").await.len(), 1);
    assert!(agent.queue("mine").await.is_empty());
    let res = agent.post(&format!("/api/conversations/{ann}/take")).await;
    assert_eq!(
        res.status(),
        StatusCode::CONFLICT,
        "a closed one cannot be taken"
    );
    f.webhook(&messenger("2001", "m3", 1_800_000_000_000, "still there?"))
        .await;
    let new = agent.queue("new").await;
    assert_eq!(new.len(), 2);
    assert_eq!(new[0].id, ann, "the reopened one has the newest activity");
    assert_eq!(new[0].last.as_ref().unwrap().text, "still there?");
}

#[tokio::test]
async fn an_agents_skills_narrow_their_queue_and_admins_see_every_skill() {
    let f = Fixture::start().await;
    f.webhook(&messenger("2001", "m1", 1_700_000_001_000, "hello"))
        .await;
    let agent_id = f
        .store
        .credentials(Some(f.account_id), "agent@brand.example")
        .await
        .unwrap()
        .unwrap()
        .user
        .id;
    let billing = f.store.ensure_skill(f.account_id, "billing").await.unwrap();
    f.store
        .set_user_skills(agent_id, false, &[billing])
        .await
        .unwrap();
    let agent = f.agent().await;
    assert!(agent.queue("new").await.is_empty());
    assert!(agent.queue("all").await.is_empty());
    let admin = f.sign_in(ADMIN.0, ADMIN.1, ADMIN.2).await;
    assert_eq!(admin.queue("new").await.len(), 1);
    // Outside their skills, the conversation is not theirs to open or answer.
    let id = admin.queue("new").await[0].id;
    let one = format!("/api/conversations/{id}");
    assert_eq!(agent.get(&one).await.status(), StatusCode::NOT_FOUND);
    let reply = json!({"text": "hi", "mode": "private"});
    let res = agent
        .post_json(&format!("{one}/replies"), reply.clone())
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        agent.post(&format!("{one}/take")).await.status(),
        StatusCode::NOT_FOUND
    );

    // Transferred to billing, it is theirs to see.
    let res = admin
        .post_json(&format!("{one}/transfer"), json!({"skill_id": billing}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let info: Value = res.json().await.unwrap();
    assert_eq!(info["skill"], "billing");
    assert_eq!(agent.queue("new").await.len(), 1);
    assert_eq!(agent.get(&one).await.status(), StatusCode::OK);

    // Back to the page's skill, then handed to the agent by name: theirs again.
    let res = admin
        .post_json(&format!("{one}/transfer"), json!({"skill_id": f.skill}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(agent.get(&one).await.status(), StatusCode::NOT_FOUND);
    let team: Value = agent.get("/api/team").await.json().await.unwrap();
    let teammates = team["people"].as_array().unwrap();
    assert!(teammates.iter().any(|p| p["id"] == agent_id), "{team}");
    let res = admin
        .post_json(&format!("{one}/transfer"), json!({"agent_id": agent_id}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(agent.queue("mine").await.len(), 1);
    assert_eq!(agent.get(&one).await.status(), StatusCode::OK);
    for bad in [
        json!({}),
        json!({"agent_id": 999_999}),
        json!({"skill_id": 999_999}),
    ] {
        let res = admin
            .post_json(&format!("{one}/transfer"), bad.clone())
            .await;
        assert!(res.status().is_client_error(), "{bad}");
    }

    // "All skills" is a choice; no skills is none.
    f.store.set_user_skills(agent_id, false, &[]).await.unwrap();
    assert!(
        agent.queue("all").await.iter().all(|c| c.id == id),
        "only theirs"
    );
    f.store.set_user_skills(agent_id, true, &[]).await.unwrap();
    f.webhook(&messenger("2002", "m9", 1_700_000_002_000, "me too"))
        .await;
    assert_eq!(agent.queue("all").await.len(), 2);
}

#[tokio::test]
async fn only_the_brands_own_people_reach_its_conversations() {
    let f = Fixture::start().await;
    f.webhook(&messenger("2001", "m1", 1_700_000_001_000, "hello"))
        .await;
    let agent = f.agent().await;
    let id = agent.queue("new").await[0].id;
    let one = format!("/api/conversations/{id}");

    let other = f
        .sign_in("7777", "agent@other.example", "pass-word-1")
        .await;
    assert!(other.queue("all").await.is_empty());
    assert_eq!(other.get(&one).await.status(), StatusCode::NOT_FOUND);
    let res = other.post(&format!("{one}/take")).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = other.post(&format!("{one}/close")).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        other.get("/api/conversations/999999").await.status(),
        StatusCode::NOT_FOUND
    );

    let support = f.sign_in("", "support@sc.example", "pass-word-1").await;
    for path in ["/api/conversations?view=all", one.as_str(), "/api/events"] {
        assert_eq!(
            support.get(path).await.status(),
            StatusCode::FORBIDDEN,
            "{path}"
        );
    }
    assert_eq!(
        support.post(&format!("{one}/take")).await.status(),
        StatusCode::FORBIDDEN
    );

    let anonymous = reqwest::Client::new();
    for path in ["/api/conversations?view=new", one.as_str(), "/api/events"] {
        let res = anonymous
            .get(format!("{}{path}", f.server.url))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{path}");
    }

    // A state change without the CSRF header is refused and changes nothing.
    let res = agent
        .http
        .post(format!("{}{one}/take", f.server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], "csrf");
    assert!(agent.queue("mine").await.is_empty());
}

/// Reads the event stream until a `data:` line arrives or `within` passes.
async fn next_data(res: &mut reqwest::Response, within: Duration) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + within;
    let mut buf = String::new();
    loop {
        let chunk = tokio::time::timeout_at(deadline, res.chunk()).await.ok()?;
        buf.push_str(&String::from_utf8_lossy(&chunk.ok()??));
        if let Some(line) = buf.lines().find_map(|l| l.strip_prefix("data:")) {
            return Some(serde_json::from_str(line.trim()).unwrap());
        }
    }
}

#[tokio::test]
async fn the_event_stream_tells_the_brands_people_when_a_line_is_stored() {
    let f = Fixture::start().await;
    let agent = f.agent().await;
    let other = f
        .sign_in("7777", "agent@other.example", "pass-word-1")
        .await;
    let mut mine = agent.get("/api/events").await;
    assert_eq!(mine.status(), StatusCode::OK);
    assert!(
        mine.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut theirs = other.get("/api/events").await;
    assert_eq!(theirs.status(), StatusCode::OK);

    f.webhook(&messenger("2001", "m1", 1_700_000_001_000, "hello"))
        .await;
    let event = next_data(&mut mine, Duration::from_secs(10))
        .await
        .expect("an event after the webhook was stored");
    let id = agent.queue("new").await[0].id;
    assert_eq!(event, json!({"conversation_id": id}));

    // Take publishes too; the other brand hears nothing of either.
    assert_eq!(
        agent
            .post(&format!("/api/conversations/{id}/take"))
            .await
            .status(),
        StatusCode::OK
    );
    let event = next_data(&mut mine, Duration::from_secs(10)).await;
    assert_eq!(event, Some(json!({"conversation_id": id})));
    assert_eq!(
        next_data(&mut theirs, Duration::from_millis(500)).await,
        None
    );
    drop((mine, theirs));
    f.server.stop().await;
}

#[tokio::test]
async fn replying_takes_a_conversation_nobody_holds_unless_home_says_otherwise() {
    let f = Fixture::start().await;
    f.webhook(&messenger("2001", "m1", 1_700_000_001_000, "hello"))
        .await;
    let agent = f.agent().await;
    let id = agent.queue("new").await[0].id;
    let reply = json!({"text": "Hi, how can we help?", "mode": "private"});
    let res = agent
        .post_json(&format!("/api/conversations/{id}/replies"), reply.clone())
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert!(agent.queue("new").await.is_empty(), "no longer new");
    assert_eq!(agent.queue("mine").await[0].id, id, "the replier's");
    // A second agent's reply does not take it from the first.
    let second = f
        .sign_in(ADMIN.0, "agent2@brand.example", "pass-word-1")
        .await;
    let res = second
        .post_json(&format!("/api/conversations/{id}/replies"), reply.clone())
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(agent.queue("mine").await[0].id, id);
    assert!(second.queue("mine").await.is_empty());

    // Switched off in Home: a reply leaves the conversation to the queue.
    let admin = f.sign_in(ADMIN.0, ADMIN.1, ADMIN.2).await;
    let res = admin
        .http
        .put(format!("{}/api/home/settings", admin.base))
        .header("x-csrf-token", &admin.csrf)
        .json(&json!({"send_image": true, "reply_takes": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let settings: Value = res.json().await.unwrap();
    assert_eq!(settings["reply_takes"], false);
    f.webhook(&messenger("2002", "m2", 1_700_000_002_000, "me too"))
        .await;
    let other = agent.queue("new").await[0].id;
    let res = agent
        .post_json(&format!("/api/conversations/{other}/replies"), reply)
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(agent.queue("new").await[0].id, other, "still new");
}
