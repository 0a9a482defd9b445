//! Replies out through the sandbox networks: every mode on each network, ordering,
//! retries, the network's refusals on the agent's line, and a restart with a full outbox.

use crate::common;

use common::world::{World, start_server, texts};
use sandbox::common::Fault;
use serde_json::{Value, json};
use server::store::SqliteStore;
use server::store::prelude::*;
use std::time::Duration;

/// The conversation API's reply modes of `conversation`, by mode.
async fn reply_modes(w: &World, conversation: i64) -> serde_json::Map<String, Value> {
    let t: Value = w
        .agent
        .get(format!("{}/api/conversations/{conversation}", w.server.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    t["reply_modes"]
        .as_array()
        .unwrap_or_else(|| panic!("no reply modes: {t}"))
        .iter()
        .map(|m| (m["mode"].as_str().unwrap().to_owned(), m.clone()))
        .collect()
}

/// A private reply goes within 7 days of its comment's creation: an older one is refused
/// before anything reaches Facebook, and the switch says why.
#[tokio::test]
async fn a_private_response_to_a_comment_over_seven_days_old_is_refused_before_sending() {
    let w = World::start().await;
    let linked = w
        .store
        .linked_account(shared::Channel::Facebook, &w.page.id)
        .await
        .unwrap()
        .unwrap();
    let now = server::auth::now_secs() * 1000;
    let day = 24 * 3600 * 1000;
    // Delivered late, as a feed event can be after an outage: written 8 days ago.
    let comment = shared::inbound::InboundMessage {
        channel: shared::Channel::Facebook,
        brand_id: w.page.id.clone(),
        consumer: shared::inbound::ConsumerRef {
            network_id: "901234567".into(),
            handle: None,
            name: Some("Ann Lee".into()),
        },
        network_id: format!("{}_778899", w.page.id),
        tag: shared::Tag::PublicComment,
        from_brand: false,
        text: "Still waiting for my refund".into(),
        media: vec![],
        links: vec![],
        created_at_ms: now - 8 * day,
        reply_to: Some(format!("{}_112233", w.page.id)),
        change: shared::inbound::Change::New,
    };
    w.store.ingest(&linked, &[comment], now).await.unwrap();
    let (conv, _) = w
        .conversation(|c| texts(c).contains(&"Still waiting for my refund".to_owned()))
        .await;

    let (status, body) = w.reply(conv, "private_response", "Sorry! Let's talk").await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "reply_mode_unavailable");
    let said = body["message"].as_str().unwrap();
    assert!(said.contains("more than 7 days old"), "{said}");
    assert!(
        w.sb.facebook
            .calls()
            .matching("facebook", "POST", "/me/messages")
            .is_empty(),
        "nothing reached Facebook"
    );
    let modes = reply_modes(&w, conv).await;
    assert_eq!(modes["private_response"]["available"], false);
    assert_eq!(modes["private_response"]["reason"].as_str(), Some(said));
    // A public answer to it is still open.
    assert_eq!(modes["public"]["available"], true);
    w.server.stop().await;
}

/// Facebook's "Pages temporarily restricted from sending" (code 10, subcode 1893063) fails
/// the line for good in plain words, shows on the page in SocialConnect Home, and clears
/// when a Messenger reply goes through again.
#[tokio::test]
async fn a_page_restricted_from_sending_fails_the_line_and_shows_in_home_until_a_send_works() {
    let w = World::start().await;
    let ann = w.sb.facebook.add_consumer("Ann Lee", true);
    w.sb.facebook.consumer_message(&w.page, &ann, "hello?", &[]);
    let (conv, _) = w
        .conversation(|c| texts(c).contains(&"hello?".to_owned()))
        .await;
    let page_status = || async {
        let home: Value = w
            .agent
            .get(format!("{}/api/home", w.server.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        home["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["network_id"] == w.page.id.as_str())
            .map(|a| a["status"].as_str().unwrap().to_owned())
            .unwrap()
    };
    assert_eq!(page_status().await, "linked");

    w.sb.facebook.faults().inject(
        "facebook",
        "POST /me/messages",
        Fault::facebook_sending_restricted(),
        1,
    );
    let (_, line) = w.reply(conv, "private", "We are on it").await;
    let (status, error) = w
        .settled(line["id"].as_i64().unwrap(), Duration::from_secs(10))
        .await;
    assert_eq!(status, "failed");
    let error = error.unwrap();
    assert!(
        error.starts_with("Facebook has temporarily restricted this page from sending messages"),
        "{error}"
    );
    assert_eq!(
        w.sb.facebook
            .calls()
            .matching("facebook", "POST", "/me/messages")
            .len(),
        1,
        "permanent: not retried"
    );
    assert_eq!(page_status().await, "sending_restricted");
    // Counted by Graph's code (the recorder is the process').
    let scraped = server::metrics::handle().render();
    assert!(
        scraped.contains(r#"socialconnect_send_errors_total{network="facebook",code="10"}"#),
        "{scraped}"
    );

    // Facebook lifted it: the next reply goes, and the page is plainly linked again.
    let (_, line) = w.reply(conv, "private", "Still on it").await;
    assert_eq!(
        w.settled(line["id"].as_i64().unwrap(), Duration::from_secs(10))
            .await
            .0,
        "sent"
    );
    assert_eq!(page_status().await, "linked");
    w.server.stop().await;
}

#[tokio::test]
async fn facebook_private_public_and_private_response() {
    let w = World::start().await;
    let ann = w.sb.facebook.add_consumer("Ann Lee", true);
    w.sb.facebook
        .consumer_message(&w.page, &ann, "Where is my order?", &[]);
    let (messenger, _) = w
        .conversation(|c| texts(c).contains(&"Where is my order?".to_owned()))
        .await;
    let post =
        w.sb.facebook
            .consumer_post(&w.page, &ann, "The zip broke", None);
    let comment =
        w.sb.facebook
            .consumer_comment(&w.page, &post, &ann, "photo attached")
            .unwrap();
    let (feed, _) = w
        .conversation(|c| texts(c).contains(&"photo attached".to_owned()))
        .await;

    let (status, line) = w.reply(messenger, "private", "It ships today").await;
    assert_eq!(status, 201, "{line}");
    assert_eq!(line["tag"], "Private");
    assert_eq!(
        w.settled(line["id"].as_i64().unwrap(), Duration::from_secs(10))
            .await
            .0,
        "sent"
    );
    let inbox = w.sb.facebook.inbox(&w.page, &ann);
    assert!(
        inbox
            .iter()
            .any(|m| m.from_page && m.text.as_deref() == Some("It ships today"))
    );

    let (_, public) = w.reply(feed, "public", "Sorry! Sending a new one").await;
    assert_eq!(public["tag"], "Public/Comment");
    assert_eq!(
        w.settled(public["id"].as_i64().unwrap(), Duration::from_secs(10))
            .await
            .0,
        "sent"
    );
    let comments = w.sb.facebook.comments(&post);
    let ours = comments
        .iter()
        .find(|c| c.message == "Sorry! Sending a new one")
        .unwrap();
    assert_eq!(ours.from.id, w.page.id);
    assert_eq!(
        ours.parent_id, comment,
        "answers the consumer's last public line"
    );

    // Facebook has not yet said who the commenter is in Messenger: no Messenger reply.
    let (status, body) = w.reply(feed, "private", "hi").await;
    assert_eq!(status, 400);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("Private Response")
    );

    let (_, pr) = w
        .reply(feed, "private_response", "DMing you the label")
        .await;
    assert_eq!(
        w.settled(pr["id"].as_i64().unwrap(), Duration::from_secs(10))
            .await
            .0,
        "sent"
    );
    assert!(
        w.sb.facebook
            .inbox(&w.page, &ann)
            .iter()
            .any(|m| m.text.as_deref() == Some("DMing you the label"))
    );
    // A comment is answered by `recipient.comment_id`.
    let private_replies = || {
        w.sb.facebook
            .calls()
            .matching("facebook", "POST", "/me/messages")
            .into_iter()
            .filter(|c| c.body["recipient"].get("id").is_none())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        private_replies()
            .iter()
            .map(|c| c.body["recipient"].clone())
            .collect::<Vec<_>>(),
        [json!({"comment_id": comment})]
    );
    // Only one private reply per comment: the second is refused before any call.
    let (status, again) = w.reply(feed, "private_response", "and again").await;
    assert_eq!(status, 400, "{again}");
    assert_eq!(again["code"], "reply_mode_unavailable");
    let said = again["message"].as_str().unwrap();
    assert!(said.contains("already has a private reply"), "{said}");
    assert_eq!(private_replies().len(), 1, "nothing more reached Facebook");
    // The conversation says so for the switch.
    let modes = reply_modes(&w, feed).await;
    assert_eq!(
        modes["public"],
        json!({"mode": "public", "available": true})
    );
    assert_eq!(modes["private_response"]["available"], false);
    assert_eq!(
        modes["private_response"]["reason"].as_str(),
        Some(said),
        "the same words as the refusal"
    );

    // The private reply's answer named Ann's Messenger id: her Messenger conversation
    // is folded into the feed one, lines kept, the other conversation gone.
    let (merged, c) = w
        .conversation(|c| {
            let t = texts(c);
            t.contains(&"Where is my order?".to_owned()) && t.contains(&"photo attached".to_owned())
        })
        .await;
    assert_eq!(merged, feed);
    assert!(texts(&c).contains(&"It ships today".to_owned()), "{c}");
    assert!(w.store.transcript(messenger).await.unwrap().is_none());

    // The echoes came back and were matched, not shown twice.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, c) = w
        .conversation(|c| texts(c).contains(&"Where is my order?".to_owned()))
        .await;
    assert_eq!(
        texts(&c).iter().filter(|t| *t == "It ships today").count(),
        1
    );
    w.server.stop().await;
}

/// Facebook names a person one way in the page's feed and another (the page-scoped id) in
/// Messenger; a private reply to their comment tells the second, and from then on their
/// Messenger lines continue the one conversation.
#[tokio::test]
async fn a_commenter_answering_a_private_reply_stays_in_one_conversation() {
    let w = World::start().await;
    let bo = w.sb.facebook.add_consumer("Bo Chen", true);
    w.sb.facebook
        .consumer_post(&w.page, &bo, "Tent pole snapped", None);
    let (conv, _) = w
        .conversation(|c| texts(c).contains(&"Tent pole snapped".to_owned()))
        .await;
    let (_, pr) = w
        .reply(
            conv,
            "private_response",
            "Sorry! What is your order number?",
        )
        .await;
    assert_eq!(
        w.settled(pr["id"].as_i64().unwrap(), Duration::from_secs(10))
            .await,
        ("sent".to_owned(), None)
    );
    // A visitor post is answered by `recipient.post_id` (Facebook refuses `comment_id`).
    let post = w.sb.facebook.posts(&w.page)[0].id.clone();
    let call = &w
        .sb
        .facebook
        .calls()
        .matching("facebook", "POST", "/me/messages")[0];
    assert_eq!(call.body["recipient"], json!({"post_id": post}));
    assert_eq!(call.body["messaging_type"], "RESPONSE");
    assert!(call.body.get("tag").is_none());
    w.sb.facebook
        .consumer_message(&w.page, &bo, "It is 5521", &[]);
    let (answered, c) = w
        .conversation(|c| texts(c).contains(&"It is 5521".to_owned()))
        .await;
    assert_eq!(answered, conv, "one conversation for Bo: {c}");
    let tags: Vec<&str> = c["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["tag"].as_str().unwrap())
        .collect();
    assert_eq!(tags, ["Public/Post", "Private", "Private"]);
    assert_eq!(
        w.store.export(w.account_id, i64::MIN).await.unwrap().len(),
        1
    );

    // Messenger replies now go to the page-scoped id.
    let (status, line) = w.reply(conv, "private", "A new pole ships today").await;
    assert_eq!(status, 201, "{line}");
    assert_eq!(
        w.settled(line["id"].as_i64().unwrap(), Duration::from_secs(10))
            .await
            .0,
        "sent"
    );
    assert!(
        w.sb.facebook
            .inbox(&w.page, &bo)
            .iter()
            .any(|m| m.from_page && m.text.as_deref() == Some("A new pole ships today"))
    );
    // And the profile, which Facebook gives by page-scoped id only, is fetched.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let (_, c) = w
            .conversation(|c| texts(c).contains(&"It is 5521".to_owned()))
            .await;
        if c["consumer"]["profile"]["first_name"] == "Bo" {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no profile: {c}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    w.server.stop().await;
}

#[tokio::test]
async fn twitter_public_reply_and_dm_in_order() {
    let w = World::start().await;
    let ann = w.sb.twitter.add_consumer("ann", "Ann Lee");
    let tweet =
        w.sb.twitter
            .consumer_tweet(&ann, "@acme my tent leaks", vec![]);
    w.sb.twitter
        .consumer_dm(&ann, &w.brand.id, "order 42", None)
        .unwrap();
    let (conv, _) = w.conversation(|c| texts(c).len() >= 2).await;

    let (status, public) = w.reply(conv, "public", "@ann so sorry, we'll fix it").await;
    assert_eq!(status, 201);
    assert_eq!(public["tag"], "Public/Thread");
    let mut ids = Vec::new();
    for n in 1..=3 {
        let (_, dm) = w.reply(conv, "private", &format!("step {n}")).await;
        ids.push(dm["id"].as_i64().unwrap());
    }
    assert_eq!(
        w.settled(public["id"].as_i64().unwrap(), Duration::from_secs(10))
            .await
            .0,
        "sent"
    );
    for id in ids {
        assert_eq!(w.settled(id, Duration::from_secs(10)).await.0, "sent");
    }
    let thread = w.sb.twitter.thread(&tweet);
    assert!(
        thread
            .iter()
            .any(|t| t.text == "@ann so sorry, we'll fix it"),
        "{thread:?}"
    );
    let dms: Vec<String> =
        w.sb.twitter
            .dm_conversation(&ann.id, &w.brand.id)
            .into_iter()
            .map(|d| d.text)
            .filter(|t| t.starts_with("step"))
            .collect();
    assert_eq!(dms, ["step 1", "step 2", "step 3"]);
    assert_eq!(w.reply(conv, "private_response", "x").await.0, 400);
    w.server.stop().await;
}

#[tokio::test]
async fn transient_failures_are_retried_and_permanent_ones_shown() {
    let w = World::start().await;
    let ann = w.sb.facebook.add_consumer("Ann Lee", true);
    w.sb.facebook.consumer_message(&w.page, &ann, "hello", &[]);
    let (conv, _) = w
        .conversation(|c| texts(c).contains(&"hello".to_owned()))
        .await;

    w.sb.facebook
        .faults()
        .inject("facebook", "POST /me/messages", Fault::ServerError(503), 2);
    let (_, line) = w.reply(conv, "private", "after two 503s").await;
    assert_eq!(
        w.settled(line["id"].as_i64().unwrap(), Duration::from_secs(30))
            .await
            .0,
        "sent"
    );
    let attempts =
        w.sb.facebook
            .calls()
            .matching("facebook", "POST", "/me/messages");
    assert_eq!(
        attempts.iter().map(|c| c.status).collect::<Vec<_>>(),
        [503, 503, 200]
    );

    let bob = w.sb.twitter.add_consumer("bob", "Bob");
    w.sb.twitter
        .consumer_dm(&bob, &w.brand.id, "hi", None)
        .unwrap();
    let (tconv, _) = w.conversation(|c| c["consumer"]["handle"] == "bob").await;
    w.sb.twitter.shared().faults.inject(
        "twitter",
        "POST /2/dm_conversations/with/{participant_id}/messages",
        Fault::RateLimited {
            retry_after: Duration::from_secs(1),
        },
        1,
    );
    let (_, dm) = w.reply(tconv, "private", "after a 429").await;
    assert_eq!(
        w.settled(dm["id"].as_i64().unwrap(), Duration::from_secs(30))
            .await
            .0,
        "sent"
    );

    // Outside Messenger's window: the network's reason on the line.
    w.sb.facebook
        .age_last_message(&w.page, &ann, Duration::from_secs(8 * 24 * 3600));
    let (_, late) = w.reply(conv, "private", "too late").await;
    let (status, error) = w
        .settled(late["id"].as_i64().unwrap(), Duration::from_secs(10))
        .await;
    assert_eq!(status, "failed");
    assert!(error.unwrap().contains("outside of allowed window"));

    // A revoked token fails the line and marks the page for relinking.
    w.sb.facebook.invalidate_token(&w.page.access_token);
    let (_, revoked) = w.reply(conv, "private", "token gone").await;
    assert_eq!(
        w.settled(revoked["id"].as_i64().unwrap(), Duration::from_secs(10))
            .await
            .0,
        "failed"
    );
    let linked = w
        .store
        .linked_account(shared::Channel::Facebook, &w.page.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(linked.status, server::store::LinkStatus::TokenInvalid);
    w.server.stop().await;
}

#[tokio::test]
async fn a_restart_with_replies_in_the_outbox_loses_and_duplicates_none() {
    let w = World::start().await;
    let ann = w.sb.facebook.add_consumer("Ann Lee", true);
    w.sb.facebook.consumer_message(&w.page, &ann, "hello", &[]);
    let (conv, _) = w
        .conversation(|c| texts(c).contains(&"hello".to_owned()))
        .await;

    // The network is down: replies wait in the outbox.
    w.sb.facebook.faults().inject(
        "facebook",
        "POST /me/messages",
        Fault::ServerError(500),
        1000,
    );
    let mut ids = Vec::new();
    for n in 1..=5 {
        let (_, line) = w.reply(conv, "private", &format!("queued {n}")).await;
        ids.push(line["id"].as_i64().unwrap());
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let World {
        sb, server, store, ..
    } = w;
    let url = server.url.clone();
    let data = server.stop().await;
    drop(store);
    sb.facebook.faults().clear();
    // Stopped means stopped: with the network back, nothing goes out until a server runs
    // again (a sender left running would send now, and again beside the next server).
    // Longer than the first retry's backoff (at most 2.4 s) and the sender's 0.5 s nap.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let sent_while_stopped = sb
        .facebook
        .inbox(&sb.facebook.pages()[0], &ann)
        .into_iter()
        .filter(|m| m.from_page)
        .count();
    assert_eq!(
        sent_while_stopped, 0,
        "a reply went out while no server ran"
    );

    let addr = url.trim_start_matches("http://").to_owned();
    let listener = tokio::net::TcpListener::bind(&addr).await.unwrap();
    let server = start_server(listener, data, &sb, false).await;
    let store = SqliteStore::open(server.data_dir.path()).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    for id in &ids {
        loop {
            let (status, _) = store.line_status(*id).await.unwrap().unwrap();
            if status == "sent" {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "line {id}: {status}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let sent: Vec<String> = sb
        .facebook
        .inbox(&sb.facebook.pages()[0], &ann)
        .into_iter()
        .filter(|m| m.from_page)
        .filter_map(|m| m.text)
        .collect();
    assert_eq!(
        sent,
        ["queued 1", "queued 2", "queued 3", "queued 4", "queued 5"]
    );
    server.stop().await;
}

#[tokio::test]
async fn limits_are_counted_as_the_networks_count_them() {
    let w = World::start().await;
    let ann = w.sb.twitter.add_consumer("ann", "Ann Lee");
    w.sb.twitter.consumer_tweet(&ann, "@acme help", vec![]);
    let (conv, _) = w.conversation(|c| c["consumer"]["handle"] == "ann").await;

    // A URL weighs 23, an emoji 2, each CJK character 2: exactly 280.
    let exact = format!(
        "https://example.com/a/very/long/path/that/still/counts/23 😀 {}a",
        "漢".repeat(126)
    );
    assert_eq!(
        shared::count(shared::Target::TwitterPublic, &exact).length,
        280
    );
    let (_, ok) = w.reply(conv, "public", &exact).await;
    assert_eq!(
        w.settled(ok["id"].as_i64().unwrap(), Duration::from_secs(10))
            .await
            .0,
        "sent"
    );

    let over = format!("{exact}b");
    let calls_before =
        w.sb.twitter
            .shared()
            .calls
            .matching("twitter", "POST", "/2/tweets")
            .len();
    let (status, line) = w.reply(conv, "public", &over).await;
    assert_eq!(status, 201);
    assert_eq!(line["status"], "failed");
    assert_eq!(
        line["error"],
        "281 characters, over the 280 limit for a Twitter reply"
    );
    assert_eq!(
        w.sb.twitter
            .shared()
            .calls
            .matching("twitter", "POST", "/2/tweets")
            .len(),
        calls_before,
        "an over-limit reply never reaches the network"
    );

    let bo = w.sb.facebook.add_consumer("Bo Diaz", true);
    w.sb.facebook.consumer_message(&w.page, &bo, "hi", &[]);
    let (fb, _) = w
        .conversation(|c| texts(c).contains(&"hi".to_owned()))
        .await;
    let (_, ok) = w.reply(fb, "private", &"é".repeat(2000)).await;
    assert_eq!(
        w.settled(ok["id"].as_i64().unwrap(), Duration::from_secs(10))
            .await
            .0,
        "sent"
    );
    let (_, over) = w.reply(fb, "private", &"é".repeat(2001)).await;
    assert_eq!(over["status"], "failed");
    assert!(
        over["error"]
            .as_str()
            .unwrap()
            .starts_with("2001 characters, over the 2000 limit")
    );
    w.server.stop().await;
}
