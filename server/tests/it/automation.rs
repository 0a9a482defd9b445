//! Automation against the sandbox networks: the built-in bot answers a Messenger
//! conversation and never a public comment, says the away message outside opening hours
//! (on a clock the test sets), hands over by phrase into the agents' queue with its lines
//! marked as the bot's, an external bot on loopback answers through the bot API and hands
//! over when it times out, errs or is late, and a survey answer is recorded and exported.

use crate::common;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use common::world::{World, texts};
use serde_json::{Value, json};
use server::automation::Clock;
use server::store::prelude::*;
use server::store::{BotPhase, LinkStatus};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Waits (polling, bounded) until `check` gives `Some`.
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never happened: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl World {
    /// The linked account id of the channel, from the admin API.
    async fn linked(&self, channel: &str) -> i64 {
        let list: Value = self
            .agent
            .get(format!("{}/api/automation", self.server.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        list.as_array()
            .unwrap()
            .iter()
            .find(|a| a["channel"] == channel)
            .unwrap_or_else(|| panic!("no {channel} account in {list}"))["linked_account_id"]
            .as_i64()
            .unwrap()
    }

    async fn automate(&self, channel: &str, settings: Value) -> Value {
        let id = self.linked(channel).await;
        let res = self
            .agent
            .put(format!("{}/api/automation/{id}", self.server.url))
            .header("x-csrf-token", &self.csrf)
            .json(&settings)
            .send()
            .await
            .unwrap();
        let status = res.status();
        let body: Value = res.json().await.unwrap();
        assert_eq!(status, 200, "{body}");
        body
    }

    /// The open conversations in a queue view, as the signed-in admin sees them.
    async fn queue(&self, view: &str) -> Vec<i64> {
        let items: Value = self
            .agent
            .get(format!("{}/api/conversations?view={view}", self.server.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        items
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_i64().unwrap())
            .collect()
    }

    async fn export_of(&self, id: i64) -> Value {
        let all = self.store.export(self.account_id, i64::MIN).await.unwrap();
        serde_json::to_value(all.into_iter().find(|c| c.id == id).unwrap()).unwrap()
    }

    /// The page's Messenger lines to `consumer`, in order.
    fn page_said(&self, consumer: &sandbox::facebook::Consumer) -> Vec<String> {
        self.sb
            .facebook
            .inbox(&self.page, consumer)
            .into_iter()
            .filter(|m| m.from_page)
            .filter_map(|m| m.text)
            .collect()
    }

    async fn phase(&self, id: i64) -> Option<BotPhase> {
        self.store
            .bot_context(id)
            .await
            .unwrap()
            .and_then(|c| c.state)
            .map(|s| s.phase)
    }

    /// Serves `app` on loopback as the page's external bot and makes the bot's credentials;
    /// the URL of its `/events` route, and the credentials.
    async fn external_bot(&self, app: axum::Router) -> (String, Value) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/events", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let fb = self.linked("facebook").await;
        let (status, creds) = self
            .post(&format!("/api/automation/{fb}/credentials"), json!({}))
            .await;
        assert_eq!(status, 200, "{creds}");
        (url, creds)
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let res = self
            .agent
            .post(format!("{}{path}", self.server.url))
            .header("x-csrf-token", &self.csrf)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }
}

/// The export's lines as (author, text).
fn lines(c: &Value) -> Vec<(String, String)> {
    c["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["author"].as_str().unwrap().to_owned(),
                m["text"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

const GREETING: &str = "Hi, this is Acme's assistant.";
const TRACK: &str = "Track your order at acme.example/track";

fn builtin(extra: Value) -> Value {
    let mut s = json!({
        "enabled": true,
        "bot": "builtin",
        "greeting": GREETING,
        "away_message": "We are closed now; a person answers from 09:00 Paris time.",
        "rules": [{"phrases": ["order", "where is"], "answer": TRACK}],
    });
    for (k, v) in extra.as_object().unwrap() {
        s[k] = v.clone();
    }
    s
}

#[tokio::test]
async fn the_builtin_bot_answers_a_dm_and_never_a_public_comment() {
    let w = World::start().await;
    let saved = w.automate("facebook", builtin(json!({}))).await;
    assert_eq!(saved["settings"]["enabled"], true);
    assert_eq!(saved["settings"]["handover_phrase"], "agent");

    let ann = w.sb.facebook.add_consumer("Ann Lee", true);
    w.sb.facebook
        .consumer_message(&w.page, &ann, "Where is my order?", &[]);
    let said = eventually("the bot's answer reaches Messenger", || async {
        let said = w.page_said(&ann);
        (said.len() >= 2).then_some(said)
    })
    .await;
    assert_eq!(said, [GREETING, TRACK]);
    let (conv, _) = w
        .conversation(|c| texts(c).contains(&"Where is my order?".to_owned()))
        .await;
    let c = eventually("the bot's lines are sent", || async {
        let c = w.export_of(conv).await;
        let sent = c["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["author"] == "bot" && m["status"] == "sent")
            .count();
        (sent == 2).then_some(c)
    })
    .await;
    assert_eq!(
        lines(&c),
        [
            ("consumer".into(), "Where is my order?".into()),
            ("bot".into(), GREETING.into()),
            ("bot".into(), TRACK.into()),
        ]
    );
    assert!(c["messages"][1]["network_id"].is_string(), "{c}");
    assert_eq!(w.phase(conv).await, Some(BotPhase::Bot));
    assert!(
        !w.queue("all").await.contains(&conv),
        "the bot's conversation is not in the agents' queue"
    );

    // Another consumer comments in public: no bot answers, people see it.
    let bob = w.sb.facebook.add_consumer("Bob Ray", true);
    let post =
        w.sb.facebook
            .consumer_post(&w.page, &bob, "Where is my order? Nobody answers!", None);
    let (public, _) = w
        .conversation(|c| texts(c).iter().any(|t| t.contains("Nobody answers")))
        .await;
    eventually("the bot has looked at the public line", || async {
        let ctx = w.store.bot_context(public).await.unwrap().unwrap();
        ctx.state
            .filter(|s| s.last_line_id >= ctx.latest_line_id && ctx.latest_line_id > 0)
    })
    .await;
    assert_eq!(w.phase(public).await, Some(BotPhase::Idle));
    let c = w.export_of(public).await;
    assert!(
        lines(&c).iter().all(|(author, _)| author == "consumer"),
        "{c}"
    );
    assert!(
        w.sb.facebook.comments(&post).is_empty(),
        "nothing public was written"
    );
    assert!(w.queue("new").await.contains(&public));

    // On X a DM and a mention come from one user id, so one conversation: the consumer
    // the bot is talking to goes public, and that is for people.
    w.automate("twitter", builtin(json!({}))).await;
    let cat = w.sb.twitter.add_consumer("cat", "Cat Sun");
    w.sb.twitter
        .consumer_dm(&cat, &w.brand.id, "where is my parcel", None)
        .unwrap();
    let (x_conv, _) = w
        .conversation(|c| texts(c).contains(&"where is my parcel".to_owned()))
        .await;
    eventually("the bot answers the DM on X", || async {
        let dms = w.sb.twitter.dm_conversation(&cat.id, &w.brand.id);
        (dms.iter().filter(|d| d.sender_id == w.brand.id).count() == 2).then_some(())
    })
    .await;
    let tweet =
        w.sb.twitter
            .consumer_tweet(&cat, "@acme where is my order??", vec![]);
    eventually(
        "a public line hands the bot's conversation over",
        || async { (w.phase(x_conv).await == Some(BotPhase::People)).then_some(()) },
    )
    .await;
    assert!(w.queue("new").await.contains(&x_conv));
    assert_eq!(w.sb.twitter.thread(&tweet).len(), 1, "no public answer");
    let c = w.export_of(x_conv).await;
    let bot_lines: Vec<&Value> = c["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["author"] == "bot")
        .collect();
    assert_eq!(bot_lines.len(), 2, "{c}");
    assert!(bot_lines.iter().all(|m| m["tag"] == "Private"));
}

#[tokio::test]
async fn the_away_message_outside_opening_hours_on_the_accounts_clock() {
    // Sunday 2026-11-29 12:00 UTC.
    let clock = Clock::manual(1_795_953_600_000);
    let c2 = clock.clone();
    let w = World::start_adjusted(move |a| a.clock = c2).await;
    let hours: Vec<Value> = ["mon", "tue", "wed", "thu", "fri"]
        .iter()
        .map(|d| json!({"day": d, "open": "09:00", "close": "17:00"}))
        .collect();
    w.automate(
        "facebook",
        builtin(json!({"time_zone": "Europe/Paris", "hours": hours})),
    )
    .await;

    let ann = w.sb.facebook.add_consumer("Ann Lee", true);
    w.sb.facebook.consumer_message(&w.page, &ann, "hello?", &[]);
    let said = eventually("the away message", || async {
        let s = w.page_said(&ann);
        (!s.is_empty()).then_some(s)
    })
    .await;
    assert_eq!(
        said,
        ["We are closed now; a person answers from 09:00 Paris time."]
    );
    let (conv, _) = w
        .conversation(|c| texts(c).contains(&"hello?".to_owned()))
        .await;
    eventually("closed: the conversation waits for people", || async {
        (w.phase(conv).await == Some(BotPhase::People)).then_some(())
    })
    .await;
    assert!(w.queue("new").await.contains(&conv));

    // Monday 2026-11-30 09:30 in Paris (08:30 UTC): open, so the greeting.
    clock.set(1_796_027_400_000);
    let bob = w.sb.facebook.add_consumer("Bob Ray", true);
    w.sb.facebook.consumer_message(&w.page, &bob, "hi", &[]);
    let said = eventually("the greeting", || async {
        let s = w.page_said(&bob);
        (!s.is_empty()).then_some(s)
    })
    .await;
    assert_eq!(said, [GREETING]);
}

#[tokio::test]
async fn handover_by_phrase_lands_in_the_agents_queue_with_the_bot_history() {
    let w = World::start().await;
    w.automate(
        "facebook",
        builtin(json!({
            "greeting": "",
            "handover_phrase": "real person",
            "handover_message": "One moment, a colleague takes over.",
            "rules": [{"phrases": ["refund"], "answer": "Refunds take 5 working days."}],
        })),
    )
    .await;
    let ann = w.sb.facebook.add_consumer("Ann Lee", true);
    w.sb.facebook
        .consumer_message(&w.page, &ann, "When is my refund?", &[]);
    eventually("the rule's answer", || async {
        (w.page_said(&ann) == ["Refunds take 5 working days."]).then_some(())
    })
    .await;
    let (conv, _) = w
        .conversation(|c| texts(c).contains(&"When is my refund?".to_owned()))
        .await;
    assert!(!w.queue("new").await.contains(&conv));

    w.sb.facebook
        .consumer_message(&w.page, &ann, "I want a REAL person!", &[]);
    eventually("handed over", || async {
        (w.phase(conv).await == Some(BotPhase::People)).then_some(())
    })
    .await;
    assert!(w.queue("new").await.contains(&conv), "in the agents' queue");
    let info: Value = w
        .agent
        .get(format!("{}/api/conversations/{conv}", w.server.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["conversation"]["skill"], "social");
    let by: Vec<(String, String)> = info["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["author"].as_str().unwrap().to_owned(),
                l["text"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        by,
        [
            ("consumer".into(), "When is my refund?".into()),
            ("bot".into(), "Refunds take 5 working days.".into()),
            ("consumer".into(), "I want a REAL person!".into()),
            ("bot".into(), "One moment, a colleague takes over.".into()),
        ]
    );

    // An agent takes it and answers; the bot stays quiet however the consumer writes.
    let (status, _) = w
        .post(&format!("/api/conversations/{conv}/take"), json!({}))
        .await;
    assert_eq!(status, 200);
    w.sb.facebook
        .consumer_message(&w.page, &ann, "refund? agent?", &[]);
    w.conversation(|c| texts(c).contains(&"refund? agent?".to_owned()))
        .await;
    let (status, line) = w.reply(conv, "private", "Hi Ann, I'm Dana.").await;
    assert_eq!(status, 201, "{line}");
    eventually("the agent's line reaches Messenger", || async {
        w.page_said(&ann)
            .contains(&"Hi Ann, I'm Dana.".to_owned())
            .then_some(())
    })
    .await;
    assert_eq!(
        w.page_said(&ann),
        [
            "Refunds take 5 working days.",
            "One moment, a colleague takes over.",
            "Hi Ann, I'm Dana."
        ]
    );
    assert_eq!(w.phase(conv).await, Some(BotPhase::People));
}

/// What the test bot saw and does.
#[derive(Default)]
struct BotSide {
    secret: String,
    token: String,
    /// (signature valid, event).
    events: Vec<(bool, Value)>,
}

type Shared = Arc<Mutex<BotSide>>;

/// The test bot's events endpoint: checks the signature, then answers by the text —
/// "slow" never acknowledges in time, "broken" answers 500, "ignore" acknowledges and
/// never answers, "person" hands over, anything else is echoed through the bot API.
async fn bot_events(State(side): State<Shared>, headers: HeaderMap, body: String) -> StatusCode {
    let ts: i64 = headers
        .get("x-socialconnect-timestamp")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or_default();
    let given = headers
        .get("x-socialconnect-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let event: Value = serde_json::from_str(&body).unwrap();
    let (secret, token) = {
        let s = side.lock().unwrap();
        (s.secret.clone(), s.token.clone())
    };
    let valid = server::automation::external::signature(&secret, ts, body.as_bytes()) == given;
    side.lock().unwrap().events.push((valid, event.clone()));
    if !valid {
        return StatusCode::UNAUTHORIZED;
    }
    let text = event["message"]["text"].as_str().unwrap().to_owned();
    if text.contains("slow") {
        tokio::time::sleep(Duration::from_secs(3)).await;
        return StatusCode::OK;
    }
    if text.contains("broken") {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    if text.contains("ignore") {
        return StatusCode::OK;
    }
    let (url, body) = if text.contains("person") {
        (
            event["handover_url"].as_str().unwrap().to_owned(),
            json!({"reason": "the consumer wants a person"}),
        )
    } else {
        (
            event["reply_url"].as_str().unwrap().to_owned(),
            json!({"text": format!("Bot here. You said: {text}")}),
        )
    };
    // Answers after acknowledging, as a real bot would.
    tokio::spawn(async move {
        let res = reqwest::Client::new()
            .post(url)
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "{}", res.status());
    });
    StatusCode::OK
}

#[tokio::test]
async fn an_external_bot_answers_hands_over_and_failing_hands_over() {
    let clock = Clock::manual(server::auth::now_secs() * 1000);
    let c2 = clock.clone();
    let w = World::start_adjusted(move |a| {
        a.allow_private_media_urls = true;
        a.clock = c2;
    })
    .await;
    let side: Shared = Arc::default();
    let (bot_url, creds) = w
        .external_bot(
            axum::Router::new()
                .route("/events", axum::routing::post(bot_events))
                .with_state(side.clone()),
        )
        .await;
    {
        let mut s = side.lock().unwrap();
        s.secret = creds["secret"].as_str().unwrap().to_owned();
        s.token = creds["token"].as_str().unwrap().to_owned();
    }
    let saved = w
        .automate(
            "facebook",
            json!({
                "enabled": true,
                "bot": "external",
                "external_url": bot_url,
                "external_timeout_ms": 500,
                "external_answer_within_secs": 60,
            }),
        )
        .await;
    assert_eq!(saved["has_credentials"], true);
    assert!(
        !saved
            .to_string()
            .contains(creds["secret"].as_str().unwrap())
    );

    // Round trip: event out, signed; answer in through the bot API.
    let ann = w.sb.facebook.add_consumer("Ann Lee", true);
    w.sb.facebook
        .consumer_message(&w.page, &ann, "hello bot", &[]);
    eventually("the external bot's answer reaches Messenger", || async {
        (w.page_said(&ann) == ["Bot here. You said: hello bot"]).then_some(())
    })
    .await;
    let (conv, c) = w
        .conversation(|c| texts(c).contains(&"hello bot".to_owned()))
        .await;
    assert_eq!(lines(&c)[1].0, "bot");
    {
        let s = side.lock().unwrap();
        assert_eq!(s.events.len(), 1);
        let (valid, event) = &s.events[0];
        assert!(valid, "signed with the bot's secret");
        assert_eq!(event["type"], "message");
        assert_eq!(event["conversation_id"], conv);
        assert_eq!(event["channel"], "facebook");
        assert_eq!(event["message"]["text"], "hello bot");
        assert!(!event.to_string().contains(&w.page.access_token));
    }
    assert_eq!(w.phase(conv).await, Some(BotPhase::Bot));

    // The bot API: no token, a wrong token, another conversation.
    let http = reqwest::Client::new();
    let reply_url = format!("{}/api/bot/conversations/{conv}/replies", w.server.url);
    let res = http
        .post(&reply_url)
        .json(&json!({"text": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let res = http
        .post(&reply_url)
        .bearer_auth("scbt_wrong")
        .json(&json!({"text": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let token = creds["token"].as_str().unwrap();
    let res = http
        .post(format!(
            "{}/api/bot/conversations/999999/replies",
            w.server.url
        ))
        .bearer_auth(token)
        .json(&json!({"text": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);

    // The agents' rules, through the agents' queue: too long is stored as failed with the
    // same words an agent gets, nothing to send is refused, and so is an unlinked page.
    let bot_says = |text: String| {
        let (http, url) = (http.clone(), reply_url.clone());
        async move {
            let res = http
                .post(url)
                .bearer_auth(token)
                .json(&json!({ "text": text }))
                .send()
                .await
                .unwrap();
            (res.status().as_u16(), res.json::<Value>().await.unwrap())
        }
    };
    let (status, line) = bot_says("x".repeat(2001)).await;
    assert_eq!(status, 201, "{line}");
    assert_eq!(line["status"], "failed");
    assert_eq!(
        line["error"],
        "2001 characters, over the 2000 limit for a Messenger"
    );
    let (status, _) = bot_says("  ".into()).await;
    assert_eq!(status, 400);
    let linked = saved["linked_account_id"].as_i64().unwrap();
    w.store
        .set_linked_status(linked, LinkStatus::Unlinked)
        .await
        .unwrap();
    let (status, error) = bot_says("still here".into()).await;
    assert_eq!(status, 400);
    assert!(
        error["message"].as_str().unwrap().contains("unlinked"),
        "{error}"
    );
    w.store
        .set_linked_status(linked, LinkStatus::Linked)
        .await
        .unwrap();

    // The bot hands over on request.
    w.sb.facebook
        .consumer_message(&w.page, &ann, "a person please", &[]);
    eventually("the bot handed over", || async {
        (w.phase(conv).await == Some(BotPhase::People)).then_some(())
    })
    .await;
    assert!(w.queue("new").await.contains(&conv));
    // Once handed over, the bot API is refused: a person has it.
    let res = http
        .post(&reply_url)
        .bearer_auth(token)
        .json(&json!({"text": "still me"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 409);

    // Too slow to acknowledge: handed to people, the consumer told.
    let bob = w.sb.facebook.add_consumer("Bob Ray", true);
    w.sb.facebook
        .consumer_message(&w.page, &bob, "slow one", &[]);
    let (slow, _) = w
        .conversation(|c| texts(c).contains(&"slow one".to_owned()))
        .await;
    eventually("a bot that times out hands over", || async {
        (w.phase(slow).await == Some(BotPhase::People)).then_some(())
    })
    .await;
    assert!(w.queue("new").await.contains(&slow));
    let reason = w
        .store
        .bot_context(slow)
        .await
        .unwrap()
        .unwrap()
        .state
        .unwrap()
        .reason
        .unwrap();
    assert!(reason.contains("did not answer within 500 ms"), "{reason}");
    eventually("the hand-over message", || async {
        (w.page_said(&bob) == [shared::automation::DEFAULT_HANDOVER_MESSAGE]).then_some(())
    })
    .await;

    // An error: handed over too.
    let cat = w.sb.facebook.add_consumer("Cat Sun", true);
    w.sb.facebook
        .consumer_message(&w.page, &cat, "broken bot?", &[]);
    let (broken, _) = w
        .conversation(|c| texts(c).contains(&"broken bot?".to_owned()))
        .await;
    eventually("a bot that errs hands over", || async {
        (w.phase(broken).await == Some(BotPhase::People)).then_some(())
    })
    .await;

    // Acknowledged but never answered: on the clock, after the answer time, people.
    let dan = w.sb.facebook.add_consumer("Dan Oak", true);
    w.sb.facebook
        .consumer_message(&w.page, &dan, "ignore me", &[]);
    let (late, _) = w
        .conversation(|c| texts(c).contains(&"ignore me".to_owned()))
        .await;
    eventually("the event was acknowledged", || async {
        w.store
            .bot_context(late)
            .await
            .unwrap()
            .and_then(|c| c.state)
            .and_then(|s| s.answer_by_ms)
    })
    .await;
    assert_eq!(w.phase(late).await, Some(BotPhase::Bot));
    clock.advance(Duration::from_secs(61));
    eventually("a late bot hands over", || async {
        (w.phase(late).await == Some(BotPhase::People)).then_some(())
    })
    .await;
    assert!(w.queue("new").await.contains(&late));
}

#[tokio::test]
async fn an_external_bot_on_a_private_address_is_refused_without_the_test_setting() {
    let w = World::start().await;
    let fb = w.linked("facebook").await;
    let res = w
        .agent
        .put(format!("{}/api/automation/{fb}", w.server.url))
        .header("x-csrf-token", &w.csrf)
        .json(&json!({"enabled": true, "bot": "external",
                      "external_url": "http://169.254.169.254/latest/meta-data"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let res = w
        .agent
        .put(format!("{}/api/automation/{fb}", w.server.url))
        .header("x-csrf-token", &w.csrf)
        .json(&json!({"enabled": true, "bot": "external",
                      "external_url": "http://127.0.0.1:1/events"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let res = w
        .agent
        .put(format!("{}/api/automation/{fb}", w.server.url))
        .header("x-csrf-token", &w.csrf)
        .json(&json!({"time_zone": "Mars/Olympus"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
}

#[tokio::test]
async fn a_bot_turn_under_way_when_the_server_stops_is_finished_first() {
    let w = World::start_adjusted(|a| a.allow_private_media_urls = true).await;
    // A bot that takes its time, then fails: the turn in flight hands the conversation
    // over once the bot's answer comes back.
    let (arrived_tx, mut arrived) = tokio::sync::mpsc::unbounded_channel::<Value>();
    let (bot_url, _) = w
        .external_bot(axum::Router::new().route(
            "/events",
            axum::routing::post(move |body: String| async move {
                let _ = arrived_tx.send(serde_json::from_str(&body).unwrap());
                tokio::time::sleep(Duration::from_millis(1500)).await;
                StatusCode::INTERNAL_SERVER_ERROR
            }),
        ))
        .await;
    w.automate(
        "facebook",
        json!({
            "enabled": true,
            "bot": "external",
            "external_url": bot_url,
            "external_timeout_ms": 10_000,
        }),
    )
    .await;

    let ann = w.sb.facebook.add_consumer("Ann Lee", true);
    w.sb.facebook
        .consumer_message(&w.page, &ann, "hello bot", &[]);
    let event = tokio::time::timeout(Duration::from_secs(20), arrived.recv())
        .await
        .expect("the event reached the bot")
        .unwrap();
    let conv = event["conversation_id"].as_i64().unwrap();
    // The bot has the event and has not answered yet: the server is told to stop.
    let World { server, store, .. } = w;
    let _data_dir = server.stop().await;
    let phase = store
        .bot_context(conv)
        .await
        .unwrap()
        .and_then(|c| c.state)
        .map(|s| s.phase);
    assert_eq!(
        phase,
        Some(BotPhase::People),
        "the turn finished (the failing bot handed over) before the server stopped"
    );
}

#[tokio::test]
async fn a_survey_answer_is_recorded_on_the_conversation_and_exported() {
    let w = World::start().await;
    w.automate(
        "facebook",
        builtin(json!({"survey": true, "survey_thanks": "Thanks for rating us!"})),
    )
    .await;
    let ann = w.sb.facebook.add_consumer("Ann Lee", true);
    w.sb.facebook.consumer_message(&w.page, &ann, "agent", &[]);
    let (conv, _) = w
        .conversation(|c| texts(c).contains(&"agent".to_owned()))
        .await;
    eventually("handed over", || async {
        (w.phase(conv).await == Some(BotPhase::People)).then_some(())
    })
    .await;
    let (status, _) = w
        .post(&format!("/api/conversations/{conv}/take"), json!({}))
        .await;
    assert_eq!(status, 200);
    let (status, _) = w
        .post(&format!("/api/conversations/{conv}/close"), json!({}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(w.phase(conv).await, Some(BotPhase::Survey));
    eventually("the survey question reaches Messenger", || async {
        w.page_said(&ann)
            .contains(&shared::automation::DEFAULT_SURVEY_QUESTION.to_owned())
            .then_some(())
    })
    .await;

    w.sb.facebook.consumer_message(&w.page, &ann, "5!", &[]);
    let c = eventually("the answer is recorded", || async {
        let c = w.export_of(conv).await;
        (c["survey_score"] == 5).then_some(c)
    })
    .await;
    assert_eq!(c["status"], "closed", "answering does not reopen it");
    eventually("the thanks", || async {
        w.page_said(&ann)
            .contains(&"Thanks for rating us!".to_owned())
            .then_some(())
    })
    .await;
    assert!(!w.queue("all").await.contains(&conv));
    assert_eq!(w.phase(conv).await, Some(BotPhase::Idle));

    // `socialconnect export` carries it.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_socialconnect"))
        .args(["export", "--account", common::ADMIN.0, "--data-dir"])
        .arg(w.server.data_dir.path())
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|c| c["id"] == conv)
        .unwrap();
    assert_eq!(line["survey_score"], 5);
    assert!(lines(&line).contains(&(
        "bot".into(),
        shared::automation::DEFAULT_SURVEY_QUESTION.into()
    )));
}
