//! Twitter/X webhook payloads to the shared inbound model: X Activity API envelopes
//! (`{"data": {"event_type", "filter": {"user_id"}, "payload", "includes"}}`) first, and the
//! legacy Account Activity API (`{"for_user_id", "tweet_create_events", ...}`) until its end
//! of life on 2027-01-01. Formats: PLATFORMS.md, from X's `x-api/activity/event-payloads`
//! and Account Activity references.

use super::{ParseError, json_i64, json_str};
use serde_json::Value;
use shared::ids::IdKind;
use shared::inbound::{Change, ConsumerRef, InboundEvent, InboundMessage, MediaKind, MediaRef};
use shared::{Channel, Tag};
use std::collections::HashMap;

pub fn parse(body: &[u8]) -> Result<Vec<InboundEvent>, ParseError> {
    let root: Value = serde_json::from_slice(body).map_err(|e| ParseError(e.to_string()))?;
    if let Some(data) = root.get("data").filter(|d| d.get("event_type").is_some()) {
        return Ok(super::attributable(activity(data)));
    }
    if let Some(brand) = json_str(&root, "for_user_id") {
        return Ok(super::attributable(account_activity(&brand, &root)));
    }
    Err(ParseError(
        "neither an X Activity API event nor an Account Activity payload".into(),
    ))
}

// ---- X Activity API ----

fn activity(data: &Value) -> Vec<InboundEvent> {
    let brand = data
        .get("filter")
        .and_then(|f| json_str(f, "user_id"))
        .unwrap_or_default();
    let event_type = data.get("event_type").and_then(Value::as_str).unwrap_or("");
    let payload = data.get("payload").cloned().unwrap_or(Value::Null);
    let includes = data.get("includes").cloned().unwrap_or(Value::Null);
    match event_type {
        "post.mention.create" | "post.reply.create" | "post.create" => {
            // The payload is a v2 Post, sometimes wrapped as `{"data": Post}`.
            let post = payload.get("data").unwrap_or(&payload);
            v2_post(&brand, post, &includes, event_type == "post.reply.create")
                .map(InboundEvent::Message)
                .into_iter()
                .collect()
        }
        "dm.received" | "dm.sent" => dm_events(&brand, &payload, &includes),
        "oauth.revoke" => vec![InboundEvent::AccessRevoked {
            channel: Channel::Twitter,
            brand_id: brand,
        }],
        _ => Vec::new(),
    }
}

fn v2_post(brand: &str, post: &Value, includes: &Value, is_reply: bool) -> Option<InboundMessage> {
    let id = json_str(post, "id")?;
    let author = json_str(post, "author_id")?;
    let replied_to = json_str(post, "in_reply_to_tweet_id").or_else(|| {
        post.get("referenced_tweets")
            .and_then(Value::as_array)?
            .iter()
            .find(|r| r.get("type").and_then(Value::as_str) == Some("replied_to"))
            .and_then(|r| json_str(r, "id"))
    });
    let from_brand = author == brand;
    let users: HashMap<String, &Value> = includes
        .get("users")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|u| Some((json_str(u, "id")?, u)))
        .collect();
    let consumer_id = if from_brand {
        // The brand's own post: the conversation is with whoever it answers.
        json_str(post, "in_reply_to_user_id").unwrap_or_default()
    } else {
        author
    };
    let consumer_user = users.get(&consumer_id);
    let media = attached_media(post, includes);
    let tag = if is_reply || replied_to.is_some() {
        Tag::PublicThread
    } else {
        Tag::PublicPost
    };
    Some(InboundMessage {
        channel: Channel::Twitter,
        brand_id: brand.to_owned(),
        consumer: ConsumerRef {
            network_id: consumer_id,
            handle: consumer_user.and_then(|u| json_str(u, "username")),
            name: consumer_user.and_then(|u| json_str(u, "name")),
        },
        network_id: id,
        tag,
        from_brand,
        text: json_str(post, "text").unwrap_or_default(),
        media,
        links: Vec::new(),
        created_at_ms: post
            .get("created_at")
            .and_then(Value::as_str)
            .and_then(rfc3339_millis)
            .unwrap_or_default(),
        reply_to: replied_to,
        change: Change::New,
    })
}

/// The v2 media an object's `attachments.media_keys` name, looked up in `includes.media`.
fn attached_media(object: &Value, includes: &Value) -> Vec<MediaRef> {
    let media_by_key: HashMap<String, &Value> = includes
        .get("media")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|m| Some((json_str(m, "media_key")?, m)))
        .collect();
    object
        .get("attachments")
        .and_then(|a| a.get("media_keys"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        // A media key of another shape names nothing X sent.
        .filter_map(|k| k.as_str().filter(|k| IdKind::XMediaKey.fits(k)))
        .filter_map(|k| media_by_key.get(k))
        .filter_map(|m| v2_media(m))
        .collect()
}

fn v2_media(m: &Value) -> Option<MediaRef> {
    let kind = media_kind(m)?;
    Some(match kind {
        // Only photos carry `url`; a GIF or video is its variants and a preview still.
        MediaKind::Image => MediaRef {
            kind,
            url: json_str(m, "url"),
            mime: None,
            poster_url: None,
        },
        _ => moving(
            kind,
            best_mp4(m.get("variants"), "bit_rate"),
            json_str(m, "preview_image_url"),
        ),
    })
}

/// `photo`, `animated_gif` or `video`, the same word in v2 and v1.1 media.
fn media_kind(m: &Value) -> Option<MediaKind> {
    match m.get("type").and_then(Value::as_str)? {
        "photo" => Some(MediaKind::Image),
        "animated_gif" => Some(MediaKind::Gif),
        "video" => Some(MediaKind::Video),
        _ => None,
    }
}

/// The URL of the best MP4 among X's variants of a GIF or video: the highest bit rate
/// (`rate` is `bit_rate` in v2, `bitrate` in v1.1; a GIF's one MP4 says 0). HLS playlists
/// (`application/x-mpegURL`) are never chosen: a playlist is not a file to copy, and
/// browsers other than Safari do not play one in `<video>`.
fn best_mp4(variants: Option<&Value>, rate: &str) -> Option<String> {
    variants?
        .as_array()?
        .iter()
        .filter(|v| {
            v.get("content_type")
                .and_then(Value::as_str)
                .is_some_and(|t| t.eq_ignore_ascii_case("video/mp4"))
        })
        .filter_map(|v| Some((json_i64(v, rate).unwrap_or(0), json_str(v, "url")?)))
        .filter(|(_, url)| !url.is_empty())
        .max_by_key(|(rate, _)| *rate)
        .map(|(_, url)| url)
}

/// A GIF or video: X delivers both as MP4 with a still to show before it plays (an
/// animated GIF is never a GIF file). Without an MP4 there is nothing to copy, and the
/// still is not offered in its place.
fn moving(kind: MediaKind, mp4: Option<String>, still: Option<String>) -> MediaRef {
    MediaRef {
        kind,
        mime: mp4.is_some().then(|| "video/mp4".to_owned()),
        url: mp4,
        poster_url: still,
    }
}

// ---- Direct Messages (both APIs use `direct_message_events` with `message_create`) ----

/// `includes` holds the v2 media of v2-shaped DM events (AAA has none: `Value::Null`).
fn dm_events(brand: &str, payload: &Value, includes: &Value) -> Vec<InboundEvent> {
    let users = payload.get("users");
    payload
        .get("direct_message_events")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|e| dm(brand, e, users, includes))
        .map(InboundEvent::Message)
        .collect()
}

fn dm(brand: &str, e: &Value, users: Option<&Value>, includes: &Value) -> Option<InboundMessage> {
    let id = json_str(e, "id")?;
    let (sender, recipient, text, media, created) = if let Some(mc) = e.get("message_create") {
        let data = mc.get("message_data");
        (
            json_str(mc, "sender_id")?,
            mc.get("target").and_then(|t| json_str(t, "recipient_id"))?,
            data.and_then(|d| json_str(d, "text")).unwrap_or_default(),
            data.and_then(|d| d.get("attachment"))
                .and_then(|a| a.get("media"))
                .and_then(v1_media)
                .into_iter()
                .collect(),
            json_i64(e, "created_timestamp").unwrap_or_default(),
        )
    } else {
        // v2 DM event shape.
        let participants = e.get("participant_ids").and_then(Value::as_array);
        let sender = json_str(e, "sender_id")?;
        let recipient = participants
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .find(|p| *p != sender)
            .map(str::to_owned)
            .unwrap_or_else(|| brand.to_owned());
        (
            sender,
            recipient,
            json_str(e, "text").unwrap_or_default(),
            attached_media(e, includes),
            e.get("created_at")
                .and_then(Value::as_str)
                .and_then(rfc3339_millis)
                .unwrap_or_default(),
        )
    };
    let from_brand = sender == brand;
    let consumer_id = if from_brand { recipient } else { sender };
    let user = users.and_then(|u| u.get(&consumer_id));
    // Users map values are v1.1-style users or `{ "data": v2 user }`.
    let user = user.map(|u| u.get("data").unwrap_or(u));
    Some(InboundMessage {
        channel: Channel::Twitter,
        brand_id: brand.to_owned(),
        consumer: ConsumerRef {
            handle: user
                .and_then(|u| json_str(u, "username").or_else(|| json_str(u, "screen_name"))),
            name: user.and_then(|u| json_str(u, "name")),
            network_id: consumer_id,
        },
        network_id: id,
        tag: Tag::Private,
        from_brand,
        text,
        media,
        links: Vec::new(),
        created_at_ms: created,
        reply_to: None,
        change: Change::New,
    })
}

fn v1_media(m: &Value) -> Option<MediaRef> {
    let kind = media_kind(m)?;
    Some(match kind {
        MediaKind::Image => MediaRef {
            kind,
            url: json_str(m, "media_url_https"),
            mime: None,
            poster_url: None,
        },
        // For a GIF or video `media_url_https` is the still shown before it plays.
        _ => moving(
            kind,
            best_mp4(
                m.get("video_info").and_then(|v| v.get("variants")),
                "bitrate",
            ),
            json_str(m, "media_url_https"),
        ),
    })
}

// ---- Account Activity API (legacy) ----

fn account_activity(brand: &str, root: &Value) -> Vec<InboundEvent> {
    let mut out = Vec::new();
    for t in root
        .get("tweet_create_events")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        out.extend(v1_tweet(brand, t).map(InboundEvent::Message));
    }
    out.extend(dm_events(brand, root, &Value::Null));
    if root
        .get("user_event")
        .and_then(|u| u.get("revoke"))
        .is_some()
    {
        out.push(InboundEvent::AccessRevoked {
            channel: Channel::Twitter,
            brand_id: brand.to_owned(),
        });
    }
    out
}

fn v1_tweet(brand: &str, t: &Value) -> Option<InboundMessage> {
    let id = json_str(t, "id_str")?;
    let user = t.get("user")?;
    let author = json_str(user, "id_str")?;
    let from_brand = author == brand;
    let replied_to = json_str(t, "in_reply_to_status_id_str");
    let text = t
        .get("extended_tweet")
        .and_then(|x| json_str(x, "full_text"))
        .or_else(|| json_str(t, "text"))
        .unwrap_or_default();
    let media_list = t
        .get("extended_tweet")
        .and_then(|x| x.get("extended_entities"))
        .or_else(|| t.get("extended_entities"))
        .and_then(|e| e.get("media"))
        .and_then(Value::as_array);
    let media = media_list
        .into_iter()
        .flatten()
        .filter_map(v1_media)
        .collect();
    let (consumer_id, handle, name) = if from_brand {
        (
            json_str(t, "in_reply_to_user_id_str").unwrap_or_default(),
            json_str(t, "in_reply_to_screen_name"),
            None,
        )
    } else {
        (
            author,
            json_str(user, "screen_name"),
            json_str(user, "name"),
        )
    };
    Some(InboundMessage {
        channel: Channel::Twitter,
        brand_id: brand.to_owned(),
        consumer: ConsumerRef {
            network_id: consumer_id,
            handle,
            name,
        },
        network_id: id,
        tag: if replied_to.is_some() {
            Tag::PublicThread
        } else {
            Tag::PublicPost
        },
        from_brand,
        text,
        media,
        links: Vec::new(),
        created_at_ms: json_i64(t, "timestamp_ms").unwrap_or_default(),
        reply_to: replied_to,
        change: Change::New,
    })
}

/// Milliseconds since the epoch of an RFC 3339 time such as `2026-11-25T10:00:00.000Z`.
fn rfc3339_millis(s: &str) -> Option<i64> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    Some((t.unix_timestamp_nanos() / 1_000_000) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn messages(body: Value) -> Vec<InboundMessage> {
        parse(body.to_string().as_bytes())
            .unwrap()
            .into_iter()
            .filter_map(|e| match e {
                InboundEvent::Message(m) => Some(m),
                _ => None,
            })
            .collect()
    }

    fn xaa(event_type: &str, payload: Value, includes: Value) -> Value {
        json!({"data":{"event_uuid":"e1","filter":{"user_id":"100"},"event_type":event_type,
            "tag":"t","payload":payload,"includes":includes}})
    }

    #[test]
    fn mentions_are_posts_or_threads() {
        let users = json!({"users":[{"id":"201","username":"ann","name":"Ann A"}],
            "media":[{"media_key":"3_1","type":"animated_gif","variants":[
                {"content_type":"video/mp4","bit_rate":0,"url":"https://video.example/g.mp4"}]}]});
        let m = &messages(xaa(
            "post.mention.create",
            json!({"id":"301","text":"@brand help","author_id":"201",
            "created_at":"2026-11-25T10:00:00.000Z","attachments":{"media_keys":["3_1"]}}),
            users.clone(),
        ))[0];
        assert_eq!(m.tag, Tag::PublicPost);
        assert_eq!(m.consumer.handle.as_deref(), Some("ann"));
        assert_eq!(m.created_at_ms, 1_795_600_800_000);
        assert_eq!(m.media[0].kind, MediaKind::Gif);
        assert_eq!(
            m.media[0].url.as_deref(),
            Some("https://video.example/g.mp4")
        );

        let t = &messages(xaa(
            "post.mention.create",
            json!({"id":"302","text":"@brand again","author_id":"201",
            "in_reply_to_tweet_id":"300"}),
            users.clone(),
        ))[0];
        assert_eq!(t.tag, Tag::PublicThread);
        let r = &messages(xaa(
            "post.reply.create",
            json!({"data":{"id":"303","text":"reply","author_id":"201",
            "referenced_tweets":[{"type":"replied_to","id":"401"}]}}),
            users,
        ))[0];
        assert_eq!(r.tag, Tag::PublicThread);
        assert_eq!(r.reply_to.as_deref(), Some("401"));
    }

    #[test]
    fn the_brands_own_posts_and_dms_are_marked() {
        let p = &messages(xaa(
            "post.create",
            json!({"id":"402","text":"@ann done","author_id":"100",
            "in_reply_to_user_id":"201","in_reply_to_tweet_id":"301"}),
            json!({}),
        ))[0];
        assert!(p.from_brand);
        assert_eq!(p.consumer.network_id, "201");
        let d = &messages(xaa(
            "dm.sent",
            json!({"direct_message_events":[{"type":"message_create","id":"509",
            "created_timestamp":"1700000000000","message_create":{"target":{"recipient_id":"201"},
            "sender_id":"100","message_data":{"text":"hello"}}}]}),
            json!({}),
        ))[0];
        assert!(d.from_brand);
        assert_eq!(d.consumer.network_id, "201");
        assert_eq!(d.tag, Tag::Private);
    }

    #[test]
    fn received_dms_with_media_and_users() {
        let d = &messages(xaa(
            "dm.received",
            json!({"direct_message_events":[{"type":"message_create","id":"501",
            "created_timestamp":"1700000000001","message_create":{"target":{"recipient_id":"100"},
            "sender_id":"201","message_data":{"text":"pic","attachment":{"type":"media","media":{
            "type":"photo","media_url_https":"https://pbs.example/p.jpg"}}}}}],
            "users":{"201":{"data":{"id":"201","username":"ann","name":"Ann"}}}}),
            json!({}),
        ))[0];
        assert_eq!(d.created_at_ms, 1_700_000_000_001);
        assert_eq!(d.consumer.handle.as_deref(), Some("ann"));
        assert_eq!(d.media[0].url.as_deref(), Some("https://pbs.example/p.jpg"));
    }

    #[test]
    fn revocation_marks_the_account() {
        let e = parse(
            xaa("oauth.revoke", json!({}), json!({}))
                .to_string()
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(
            e,
            vec![InboundEvent::AccessRevoked {
                channel: Channel::Twitter,
                brand_id: "100".into()
            }]
        );
        let aaa = json!({"for_user_id":"100","user_event":{"revoke":{"source":{"user_id":"100"}}}});
        assert!(matches!(
            parse(aaa.to_string().as_bytes()).unwrap()[0],
            InboundEvent::AccessRevoked { .. }
        ));
    }

    #[test]
    fn account_activity_tweets_and_dms_map_the_same_way() {
        let body = json!({"for_user_id":"100",
            "tweet_create_events":[
                {"id_str":"305","text":"short","extended_tweet":{"full_text":"@brand the long text"},
                 "user":{"id_str":"202","screen_name":"bo","name":"Bo"},"timestamp_ms":"1700000000500",
                 "entities":{"user_mentions":[{"id_str":"100"}]}},
                {"id_str":"306","text":"@brand more","user":{"id_str":"202","screen_name":"bo"},
                 "in_reply_to_status_id_str":"305","timestamp_ms":"1700000000600",
                 "extended_entities":{"media":[{"type":"video","media_url_https":"https://pbs.example/poster.jpg",
                   "video_info":{"variants":[{"content_type":"video/mp4","bitrate":832000,"url":"https://v.example/hi.mp4"},
                   {"content_type":"video/mp4","bitrate":256000,"url":"https://v.example/lo.mp4"}]}}]}}],
            "direct_message_events":[{"type":"message_create","id":"502","created_timestamp":"1700000000700",
                "message_create":{"target":{"recipient_id":"100"},"sender_id":"202","message_data":{"text":"dm"}}}],
            "users":{"202":{"id":"202","screen_name":"bo","name":"Bo"}}});
        let m = messages(body);
        assert_eq!(m.len(), 3);
        assert_eq!(
            (m[0].tag, m[0].text.as_str()),
            (Tag::PublicPost, "@brand the long text")
        );
        assert_eq!(m[1].tag, Tag::PublicThread);
        assert_eq!(
            m[1].media[0].url.as_deref(),
            Some("https://v.example/hi.mp4")
        );
        assert_eq!(
            m[1].media[0].poster_url.as_deref(),
            Some("https://pbs.example/poster.jpg"),
            "a video's poster is kept"
        );
        assert_eq!(
            (m[2].tag, m[2].consumer.handle.as_deref()),
            (Tag::Private, Some("bo"))
        );
    }

    /// X's variants of one video as it lists them: an HLS playlist among MP4s of several
    /// bit rates, the best neither first nor last.
    fn video_variants(rate: &str) -> Value {
        json!([
            {"content_type":"video/mp4",rate:832_000,"url":"https://video.twimg.com/v/640x360.mp4?tag=12"},
            {"content_type":"application/x-mpegURL","url":"https://video.twimg.com/v/pl/list.m3u8?tag=12"},
            {"content_type":"video/mp4",rate:2_176_000,"url":"https://video.twimg.com/v/1280x720.mp4?tag=12"},
            {"content_type":"video/mp4",rate:256_000,"url":"https://video.twimg.com/v/480x270.mp4?tag=12"}
        ])
    }

    const BEST: &str = "https://video.twimg.com/v/1280x720.mp4?tag=12";
    const GIF_MP4: &str = "https://video.twimg.com/tweet_video/g.mp4";

    fn gif_variants(rate: &str) -> Value {
        json!([
            {"content_type":"application/x-mpegURL","url":"https://video.twimg.com/tweet_video/g.m3u8"},
            {"content_type":"video/mp4",rate:0,"url":GIF_MP4}
        ])
    }

    fn moving_media(kind: MediaKind, url: &str, poster: &str) -> MediaRef {
        MediaRef {
            kind,
            url: Some(url.into()),
            mime: Some("video/mp4".into()),
            poster_url: Some(poster.into()),
        }
    }

    #[test]
    fn xaa_gifs_and_videos_are_their_best_mp4_with_the_preview_as_poster() {
        let includes = json!({"users":[{"id":"201","username":"ann"}],"media":[
            {"media_key":"16_1","type":"animated_gif","preview_image_url":"https://pbs.twimg.com/tweet_video_thumb/g.jpg",
             "variants":gif_variants("bit_rate")},
            {"media_key":"7_2","type":"video","preview_image_url":"https://pbs.twimg.com/ext_tw_video_thumb/2/pu/img/v.jpg",
             "variants":video_variants("bit_rate")}]});
        let m = &messages(xaa(
            "post.mention.create",
            json!({"id":"301","text":"@brand look","author_id":"201",
                "attachments":{"media_keys":["16_1","7_2"]}}),
            includes.clone(),
        ))[0];
        assert_eq!(
            m.media,
            vec![
                moving_media(
                    MediaKind::Gif,
                    GIF_MP4,
                    "https://pbs.twimg.com/tweet_video_thumb/g.jpg"
                ),
                moving_media(
                    MediaKind::Video,
                    BEST,
                    "https://pbs.twimg.com/ext_tw_video_thumb/2/pu/img/v.jpg"
                ),
            ]
        );

        // A DM in the v2 event shape names its media by key in `includes`.
        let d = &messages(xaa(
            "dm.received",
            json!({"direct_message_events":[{"id":"401","event_type":"MessageCreate","text":"gif",
                "sender_id":"201","participant_ids":["201","100"],"created_at":"2026-11-25T10:00:00.000Z",
                "attachments":{"media_keys":["16_1"]}}]}),
            includes,
        ))[0];
        assert_eq!(d.tag, Tag::Private);
        assert_eq!(d.media.len(), 1, "{d:?}");
        assert_eq!(d.media[0].url.as_deref(), Some(GIF_MP4));
    }

    #[test]
    fn aaa_gifs_and_videos_in_posts_and_dms_are_their_best_mp4() {
        let gif = json!({"type":"animated_gif","media_url_https":"https://pbs.twimg.com/tweet_video_thumb/g.jpg",
            "video_info":{"aspect_ratio":[1,1],"variants":gif_variants("bitrate")}});
        let video = json!({"type":"video","media_url_https":"https://pbs.twimg.com/dm_video_preview/3/img/v.jpg",
            "video_info":{"variants":video_variants("bitrate")}});
        let body = json!({"for_user_id":"100",
            "tweet_create_events":[{"id_str":"307","text":"@brand gif","user":{"id_str":"202","screen_name":"bo"},
                "timestamp_ms":"1700000000500","extended_entities":{"media":[gif]}}],
            "direct_message_events":[{"type":"message_create","id":"403","created_timestamp":"1700000000700",
                "message_create":{"target":{"recipient_id":"100"},"sender_id":"202",
                "message_data":{"text":"video","attachment":{"type":"media","media":video}}}}]});
        let m = messages(body);
        assert_eq!(
            m[0].media,
            vec![moving_media(
                MediaKind::Gif,
                GIF_MP4,
                "https://pbs.twimg.com/tweet_video_thumb/g.jpg"
            )]
        );
        assert_eq!(
            m[1].media,
            vec![moving_media(
                MediaKind::Video,
                BEST,
                "https://pbs.twimg.com/dm_video_preview/3/img/v.jpg"
            )]
        );
    }

    #[test]
    fn without_an_mp4_there_is_nothing_to_copy_not_the_playlist_or_the_still() {
        let hls = json!([{"content_type":"application/x-mpegURL","url":"https://video.twimg.com/x.m3u8"}]);
        let v1 = json!({"for_user_id":"100","tweet_create_events":[{"id_str":"308","text":"@brand",
            "user":{"id_str":"202"},"extended_entities":{"media":[{"type":"video",
            "media_url_https":"https://pbs.twimg.com/still.jpg","video_info":{"variants":hls}}]}}]});
        let v2 = xaa(
            "post.mention.create",
            json!({"id":"309","text":"@brand","author_id":"201","attachments":{"media_keys":["16_9"]}}),
            json!({"media":[{"media_key":"16_9","type":"animated_gif",
                "preview_image_url":"https://pbs.twimg.com/still.jpg","variants":hls}]}),
        );
        for body in [v1, v2] {
            let m = &messages(body)[0].media[0];
            assert_eq!((m.url.as_deref(), m.mime.as_deref()), (None, None), "{m:?}");
            assert_eq!(
                m.poster_url.as_deref(),
                Some("https://pbs.twimg.com/still.jpg")
            );
        }
    }

    #[test]
    fn events_with_ids_of_another_shape_are_dropped() {
        let post = |id: &str, author: &str, reply: Option<&str>| {
            let mut p = json!({"id": id, "text": "@brand hi", "author_id": author});
            if let Some(r) = reply {
                p["in_reply_to_tweet_id"] = json!(r);
            }
            xaa("post.mention.create", p, json!({}))
        };
        for bad in [
            post("../301", "201", None),
            post("301", "201/following", None),
            post("301", "201", Some("300?x=1")),
            post("301 302", "201", None),
            post("301#x", "201", None),
        ] {
            assert!(messages(bad.clone()).is_empty(), "{bad}");
        }
        assert_eq!(messages(post("301", "201", Some("300"))).len(), 1);
        let dm = |id: &str, sender: &str| {
            json!({"for_user_id":"100","direct_message_events":[{"type":"message_create","id":id,
                "created_timestamp":"1","message_create":{"target":{"recipient_id":"100"},
                "sender_id":sender,"message_data":{"text":"hi"}}}]})
        };
        assert!(messages(dm("5/01", "201")).is_empty());
        assert!(messages(dm("501", "..")).is_empty());
        assert_eq!(messages(dm("501", "201")).len(), 1);
        let revoked = json!({"for_user_id":"10 0","user_event":{"revoke":{}}});
        assert!(parse(revoked.to_string().as_bytes()).unwrap().is_empty());
        // A media key of another shape is not looked up.
        let keyed = messages(xaa(
            "post.mention.create",
            json!({"id":"301","text":"x","author_id":"201","attachments":{"media_keys":["../3_1"]}}),
            json!({"media":[{"media_key":"../3_1","type":"photo","url":"https://pbs.twimg.com/a.jpg"}]}),
        ));
        assert!(keyed[0].media.is_empty());
    }

    #[test]
    fn malformed_payloads_are_errors_not_panics() {
        for body in [&b"nope"[..], b"{}", b"[]", b"{\"data\":{}}"] {
            assert!(parse(body).is_err());
        }
        let odd = json!({"data":{"event_type":"dm.received","payload":{"direct_message_events":[1,{"id":"9"}]}}});
        assert!(parse(odd.to_string().as_bytes()).unwrap().is_empty());
    }
}
