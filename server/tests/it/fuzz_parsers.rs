//! Property tests of every parser of network input: the Facebook and Twitter/X webhook
//! parsers, the media sniffer and bounded decoder, and the webhook signature checks.
//! Each must never panic; every event a parser returns carries non-empty ids.
//!
//! Cases per property: `PROPTEST_CASES` (default 10,000 here; the image decoders, slower
//! per case, run a tenth of that). The webhook seed corpus is what the sandbox itself
//! delivers in a live run against a real server (Messenger messages with every kind of
//! attachment and the page's echoes, feed posts, comments, edits and removals; X Activity
//! API mentions, replies, DMs with media and the brand's own posts and DMs), beside
//! hand-written payloads for the shapes a run does not produce (postbacks, Account
//! Activity `tweet_create_events`/`direct_message_events` batches, `oauth.revoke`).

use crate::common;

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};
use server::inbound::{facebook, twitter};
use shared::inbound::InboundEvent;
use std::sync::atomic::{AtomicUsize, Ordering};

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}

fn config(cases: u32) -> Config {
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

/// Runs `test` on `cases` inputs of `strategy`, counting them, and reports its figure.
fn run<S: Strategy>(name: &str, cases: u32, strategy: S, test: impl Fn(S::Value))
where
    S::Value: std::fmt::Debug,
{
    let mut runner = TestRunner::new(config(cases));
    let counted = AtomicUsize::new(0);
    runner
        .run(&strategy, |v| {
            counted.fetch_add(1, Ordering::Relaxed);
            test(v);
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let n = counted.load(Ordering::Relaxed);
    println!("{name}: {n} cases, 0 panics");
}

fn check_events(events: &[InboundEvent]) {
    for e in events {
        match e {
            InboundEvent::Message(m) => {
                assert!(!m.brand_id.is_empty(), "empty brand id: {m:?}");
                assert!(!m.network_id.is_empty(), "empty message id: {m:?}");
                // The brand's own lines find their consumer from what they answer, and a
                // removal needs only the line's id.
                assert!(
                    !m.consumer.network_id.is_empty()
                        || m.from_brand
                        || m.change == shared::inbound::Change::Removed,
                    "empty consumer id: {m:?}"
                );
            }
            InboundEvent::AccessRevoked { brand_id, .. } => {
                assert!(!brand_id.is_empty(), "empty brand id")
            }
        }
        ids_have_their_networks_shape(e);
    }
}

/// Ids go into calls to the networks: whatever a parser returns has ids of the shape
/// its network gives them (`shared::ids`).
fn ids_have_their_networks_shape(e: &InboundEvent) {
    use shared::ids::IdKind::*;
    use shared::{Channel, Tag};
    match e {
        InboundEvent::AccessRevoked { channel, brand_id } => {
            let kind = if *channel == Channel::Twitter {
                XId
            } else {
                FacebookNode
            };
            assert!(kind.fits(brand_id), "{e:?}");
        }
        InboundEvent::Message(m) => {
            let (node, line) = match (m.channel, m.tag) {
                (Channel::Facebook, Tag::Private) => (FacebookNode, MessengerMid),
                (Channel::Facebook, _) => (FacebookNode, FacebookObject),
                (Channel::Twitter, _) => (XId, XId),
            };
            assert!(node.fits(&m.brand_id), "{e:?}");
            assert!(
                m.consumer.network_id.is_empty() || node.fits(&m.consumer.network_id),
                "{e:?}"
            );
            assert!(line.fits(&m.network_id), "{e:?}");
            assert!(m.reply_to.as_deref().is_none_or(|r| line.fits(r)), "{e:?}");
        }
    }
}

fn parse_both(bytes: &[u8]) {
    if let Ok(events) = facebook::parse(bytes) {
        check_events(&events);
    }
    if let Ok(events) = twitter::parse(bytes) {
        check_events(&events);
    }
}

fn facebook_seeds() -> Vec<Value> {
    let page = "1122334455";
    vec![
        json!({"object":"page","entry":[{"id":page,"time":1,"messaging":[{
            "sender":{"id":"2001"},"recipient":{"id":page},"timestamp":1_700_000_000_000i64,
            "message":{"mid":"m_1","text":"hi","attachments":[
                {"type":"image","payload":{"url":"https://cdn.example/a.gif?x=1"}},
                {"type":"video","payload":{"url":"https://cdn.example/v.mp4"}},
                {"type":"file","payload":{"url":"https://cdn.example/f.pdf"}}]}}]}]}),
        json!({"object":"page","entry":[{"id":page,"time":1,"messaging":[{
            "sender":{"id":page},"recipient":{"id":"2001"},"timestamp":1_700_000_000_001i64,
            "message":{"mid":"m_2","text":"echo","is_echo":true,"app_id":1}}]}]}),
        json!({"object":"page","entry":[{"id":page,"time":1,"messaging":[{
            "sender":{"id":"2001"},"recipient":{"id":page},"timestamp":1,
            "postback":{"mid":"m_3","title":"Get started","payload":"GET_STARTED"}}]}]}),
        json!({"object":"page","entry":[{"id":page,"time":1,"changes":[{"field":"feed","value":
            {"from":{"id":"4001","name":"Ann"},"item":"comment","verb":"add",
             "post_id":format!("{page}_1"),"comment_id":"1_9","parent_id":format!("{page}_1"),
             "message":"a comment","created_time":1_700_000_100}}]}]}),
        json!({"object":"page","entry":[{"id":page,"time":1,"changes":[{"field":"feed","value":
            {"from":{"id":"4001","name":"Ann"},"item":"status","verb":"add",
             "post_id":format!("{page}_2"),"message":"a post","created_time":1_700_000_200,
             "photos":["https://cdn.example/p.jpg"]}}]}]}),
        json!({"object":"page","entry":[{"id":page,"time":1,"changes":[{"field":"feed","value":
            {"from":{"id":"4001"},"item":"comment","verb":"edited","comment_id":"1_9",
             "post_id":format!("{page}_1"),"message":"edited","created_time":1}}]}]}),
        json!({"object":"page","entry":[{"id":page,"time":1,"changes":[{"field":"feed","value":
            {"item":"comment","verb":"remove","comment_id":"1_9","post_id":format!("{page}_1")}}]}]}),
    ]
}

fn twitter_seeds() -> Vec<Value> {
    let xaa = |event_type: &str, payload: Value, includes: Value| {
        json!({"data":{"event_uuid":"e1","filter":{"user_id":"9988776655"},"event_type":event_type,
            "tag":"t","payload":payload,"includes":includes}})
    };
    let users = json!({"users":[{"id":"4001","username":"ann","name":"Ann A"}],
        "media":[{"media_key":"3_1","type":"animated_gif","variants":[
            {"content_type":"video/mp4","bit_rate":0,"url":"https://video.example/g.mp4"}]}]});
    vec![
        xaa(
            "post.mention.create",
            json!({"id":"5001","text":"@brand help","author_id":"4001",
            "created_at":"2026-11-25T10:00:00.000Z","attachments":{"media_keys":["3_1"]}}),
            users.clone(),
        ),
        xaa(
            "post.reply.create",
            json!({"data":{"id":"5003","text":"reply","author_id":"4001",
            "referenced_tweets":[{"type":"replied_to","id":"5101"}]}}),
            users,
        ),
        xaa(
            "post.create",
            json!({"id":"5102","text":"@ann done","author_id":"9988776655",
            "in_reply_to_user_id":"4001","in_reply_to_tweet_id":"5001"}),
            json!({}),
        ),
        xaa(
            "dm.received",
            json!({"direct_message_events":[{"type":"message_create","id":"6001",
            "created_timestamp":"1700000000001","message_create":{"target":{"recipient_id":"9988776655"},
            "sender_id":"4001","message_data":{"text":"pic","attachment":{"type":"media","media":{
            "type":"photo","media_url_https":"https://pbs.example/p.jpg"}}}}}],
            "users":{"4001":{"data":{"id":"4001","username":"ann","name":"Ann"}}}}),
            json!({}),
        ),
        xaa("oauth.revoke", json!({}), json!({})),
        json!({"for_user_id":"9988776655","user_event":{"revoke":{"source":{"user_id":"9988776655"}}}}),
        json!({"for_user_id":"9988776655",
            "tweet_create_events":[
                {"id_str":"5005","text":"short","extended_tweet":{"full_text":"@brand the long text"},
                 "user":{"id_str":"4002","screen_name":"bo","name":"Bo"},"timestamp_ms":"1700000000500",
                 "entities":{"user_mentions":[{"id_str":"9988776655"}]}},
                {"id_str":"5006","text":"@brand more","user":{"id_str":"4002","screen_name":"bo"},
                 "in_reply_to_status_id_str":"5005","timestamp_ms":"1700000000600",
                 "extended_entities":{"media":[{"type":"video","media_url_https":"https://pbs.example/poster.jpg",
                   "video_info":{"variants":[{"content_type":"video/mp4","bitrate":832000,"url":"https://v.example/hi.mp4"}]}}]}}],
            "direct_message_events":[{"type":"message_create","id":"6002","created_timestamp":"1700000000700",
                "message_create":{"target":{"recipient_id":"9988776655"},"sender_id":"4002","message_data":{"text":"dm"}}}],
            "users":{"4002":{"id":"4002","screen_name":"bo","name":"Bo"}}}),
    ]
}

/// The bodies the sandbox delivers for every kind of event of both networks, captured from
/// a live run: consumers write, the agent answers each way, the networks echo.
fn sandbox_seeds() -> (Vec<Value>, Vec<Value>) {
    use common::world::{World, texts};
    use sandbox::facebook::MediaKind;
    use sandbox::twitter::MediaFile;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let w = World::start().await;
        let fb = &w.sb.facebook;
        let ann = fb.add_consumer("Ann Lee", true);
        fb.consumer_message(
            &w.page,
            &ann,
            "every attachment",
            &[
                MediaKind::Image,
                MediaKind::Gif,
                MediaKind::Video,
                MediaKind::Audio,
                MediaKind::File,
            ],
        );
        let post = fb.consumer_post(&w.page, &ann, "a post", None);
        let comment = fb
            .consumer_comment(&w.page, &post, &ann, "a comment")
            .unwrap();
        fb.consumer_edit(&w.page, &comment, "an edited comment");
        let tw = &w.sb.twitter;
        let bo = tw.add_consumer("bo", "Bo Diaz");
        let (mime, png) = MediaKind::Image.generate();
        let media = || MediaFile {
            mime: mime.to_owned(),
            bytes: png.clone(),
        };
        let tweet = tw.consumer_tweet(
            &bo,
            &format!("@{} help", w.brand.screen_name),
            vec![media()],
        );
        tw.consumer_reply(&bo, &tweet, "more", Vec::new()).unwrap();
        tw.consumer_dm(&bo, &w.brand.id, "a DM", Some(media()))
            .unwrap();
        // The brand's own lines come back as echoes, `post.create` and `dm.sent`.
        let (fb_conv, _) = w
            .conversation(|c| texts(c).contains(&"every attachment".to_owned()))
            .await;
        let (tw_conv, _) = w
            .conversation(|c| texts(c).contains(&"a DM".to_owned()))
            .await;
        for (conv, mode) in [
            (fb_conv, "private"),
            (tw_conv, "private"),
            (tw_conv, "public"),
        ] {
            let (status, line) = w.reply(conv, mode, "on it").await;
            assert_eq!(status, 201, "{line}");
            w.settled(
                line["id"].as_i64().unwrap(),
                std::time::Duration::from_secs(10),
            )
            .await;
        }
        fb.consumer_remove(&w.page, &comment);
        let _ = w
            .conversation(|c| texts(c).contains(&"an edited comment".to_owned()))
            .await;
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let mut seeds = (Vec::new(), Vec::new());
        for d in fb.webhooks().deliveries() {
            let v: Value = serde_json::from_str(&d.body).unwrap();
            let list = if d.network == "facebook" {
                &mut seeds.0
            } else {
                &mut seeds.1
            };
            if !list.contains(&v) {
                list.push(v);
            }
        }
        w.server.stop().await;
        seeds
    })
}

/// Any JSON value, a few levels deep.
fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        "[a-z0-9_]{0,8}".prop_map(Value::String),
        // Strings the parsers look for, so deep shapes are reached.
        prop::sample::select(vec![
            "page",
            "9988776655",
            "message_create",
            "dm.received",
            "post.create",
            "comment",
            "add",
            "feed",
            "",
            "0",
        ])
        .prop_map(|s| Value::String(s.into())),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((arb_key(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// Object keys, mostly the ones the parsers read.
fn arb_key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "object", "entry", "id", "time", "messaging", "changes", "field", "value", "sender",
            "recipient", "timestamp", "message", "mid", "text", "attachments", "type", "payload",
            "url", "is_echo", "postback", "from", "name", "item", "verb", "post_id", "comment_id",
            "parent_id", "created_time", "data", "event_type", "filter", "user_id", "includes",
            "users", "author_id", "direct_message_events", "message_create", "sender_id",
            "target", "recipient_id", "message_data", "for_user_id", "tweet_create_events",
            "user", "id_str", "screen_name", "timestamp_ms", "created_timestamp", "user_event",
            "revoke", "source", "media", "variants", "username",
        ]).prop_map(str::to_owned),
        1 => "[a-z_]{1,10}",
    ]
}

/// A seed with one value somewhere in it replaced, removed or retyped.
fn mutate(seed: &Value, path_choice: &[usize], replacement: Value, op: u8) -> Value {
    fn walk(v: &mut Value, path: &[usize], replacement: Value, op: u8) {
        let children = match v {
            Value::Array(a) => a.len(),
            Value::Object(o) => o.len(),
            _ => 0,
        };
        if path.is_empty() || children == 0 {
            *v = replacement;
            return;
        }
        let i = path[0] % children;
        let last = path.len() == 1;
        match v {
            Value::Array(a) if last && op.is_multiple_of(3) => {
                a.remove(i);
            }
            Value::Array(a) if last && op % 3 == 1 => a.push(replacement),
            Value::Array(a) => walk(&mut a[i], &path[1..], replacement, op),
            Value::Object(o) => {
                let key = o.keys().nth(i).unwrap().clone();
                if last && op.is_multiple_of(3) {
                    o.remove(&key);
                } else {
                    walk(o.get_mut(&key).unwrap(), &path[1..], replacement, op)
                }
            }
            _ => unreachable!(),
        }
    }
    let mut v = seed.clone();
    walk(&mut v, path_choice, replacement, op);
    v
}

fn byte_mutations(seed: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    let len = seed.len();
    prop::collection::vec((0..len.max(1), any::<u8>(), 0u8..4), 1..8).prop_map(move |edits| {
        let mut b = seed.clone();
        for (at, byte, op) in edits {
            if b.is_empty() {
                b.push(byte);
                continue;
            }
            let at = at % b.len();
            match op {
                0 => b[at] = byte,
                1 => b.insert(at, byte),
                2 => {
                    b.remove(at);
                }
                _ => b.truncate(at),
            }
        }
        b
    })
}

#[test]
fn webhook_parsers_never_panic() {
    let n = cases();
    run(
        "webhook parsers, arbitrary bytes",
        n,
        prop::collection::vec(any::<u8>(), 0..512),
        |b| parse_both(&b),
    );
    run("webhook parsers, arbitrary JSON", n, arb_json(), |v| {
        parse_both(v.to_string().as_bytes())
    });
    let (mut fb, mut tw) = sandbox_seeds();
    println!(
        "seed corpus from a sandbox run: {} Facebook and {} Twitter/X deliveries",
        fb.len(),
        tw.len()
    );
    assert!(fb.len() >= 5 && tw.len() >= 3, "{fb:#?} {tw:#?}");
    fb.extend(facebook_seeds());
    tw.extend(twitter_seeds());
    for (name, seeds) in [("facebook", fb), ("twitter", tw)] {
        // Every seed parses as it is, with ids.
        for s in &seeds {
            parse_both(s.to_string().as_bytes());
        }
        let seeds2 = seeds.clone();
        run(
            &format!("{name} parser, mutated seed JSON"),
            n,
            (
                prop::sample::select(seeds),
                prop::collection::vec(any::<usize>(), 1..7),
                arb_json(),
                any::<u8>(),
            ),
            |(seed, path, replacement, op)| {
                parse_both(mutate(&seed, &path, replacement, op).to_string().as_bytes())
            },
        );
        run(
            &format!("{name} parser, mutated seed bytes"),
            n,
            prop::sample::select(seeds2)
                .prop_flat_map(|s| byte_mutations(s.to_string().into_bytes())),
            |b| parse_both(&b),
        );
    }
}

fn image(format: image::ImageFormat) -> Vec<u8> {
    let img = image::RgbaImage::from_fn(12, 9, |x, y| {
        image::Rgba([x as u8 * 20, y as u8 * 25, 90, 255])
    });
    let img = match format {
        image::ImageFormat::Jpeg => {
            image::DynamicImage::ImageRgb8(image::DynamicImage::ImageRgba8(img).to_rgb8())
        }
        _ => image::DynamicImage::ImageRgba8(img),
    };
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, format).unwrap();
    out.into_inner()
}

#[test]
fn media_sniffer_and_decoder_never_panic() {
    use server::media::decode;
    let n = cases();
    run(
        "media sniffer, arbitrary bytes",
        n,
        prop::collection::vec(any::<u8>(), 0..64),
        |b| {
            let _ = decode::sniff(&b);
            let _ = server::uploads::sniff(&b);
        },
    );
    // Decoding costs more per case: a tenth of the cases, inputs of a few hundred bytes.
    let decode_cases = (n / 10).max(1);
    run(
        "media decoder, arbitrary bytes behind each magic",
        decode_cases,
        (
            prop::sample::select(vec![
                &b"\xFF\xD8\xFF"[..],
                b"\x89PNG\r\n\x1a\n",
                b"GIF89a",
                b"RIFF\x00\x01\x00\x00WEBP",
            ]),
            prop::collection::vec(any::<u8>(), 0..256),
        ),
        |(magic, rest)| {
            let mut b = magic.to_vec();
            b.extend(rest);
            if let Some(mime) = decode::sniff(&b) {
                let _ = decode::derive(&b, mime);
            }
        },
    );
    for format in [
        image::ImageFormat::Png,
        image::ImageFormat::Gif,
        image::ImageFormat::Jpeg,
        image::ImageFormat::WebP,
    ] {
        let real = image(format);
        let mime = decode::sniff(&real).expect("a real file sniffs");
        decode::derive(&real, mime).expect("a real file decodes");
        run(
            &format!("media decoder, mutated real {mime}"),
            decode_cases,
            byte_mutations(real),
            |b| {
                if let Some(mime) = decode::sniff(&b) {
                    let _ = decode::derive(&b, mime);
                }
            },
        );
    }
}

#[test]
fn signature_checks_never_panic_and_accept_only_the_right_mac() {
    let n = cases();
    let names = prop::sample::select(vec![
        "x-hub-signature-256",
        "x-twitter-webhooks-signature",
        "x-hub-signature",
        "content-type",
    ]);
    let values = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..80),
        "sha256=[0-9a-f]{0,70}".prop_map(String::into_bytes),
        "sha256=[A-Za-z0-9+/=]{0,50}".prop_map(String::into_bytes),
    ];
    run(
        "signature checks, arbitrary headers",
        n,
        (
            prop::collection::vec((names, values), 0..4),
            prop::collection::vec(any::<u8>(), 0..64),
            "[ -~]{0,16}",
        ),
        |(headers, body, secret)| {
            let mut h = HeaderMap::new();
            for (name, value) in headers {
                if let Ok(v) = HeaderValue::from_bytes(&value) {
                    h.append(HeaderName::from_static(name), v);
                }
            }
            // A random header matching the real MAC is (cryptographically) impossible.
            assert!(!server::inbound::facebook_signature_ok(&secret, &h, &body));
            assert!(!server::inbound::twitter_signature_ok(&secret, &h, &body));
            let _ = server::inbound::twitter_crc_response(&secret, &String::from_utf8_lossy(&body));
        },
    );
}
