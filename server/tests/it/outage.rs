//! A network outage with 1,000 replies queued: the sandbox answers 5xx, then rate limits, then
//! recovers; afterwards every reply is delivered exactly once, in per-conversation order.
//! Prints the figures.

use crate::common;

use common::world::{World, texts};
use sandbox::common::Fault;
use server::store::prelude::*;
use std::collections::HashMap;
use std::time::Duration;

const CONSUMERS: usize = 10;
const REPLIES_EACH: usize = 100;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_queued_through_an_outage_are_delivered_once_in_order() {
    let w = World::start().await;
    let mut people = Vec::new();
    for n in 0..CONSUMERS {
        let c = w.sb.facebook.add_consumer(&format!("Person {n}"), true);
        let hello = format!("hello from {n}");
        w.sb.facebook.consumer_message(&w.page, &c, &hello, &[]);
        let (conv, _) = w.conversation(|c| texts(c).contains(&hello)).await;
        people.push((c, conv));
    }

    // The outage: every send fails with 503 for a while, then is rate limited, the 429s
    // starting as the 503s are used up.
    let faults = w.sb.facebook.faults();
    faults.inject("facebook", "POST /me/messages", Fault::ServerError(503), 30);
    faults.inject_after(
        "facebook",
        "POST /me/messages",
        Fault::RateLimited {
            retry_after: Duration::from_secs(1),
        },
        20,
    );
    let mut lines = Vec::new();
    for i in 0..REPLIES_EACH {
        for (_, conv) in &people {
            let (status, line) = w.reply(*conv, "private", &format!("reply {i:03}")).await;
            assert_eq!(status, 201, "{line}");
            lines.push(line["id"].as_i64().unwrap());
        }
    }
    let refused_with = |code: u16| {
        w.sb.facebook
            .calls()
            .matching("facebook", "POST", "/me/messages")
            .iter()
            .filter(|c| c.status == code)
            .count()
    };

    let deadline = tokio::time::Instant::now() + Duration::from_secs(240);
    let mut outcome: HashMap<String, usize> = HashMap::new();
    for id in &lines {
        let (status, error) = loop {
            let (status, error) = w.store.line_status(*id).await.unwrap().unwrap();
            if status != "sending" {
                break (status, error);
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "line {id} still sending"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(status, "sent", "line {id}: {error:?}");
        *outcome.entry(status).or_default() += 1;
    }

    let (unavailable, limited) = (refused_with(503), refused_with(PAGE_RATE_LIMIT_STATUS));
    let mut duplicated = 0;
    for (person, _) in &people {
        let sent: Vec<String> =
            w.sb.facebook
                .inbox(&w.page, person)
                .into_iter()
                .filter(|m| m.from_page)
                .filter_map(|m| m.text)
                .collect();
        let expected: Vec<String> = (0..REPLIES_EACH).map(|i| format!("reply {i:03}")).collect();
        duplicated += sent.len().saturating_sub(expected.len());
        assert_eq!(
            sent, expected,
            "{}'s replies, in order, once each",
            person.name
        );
    }
    println!(
        "outage: {} replies queued over {CONSUMERS} conversations; sends refused: \
         {unavailable} with 503, then {limited} rate limited (code 32); delivered {} once each in order; \
         duplicated {duplicated}; lost {}",
        lines.len(),
        outcome.get("sent").copied().unwrap_or(0),
        lines.len() - outcome.get("sent").copied().unwrap_or(0),
    );
    assert_eq!(
        (unavailable, limited),
        (30, 20),
        "the outage happened as planned"
    );
    w.server.stop().await;
}

/// Graph answers a page token's rate limit with HTTP 400 and code 32 ("Page request limit
/// reached"), not 429.
const PAGE_RATE_LIMIT_STATUS: u16 = 400;
