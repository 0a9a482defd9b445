//! The agent's tools through a real server, on the embedded database and on PostgreSQL:
//! canned responses (admins manage them in Home, agents read them, other brands never see
//! them), private notes (in the transcript, live, for the brand's people only, never sent
//! to the network nor exported) and search (by name, handle and text, within what the
//! person may see). The networks are the sandbox's, linked through the real calls.

use crate::common;

use common::client::Client;
use common::pg::PgDb;
use common::{ADMIN, TestServer};
use serde_json::{Value, json};
use server::store::Store;
use shared::Role;
use std::sync::Arc;
use std::time::Duration;

/// Each scenario as two tests, `NAME::sqlite` and `NAME::postgres`.
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(super::Desk::start(false).await).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name(super::Desk::start(true).await).await
            }
        }
    )*};
}

on_both!(
    canned_responses_are_the_brands_managed_by_its_admins,
    a_note_stays_inside_the_brand_and_reaches_no_network,
    search_finds_by_name_handle_and_text_within_what_one_may_see,
    notes_follow_a_facebook_person_whose_two_conversations_become_one,
);

/// The other brand, with a Facebook page of its own on the same sandbox.
const OTHER: &str = "7777";
const PASSWORD: &str = "pass-word-1";
const AGENT: &str = "agent@brand.example";
const AGENT2: &str = "agent2@brand.example";
const OTHER_ADMIN: &str = "admin@other.example";

/// A server on one engine with the sandbox's page and X account linked to the test brand,
/// another brand with a page of its own, and people: the admin, two agents answering the
/// `social` skill only, and the other brand's admin.
struct Desk {
    sb: sandbox::Sandbox,
    server: TestServer,
    store: Arc<dyn Store>,
    account_id: i64,
    page: sandbox::facebook::Page,
    other_page: sandbox::facebook::Page,
    agent_id: i64,
    _pg: Option<PgDb>,
}

impl Desk {
    async fn start(postgres: bool) -> Desk {
        let pg = if postgres {
            Some(PgDb::create().await)
        } else {
            None
        };
        let database_url = pg.as_ref().map(|p| p.url.clone());
        let (listener, url, sb) = common::sandbox_calling_back().await;
        let server_url = database_url.clone();
        let server = common::world::start_server_with(
            listener,
            tempfile::tempdir().unwrap(),
            &sb,
            move |a| a.store.database_url = server_url,
        )
        .await;
        let dir = server.data_dir.path();
        let store = server::store::open(database_url.as_deref(), dir)
            .await
            .unwrap();
        let linker = common::world::Linker::new(&sb, dir);
        store
            .ensure_account(OTHER, "Other brand", true)
            .await
            .unwrap();
        let page = sb.facebook.add_page("Acme Outdoor", "AcmeOutdoor");
        let other_page = sb.facebook.add_page("Other Shop", "OtherShop");
        for (account_number, p) in [(ADMIN.0, &page), (OTHER, &other_page)] {
            linker.link_page(store.as_ref(), account_number, p).await;
        }
        linker.link_x_brand(store.as_ref(), &sb, &url).await;
        let account_id = store.account_by_number(ADMIN.0).await.unwrap().unwrap().id;
        let other_id = store.account_by_number(OTHER).await.unwrap().unwrap().id;
        let social = store.ensure_skill(account_id, "social").await.unwrap();
        let mut agent_id = 0;
        for (account, email, role) in [
            (account_id, AGENT, Role::Agent),
            (account_id, AGENT2, Role::Agent),
            (other_id, OTHER_ADMIN, Role::Admin),
        ] {
            let name = email.split('@').next().unwrap();
            let user = server::auth::create_user(
                store.as_ref(),
                Some(account),
                email,
                name,
                role,
                PASSWORD,
            )
            .await
            .unwrap()
            .unwrap();
            if role == Role::Agent {
                store
                    .set_user_skills(user.id, false, &[social])
                    .await
                    .unwrap();
            }
            if email == AGENT {
                agent_id = user.id;
            }
        }
        Desk {
            sb,
            server,
            store,
            account_id,
            page,
            other_page,
            agent_id,
            _pg: pg,
        }
    }

    async fn admin(&self) -> Client {
        Client::sign_in(&self.server.url, ADMIN.0, ADMIN.1, ADMIN.2).await
    }

    async fn person(&self, account: &str, email: &str) -> Client {
        Client::sign_in(&self.server.url, account, email, PASSWORD).await
    }

    /// Waits until the brand has a conversation whose consumer is named `name` and whose
    /// lines hold `text`; its id.
    async fn conversation(&self, account_id: i64, name: &str, text: &str) -> i64 {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let found = self
                .store
                .export(account_id, i64::MIN)
                .await
                .unwrap()
                .into_iter()
                .find(|c| {
                    c.consumer.name.as_deref() == Some(name)
                        && c.messages.iter().any(|m| m.text == text)
                });
            if let Some(c) = found {
                return c.id;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no conversation with {name} saying {text:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn ids(found: &Value) -> Vec<i64> {
    found
        .as_array()
        .unwrap_or_else(|| panic!("a list: {found}"))
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect()
}

async fn search(who: &Client, q: &str) -> Vec<i64> {
    let q: String = url::form_urlencoded::byte_serialize(q.as_bytes()).collect();
    let (status, found) = who.get(&format!("/api/search?q={q}")).await;
    assert_eq!(status, 200, "{q}: {found}");
    ids(&found)
}

async fn canned_responses_are_the_brands_managed_by_its_admins(d: Desk) {
    let admin = d.admin().await;
    let agent = d.person(ADMIN.0, AGENT).await;
    let other = d.person(OTHER, OTHER_ADMIN).await;
    let greet = json!({
        "shortcut": "/Greet",
        "text": "Hi {{consumer.first_name}}, {{ agent.name }} here. How can I help?",
    });

    // Added: the shortcut as stored, lower-case and without its slash.
    let (status, added) = admin.post("/api/home/canned", greet.clone()).await;
    assert_eq!(status, 201, "{added}");
    assert_eq!(added["shortcut"], "greet");
    let id = added["id"].as_i64().unwrap();

    // One shortcut per account, whatever its case; only known, closed placeholders.
    let (status, dup) = admin
        .post(
            "/api/home/canned",
            json!({"shortcut": "GREET", "text": "Hello"}),
        )
        .await;
    assert_eq!(
        (status, dup["code"].as_str()),
        (409, Some("conflict")),
        "{dup}"
    );
    assert!(dup["message"].as_str().unwrap().contains("/greet"), "{dup}");
    for (body, says) in [
        (
            json!({"shortcut": "order", "text": "Your order {{order.id}} ships today"}),
            "unknown placeholder {{order.id}}",
        ),
        (
            json!({"shortcut": "order", "text": "Hi {{consumer.name"}),
            "not closed",
        ),
        (json!({"shortcut": "two words", "text": "Hi"}), "letters"),
        (json!({"shortcut": "order", "text": "  "}), "needs a text"),
    ] {
        let (status, e) = admin.post("/api/home/canned", body.clone()).await;
        assert_eq!(
            (status, e["code"].as_str()),
            (400, Some("bad_request")),
            "{body}"
        );
        assert!(e["message"].as_str().unwrap().contains(says), "{says}: {e}");
    }
    let (status, thanks) = admin
        .post(
            "/api/home/canned",
            json!({"shortcut": "thanks", "text": "Thank you, {{consumer.name}}!"}),
        )
        .await;
    assert_eq!(status, 201, "{thanks}");

    // Changed; renaming onto another's shortcut is the same conflict.
    let path = format!("/api/home/canned/{id}");
    let (status, changed) = admin
        .call(
            reqwest::Method::PUT,
            &path,
            Some(json!({"shortcut": "greet", "text": "Hello {{consumer.first_name}}!"})),
        )
        .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["text"], "Hello {{consumer.first_name}}!");
    let (status, e) = admin
        .call(
            reqwest::Method::PUT,
            &path,
            Some(json!({"shortcut": "thanks", "text": "Hi"})),
        )
        .await;
    assert_eq!(status, 409, "{e}");

    // The brand's agents read them, by shortcut, and change none.
    let (status, list) = agent.get("/api/canned").await;
    assert_eq!(status, 200);
    let shortcuts: Vec<_> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["shortcut"].as_str().unwrap())
        .collect();
    assert_eq!(shortcuts, ["greet", "thanks"]);
    assert_eq!(list[0]["text"], "Hello {{consumer.first_name}}!");
    let edit = json!({"shortcut": "greet", "text": "Agents rewrite it"});
    assert_eq!(agent.post("/api/home/canned", edit.clone()).await.0, 403);
    assert_eq!(
        agent
            .call(reqwest::Method::PUT, &path, Some(edit.clone()))
            .await
            .0,
        403
    );
    assert_eq!(
        agent.call(reqwest::Method::DELETE, &path, None).await.0,
        403
    );

    // Another brand sees none of them and reaches none by id; its own may reuse the name.
    assert_eq!(other.get("/api/canned").await, (200, json!([])));
    assert_eq!(
        other
            .call(reqwest::Method::PUT, &path, Some(edit.clone()))
            .await
            .0,
        404
    );
    assert_eq!(
        other.call(reqwest::Method::DELETE, &path, None).await.0,
        404
    );
    let (status, theirs) = other.post("/api/home/canned", greet.clone()).await;
    assert_eq!(status, 201, "{theirs}");
    assert_eq!(
        ids(&other.get("/api/canned").await.1),
        [theirs["id"].as_i64().unwrap()]
    );

    // Removed; the audit log tells who did what.
    assert_eq!(
        admin.call(reqwest::Method::DELETE, &path, None).await.0,
        204
    );
    assert_eq!(
        admin.call(reqwest::Method::DELETE, &path, None).await.0,
        404
    );
    let (_, list) = agent.get("/api/canned").await;
    assert_eq!(ids(&list), [thanks["id"].as_i64().unwrap()]);
    let (_, home) = admin.get("/api/home").await;
    let audit = home["audit"].to_string();
    for action in [
        "added canned response",
        "changed canned response",
        "removed canned response",
    ] {
        assert!(audit.contains(action), "{action}: {audit}");
    }
    assert!(audit.contains("/greet"), "{audit}");
}

/// The next `data:` line of an event stream, within `within`.
async fn next_event(res: &mut reqwest::Response, within: Duration) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + within;
    let mut buf = String::new();
    loop {
        let chunk = tokio::time::timeout_at(deadline, res.chunk()).await.ok()?;
        buf.push_str(&String::from_utf8_lossy(&chunk.ok()??));
        if let Some(line) = buf.lines().find_map(|l| l.strip_prefix("data:")) {
            return serde_json::from_str(line.trim()).ok();
        }
    }
}

async fn a_note_stays_inside_the_brand_and_reaches_no_network(d: Desk) {
    let ann = d.sb.facebook.add_consumer("Ann Lee", true);
    d.sb.facebook
        .consumer_message(&d.page, &ann, "Where is my order?", &[]);
    // Messenger names the person once the profile is fetched.
    let id = d
        .conversation(d.account_id, "Ann Lee", "Where is my order?")
        .await;
    let agent = d.person(ADMIN.0, AGENT).await;
    let agent2 = d.person(ADMIN.0, AGENT2).await;
    let (_, before) = agent.get(&format!("/api/conversations/{id}")).await;

    // A teammate's open page hears of the note live.
    let mut events = agent2
        .http
        .get(format!("{}/api/events", d.server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(events.status(), 200);

    let note = "VIP customer: refund approved by Sam, do not ask for the receipt again";
    let path = format!("/api/conversations/{id}/notes");
    let (status, written) = agent.post(&path, json!({"text": note})).await;
    assert_eq!(status, 201, "{written}");
    assert_eq!(written["text"], note);
    assert_eq!(written["author"]["name"], "agent");
    let event = next_event(&mut events, Duration::from_secs(20)).await;
    assert_eq!(event, Some(json!({"conversation_id": id})));

    // In the transcript of every one of the brand's people who see the conversation, as a
    // note beside the lines, never as one of them.
    let admin = d.admin().await;
    for who in [&agent, &agent2, &admin] {
        let (status, t) = who.get(&format!("/api/conversations/{id}")).await;
        assert_eq!(status, 200);
        let notes = t["notes"].as_array().unwrap();
        assert_eq!(notes.len(), 1, "{t}");
        assert_eq!(notes[0]["text"], note);
        assert_eq!(notes[0]["author"]["name"], "agent");
        assert_eq!(t["lines"], before["lines"], "the lines are as they were");
        assert_eq!(t["reply_facts"], before["reply_facts"]);
    }
    let (_, queue) = agent.get("/api/conversations?view=all").await;
    let item = queue
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap();
    assert_eq!(item["last"]["text"], "Where is my order?", "not the note");

    // Nothing goes out for it: no outbox row, and the reply written after it is the only
    // thing the page ever sends (replies go in the order written, so a note that had been
    // queued would have gone first).
    let now = server::auth::now_secs() * 1000;
    assert_eq!(d.store.outbox_backlog(now).await.unwrap().0, 0);
    let (status, reply) = agent
        .post(
            &format!("/api/conversations/{id}/replies"),
            json!({"text": "It ships today", "mode": "private"}),
        )
        .await;
    assert_eq!(status, 201, "{reply}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while d.sb.facebook.sent(&d.page).is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the reply never went"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let sent: Vec<String> =
        d.sb.facebook
            .sent(&d.page)
            .into_iter()
            .map(|s| match s {
                sandbox::facebook::Sent::Message(m) => m.text.unwrap_or_default(),
                sandbox::facebook::Sent::Comment(c) => c.message,
            })
            .collect();
    assert_eq!(sent, ["It ships today"]);
    // Nor did any call to either network carry it.
    let calls = format!("{:?}", d.sb.facebook.calls().all());
    assert!(!calls.contains("refund approved"), "{calls}");

    // Not in the export (the conversation with the consumer, CONTRACT.md §5).
    let export =
        serde_json::to_string(&d.store.export(d.account_id, i64::MIN).await.unwrap()).unwrap();
    assert!(export.contains("It ships today"));
    assert!(!export.contains("refund approved"), "{export}");

    // Only the brand's people who see the conversation write notes on it; a note says
    // something.
    let other = d.person(OTHER, OTHER_ADMIN).await;
    assert_eq!(other.post(&path, json!({"text": "hi"})).await.0, 404);
    // A teammate answering another skill only (the agent holds it now: they replied).
    let vip = d.store.ensure_skill(d.account_id, "vip").await.unwrap();
    let (_, me) = agent2.get("/api/session").await;
    let agent2_id = me["user_id"].as_i64().unwrap();
    d.store
        .set_user_skills(agent2_id, false, &[vip])
        .await
        .unwrap();
    assert_eq!(agent2.post(&path, json!({"text": "hi"})).await.0, 404);
    assert_eq!(agent2.get(&format!("/api/conversations/{id}")).await.0, 404);
    let (status, e) = agent.post(&path, json!({"text": "  "})).await;
    assert_eq!(
        (status, e["code"].as_str()),
        (400, Some("bad_request")),
        "{e}"
    );
    let (_, t) = agent.get(&format!("/api/conversations/{id}")).await;
    assert_eq!(t["notes"].as_array().unwrap().len(), 1);
}

async fn search_finds_by_name_handle_and_text_within_what_one_may_see(d: Desk) {
    let ann = d.sb.facebook.add_consumer("Ann Lee", true);
    d.sb.facebook
        .consumer_post(&d.page, &ann, "My tent zip broke on the first night", None);
    let ann_id = d
        .conversation(
            d.account_id,
            "Ann Lee",
            "My tent zip broke on the first night",
        )
        .await;
    let bo = d.sb.twitter.add_consumer("bo_diaz", "Bo Diaz");
    d.sb.twitter
        .consumer_tweet(&bo, "@acme is the 50% sale still on?", vec![]);
    let bo_id = d
        .conversation(d.account_id, "Bo Diaz", "@acme is the 50% sale still on?")
        .await;
    // Another brand's Ann, whose words match too.
    let other_ann = d.sb.facebook.add_consumer("Ann Lee", true);
    d.sb.facebook
        .consumer_post(&d.other_page, &other_ann, "A zip broke here too", None);
    let other_id = d.store.account_by_number(OTHER).await.unwrap().unwrap().id;
    let theirs = d
        .conversation(other_id, "Ann Lee", "A zip broke here too")
        .await;

    // Newest activity first: Bo's tweet and Ann's post carry the networks' own times.
    let latest = |id: i64| {
        let store = d.store.clone();
        async move {
            store
                .export(d.account_id, i64::MIN)
                .await
                .unwrap()
                .into_iter()
                .find(|c| c.id == id)
                .unwrap()
                .messages
                .iter()
                .map(|m| m.created_at.clone())
                .max()
                .unwrap()
        }
    };
    let newest_first = if (latest(bo_id).await, bo_id) > (latest(ann_id).await, ann_id) {
        [bo_id, ann_id]
    } else {
        [ann_id, bo_id]
    };

    let admin = d.admin().await;
    // By name, by handle with or without its @, by a line's words; any case.
    assert_eq!(search(&admin, "ann lee").await, [ann_id]);
    assert_eq!(search(&admin, "@bo_diaz").await, [bo_id]);
    assert_eq!(search(&admin, "BO_DI").await, [bo_id]);
    assert_eq!(search(&admin, "ZIP BROKE").await, [ann_id]);
    // LIKE's wildcards are taken as written.
    assert_eq!(search(&admin, "50%").await, [bo_id]);
    assert_eq!(search(&admin, "%").await, [bo_id]);
    assert_eq!(search(&admin, "_").await, [bo_id]);
    assert!(search(&admin, "nothing like this").await.is_empty());
    // Newest activity first, as queue items.
    assert_eq!(search(&admin, "e").await, newest_first);
    let (_, found) = admin.get("/api/search?q=tent").await;
    assert_eq!(found[0]["consumer_name"], "Ann Lee");
    assert_eq!(
        found[0]["last"]["text"],
        "My tent zip broke on the first night"
    );
    assert_eq!(found[0]["closed"], false);

    // Closed conversations are found too, marked closed.
    assert_eq!(
        admin
            .post(&format!("/api/conversations/{ann_id}/close"), Value::Null)
            .await
            .0,
        200
    );
    let (_, found) = admin.get("/api/search?q=tent").await;
    assert_eq!(
        (found[0]["id"].as_i64(), &found[0]["closed"]),
        (Some(ann_id), &json!(true))
    );

    // The other brand's admin finds only their own Ann.
    let other = d.person(OTHER, OTHER_ADMIN).await;
    assert_eq!(search(&other, "ann").await, [theirs]);
    assert!(search(&other, "bo_diaz").await.is_empty());

    // An agent finds only their skills' conversations and those handed to them.
    let agent = d.person(ADMIN.0, AGENT).await;
    assert_eq!(search(&agent, "e").await, newest_first);
    let vip = d.store.ensure_skill(d.account_id, "vip").await.unwrap();
    let (status, moved) = admin
        .post(
            &format!("/api/conversations/{bo_id}/transfer"),
            json!({"skill_id": vip}),
        )
        .await;
    assert_eq!(status, 200, "{moved}");
    assert!(search(&agent, "bo_diaz").await.is_empty());
    assert_eq!(search(&agent, "e").await, [ann_id]);
    let (status, handed) = admin
        .post(
            &format!("/api/conversations/{bo_id}/transfer"),
            json!({"agent_id": d.agent_id}),
        )
        .await;
    assert_eq!(status, 200, "{handed}");
    assert_eq!(search(&agent, "@bo_diaz").await, [bo_id]);
    let agent2 = d.person(ADMIN.0, AGENT2).await;
    assert!(search(&agent2, "bo_diaz").await.is_empty());

    // A search says what it searches for.
    for q in ["", "%20%20"] {
        let (status, e) = admin.get(&format!("/api/search?q={q}")).await;
        assert_eq!(
            (status, e["code"].as_str()),
            (400, Some("bad_request")),
            "{e}"
        );
    }
    let (status, _) = admin
        .get(&format!("/api/search?q={}", "x".repeat(201)))
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        Client::new(&d.server.url).get("/api/search?q=ann").await.0,
        401
    );
}

async fn notes_follow_a_facebook_person_whose_two_conversations_become_one(d: Desk) {
    use server::store::NewLink;
    use shared::inbound::{Change, ConsumerRef, InboundMessage};
    let store = d.store.as_ref();
    let skill = store.ensure_skill(d.account_id, "social").await.unwrap();
    let linked = store
        .link(NewLink {
            account_id: d.account_id,
            channel: shared::Channel::Facebook,
            network_id: "99887766",
            name: "Second page",
            token_sealed: vec![1],
            token_secret_sealed: None,
            skill_id: Some(skill),
            created_by: "test",
        })
        .await
        .unwrap();
    let line = |consumer: &str, id: &str, tag, at| InboundMessage {
        channel: shared::Channel::Facebook,
        brand_id: String::new(),
        consumer: ConsumerRef {
            network_id: consumer.into(),
            handle: None,
            name: Some("Ann Lee".into()),
        },
        network_id: id.into(),
        tag,
        from_brand: false,
        text: format!("line {id}"),
        media: vec![],
        links: vec![],
        created_at_ms: at,
        reply_to: None,
        change: Change::New,
    };
    let feed = store
        .ingest(
            &linked,
            &[line("ann-feed", "c1", shared::Tag::PublicComment, 1_000)],
            1_000,
        )
        .await
        .unwrap()
        .conversations[0];
    let messenger = store
        .ingest(
            &linked,
            &[line("ann-psid", "m1", shared::Tag::Private, 2_000)],
            2_000,
        )
        .await
        .unwrap()
        .conversations[0];
    let agent = d.agent_id;
    store
        .add_note(feed, agent, "seen on the feed", 1_500)
        .await
        .unwrap();
    store
        .add_note(messenger, agent, "seen in Messenger", 2_500)
        .await
        .unwrap();
    assert_eq!(
        store.learn_psid(feed, "ann-psid").await.unwrap(),
        Some(messenger)
    );
    let notes: Vec<String> = store
        .notes(feed)
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.text)
        .collect();
    assert_eq!(notes, ["seen on the feed", "seen in Messenger"]);
    let n = &store.notes(feed).await.unwrap()[1];
    assert_eq!(n.author.as_ref().map(|a| a.id), Some(agent));
    assert_eq!(n.created_at, "1970-01-01T00:00:02.500Z");
}
