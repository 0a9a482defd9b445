//! The simulated Twitter/X: OAuth 1.0a, webhooks with CRC, the X Activity API and the
//! legacy Account Activity API, posts, Direct Messages, media upload and users.
//!
//! Routes below `/twitter`: `/api/...` stands in for `https://api.x.com`, `/upload/...`
//! for the media upload host, `/media/...` serves media bytes (photos as uploaded, GIFs
//! and videos as X delivers them: see [`video`]), `/console` is the consumer's console.

mod api;
mod console;
mod events;
pub mod oauth;
mod payloads;
pub mod rules;
mod video;

pub use video::{GIF_MP4, PREVIEW_JPEG};

use crate::Credentials;
use crate::common::{Shared, now_millis, random_alnum, random_digits};
use axum::Router;
use axum::routing::{any, get, post};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

/// Which webhook format deliveries for a brand use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// X Activity API envelopes (`{"data":{"event_type",...}}`).
    Xaa,
    /// Legacy Account Activity API payloads (`{"for_user_id",...}`), until 2027-01-01.
    Aaa,
}

/// A brand account with an access token pair already authorised for the app, as the
/// developer portal hands one out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Brand {
    pub id: String,
    pub screen_name: String,
    pub name: String,
    pub access_token: String,
    pub access_token_secret: String,
}

/// A consumer (a person writing to the brand).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consumer {
    pub id: String,
    pub screen_name: String,
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsumerOptions {
    /// Whether the consumer accepts DMs from accounts they have not written to.
    pub accepts_dms: bool,
    /// A protected account: its posts are not delivered by the Activity API.
    pub protected: bool,
}

impl Default for ConsumerOptions {
    fn default() -> Self {
        ConsumerOptions {
            accepts_dms: true,
            protected: false,
        }
    }
}

/// A file a consumer attaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaFile {
    pub mime: String,
    pub bytes: Vec<u8>,
}

/// A post as tests and the console see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TweetView {
    pub id: String,
    pub author_id: String,
    pub author_screen_name: String,
    pub text: String,
    pub in_reply_to_tweet_id: Option<String>,
    pub conversation_id: String,
    pub created_at_ms: u64,
    /// URLs of the attached media (served by the sandbox): a photo's file, a GIF's or
    /// video's best MP4.
    pub media_urls: Vec<String>,
}

/// A Direct Message as tests and the console see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DmView {
    pub id: String,
    pub sender_id: String,
    pub recipient_id: String,
    pub text: String,
    pub created_at_ms: u64,
    /// As in [`TweetView::media_urls`].
    pub media_url: Option<String>,
}

/// A registered webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookView {
    pub id: String,
    pub url: String,
    pub valid: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct User {
    pub id: String,
    pub username: String,
    pub name: String,
    pub created_ms: u64,
    pub description: String,
    pub location: String,
    pub url: String,
    pub protected: bool,
    pub accepts_dms: bool,
    pub followers: u64,
    pub following: u64,
    pub likes: u64,
    pub listed: u64,
}

#[derive(Debug, Clone)]
pub(crate) struct Tweet {
    pub id: String,
    pub author_id: String,
    pub text: String,
    pub created_ms: u64,
    pub conversation_id: String,
    pub in_reply_to: Option<String>,
    pub in_reply_to_user: Option<String>,
    pub media_ids: Vec<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct Dm {
    pub id: String,
    pub sender_id: String,
    pub recipient_id: String,
    pub text: String,
    pub created_ms: u64,
    pub media_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum MediaState {
    Uploading,
    Pending,
    InProgress,
    Succeeded,
    Failed(String),
}

#[derive(Debug, Clone)]
pub(crate) struct Media {
    pub id: String,
    pub owner_id: String,
    pub media_type: String,
    pub category: String,
    pub total_bytes: u64,
    pub segments: BTreeMap<u64, Vec<u8>>,
    pub state: MediaState,
    pub created_ms: u64,
}

impl Media {
    pub fn key(&self) -> String {
        format!("{}_{}", rules::key_prefix(&self.media_type).0, self.id)
    }
    pub fn bytes(&self) -> Vec<u8> {
        self.segments.values().flatten().copied().collect()
    }
    pub fn size(&self) -> u64 {
        self.segments.values().map(|s| s.len() as u64).sum()
    }
}

#[derive(Debug, Clone)]
pub(crate) enum TokenKind {
    /// A request token: its callback, and once authorised the user and verifier.
    Request {
        callback: String,
        authorized: Option<(String, String)>,
    },
    Access {
        user_id: String,
    },
}

#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub secret: String,
    pub kind: TokenKind,
}

#[derive(Debug, Clone)]
pub(crate) struct Webhook {
    pub id: String,
    pub url: String,
    pub valid: bool,
    pub created_ms: u64,
}

#[derive(Debug, Clone)]
pub(crate) struct XaaSub {
    pub id: String,
    pub event_type: String,
    pub user_id: String,
    pub webhook_id: Option<String>,
    pub tag: Option<String>,
    pub created_ms: u64,
}

#[derive(Default)]
pub(crate) struct State {
    pub users: BTreeMap<String, User>,
    pub brands: HashSet<String>,
    pub tweets: Vec<Tweet>,
    pub dms: Vec<Dm>,
    pub media: HashMap<String, Media>,
    pub tokens: HashMap<String, Token>,
    pub bearer: String,
    pub nonces: HashSet<String>,
    pub webhooks: Vec<Webhook>,
    pub xaa_subs: Vec<XaaSub>,
    /// Account Activity subscriptions: (webhook id, user id).
    pub aaa_subs: Vec<(String, String)>,
    pub default_format: Option<Format>,
    pub formats: HashMap<String, Format>,
    /// Per-endpoint request budget: endpoint → (window start secs, count).
    pub budget: HashMap<String, (u64, u32)>,
}

#[derive(Clone)]
pub struct Twitter {
    pub(crate) shared: Shared,
    pub(crate) consumer_key: String,
    pub(crate) consumer_secret: String,
    pub(crate) app_id: String,
    pub(crate) state: Arc<Mutex<State>>,
    pub(crate) http: reqwest::Client,
}

impl Twitter {
    pub fn new(shared: Shared, credentials: &Credentials) -> Self {
        let state = State {
            bearer: format!("AAAAAAAAAAAAAAAAAAAAA{}", random_alnum(80)),
            ..State::default()
        };
        Twitter {
            shared,
            consumer_key: credentials.twitter_consumer_key.clone(),
            consumer_secret: credentials.twitter_consumer_secret.clone(),
            app_id: random_digits(8),
            state: Arc::new(Mutex::new(state)),
            http: crate::common::product_client()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("reqwest client"),
        }
    }

    /// Routes below `/twitter`.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/api/{*rest}", any(api::dispatch_api))
            .route("/upload/{*rest}", any(api::dispatch_upload))
            .route("/media/{*path}", get(video::serve))
            .route("/console", get(console::page))
            .route("/console/tweet", post(console::tweet))
            .route("/console/reply", post(console::reply))
            .route("/console/dm", post(console::dm))
            .with_state(self.clone())
    }

    pub fn api_url(&self) -> String {
        format!("{}/twitter/api", self.shared.url)
    }

    pub fn upload_url(&self) -> String {
        format!("{}/twitter/upload", self.shared.url)
    }

    /// The sandbox-wide state (call log, faults, webhook log).
    pub fn shared(&self) -> &Shared {
        &self.shared
    }

    pub fn consumer_key(&self) -> &str {
        &self.consumer_key
    }

    pub fn consumer_secret(&self) -> &str {
        &self.consumer_secret
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn media_url(&self, key: &str) -> String {
        format!("{}/twitter/media/{key}", self.shared.url)
    }

    fn new_user(screen_name: &str, name: &str) -> User {
        User {
            id: random_digits(18),
            username: screen_name.trim_start_matches('@').to_owned(),
            name: name.to_owned(),
            created_ms: now_millis() - 86_400_000 * 400,
            description: format!("Hi, I am {name}."),
            location: "Sandbox City".to_owned(),
            url: String::new(),
            protected: false,
            accepts_dms: true,
            followers: 120,
            following: 80,
            likes: 42,
            listed: 1,
        }
    }

    /// Seeds a brand account with an authorised access token pair.
    pub fn add_brand(&self, screen_name: &str, name: &str) -> Brand {
        let mut user = Self::new_user(screen_name, name);
        user.description = format!("Official account of {name}.");
        user.followers = 25_000;
        let access_token = format!("{}-{}", user.id, random_alnum(40));
        let access_token_secret = random_alnum(45);
        let brand = Brand {
            id: user.id.clone(),
            screen_name: user.username.clone(),
            name: name.to_owned(),
            access_token: access_token.clone(),
            access_token_secret: access_token_secret.clone(),
        };
        let mut st = self.lock();
        st.brands.insert(user.id.clone());
        st.tokens.insert(
            access_token,
            Token {
                secret: access_token_secret,
                kind: TokenKind::Access {
                    user_id: user.id.clone(),
                },
            },
        );
        st.users.insert(user.id.clone(), user);
        brand
    }

    pub fn add_consumer(&self, screen_name: &str, name: &str) -> Consumer {
        self.add_consumer_with(screen_name, name, ConsumerOptions::default())
    }

    pub fn add_consumer_with(
        &self,
        screen_name: &str,
        name: &str,
        options: ConsumerOptions,
    ) -> Consumer {
        let mut user = Self::new_user(screen_name, name);
        user.accepts_dms = options.accepts_dms;
        user.protected = options.protected;
        let c = Consumer {
            id: user.id.clone(),
            screen_name: user.username.clone(),
            name: name.to_owned(),
        };
        self.lock().users.insert(user.id.clone(), user);
        c
    }

    /// The brand accounts, as (id, screen name).
    pub fn brands(&self) -> Vec<(String, String)> {
        let st = self.lock();
        st.users
            .values()
            .filter(|u| st.brands.contains(&u.id))
            .map(|u| (u.id.clone(), u.username.clone()))
            .collect()
    }

    /// The consumers.
    pub fn consumers(&self) -> Vec<Consumer> {
        let st = self.lock();
        st.users
            .values()
            .filter(|u| !st.brands.contains(&u.id))
            .map(|u| Consumer {
                id: u.id.clone(),
                screen_name: u.username.clone(),
                name: u.name.clone(),
            })
            .collect()
    }

    /// Delivery format for every brand without its own setting (default XAA).
    pub fn set_default_format(&self, format: Format) {
        self.lock().default_format = Some(format);
    }

    /// Delivery format for one brand.
    pub fn set_format(&self, brand_id: &str, format: Format) {
        self.lock().formats.insert(brand_id.to_owned(), format);
    }

    pub(crate) fn format_of(st: &State, user_id: &str) -> Format {
        st.formats
            .get(user_id)
            .copied()
            .or(st.default_format)
            .unwrap_or(Format::Xaa)
    }

    /// Stores consumer media as a finished upload of theirs; returns its media id.
    fn store_consumer_media(&self, owner: &str, file: &MediaFile, dm: bool) -> String {
        let kind = match rules::key_prefix(&file.mime).1 {
            "animated_gif" => "gif",
            "video" => "video",
            _ => "image",
        };
        let id = random_digits(19);
        let media = Media {
            id: id.clone(),
            owner_id: owner.to_owned(),
            media_type: file.mime.clone(),
            category: format!("{}_{kind}", if dm { "dm" } else { "tweet" }),
            total_bytes: file.bytes.len() as u64,
            segments: BTreeMap::from([(0, file.bytes.clone())]),
            state: MediaState::Succeeded,
            created_ms: now_millis(),
        };
        self.lock().media.insert(id.clone(), media);
        id
    }

    /// The consumer posts (normally @mentioning the brand). Returns the post id.
    pub fn consumer_tweet(&self, consumer: &Consumer, text: &str, media: Vec<MediaFile>) -> String {
        let media_ids = media
            .iter()
            .map(|m| self.store_consumer_media(&consumer.id, m, false))
            .collect();
        let tweet = self.insert_tweet(&consumer.id, text, None, media_ids);
        self.emit_tweet(&tweet);
        tweet.id
    }

    /// The consumer replies to a post. Errors when the post does not exist.
    pub fn consumer_reply(
        &self,
        consumer: &Consumer,
        in_reply_to: &str,
        text: &str,
        media: Vec<MediaFile>,
    ) -> Result<String, String> {
        if !self.lock().tweets.iter().any(|t| t.id == in_reply_to) {
            return Err(format!("no post {in_reply_to}"));
        }
        let media_ids = media
            .iter()
            .map(|m| self.store_consumer_media(&consumer.id, m, false))
            .collect();
        let tweet = self.insert_tweet(&consumer.id, text, Some(in_reply_to), media_ids);
        self.emit_tweet(&tweet);
        Ok(tweet.id)
    }

    /// The consumer sends the brand a DM. Returns the DM event id.
    pub fn consumer_dm(
        &self,
        consumer: &Consumer,
        brand_id: &str,
        text: &str,
        media: Option<MediaFile>,
    ) -> Result<String, String> {
        if !self.lock().users.contains_key(brand_id) {
            return Err(format!("no user {brand_id}"));
        }
        let media_id = media.map(|m| self.store_consumer_media(&consumer.id, &m, true));
        let dm = self.insert_dm(&consumer.id, brand_id, text, media_id);
        self.emit_dm(&dm);
        Ok(dm.id)
    }

    /// The brand revokes the app's access: its tokens stop working, its subscriptions
    /// end, and `oauth.revoke` / `user_event` is delivered.
    pub fn revoke(&self, brand_id: &str) {
        self.emit_revoke(brand_id);
        let mut st = self.lock();
        st.tokens.retain(
            |_, t| !matches!(&t.kind, TokenKind::Access { user_id } if user_id == brand_id),
        );
        st.aaa_subs.retain(|(_, u)| u != brand_id);
        st.xaa_subs
            .retain(|s| s.user_id != brand_id || !events::is_private(&s.event_type));
    }

    /// Runs the CRC against every registered webhook again (X does this periodically),
    /// marking failures invalid. Returns (webhook id, valid).
    pub async fn recheck_crc(&self) -> Vec<(String, bool)> {
        let hooks: Vec<Webhook> = self.lock().webhooks.clone();
        let mut out = Vec::new();
        for h in hooks {
            let ok = self.crc(&h.url).await.is_ok();
            if let Some(w) = self.lock().webhooks.iter_mut().find(|w| w.id == h.id) {
                w.valid = ok;
            }
            out.push((h.id, ok));
        }
        out
    }

    /// The X Activity API event types delivered for `user_id`: its subscriptions on a
    /// webhook that passed its CRC (a test waits for these before the consumer writes).
    pub fn subscribed_events(&self, user_id: &str) -> Vec<String> {
        let st = self.lock();
        st.xaa_subs
            .iter()
            .filter(|s| s.user_id == user_id)
            .filter(|s| Self::webhook_url(&st, s.webhook_id.as_deref()).is_some())
            .map(|s| s.event_type.clone())
            .collect()
    }

    /// Whether what `user_id`'s consumers write now reaches a webhook, in the format the
    /// account delivers in: mentions and DMs subscribed (X Activity API), or the account
    /// subscribed (Account Activity API), on a webhook that passed its CRC. X delivers
    /// nothing written before that, so a test waits for it before the consumer writes.
    pub fn delivering(&self, user_id: &str) -> bool {
        let st = self.lock();
        match Self::format_of(&st, user_id) {
            Format::Aaa => st
                .aaa_subs
                .iter()
                .any(|(w, u)| u == user_id && Self::webhook_url(&st, Some(w)).is_some()),
            Format::Xaa => {
                drop(st);
                let events = self.subscribed_events(user_id);
                ["post.mention.create", "dm.received"]
                    .iter()
                    .all(|e| events.iter().any(|s| s == e))
            }
        }
    }

    pub fn webhooks(&self) -> Vec<WebhookView> {
        self.lock()
            .webhooks
            .iter()
            .map(|w| WebhookView {
                id: w.id.clone(),
                url: w.url.clone(),
                valid: w.valid,
            })
            .collect()
    }

    fn view(&self, st: &State, t: &Tweet) -> TweetView {
        TweetView {
            id: t.id.clone(),
            author_id: t.author_id.clone(),
            author_screen_name: st
                .users
                .get(&t.author_id)
                .map(|u| u.username.clone())
                .unwrap_or_default(),
            text: t.text.clone(),
            in_reply_to_tweet_id: t.in_reply_to.clone(),
            conversation_id: t.conversation_id.clone(),
            created_at_ms: t.created_ms,
            media_urls: t
                .media_ids
                .iter()
                .filter_map(|m| st.media.get(m))
                .map(|m| self.shown_url(m))
                .collect(),
        }
    }

    pub fn tweet(&self, id: &str) -> Option<TweetView> {
        let st = self.lock();
        st.tweets
            .iter()
            .find(|t| t.id == id)
            .map(|t| self.view(&st, t))
    }

    /// Every post of the conversation `tweet_id` belongs to, oldest first.
    pub fn thread(&self, tweet_id: &str) -> Vec<TweetView> {
        let st = self.lock();
        let Some(conv) = st
            .tweets
            .iter()
            .find(|t| t.id == tweet_id)
            .map(|t| t.conversation_id.clone())
        else {
            return Vec::new();
        };
        st.tweets
            .iter()
            .filter(|t| t.conversation_id == conv)
            .map(|t| self.view(&st, t))
            .collect()
    }

    /// What a user sees: their posts, and posts replying to or mentioning them.
    pub fn timeline(&self, user_id: &str) -> Vec<TweetView> {
        let st = self.lock();
        let name = st
            .users
            .get(user_id)
            .map(|u| u.username.to_lowercase())
            .unwrap_or_default();
        st.tweets
            .iter()
            .filter(|t| {
                t.author_id == user_id
                    || t.in_reply_to_user.as_deref() == Some(user_id)
                    || rules::mentions(&t.text)
                        .iter()
                        .any(|(_, _, h)| h.to_lowercase() == name)
            })
            .map(|t| self.view(&st, t))
            .collect()
    }

    /// The DMs between two users, oldest first.
    pub fn dm_conversation(&self, a: &str, b: &str) -> Vec<DmView> {
        let st = self.lock();
        st.dms
            .iter()
            .filter(|d| {
                (d.sender_id == a && d.recipient_id == b)
                    || (d.sender_id == b && d.recipient_id == a)
            })
            .map(|d| DmView {
                id: d.id.clone(),
                sender_id: d.sender_id.clone(),
                recipient_id: d.recipient_id.clone(),
                text: d.text.clone(),
                created_at_ms: d.created_ms,
                media_url: d
                    .media_id
                    .as_ref()
                    .and_then(|m| st.media.get(m))
                    .map(|m| self.shown_url(m)),
            })
            .collect()
    }

    pub(crate) fn insert_tweet(
        &self,
        author: &str,
        text: &str,
        in_reply_to: Option<&str>,
        media_ids: Vec<String>,
    ) -> Tweet {
        let mut st = self.lock();
        let id = random_digits(19);
        let parent = in_reply_to.and_then(|p| st.tweets.iter().find(|t| t.id == p));
        let tweet = Tweet {
            id: id.clone(),
            author_id: author.to_owned(),
            text: text.to_owned(),
            created_ms: now_millis(),
            conversation_id: parent.map(|p| p.conversation_id.clone()).unwrap_or(id),
            in_reply_to: parent.map(|p| p.id.clone()),
            in_reply_to_user: parent.map(|p| p.author_id.clone()),
            media_ids,
        };
        st.tweets.push(tweet.clone());
        tweet
    }

    pub(crate) fn insert_dm(
        &self,
        sender: &str,
        recipient: &str,
        text: &str,
        media_id: Option<String>,
    ) -> Dm {
        let dm = Dm {
            id: random_digits(19),
            sender_id: sender.to_owned(),
            recipient_id: recipient.to_owned(),
            text: text.to_owned(),
            created_ms: now_millis(),
            media_id,
        };
        self.lock().dms.push(dm.clone());
        dm
    }
}

/// The one-to-one DM conversation id X uses: the two user ids, lower first.
pub(crate) fn dm_conversation_id(a: &str, b: &str) -> String {
    let (x, y) = if (a.len(), a) <= (b.len(), b) {
        (a, b)
    } else {
        (b, a)
    };
    format!("{x}-{y}")
}

/// `2026-01-02T03:04:05.000Z` from epoch milliseconds.
pub(crate) fn iso(ms: u64) -> String {
    let (y, mo, d, h, mi, s) = civil(ms / 1000);
    format!(
        "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{:03}Z",
        ms % 1000
    )
}

/// v1.1's `Wed Oct 10 20:19:24 +0000 2018`.
pub(crate) fn v1_date(ms: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = ms / 1000;
    let (y, mo, d, h, mi, s) = civil(secs);
    format!(
        "{} {} {d:02} {h:02}:{mi:02}:{s:02} +0000 {y}",
        DAYS[((secs / 86_400) % 7) as usize],
        MONTHS[(mo - 1) as usize]
    )
}

fn civil(secs: u64) -> (i64, u32, u32, u64, u64, u64) {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d, rem / 3600, (rem % 3600) / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_dates() {
        assert_eq!(iso(1_539_202_764_123), "2018-10-10T20:19:24.123Z");
        assert_eq!(v1_date(1_539_202_764_000), "Wed Oct 10 20:19:24 +0000 2018");
        assert_eq!(dm_conversation_id("20", "3"), "3-20");
    }
}
