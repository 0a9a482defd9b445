//! The LiveEngage connector end to end: a real server on loopback, the sandbox's Facebook
//! and LiveEngage pointed at it, on the embedded database and on PostgreSQL. A consumer's
//! lines become a LiveEngage conversation; the LiveEngage agent's messages come back
//! through the signed webhook as replies on Facebook, in the mode chosen for the
//! conversation; redeliveries store once; forged webhooks store nothing; an outage (and a
//! restart) delays lines without losing, doubling or reordering them; closing either side
//! closes the other; `socialconnect link liveengage` keeps the secret sealed.

use crate::common::{self, ADMIN, TestServer, pg::PgDb, world};
use sandbox::Sandbox;
use sandbox::common::Fault;
use sandbox::liveengage::{Conversation as LeConversation, endpoints};
use serde_json::{Value, json};
use server::crypto::TokenCipher;
use server::store::Store;
use server::store::prelude::*;
use std::sync::Arc;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

/// Each scenario as two tests, `NAME::sqlite` and `NAME::postgres`.
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(super::LeWorld::start(false).await).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name(super::LeWorld::start(true).await).await
            }
        }
    )*};
}

on_both!(
    a_facebook_comment_reaches_liveengage_and_the_agent_answers_in_the_chosen_mode,
    redelivered_webhooks_store_once_and_forged_ones_nothing,
    an_outage_delays_lines_without_losing_doubling_or_reordering_them,
    closing_either_side_closes_the_other,
    images_go_as_liveengage_files_and_other_media_as_links,
    a_folded_conversation_keeps_its_liveengage_conversation,
);

/// A server and the sandbox pointed at each other, the sandbox's page linked to the test
/// brand, the brand connected to the sandbox's LiveEngage (our skill `social` mapped to
/// LiveEngage skill 77), and its admin signed in.
struct LeWorld {
    sb: Sandbox,
    server: TestServer,
    store: Arc<dyn Store>,
    account_id: i64,
    page: sandbox::facebook::Page,
    agent: reqwest::Client,
    csrf: String,
    db_url: Option<String>,
    _pg: Option<PgDb>,
}

impl LeWorld {
    async fn start(postgres: bool) -> LeWorld {
        let pg = if postgres {
            Some(PgDb::create().await)
        } else {
            None
        };
        let db_url = pg.as_ref().map(|p| p.url.clone());
        let (listener, url, sb) = common::sandbox_calling_back().await;
        let server = Self::serve(listener, tempfile::tempdir().unwrap(), &sb, &db_url).await;
        let store = server::store::open(db_url.as_deref(), server.data_dir.path())
            .await
            .unwrap();
        let cipher = TokenCipher::load(None, server.data_dir.path()).unwrap();
        let http = reqwest::Client::new();
        let settings = server::config::ServeArgs::for_tests(server.data_dir.path().into());
        let mut fb = settings.facebook.clone();
        fb.facebook_app_secret = Some(sb.credentials.facebook_app_secret.clone());
        fb.facebook_graph_url = sb.facebook.graph_url();
        let page = sb.facebook.add_page("Acme Outdoor", "AcmeOutdoor");
        server::link::link_facebook(
            store.as_ref(),
            &cipher,
            &http,
            &fb,
            server::link::FacebookPage {
                account_number: ADMIN.0,
                page_id: &page.id,
                page_name: &page.username,
                page_token: &page.access_token,
                skill: "social",
                by: "test",
            },
        )
        .await
        .unwrap();
        let mut le = settings.liveengage.clone();
        le.liveengage_domain_url = sb.liveengage.domain_url();
        let c = &sb.credentials;
        server::link::link_liveengage(
            store.as_ref(),
            &cipher,
            &http,
            &le,
            server::link::LiveEngageApp {
                account_number: ADMIN.0,
                le_account_id: &c.liveengage_account_id,
                client_id: &c.liveengage_client_id,
                client_secret: &c.liveengage_client_secret,
                skill_map: Some(vec![("social".into(), "77".into())]),
                by: "test",
            },
        )
        .await
        .unwrap();
        let account_id = store.account_by_number(ADMIN.0).await.unwrap().unwrap().id;
        let (agent, csrf) = world::sign_in(&url).await;
        LeWorld {
            sb,
            server,
            store,
            account_id,
            page,
            agent,
            csrf,
            db_url,
            _pg: pg,
        }
    }

    async fn serve(
        listener: tokio::net::TcpListener,
        data: tempfile::TempDir,
        sb: &Sandbox,
        db_url: &Option<String>,
    ) -> TestServer {
        let (db, domain) = (db_url.clone(), sb.liveengage.domain_url());
        world::start_server_with(listener, data, sb, move |a| {
            a.store.database_url = db;
            a.liveengage.liveengage_domain_url = domain;
        })
        .await
    }

    /// Stops the server and starts it again on the same data and address.
    async fn restarted(self) -> LeWorld {
        let LeWorld {
            sb,
            server,
            store,
            account_id,
            page,
            agent,
            csrf,
            db_url,
            _pg,
        } = self;
        let addr = server.url.trim_start_matches("http://").to_owned();
        let data = server.stop().await;
        let listener = tokio::net::TcpListener::bind(&addr).await.unwrap();
        let server = Self::serve(listener, data, &sb, &db_url).await;
        LeWorld {
            sb,
            server,
            store,
            account_id,
            page,
            agent,
            csrf,
            db_url,
            _pg,
        }
    }

    /// Waits until the sandbox's LiveEngage has a conversation satisfying `pred`.
    async fn le(&self, what: &str, pred: impl Fn(&LeConversation) -> bool) -> LeConversation {
        match self.sb.liveengage.wait_for(WAIT, pred).await {
            Some(c) => c,
            None => panic!(
                "{what}: no such LiveEngage conversation; there are {:#?}; calls {:#?}",
                self.sb.liveengage.conversations(),
                self.sb
                    .liveengage
                    .calls()
                    .all()
                    .into_iter()
                    .filter(|c| c.network == "liveengage")
                    .map(|c| (c.method, c.path, c.status))
                    .collect::<Vec<_>>()
            ),
        }
    }

    /// Our conversation behind a LiveEngage conversation.
    async fn ours(&self, le_id: &str) -> i64 {
        self.store
            .le_dialog(le_id)
            .await
            .unwrap()
            .expect("a LiveEngage conversation we opened")
            .conversation_id
    }

    /// Our conversation's lines as `socialconnect export` writes them.
    async fn lines(&self, conversation: i64) -> Vec<Value> {
        self.store
            .export(self.account_id, i64::MIN)
            .await
            .unwrap()
            .into_iter()
            .map(|c| serde_json::to_value(c).unwrap())
            .find(|c| c["id"] == conversation)
            .map(|c| c["messages"].as_array().unwrap().clone())
            .unwrap_or_default()
    }

    /// Waits until our line with `text` is sent; returns it.
    async fn sent(&self, conversation: i64, text: &str) -> Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let lines = self.lines(conversation).await;
            if let Some(l) = lines
                .iter()
                .find(|l| l["text"] == text && l["status"] == "sent")
            {
                return l.clone();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{text:?} never sent; lines {lines:#?}; Facebook's last calls {:#?}",
                self.sb
                    .facebook
                    .calls()
                    .all()
                    .into_iter()
                    .filter(|c| c.network == "facebook")
                    .rev()
                    .take(3)
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn host_mode(&self, conversation: i64, mode: &str) {
        let res = self
            .agent
            .put(format!(
                "{}/api/conversations/{conversation}/host-mode",
                self.server.url
            ))
            .header("x-csrf-token", &self.csrf)
            .json(&json!({"mode": mode}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    }

    /// Posts a LiveEngage notification as LiveEngage would, with `headers`.
    async fn post_webhook(&self, body: &str, headers: &[(&str, String)]) -> u16 {
        let mut req = reqwest::Client::new()
            .post(format!("{}/webhooks/liveengage", self.server.url))
            .header("content-type", "application/json")
            .body(body.to_owned());
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        req.send().await.unwrap().status().as_u16()
    }
}

/// The texts of a LiveEngage conversation's lines, in order.
fn le_texts(c: &LeConversation) -> Vec<String> {
    c.lines.iter().filter_map(|l| l.text.clone()).collect()
}

/// Polls `check` until it holds.
async fn eventually(what: &str, check: impl AsyncFn() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn a_facebook_comment_reaches_liveengage_and_the_agent_answers_in_the_chosen_mode(
    w: LeWorld,
) {
    let fb = &w.sb.facebook;
    let ann = fb.add_consumer("Ann Lee", true);
    let post = fb.consumer_post(&w.page, &ann, "The zip broke", None);
    // Facebook's webhooks may cross: the comment is written once the post is through.
    w.le("the post", |c| le_texts(c).len() == 1).await;
    let comment = fb
        .consumer_comment(&w.page, &post, &ann, "Can you help?")
        .unwrap();
    let c = w.le("the comment", |c| le_texts(c).len() == 2).await;
    assert_eq!(
        le_texts(&c),
        [
            "[Public/Post] The zip broke",
            "[Public/Comment] Can you help?"
        ]
    );
    assert_eq!(
        c.skill_id.as_deref(),
        Some("77"),
        "our skill social, mapped"
    );
    assert_eq!(c.sdes[1]["personal"]["firstname"], "Ann");
    let ours = w.ours(&c.id).await;

    // Where the consumer last wrote (a comment): a public reply under it.
    w.sb.liveengage
        .agent_says(&c.id, "Sorry about that!\n")
        .unwrap();
    w.sent(ours, "Sorry about that!").await;
    let reply = fb
        .comments(&post)
        .into_iter()
        .find(|x| x.message == "Sorry about that!")
        .expect("a comment on Facebook");
    assert_eq!(reply.from.id, w.page.id);
    assert_eq!(reply.parent_id, comment, "under the consumer's comment");

    // The agent switches to Private Response: a private reply to the comment.
    w.host_mode(ours, "private_response").await;
    w.sb.liveengage
        .agent_says(&c.id, "DMing you the label")
        .unwrap();
    w.sent(ours, "DMing you the label").await;
    let inbox = fb.inbox(&w.page, &ann);
    let pr = inbox
        .iter()
        .find(|m| m.text.as_deref() == Some("DMing you the label"))
        .expect("a Messenger message");
    assert_eq!(pr.private_reply_to.as_deref(), Some(comment.as_str()));

    // Ann answers in Messenger: the same conversation, the same LiveEngage conversation.
    fb.consumer_message(&w.page, &ann, "Thanks, got it", &[]);
    let c = w
        .le("Ann's Messenger line", |x| {
            x.id == c.id && le_texts(x).contains(&"[Private] Thanks, got it".to_owned())
        })
        .await;
    assert_eq!(c.lines.len(), 5, "{:?}", le_texts(&c));
    // The agent chooses Private: a Messenger message.
    w.host_mode(ours, "private").await;
    w.sb.liveengage.agent_says(&c.id, "You're welcome").unwrap();
    w.sent(ours, "You're welcome").await;
    let msg = fb
        .inbox(&w.page, &ann)
        .into_iter()
        .find(|m| m.text.as_deref() == Some("You're welcome"))
        .expect("a Messenger message");
    assert!(msg.from_page && msg.private_reply_to.is_none());
    // Our transcript shows the agent's replies, tagged as they went; none went back to
    // LiveEngage as the consumer's.
    let tags: Vec<(String, String)> = w
        .lines(ours)
        .await
        .iter()
        .filter(|l| l["direction"] == "out")
        .map(|l| {
            (
                l["tag"].as_str().unwrap().into(),
                l["text"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        tags,
        [
            ("Public/Comment".to_owned(), "Sorry about that!".to_owned()),
            ("Private".into(), "DMing you the label".into()),
            ("Private".into(), "You're welcome".into()),
        ]
    );
    let consumers: Vec<String> =
        w.sb.liveengage
            .conversation(&c.id)
            .unwrap()
            .lines
            .into_iter()
            .filter(|l| l.role == sandbox::liveengage::Role::Consumer)
            .filter_map(|l| l.text)
            .collect();
    assert_eq!(
        consumers,
        [
            "[Public/Post] The zip broke",
            "[Public/Comment] Can you help?",
            "[Private] Thanks, got it"
        ]
    );
    // The widget finds our conversation and its mode from LiveEngage's id.
    let host: Value = w
        .agent
        .get(format!(
            "{}/api/liveengage/conversations/{}",
            w.server.url, c.id
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        host,
        json!({"conversation_id": ours, "mode": "private", "chosen": true})
    );
    w.server.stop().await;
}

async fn redelivered_webhooks_store_once_and_forged_ones_nothing(w: LeWorld) {
    let fb = &w.sb.facebook;
    let bo = fb.add_consumer("Bo Chen", true);
    fb.consumer_message(&w.page, &bo, "Is the tent waterproof?", &[]);
    let c = w
        .le("Bo's message", |c| {
            le_texts(c) == ["[Private] Is the tent waterproof?"]
        })
        .await;
    let ours = w.ours(&c.id).await;

    // Default: Bo last wrote in private, so the reply goes to Messenger.
    let seq = w.sb.liveengage.agent_says(&c.id, "Yes, fully").unwrap();
    w.sent(ours, "Yes, fully").await;
    // LiveEngage delivers the same notification again (its answer was late, say).
    let accepted = |body: &str| {
        w.sb.liveengage
            .webhooks()
            .deliveries()
            .iter()
            .filter(|d| d.network == "liveengage" && d.body == body && d.status == Some(200))
            .count()
    };
    let body =
        w.sb.liveengage
            .webhooks()
            .deliveries()
            .into_iter()
            .find(|d| d.network == "liveengage" && d.body.contains("Yes, fully"))
            .unwrap()
            .body;
    w.sb.liveengage.deliver_again(&c.id, seq).unwrap();
    eventually("the redelivery accepted", async || accepted(&body) == 2).await;
    let once = |lines: &[Value], text: &str| lines.iter().filter(|l| l["text"] == text).count();
    assert_eq!(once(&w.lines(ours).await, "Yes, fully"), 1);
    let sent_to_bo = fb
        .inbox(&w.page, &bo)
        .into_iter()
        .filter(|m| m.text.as_deref() == Some("Yes, fully"))
        .count();
    assert_eq!(sent_to_bo, 1, "Bo got it once");

    // Forged notifications: refused, nothing stored.
    let account = &w.sb.credentials.liveengage_account_id;
    let note = |text: &str, sequence: u64| {
        json!({"kind": "notification", "type": "ms.MessagingEventNotification",
            "body": {"changes": [{"sequence": sequence, "originatorId": "x",
                "originatorMetadata": {"id": "x", "role": "ASSIGNED_AGENT"},
                "serverTimestamp": 1, "dialogId": c.id, "conversationId": c.id,
                "event": {"type": "ContentEvent", "contentType": "text/plain",
                          "message": text}}]}})
        .to_string()
    };
    let forged = note("forged reply", 90);
    let mut headers =
        w.sb.liveengage
            .signature_headers(account, forged.as_bytes());
    let good_signature = headers[2].1.clone();
    headers[2].1 = "sha1=AAAAAAAAAAAAAAAAAAAAAAAAAAA=".into();
    let headers: Vec<(&str, String)> = headers.into_iter().collect();
    assert_eq!(
        w.post_webhook(&forged, &headers).await,
        403,
        "a bad signature"
    );
    assert_eq!(
        w.post_webhook(&forged, &headers[..2]).await,
        401,
        "no signature"
    );
    // The signature of another body, and an app no brand is connected to.
    let other = note("signed reply", 91);
    assert_eq!(
        w.post_webhook(
            &other,
            &[
                ("x-liveperson-account-id", account.clone()),
                (
                    "x-liveperson-client-id",
                    w.sb.credentials.liveengage_client_id.clone()
                ),
                ("x-liveperson-signature", good_signature.clone()),
            ]
        )
        .await,
        403
    );
    let mut strangers =
        w.sb.liveengage
            .signature_headers(account, forged.as_bytes());
    strangers[1].1 = "another-app".into();
    assert_eq!(w.post_webhook(&forged, &strangers).await, 403);
    // Signed by LiveEngage's app: taken.
    let signed = w.sb.liveengage.signature_headers(account, other.as_bytes());
    assert_eq!(w.post_webhook(&other, &signed).await, 200);
    w.sent(ours, "signed reply").await;
    let lines = w.lines(ours).await;
    assert_eq!(once(&lines, "forged reply"), 0, "{lines:#?}");
    assert!(
        !fb.inbox(&w.page, &bo)
            .iter()
            .any(|m| m.text.as_deref() == Some("forged reply"))
    );
    w.server.stop().await;
}

/// How many SEND calls LiveEngage answered with `status`.
fn sends(sb: &Sandbox, status: u16) -> usize {
    sb.liveengage
        .calls()
        .all()
        .iter()
        .filter(|c| c.path.ends_with("/conversation/send") && c.status == status)
        .count()
}

async fn an_outage_delays_lines_without_losing_doubling_or_reordering_them(w: LeWorld) {
    let cy = w.sb.facebook.add_consumer("Cy Diaz", true);
    w.sb.facebook.consumer_message(&w.page, &cy, "m0", &[]);
    let c = w
        .le("the first line", |c| le_texts(c) == ["[Private] m0"])
        .await;
    let ours = w.ours(&c.id).await;

    // LiveEngage fails: two 5xx, then (once they are used up) a rate limit.
    w.sb.liveengage
        .faults()
        .inject("liveengage", endpoints::SEND, Fault::ServerError(503), 2);
    // One after the other, as Cy writes them (Facebook's webhooks may cross otherwise).
    for n in 1..=4 {
        w.sb.facebook
            .consumer_message(&w.page, &cy, &format!("m{n}"), &[]);
        eventually("our line stored", async || {
            w.lines(ours).await.len() == n + 1
        })
        .await;
    }
    eventually("the first refusal", async || sends(&w.sb, 503) >= 1).await;
    // The server goes down mid-outage and comes back: what waits is still waiting.
    let w = w.restarted().await;
    eventually("the second refusal", async || sends(&w.sb, 503) == 2).await;
    w.sb.liveengage.faults().inject(
        "liveengage",
        endpoints::SEND,
        Fault::RateLimited {
            retry_after: Duration::from_secs(1),
        },
        1,
    );
    let all: Vec<String> = (0..=4).map(|n| format!("[Private] m{n}")).collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let now = le_texts(&w.sb.liveengage.conversation(&c.id).unwrap());
        if now.len() >= all.len() {
            assert_eq!(now, all, "once each, in order");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "only {now:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        (sends(&w.sb, 503), sends(&w.sb, 429)),
        (2, 1),
        "the outage happened as planned"
    );
    assert_eq!(
        w.sb.liveengage.conversations().len(),
        1,
        "no second conversation"
    );
    w.server.stop().await;
}

async fn closing_either_side_closes_the_other(w: LeWorld) {
    let fb = &w.sb.facebook;
    let di = fb.add_consumer("Di Park", true);
    fb.consumer_message(&w.page, &di, "hello", &[]);
    let first = w
        .le("Di's line", |c| le_texts(c) == ["[Private] hello"])
        .await;
    let ours = w.ours(&first.id).await;
    let status = async || {
        w.store
            .conversation_info(ours)
            .await
            .unwrap()
            .map(|i| serde_json::to_value(i.status).unwrap())
    };

    // The LiveEngage agent closes: ours closes.
    w.sb.liveengage.agent_closes(&first.id).unwrap();
    eventually("ours closed", async || {
        status().await == Some(json!("closed"))
    })
    .await;

    // Di writes again: ours reopens, in a new LiveEngage conversation.
    fb.consumer_message(&w.page, &di, "one more thing", &[]);
    let second = w
        .le("Di's new line", |c| {
            le_texts(c) == ["[Private] one more thing"]
        })
        .await;
    assert_ne!(second.id, first.id);
    assert!(second.open);
    assert_eq!(w.ours(&second.id).await, ours);
    assert_eq!(status().await, Some(json!("open")));

    // Our agent closes: LiveEngage's closes, and its notification of that closes nothing
    // else here.
    let res = w
        .agent
        .post(format!("{}/api/conversations/{ours}/close", w.server.url))
        .header("x-csrf-token", &w.csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    w.le("the close passed on", |c| c.id == second.id && !c.open)
        .await;
    eventually("LiveEngage's close notification taken", async || {
        w.sb.liveengage.delivered_webhooks().iter().any(|v| {
            v["type"] == "cqm.ExConversationChangeNotification"
                && v["body"]["changes"][0]["result"]["convId"] == second.id.as_str()
                && v["body"]["changes"][0]["result"]["conversationDetails"]["state"] == "CLOSE"
        })
    })
    .await;
    assert_eq!(status().await, Some(json!("closed")));
    assert_eq!(w.sb.liveengage.conversations().len(), 2);
    w.server.stop().await;
}

async fn images_go_as_liveengage_files_and_other_media_as_links(w: LeWorld) {
    use sandbox::facebook::MediaKind;
    let fb = &w.sb.facebook;
    let eve = fb.add_consumer("Eve Moss", true);
    fb.consumer_message(&w.page, &eve, "look", &[MediaKind::Image, MediaKind::File]);
    let c = w.le("Eve's line", |c| c.lines.len() == 2).await;
    let sent = fb.inbox(&w.page, &eve)[0].attachments.clone();
    let (image, file) = (&sent[0].url, &sent[1].url);
    assert_eq!(
        c.lines[0].text.as_deref(),
        Some(format!("[Private] look\nfile: {file}").as_str()),
        "the text, then the file as a link"
    );
    let shared = c.lines[1].file.clone().expect("the image as a file");
    assert_eq!(shared.caption.as_deref(), Some("[Private]"));
    assert_eq!(shared.file_type, "PNG");
    let (_, bytes) = w.sb.liveengage.file(&shared.relative_path).unwrap();
    assert_eq!(bytes, fb.media(image).unwrap().1, "our copy of the image");
    w.server.stop().await;
}

/// Fay wrote in Messenger, then commented; a Private Response to the comment tells
/// Facebook's two ids of hers apart no more, and her Messenger conversation is folded into
/// the comment's. An agent answering in the Messenger one's LiveEngage conversation still
/// reaches her.
async fn a_folded_conversation_keeps_its_liveengage_conversation(w: LeWorld) {
    let fb = &w.sb.facebook;
    let fay = fb.add_consumer("Fay Ito", true);
    fb.consumer_message(&w.page, &fay, "Are you open Sunday?", &[]);
    let messenger = w
        .le("Fay's message", |c| {
            le_texts(c) == ["[Private] Are you open Sunday?"]
        })
        .await;
    fb.consumer_post(&w.page, &fay, "Great shop", None);
    let feed = w
        .le("Fay's post", |c| {
            le_texts(c) == ["[Public/Post] Great shop"]
        })
        .await;
    let ours = w.ours(&feed.id).await;
    w.host_mode(ours, "private_response").await;
    w.sb.liveengage
        .agent_says(&feed.id, "Thank you, Fay!")
        .unwrap();
    w.sent(ours, "Thank you, Fay!").await;
    let deadline = tokio::time::Instant::now() + WAIT;
    while w.ours(&messenger.id).await != ours {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not folded: {:#?}",
            w.store.export(w.account_id, i64::MIN).await.unwrap()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Her Messenger line is ours now: a private reply goes to Messenger.
    w.host_mode(ours, "private").await;
    w.sb.liveengage
        .agent_says(&messenger.id, "Yes, 10 to 4")
        .unwrap();
    w.sent(ours, "Yes, 10 to 4").await;
    assert!(
        fb.inbox(&w.page, &fay)
            .iter()
            .any(|m| m.from_page && m.text.as_deref() == Some("Yes, 10 to 4"))
    );
    w.server.stop().await;
}

/// `socialconnect link liveengage` connects the brand with a server running on the same
/// data (and without): the secret is stored sealed, never in the clear, and Home shows the
/// connection without it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_liveengage_keeps_the_secret_sealed() {
    let (listener, url, sb) = common::sandbox_calling_back().await;
    let server =
        world::start_server_with(listener, tempfile::tempdir().unwrap(), &sb, |_| {}).await;
    let c = &sb.credentials;
    let link = |secret: &str| {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_socialconnect"))
            .args(["link", "liveengage", "--account", ADMIN.0])
            .args(["--le-account", &c.liveengage_account_id])
            .args(["--client-id", &c.liveengage_client_id])
            .args(["--client-secret", secret])
            .env("SOCIALCONNECT_DATA_DIR", server.data_dir.path())
            .env(
                "SOCIALCONNECT_LIVEENGAGE_DOMAIN_URL",
                sb.liveengage.domain_url(),
            )
            .env_remove("SOCIALCONNECT_DATABASE_URL")
            .env_remove("SOCIALCONNECT_SECRET_KEY")
            .output()
    };
    // Credentials LiveEngage refuses are not kept.
    let out = link("not-the-secret").await.unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("LiveEngage did not accept the app"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    let out = link(&c.liveengage_client_secret).await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Nowhere in the database's files in the clear.
    let secret = c.liveengage_client_secret.as_bytes();
    let mut files = 0;
    for entry in std::fs::read_dir(server.data_dir.path()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("socialconnect.db") {
            files += 1;
            let bytes = std::fs::read(&path).unwrap();
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret),
                "the secret is readable in {name}"
            );
        }
    }
    assert!(files >= 1);
    // Sealed with the data dir's key.
    let store = server::store::SqliteStore::open(server.data_dir.path())
        .await
        .unwrap();
    let account = store.account_by_number(ADMIN.0).await.unwrap().unwrap();
    let stored = store.le_link(account.id).await.unwrap().unwrap();
    let cipher = TokenCipher::load(None, server.data_dir.path()).unwrap();
    assert_eq!(
        cipher.open(&stored.client_secret_sealed).unwrap(),
        c.liveengage_client_secret
    );
    // Home shows it, without the secret.
    let (admin, _) = world::sign_in(&url).await;
    let res = admin
        .get(format!("{url}/api/home/liveengage"))
        .send()
        .await
        .unwrap();
    let text = res.text().await.unwrap();
    let home: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(home["configured"], true);
    assert_eq!(home["client_id"], c.liveengage_client_id.as_str());
    assert_eq!(home["webhook_url"], format!("{url}/webhooks/liveengage"));
    assert!(!text.contains(&c.liveengage_client_secret));
    server.stop().await;
}

/// Home's LiveEngage section: saved only with credentials LiveEngage takes, the secret
/// kept when left empty, a skill map of names and ids, removed on request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn home_connects_changes_and_disconnects_liveengage() {
    let (listener, url, sb) = common::sandbox_calling_back().await;
    let domain = sb.liveengage.domain_url();
    let server = world::start_server_with(listener, tempfile::tempdir().unwrap(), &sb, |a| {
        a.liveengage.liveengage_domain_url = domain
    })
    .await;
    let (admin, csrf) = world::sign_in(&url).await;
    let c = &sb.credentials;
    let put = |body: Value| {
        admin
            .put(format!("{url}/api/home/liveengage"))
            .header("x-csrf-token", &csrf)
            .json(&body)
            .send()
    };
    let ids = json!({"le_account_id": c.liveengage_account_id,
                     "client_id": c.liveengage_client_id});
    let with = |extra: Value| {
        let mut b = ids.clone();
        b.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        b
    };
    // No secret yet, a wrong one, a bad skill map: refused.
    assert_eq!(
        put(with(json!({"skills": ""}))).await.unwrap().status(),
        400
    );
    assert_eq!(
        put(with(json!({"client_secret": "wrong", "skills": ""})))
            .await
            .unwrap()
            .status(),
        400
    );
    assert_eq!(
        put(with(
            json!({"client_secret": c.liveengage_client_secret, "skills": "social"})
        ))
        .await
        .unwrap()
        .status(),
        400
    );
    let res = put(with(
        json!({"client_secret": c.liveengage_client_secret, "skills": "social=77"}),
    ))
    .await
    .unwrap();
    assert_eq!(res.status(), 200);
    let saved: Value = res.json().await.unwrap();
    assert_eq!(saved["configured"], true);
    assert_eq!(saved["skills"], "social=77");
    // Changed without giving the secret again: the stored one still works.
    let res = put(with(json!({"skills": "social=78, vip=9"})))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.json::<Value>().await.unwrap()["skills"],
        "social=78, vip=9"
    );
    let res = admin
        .delete(format!("{url}/api/home/liveengage"))
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let home: Value = admin
        .get(format!("{url}/api/home/liveengage"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(home["configured"], false);
    server.stop().await;
}
