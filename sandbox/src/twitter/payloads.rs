//! JSON shapes: v2 users, posts and media (X API v2 data dictionary), v1.1 users, tweets
//! and media entities (the Account Activity API's objects), and DM `message_create`
//! events (X docs, "Message Create Object").

use super::{Dm, Media, State, Tweet, Twitter, User, iso, rules, v1_date};
use serde_json::{Value, json};

/// The v2 user fields the sandbox knows; `id`, `name`, `username` always come.
pub const USER_FIELDS: &[&str] = &[
    "created_at",
    "description",
    "location",
    "url",
    "public_metrics",
    "profile_image_url",
    "protected",
    "verified",
];

impl Twitter {
    pub(crate) fn avatar(&self, u: &User) -> String {
        format!("{}/twitter/media/avatar_{}", self.shared.url, u.id)
    }

    /// A v2 user with the requested `user.fields` (all known ones when `fields` is None).
    pub(crate) fn v2_user(&self, u: &User, fields: Option<&[String]>) -> Value {
        let want = |f: &str| fields.is_none_or(|l| l.iter().any(|x| x == f));
        let mut v = json!({"id": u.id, "name": u.name, "username": u.username});
        let m = v.as_object_mut().expect("object");
        if want("created_at") {
            m.insert("created_at".into(), json!(iso(u.created_ms)));
        }
        if want("description") {
            m.insert("description".into(), json!(u.description));
        }
        if want("location") {
            m.insert("location".into(), json!(u.location));
        }
        if want("url") {
            m.insert("url".into(), json!(u.url));
        }
        if want("public_metrics") {
            m.insert(
                "public_metrics".into(),
                json!({
                    "followers_count": u.followers,
                    "following_count": u.following,
                    "tweet_count": 0,
                    "listed_count": u.listed,
                    "like_count": u.likes,
                }),
            );
        }
        if want("profile_image_url") {
            m.insert("profile_image_url".into(), json!(self.avatar(u)));
        }
        if want("protected") {
            m.insert("protected".into(), json!(u.protected));
        }
        if want("verified") {
            m.insert("verified".into(), json!(false));
        }
        v
    }

    pub(crate) fn v2_user_counted(&self, st: &State, u: &User, fields: Option<&[String]>) -> Value {
        let mut v = self.v2_user(u, fields);
        if let Some(pm) = v.get_mut("public_metrics") {
            pm["tweet_count"] = json!(st.tweets.iter().filter(|t| t.author_id == u.id).count());
        }
        v
    }

    /// A v2 Post with the fields the Activity API delivers.
    pub(crate) fn v2_post(&self, st: &State, t: &Tweet) -> Value {
        let mut v = json!({
            "id": t.id,
            "text": t.text,
            "author_id": t.author_id,
            "conversation_id": t.conversation_id,
            "created_at": iso(t.created_ms),
            "edit_history_tweet_ids": [t.id],
            "lang": "en",
        });
        let mentions: Vec<Value> = rules::mentions(&t.text)
            .into_iter()
            .map(|(s, e, h)| {
                let id = st
                    .users
                    .values()
                    .find(|u| u.username.eq_ignore_ascii_case(&h))
                    .map(|u| u.id.clone());
                json!({"start": s, "end": e, "username": h, "id": id})
            })
            .collect();
        if !mentions.is_empty() {
            v["entities"] = json!({ "mentions": mentions });
        }
        if let Some(p) = &t.in_reply_to {
            v["in_reply_to_user_id"] = json!(t.in_reply_to_user);
            v["in_reply_to_tweet_id"] = json!(p);
            v["referenced_tweets"] = json!([{"type": "replied_to", "id": p}]);
        }
        if !t.media_ids.is_empty() {
            let keys: Vec<String> = t
                .media_ids
                .iter()
                .filter_map(|m| st.media.get(m))
                .map(Media::key)
                .collect();
            v["attachments"] = json!({ "media_keys": keys });
        }
        v
    }

    /// A v2 media object: a photo's `url`, or a GIF's or video's `preview_image_url` and
    /// `variants` (see [`super::video`]).
    pub(crate) fn v2_media(&self, m: &Media) -> Value {
        let (_, kind) = rules::key_prefix(&m.media_type);
        let mut v = json!({"media_key": m.key(), "type": kind, "width": 640, "height": 480});
        match self.renditions(m) {
            None => v["url"] = json!(self.media_url(&m.key())),
            Some(r) => {
                v["preview_image_url"] = json!(r.preview);
                v["variants"] = Twitter::variants(&r, "bit_rate");
            }
        }
        v
    }

    /// `includes` for a post: its author, mentioned users, the replied-to author, media.
    pub(crate) fn v2_includes(&self, st: &State, t: &Tweet) -> Value {
        let mut ids = vec![t.author_id.clone()];
        if let Some(u) = &t.in_reply_to_user {
            ids.push(u.clone());
        }
        for (_, _, h) in rules::mentions(&t.text) {
            if let Some(u) = st
                .users
                .values()
                .find(|u| u.username.eq_ignore_ascii_case(&h))
            {
                ids.push(u.id.clone());
            }
        }
        ids.dedup();
        let mut seen = Vec::new();
        let users: Vec<Value> = ids
            .iter()
            .filter(|id| {
                let new = !seen.contains(*id);
                seen.push((*id).clone());
                new
            })
            .filter_map(|id| st.users.get(id))
            .map(|u| self.v2_user_counted(st, u, None))
            .collect();
        let media: Vec<Value> = t
            .media_ids
            .iter()
            .filter_map(|m| st.media.get(m))
            .map(|m| self.v2_media(m))
            .collect();
        let mut inc = json!({ "users": users });
        if !media.is_empty() {
            inc["media"] = json!(media);
        }
        inc
    }

    /// A v1.1 user object.
    pub(crate) fn v1_user(&self, st: &State, u: &User) -> Value {
        json!({
            "id": u.id.parse::<u64>().unwrap_or_default(),
            "id_str": u.id,
            "name": u.name,
            "screen_name": u.username,
            "location": u.location,
            "url": if u.url.is_empty() { Value::Null } else { json!(u.url) },
            "description": u.description,
            "protected": u.protected,
            "verified": false,
            "followers_count": u.followers,
            "friends_count": u.following,
            "listed_count": u.listed,
            "favourites_count": u.likes,
            "statuses_count": st.tweets.iter().filter(|t| t.author_id == u.id).count(),
            "created_at": v1_date(u.created_ms),
            "profile_image_url_https": self.avatar(u),
            "default_profile_image": false,
        })
    }

    /// A v1.1 media entity.
    pub(crate) fn v1_media(&self, m: &Media) -> Value {
        self.v1_media_at(m, &self.media_url(&m.key()))
    }

    /// A v1.1 media entity; a photo's file is at `photo_url`. For a GIF or video
    /// `media_url_https` is the preview still and the MP4s are in `video_info.variants`.
    fn v1_media_at(&self, m: &Media, photo_url: &str) -> Value {
        let (_, kind) = rules::key_prefix(&m.media_type);
        let renditions = self.renditions(m);
        let url = renditions.as_ref().map_or(photo_url, |r| &r.preview);
        let mut v = json!({
            "id": m.id.parse::<u64>().unwrap_or_default(),
            "id_str": m.id,
            "media_url": url,
            "media_url_https": url,
            "url": url,
            "display_url": format!("pic.x.com/{}", m.id),
            "expanded_url": url,
            "type": kind,
            "sizes": {"large": {"w": 640, "h": 480, "resize": "fit"}},
        });
        if let Some(r) = &renditions {
            v["video_info"] = json!({
                "aspect_ratio": [4, 3],
                "variants": Twitter::variants(r, "bitrate"),
            });
            if kind == "video" {
                v["video_info"]["duration_millis"] = json!(2000);
            }
        }
        v
    }

    /// A v1.1 tweet, as in the Account Activity API's `tweet_create_events`.
    pub(crate) fn v1_tweet(&self, st: &State, t: &Tweet) -> Value {
        let author = st.users.get(&t.author_id);
        let mentions: Vec<Value> = rules::mentions(&t.text)
            .into_iter()
            .map(|(s, e, h)| {
                let u = st
                    .users
                    .values()
                    .find(|u| u.username.eq_ignore_ascii_case(&h));
                json!({
                    "screen_name": u.map(|u| u.username.clone()).unwrap_or(h),
                    "name": u.map(|u| u.name.clone()),
                    "id": u.and_then(|u| u.id.parse::<u64>().ok()),
                    "id_str": u.map(|u| u.id.clone()),
                    "indices": [s, e],
                })
            })
            .collect();
        let media: Vec<Value> = t
            .media_ids
            .iter()
            .filter_map(|m| st.media.get(m))
            .map(|m| self.v1_media(m))
            .collect();
        let len = t.text.chars().count();
        let mut v = json!({
            "created_at": v1_date(t.created_ms),
            "id": t.id.parse::<u64>().unwrap_or_default(),
            "id_str": t.id,
            "text": t.text,
            "truncated": false,
            "display_text_range": [0, len],
            "source": "<a href=\"https://x.com\" rel=\"nofollow\">X Web App</a>",
            "in_reply_to_status_id": t.in_reply_to.as_ref().and_then(|p| p.parse::<u64>().ok()),
            "in_reply_to_status_id_str": t.in_reply_to,
            "in_reply_to_user_id": t.in_reply_to_user.as_ref().and_then(|p| p.parse::<u64>().ok()),
            "in_reply_to_user_id_str": t.in_reply_to_user,
            "in_reply_to_screen_name": t.in_reply_to_user.as_ref().and_then(|u| st.users.get(u)).map(|u| u.username.clone()),
            "user": author.map(|u| self.v1_user(st, u)),
            "is_quote_status": false,
            "entities": {"hashtags": [], "urls": [], "user_mentions": mentions, "symbols": []},
            "lang": "en",
            "timestamp_ms": t.created_ms.to_string(),
        });
        if !media.is_empty() {
            v["entities"]["media"] = json!(media);
            v["extended_entities"] = json!({ "media": media });
        }
        v
    }

    /// A `message_create` DM event.
    pub(crate) fn dm_event(&self, st: &State, d: &Dm) -> Value {
        let mut data = json!({
            "text": d.text,
            "entities": {"hashtags": [], "symbols": [], "user_mentions": [], "urls": []},
        });
        if let Some(m) = d.media_id.as_ref().and_then(|m| st.media.get(m)) {
            // DM photos live on `ton.twitter.com` and need a signed GET (see `dm_media`);
            // a GIF's or video's files are on the video host like a post's.
            let url = format!(
                "{}/1.1/ton/data/dm/{}/{}/{}.{}",
                self.api_url(),
                d.id,
                m.id,
                m.key(),
                m.media_type.rsplit('/').next().unwrap_or("bin")
            );
            data["attachment"] = json!({"type": "media", "media": self.v1_media_at(m, &url)});
        }
        json!({
            "type": "message_create",
            "id": d.id,
            "created_timestamp": d.created_ms.to_string(),
            "message_create": {
                "target": {"recipient_id": d.recipient_id},
                "sender_id": d.sender_id,
                "source_app_id": self.app_id,
                "message_data": data,
            },
        })
    }
}
