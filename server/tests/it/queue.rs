//! The queue's facts through a real server, on the embedded database and on PostgreSQL:
//! who wrote last, what each person has not read, a failed last reply, how long the
//! consumer has waited and the order by waiting; and collision detection's typing events on
//! the live stream (on PostgreSQL relayed to a second instance).

use crate::common;

use common::client::Client;
use common::pg::PgDb;
use common::{ADMIN, TestServer};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use server::store::{NewLink, Store};
use shared::api::{Author, QueueItem};
use shared::{Channel, Role};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedReceiver;

const FB_SECRET: &str = "fb-app-secret";
const PAGE: &str = "1122334455";
const PASSWORD: &str = "pass-word-1";
/// Every instance of one brand's database holds the same key.
const KEY: &str = "c29jaWFsY29ubmVjdC1xdWV1ZS10ZXN0cy1rZXktMzI=";

/// A brand with its page linked and four people: two agents answering every skill, one
/// answering only `billing`, and the bootstrap admin.
struct Brand {
    /// One instance; on PostgreSQL a second one on the same database.
    servers: Vec<TestServer>,
    store: Arc<dyn Store>,
    account_id: i64,
    _pg: Option<PgDb>,
}

/// Each scenario as two tests, `NAME::sqlite` and `NAME::postgres`.
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(super::Brand::start(false).await).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name(super::Brand::start(true).await).await
            }
        }
    )*};
}

on_both!(
    queue_items_tell_who_wrote_last_what_is_unread_a_failure_and_the_wait,
    typing_reaches_those_who_see_the_conversation_and_no_one_else,
);

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A time after everything stamped so far, once the clock has reached it: a consumer's line
/// at it comes after the replies before, and not after the replies after (the server
/// stamps its lines in whole seconds, so this is the next second).
async fn a_moment_later() -> i64 {
    let at = (now_ms() / 1000 + 1) * 1000;
    while now_ms() < at {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    at
}

fn messenger(psid: &str, mid: &str, ts: i64, text: &str) -> Value {
    json!({"object":"page","entry":[{"id":PAGE,"time":ts,"messaging":[{
        "sender":{"id":psid},"recipient":{"id":PAGE},"timestamp":ts,
        "message":{"mid":mid,"text":text}}]}]})
}

async fn start_instance(data: tempfile::TempDir, url: Option<String>) -> TestServer {
    TestServer::start_with(data, move |a| {
        a.facebook.facebook_app_id = Some("app".into());
        a.facebook.facebook_app_secret = Some(FB_SECRET.into());
        a.facebook.facebook_verify_token = Some("verify".into());
        // Replies stay `sending` (the network cannot be reached, so they are retried):
        // nothing leaves the machine, and nothing fails but what the test makes fail.
        a.facebook.facebook_graph_url = "http://127.0.0.1:9/v24.0".into();
        a.store.database_url = url;
        a.store.secret_key = Some(KEY.into());
    })
    .await
}

impl Brand {
    async fn start(postgres: bool) -> Brand {
        let pg = if postgres {
            Some(PgDb::create().await)
        } else {
            None
        };
        let url = pg.as_ref().map(|p| p.url.clone());
        let data = tempfile::tempdir().unwrap();
        let dir = data.path().to_path_buf();
        let mut servers = vec![start_instance(data, url.clone()).await];
        let store = server::store::open(url.as_deref(), &dir).await.unwrap();
        let account = store.account_by_number(ADMIN.0).await.unwrap().unwrap();
        let social = store.ensure_skill(account.id, "social").await.unwrap();
        let billing = store.ensure_skill(account.id, "billing").await.unwrap();
        let cipher = server::crypto::TokenCipher::load(Some(KEY), &dir).unwrap();
        store
            .link(NewLink {
                account_id: account.id,
                channel: Channel::Facebook,
                network_id: PAGE,
                name: "page",
                token_sealed: cipher.seal("page-token"),
                token_secret_sealed: None,
                skill_id: Some(social),
                created_by: "test",
            })
            .await
            .unwrap();
        for (email, name) in [
            ("ann@brand.example", "Ann Agent"),
            ("bea@brand.example", "Bea Agent"),
            ("cal@brand.example", "Cal Billing"),
        ] {
            let user = server::auth::create_user(
                store.as_ref(),
                Some(account.id),
                email,
                name,
                Role::Agent,
                PASSWORD,
            )
            .await
            .unwrap()
            .unwrap();
            if email.starts_with("cal") {
                store
                    .set_user_skills(user.id, false, &[billing])
                    .await
                    .unwrap();
            }
        }
        if postgres {
            servers.push(start_instance(tempfile::tempdir().unwrap(), url).await);
        }
        Brand {
            servers,
            store,
            account_id: account.id,
            _pg: pg,
        }
    }

    /// `email` signed in on instance `at` (0, or 1 on PostgreSQL; else the one there is).
    async fn person(&self, email: &str, at: usize) -> Client {
        let base = &self.servers[at.min(self.servers.len() - 1)].url;
        let password = if email == ADMIN.1 { ADMIN.2 } else { PASSWORD };
        Client::sign_in(base, ADMIN.0, email, password).await
    }

    async fn webhook(&self, body: &Value) {
        let raw = body.to_string();
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(FB_SECRET.as_bytes()).unwrap();
        mac.update(raw.as_bytes());
        let sig = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        let res = reqwest::Client::new()
            .post(format!("{}/webhooks/facebook", self.servers[0].url))
            .header("content-type", "application/json")
            .header("x-hub-signature-256", sig)
            .body(raw)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }

    /// The conversation of the consumer with page-scoped id `psid`.
    async fn conversation_of(&self, psid: &str) -> i64 {
        let all = self.store.export(self.account_id, i64::MIN).await.unwrap();
        all.iter()
            .find(|c| c.consumer.network_id == psid)
            .unwrap_or_else(|| panic!("no conversation with {psid}"))
            .id
    }
}

async fn queue(who: &Client, sort: &str) -> Vec<QueueItem> {
    let (status, body) = who
        .get(&format!("/api/conversations?view=all&sort={sort}"))
        .await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_value(body).unwrap()
}

async fn item(who: &Client, id: i64) -> QueueItem {
    queue(who, "activity")
        .await
        .into_iter()
        .find(|i| i.id == id)
        .unwrap_or_else(|| panic!("conversation {id} not in the queue"))
}

fn waiting_ms(item: &QueueItem) -> Option<i64> {
    item.waiting_since
        .as_deref()
        .map(|w| shared::time::parse_rfc3339(w).unwrap())
}

async fn reply(who: &Client, id: i64, text: &str) -> Value {
    let (status, line) = who
        .post(
            &format!("/api/conversations/{id}/replies"),
            json!({"text": text, "mode": "private"}),
        )
        .await;
    assert_eq!(status, 201, "{line}");
    line
}

async fn queue_items_tell_who_wrote_last_what_is_unread_a_failure_and_the_wait(b: Brand) {
    const MIN: i64 = 60_000;
    let now = now_ms();
    b.webhook(&messenger("2001", "a1", now - 30 * MIN, "my tent leaks"))
        .await;
    b.webhook(&messenger(
        "2002",
        "b1",
        now - 20 * MIN,
        "where is my order",
    ))
    .await;
    b.webhook(&messenger("2002", "b2", now - MIN, "hello?"))
        .await;
    b.webhook(&messenger("2003", "c1", now - 40 * MIN, "one question"))
        .await;
    let (ann, bo, cy) = (
        b.conversation_of("2001").await,
        b.conversation_of("2002").await,
        b.conversation_of("2003").await,
    );
    let agent = b.person("ann@brand.example", 0).await;
    let other = b.person("bea@brand.example", 1).await;
    let ids = |q: Vec<QueueItem>| q.iter().map(|i| i.id).collect::<Vec<_>>();

    // Newest activity first by default; longest waiting first when asked.
    assert_eq!(ids(queue(&agent, "activity").await), [bo, ann, cy]);
    let (status, _) = agent.get("/api/conversations?view=all").await;
    assert_eq!(status, 200);
    assert_eq!(ids(queue(&agent, "waiting").await), [cy, ann, bo]);
    let (status, body) = agent.get("/api/conversations?sort=longest").await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "bad_request");

    for who in [&agent, &other] {
        let q = queue(who, "activity").await;
        for i in &q {
            assert_eq!(i.last.as_ref().unwrap().author, Author::Consumer);
            assert!(!i.reply_failed);
        }
        let unread: Vec<u32> = q.iter().map(|i| i.unread).collect();
        assert_eq!(unread, [2, 1, 1], "nothing read yet: every consumer line");
    }
    let bo_item = item(&agent, bo).await;
    assert_eq!(
        waiting_ms(&bo_item),
        Some(now - 20 * MIN),
        "since their first unanswered line"
    );
    assert_eq!(
        bo_item.waiting_since.as_deref().map(|w| w.ends_with('Z')),
        Some(true)
    );

    // Reading the transcript reads it for that person only.
    let (status, _) = agent.get(&format!("/api/conversations/{cy}")).await;
    assert_eq!(status, 200);
    assert_eq!(item(&agent, cy).await.unread, 0);
    assert_eq!(item(&other, cy).await.unread, 1);

    // An answer: the agent wrote last, nobody waits, and it is the newest activity.
    let line = reply(&agent, cy, "We are on it").await;
    assert_eq!(line["status"], "sending");
    let cy_item = item(&agent, cy).await;
    assert_eq!(cy_item.last.as_ref().unwrap().author, Author::Agent);
    assert_eq!(cy_item.waiting_since, None);
    assert!(!cy_item.reply_failed);
    assert_eq!(cy_item.unread, 0, "our own lines are never unread");
    assert_eq!(ids(queue(&agent, "activity").await), [cy, bo, ann]);
    assert_eq!(
        ids(queue(&agent, "waiting").await),
        [ann, bo, cy],
        "the answered last"
    );

    // The consumer writes again: waiting from that line; unread for each as they read.
    let later = a_moment_later().await;
    b.webhook(&messenger("2003", "c2", later, "one more thing"))
        .await;
    let cy_item = item(&agent, cy).await;
    assert_eq!(waiting_ms(&cy_item), Some(later));
    assert_eq!(cy_item.unread, 1);
    assert_eq!(cy_item.last.as_ref().unwrap().author, Author::Consumer);
    assert_eq!(item(&other, cy).await.unread, 2);

    // A reply over Messenger's limit fails: marked, and the consumer still waits.
    let line = reply(&agent, cy, &"x".repeat(2_001)).await;
    assert_eq!(line["status"], "failed");
    let cy_item = item(&agent, cy).await;
    assert!(cy_item.reply_failed);
    assert_eq!(
        waiting_ms(&cy_item),
        Some(later),
        "a failed reply answers nothing"
    );
    assert_eq!(cy_item.last.as_ref().unwrap().author, Author::Agent);
    // Still marked while the consumer writes on: the newest of our lines failed.
    b.webhook(&messenger("2003", "c3", a_moment_later().await, "hello??"))
        .await;
    let cy_item = item(&agent, cy).await;
    assert!(cy_item.reply_failed);
    assert_eq!(waiting_ms(&cy_item), Some(later));
    assert!(
        !item(&other, ann).await.reply_failed,
        "other conversations unmarked"
    );
    // A reply that goes clears the mark and the wait.
    a_moment_later().await;
    reply(&agent, cy, "Sorry, here is the short answer").await;
    let cy_item = item(&agent, cy).await;
    assert!(!cy_item.reply_failed);
    assert_eq!(cy_item.waiting_since, None);
    // The other person has still read nothing of it.
    assert_eq!(item(&other, cy).await.unread, 3);
    let (status, _) = other.get(&format!("/api/conversations/{cy}")).await;
    assert_eq!(status, 200);
    assert_eq!(item(&other, cy).await.unread, 0);
    assert_eq!(
        item(&agent, cy).await.unread,
        2,
        "the agent's mark stays where they read"
    );
}

/// `GET /api/events` of `who`, as (event name, data) pairs as they come; keep-alive
/// comments are left out.
async fn stream(who: &Client) -> UnboundedReceiver<(String, Value)> {
    let mut res = who
        .http
        .get(format!("{}/api/events", who.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut buf = String::new();
        while let Ok(Some(chunk)) = res.chunk().await {
            buf.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buf.find("\n\n") {
                let block: String = buf.drain(..end + 2).collect();
                let mut name = "message".to_owned();
                let mut data = None;
                for line in block.lines() {
                    if let Some(n) = line.strip_prefix("event:") {
                        name = n.trim().to_owned();
                    } else if let Some(d) = line.strip_prefix("data:") {
                        data = serde_json::from_str::<Value>(d.trim()).ok();
                    }
                }
                if let Some(data) = data {
                    let _ = tx.send((name, data));
                }
            }
        }
    });
    rx
}

/// The events up to and including the first `message` naming `conversation` (a change
/// published after whatever the test is looking for, so everything before it has come).
async fn events_until_change(
    rx: &mut UnboundedReceiver<(String, Value)>,
    conversation: i64,
) -> Vec<(String, Value)> {
    let mut seen = Vec::new();
    loop {
        let event = tokio::time::timeout(Duration::from_secs(15), rx.recv())
            .await
            .unwrap_or_else(|_| panic!("no change of {conversation} after {seen:?}"))
            .expect("the stream ended");
        let done = event.0 == "message" && event.1["conversation_id"] == json!(conversation);
        seen.push(event);
        if done {
            return seen;
        }
    }
}

fn typing_events(events: &[(String, Value)]) -> Vec<Value> {
    events
        .iter()
        .filter(|(name, _)| name == "typing")
        .map(|(_, data)| data.clone())
        .collect()
}

async fn typing_reaches_those_who_see_the_conversation_and_no_one_else(b: Brand) {
    b.webhook(&messenger("2001", "a1", now_ms() - 60_000, "my tent leaks"))
        .await;
    let id = b.conversation_of("2001").await;
    let typist = b.person("ann@brand.example", 0).await;
    // On PostgreSQL the others are connected to the second instance.
    let colleague = b.person("bea@brand.example", 1).await;
    let billing = b.person("cal@brand.example", 1).await;
    let admin = b.person(ADMIN.1, 1).await;
    let (mut typist_rx, mut colleague_rx, mut billing_rx, mut admin_rx) = (
        stream(&typist).await,
        stream(&colleague).await,
        stream(&billing).await,
        stream(&admin).await,
    );
    let ann = b
        .store
        .person_by_email(
            server::store::PeopleOf::Account(b.account_id),
            "ann@brand.example",
        )
        .await
        .unwrap()
        .unwrap()
        .user;

    let typing = format!("/api/conversations/{id}/typing");
    let (status, body) = typist.post(&typing, json!({})).await;
    assert_eq!(status, 204, "{body}");
    // Said again while typing on (the server tells it at most every few seconds).
    let (status, _) = typist.post(&typing, json!({})).await;
    assert_eq!(status, 204);
    // The agent of another skill may not even say so.
    let (status, body) = billing.post(&typing, json!({})).await;
    assert_eq!(status, 404, "{body}");
    // A line stored after: everything published before it has reached every stream.
    b.webhook(&messenger("2001", "a2", now_ms(), "still there?"))
        .await;

    let expected = json!({"conversation_id": id, "agent": {"id": ann.id, "name": "Ann Agent"}});
    for (who, rx) in [
        ("a colleague", &mut colleague_rx),
        ("an admin", &mut admin_rx),
    ] {
        let seen = events_until_change(rx, id).await;
        let told = typing_events(&seen);
        assert!(
            !told.is_empty() && told.iter().all(|t| *t == expected),
            "{who}: {seen:?}"
        );
    }
    for (who, rx) in [
        ("the typist", &mut typist_rx),
        ("an agent of another skill", &mut billing_rx),
    ] {
        let seen = events_until_change(rx, id).await;
        assert!(typing_events(&seen).is_empty(), "{who} was told: {seen:?}");
    }

    // Nobody outside a session or without the CSRF token says it.
    let anonymous = Client::new(&b.servers[0].url);
    assert_eq!(anonymous.post(&typing, json!({})).await.0, 401);
    let mut forged = b.person("bea@brand.example", 0).await;
    forged.csrf = "forged".into();
    assert_eq!(forged.post(&typing, json!({})).await.0, 403);
}
