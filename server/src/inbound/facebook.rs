//! Facebook webhook payloads (`object: "page"`) to the shared inbound model: Messenger
//! `messaging[]` events and Page `feed` changes. Formats: PLATFORMS.md, from Meta's
//! Webhooks for Pages and Messenger Platform references.

use super::{ParseError, json_i64, json_str};
use serde_json::Value;
use shared::inbound::{
    Change, ConsumerRef, InboundEvent, InboundMessage, MediaKind, MediaRef, SharedLink,
};
use shared::{Channel, Tag};

pub fn parse(body: &[u8]) -> Result<Vec<InboundEvent>, ParseError> {
    let root: Value = serde_json::from_slice(body).map_err(|e| ParseError(e.to_string()))?;
    if root.get("object").and_then(Value::as_str) != Some("page") {
        return Err(ParseError("not a page event (object != \"page\")".into()));
    }
    let entries = root
        .get("entry")
        .and_then(Value::as_array)
        .ok_or_else(|| ParseError("no entry[]".into()))?;
    let mut out = Vec::new();
    for entry in entries {
        let Some(page_id) = json_str(entry, "id") else {
            continue;
        };
        for m in entry
            .get("messaging")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            out.extend(messaging(&page_id, m).map(InboundEvent::Message));
        }
        for c in entry
            .get("changes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if c.get("field").and_then(Value::as_str) == Some("feed")
                && let Some(value) = c.get("value")
            {
                out.extend(feed(&page_id, value).map(InboundEvent::Message));
            }
        }
    }
    Ok(super::attributable(out))
}

/// A Messenger message (other kinds — delivery, read, postback, reaction — carry no line).
fn messaging(page_id: &str, m: &Value) -> Option<InboundMessage> {
    let message = m.get("message")?;
    let mid = json_str(message, "mid")?;
    let from_brand = message.get("is_echo").and_then(Value::as_bool) == Some(true);
    let sender = m.get("sender").and_then(|s| json_str(s, "id"))?;
    let recipient = m.get("recipient").and_then(|s| json_str(s, "id"))?;
    let consumer = if from_brand { recipient } else { sender };
    let attachments = message.get("attachments").and_then(Value::as_array);
    let media = attachments
        .into_iter()
        .flatten()
        .filter_map(attachment)
        .collect();
    let links = attachments
        .into_iter()
        .flatten()
        .filter_map(shared_link)
        .collect();
    Some(InboundMessage {
        channel: Channel::Facebook,
        brand_id: page_id.to_owned(),
        consumer: ConsumerRef {
            network_id: consumer,
            ..Default::default()
        },
        network_id: mid,
        tag: Tag::Private,
        from_brand,
        text: json_str(message, "text").unwrap_or_default(),
        media,
        links,
        created_at_ms: json_i64(m, "timestamp").unwrap_or_default(),
        reply_to: message.get("reply_to").and_then(|r| json_str(r, "mid")),
        change: Change::New,
    })
}

fn attachment(a: &Value) -> Option<MediaRef> {
    let url = a.get("payload").and_then(|p| json_str(p, "url"));
    let sticker = a.get("payload").and_then(|p| p.get("sticker_id")).is_some();
    let kind = match a.get("type").and_then(Value::as_str)? {
        _ if sticker => MediaKind::Sticker,
        "image" if url.as_deref().is_some_and(is_gif_url) => MediaKind::Gif,
        "image" => MediaKind::Image,
        "sticker" => MediaKind::Sticker,
        "video" => MediaKind::Video,
        "audio" => MediaKind::Audio,
        "file" => MediaKind::File,
        // Templates and other structured content are not media a consumer sent; a
        // `fallback` is a shared link (see `shared_link`).
        _ => return None,
    };
    Some(MediaRef {
        kind,
        url,
        mime: None,
        poster_url: None,
    })
}

/// A `fallback` attachment: a link the person shared, `{"type": "fallback", "title", "url",
/// "payload": {"url"} | null}` (Messenger's `messages` webhook reference: "when a user
/// shares a URL with a Page, an attachment is created based on link sharing"; "a fallback
/// with no payload might be sent"). Its URL points anywhere on the web: it is a link to
/// show, never media to fetch.
fn shared_link(a: &Value) -> Option<SharedLink> {
    if a.get("type").and_then(Value::as_str) != Some("fallback") {
        return None;
    }
    let url = json_str(a, "url").or_else(|| a.get("payload").and_then(|p| json_str(p, "url")))?;
    let title =
        json_str(a, "title").or_else(|| a.get("payload").and_then(|p| json_str(p, "title")));
    SharedLink::new(title.as_deref(), &url)
}

fn is_gif_url(url: &str) -> bool {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    path.to_ascii_lowercase().ends_with(".gif")
}

/// A `feed` change: a post on the page, a comment, or a reply to a comment.
fn feed(page_id: &str, v: &Value) -> Option<InboundMessage> {
    let item = v.get("item").and_then(Value::as_str)?;
    let change = match v.get("verb").and_then(Value::as_str)? {
        "add" => Change::New,
        "edited" => Change::Edited,
        "remove" | "hide" => Change::Removed,
        _ => return None,
    };
    let from = v.get("from");
    let from_id = from.and_then(|f| json_str(f, "id")).unwrap_or_default();
    let from_brand = from_id == page_id;
    let (tag, network_id, reply_to) = match item {
        "comment" => (
            Tag::PublicComment,
            json_str(v, "comment_id")?,
            json_str(v, "parent_id").or_else(|| json_str(v, "post_id")),
        ),
        "status" | "post" | "photo" | "video" | "share" => {
            // The page's own posts start no conversation with anyone.
            if from_brand {
                return None;
            }
            (Tag::PublicPost, json_str(v, "post_id")?, None)
        }
        _ => return None,
    };
    let mut media = Vec::new();
    if let Some(url) = json_str(v, "photo") {
        let kind = if is_gif_url(&url) {
            MediaKind::Gif
        } else {
            MediaKind::Image
        };
        media.push(MediaRef {
            kind,
            url: Some(url),
            mime: None,
            poster_url: None,
        });
    }
    let mut links = Vec::new();
    match (item, json_str(v, "link")) {
        ("video", Some(url)) => media.push(MediaRef {
            kind: MediaKind::Video,
            url: Some(url),
            mime: None,
            poster_url: None,
        }),
        // A shared link on the page: shown, never fetched.
        ("share", Some(url)) => links.extend(SharedLink::new(None, &url)),
        _ => {}
    }
    Some(InboundMessage {
        channel: Channel::Facebook,
        brand_id: page_id.to_owned(),
        // For the page's own comments the consumer is found from what they answer.
        consumer: ConsumerRef {
            network_id: if from_brand { String::new() } else { from_id },
            handle: None,
            name: if from_brand {
                None
            } else {
                from.and_then(|f| json_str(f, "name"))
            },
        },
        network_id,
        tag,
        from_brand,
        text: json_str(v, "message").unwrap_or_default(),
        media,
        links,
        // Seconds from the network; a hostile value must not overflow.
        created_at_ms: json_i64(v, "created_time")
            .unwrap_or_default()
            .saturating_mul(1000),
        reply_to,
        change,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn one(body: Value) -> InboundMessage {
        let mut events = parse(body.to_string().as_bytes()).unwrap();
        assert_eq!(events.len(), 1, "{events:?}");
        match events.remove(0) {
            InboundEvent::Message(m) => m,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn messenger_text_and_attachments_are_private() {
        let m = one(
            json!({"object":"page","entry":[{"id":"111","time":1,"messaging":[{
            "sender":{"id":"222"},"recipient":{"id":"111"},"timestamp":1700000000123i64,
            "message":{"mid":"m_1","text":"hi","attachments":[
                {"type":"image","payload":{"url":"https://cdn.example/a.GIF?x=1"}},
                {"type":"image","payload":{"url":"https://cdn.example/b.jpg"}},
                {"type":"image","payload":{"url":"https://cdn.example/s.png","sticker_id":369239263222822i64}},
                {"type":"video","payload":{"url":"https://cdn.example/v.mp4"}},
                {"type":"audio","payload":{"url":"https://cdn.example/a.mp3"}},
                {"type":"file","payload":{"url":"https://cdn.example/f.pdf"}},
                {"type":"fallback","payload":null},
                {"type":"template","payload":{"template_type":"generic"}}
            ]}}]}]}),
        );
        assert_eq!(m.tag, Tag::Private);
        assert!(!m.from_brand);
        assert_eq!(m.consumer.network_id, "222");
        assert_eq!(m.network_id, "m_1");
        assert_eq!(m.created_at_ms, 1700000000123);
        assert!(
            m.links.is_empty(),
            "a fallback without a payload is no link"
        );
        let kinds: Vec<_> = m.media.iter().map(|x| x.kind).collect();
        assert_eq!(
            kinds,
            [
                MediaKind::Gif,
                MediaKind::Image,
                MediaKind::Sticker,
                MediaKind::Video,
                MediaKind::Audio,
                MediaKind::File,
            ]
        );
    }

    #[test]
    fn shared_links_are_links_not_media() {
        let m = one(json!({"object":"page","entry":[{"id":"111","messaging":[{
        "sender":{"id":"222"},"recipient":{"id":"111"},"timestamp":1,
        "message":{"mid":"m_3","text":"look","attachments":[
            {"type":"fallback","title":"Trail shoes","url":"https://shop.example/p?id=1",
             "payload":{"url":"https://shop.example/p?id=1"}},
            {"type":"fallback","title":"Only in the payload","payload":{"url":"http://127.0.0.1:9/x"}},
            {"type":"fallback","payload":null}
        ]}}]}]}));
        assert!(m.media.is_empty(), "{:?}", m.media);
        assert_eq!(
            m.links,
            [
                SharedLink {
                    title: Some("Trail shoes".into()),
                    url: "https://shop.example/p?id=1".into()
                },
                SharedLink {
                    title: Some("Only in the payload".into()),
                    url: "http://127.0.0.1:9/x".into()
                },
            ]
        );
        let share = one(
            json!({"object":"page","entry":[{"id":"111","changes":[{"field":"feed",
            "value":{"from":{"id":"301"},"item":"share","verb":"add","post_id":"111_7",
            "link":"https://news.example/a","message":"read this","created_time":1}}]}]}),
        );
        assert!(share.media.is_empty());
        assert_eq!(share.links[0].url, "https://news.example/a");
    }

    #[test]
    fn events_with_ids_of_another_shape_are_dropped_and_the_rest_kept() {
        let batch = json!({"object":"page","entry":[
            {"id":"111","messaging":[
                {"sender":{"id":"../222"},"recipient":{"id":"111"},"timestamp":1,
                 "message":{"mid":"m_1","text":"a"}},
                {"sender":{"id":"222"},"recipient":{"id":"111"},"timestamp":2,
                 "message":{"mid":"m_2?x","text":"b"}},
                {"sender":{"id":"222"},"recipient":{"id":"111"},"timestamp":3,
                 "message":{"mid":"m_3","text":"kept"}}]},
            {"id":"111/subscribed_apps","messaging":[
                {"sender":{"id":"222"},"recipient":{"id":"111"},"timestamp":4,
                 "message":{"mid":"m_4","text":"c"}}]},
            {"id":"111","changes":[
                {"field":"feed","value":{"from":{"id":"301"},"item":"comment","verb":"add",
                 "post_id":"111_1","comment_id":"1_2/comments","parent_id":"111_1","created_time":1}},
                {"field":"feed","value":{"from":{"id":"301"},"item":"comment","verb":"add",
                 "post_id":"111_1","comment_id":"1_3","parent_id":"111_1#x","created_time":1}},
                {"field":"feed","value":{"from":{"id":"30 1"},"item":"status","verb":"add",
                 "post_id":"111_5","created_time":1}}]}]});
        let events = parse(batch.to_string().as_bytes()).unwrap();
        assert_eq!(events.len(), 1, "{events:?}");
        assert!(matches!(&events[0], InboundEvent::Message(m) if m.network_id == "m_3"));
    }

    #[test]
    fn echoes_are_the_brands_and_name_the_recipient() {
        let m = one(json!({"object":"page","entry":[{"id":"111","messaging":[{
            "sender":{"id":"111"},"recipient":{"id":"222"},"timestamp":5,
            "message":{"mid":"m_2","text":"our answer","is_echo":true,"app_id":123}}]}]}));
        assert!(m.from_brand);
        assert_eq!(m.consumer.network_id, "222");
    }

    #[test]
    fn receipts_and_reads_carry_no_line() {
        let events = parse(
            json!({"object":"page","entry":[{"id":"111","messaging":[
                {"sender":{"id":"222"},"recipient":{"id":"111"},"delivery":{"mids":["m"]}},
                {"sender":{"id":"222"},"recipient":{"id":"111"},"read":{"watermark":1}}]}]})
            .to_string()
            .as_bytes(),
        )
        .unwrap();
        assert!(events.is_empty());
    }

    #[test]
    fn feed_posts_comments_replies_edits_and_removals() {
        let feed = |value: Value| json!({"object":"page","entry":[{"id":"111","time":1,"changes":[{"field":"feed","value":value}]}]});
        let post = one(feed(
            json!({"from":{"id":"301","name":"Ann"},"item":"status","verb":"add",
            "post_id":"111_1","message":"help","created_time":1700000000}),
        ));
        assert_eq!(post.tag, Tag::PublicPost);
        assert_eq!(post.network_id, "111_1");
        assert_eq!(post.consumer.name.as_deref(), Some("Ann"));
        assert_eq!(post.created_at_ms, 1_700_000_000_000);

        let photo = one(feed(
            json!({"from":{"id":"301"},"item":"photo","verb":"add",
            "post_id":"111_2","photo":"https://cdn.example/p.jpg","created_time":1}),
        ));
        assert_eq!(photo.media[0].kind, MediaKind::Image);

        let comment = one(feed(
            json!({"from":{"id":"302","name":"Bo"},"item":"comment","verb":"add",
            "post_id":"111_1","comment_id":"1_9","parent_id":"111_1","message":"me too","created_time":2}),
        ));
        assert_eq!(comment.tag, Tag::PublicComment);
        assert_eq!(comment.reply_to.as_deref(), Some("111_1"));

        let reply = one(feed(
            json!({"from":{"id":"302"},"item":"comment","verb":"add",
            "post_id":"111_1","comment_id":"1_10","parent_id":"1_9","message":"still","created_time":3}),
        ));
        assert_eq!(reply.reply_to.as_deref(), Some("1_9"));

        let edit = one(feed(
            json!({"from":{"id":"302"},"item":"comment","verb":"edited",
            "post_id":"111_1","comment_id":"1_10","parent_id":"1_9","message":"fixed","created_time":3}),
        ));
        assert_eq!(edit.change, Change::Edited);
        let gone = one(feed(
            json!({"from":{"id":"302"},"item":"comment","verb":"remove",
            "post_id":"111_1","comment_id":"1_10","parent_id":"1_9","created_time":3}),
        ));
        assert_eq!(gone.change, Change::Removed);

        let ours = one(feed(
            json!({"from":{"id":"111","name":"Acme"},"item":"comment","verb":"add",
            "post_id":"111_1","comment_id":"1_11","parent_id":"1_9","message":"on it","created_time":4}),
        ));
        assert!(ours.from_brand);
        assert!(ours.consumer.network_id.is_empty());

        let own_post = parse(
            feed(json!({"from":{"id":"111"},"item":"status","verb":"add",
            "post_id":"111_3","message":"news","created_time":5}))
            .to_string()
            .as_bytes(),
        )
        .unwrap();
        assert!(own_post.is_empty());
    }

    #[test]
    fn absurd_times_do_not_overflow() {
        let m = one(
            json!({"object":"page","entry":[{"id":"111","changes":[{"field":"feed","value":{
            "from":{"id":"301"},"item":"status","verb":"add","post_id":"111_9",
            "created_time": i64::MAX}}]}]}),
        );
        assert_eq!(m.created_at_ms, i64::MAX);
    }

    #[test]
    fn malformed_payloads_are_errors_not_panics() {
        for body in [
            &b"not json"[..],
            b"{}",
            b"{\"object\":\"user\"}",
            b"{\"object\":\"page\"}",
            b"[]",
        ] {
            assert!(parse(body).is_err(), "{}", String::from_utf8_lossy(body));
        }
        let odd = json!({"object":"page","entry":[{"id":5},{"id":"P","messaging":"x","changes":[1,{"field":"feed","value":{"item":7}}]}]});
        assert!(parse(odd.to_string().as_bytes()).unwrap().is_empty());
    }
}
