//! Replies out through the sandbox networks: every mode on each network, ordering,
//! retries, the network's refusals on the agent's line, and a restart with a full outbox.

mod common;

use common::world::{World, start_server, texts};
use sandbox::common::Fault;
use server::store::{SqliteStore, Store};
use std::time::Duration;

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
    // Only one private reply per comment: the second is refused by the network.
    let (_, again) = w.reply(feed, "private_response", "and again").await;
    let (status, error) = w
        .settled(again["id"].as_i64().unwrap(), Duration::from_secs(10))
        .await;
    assert_eq!(status, "failed");
    assert!(error.unwrap().starts_with("Facebook:"));

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
            .await
            .0,
        "sent"
    );
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
