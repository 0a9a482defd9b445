//! The simulated Facebook: Login dialog, Graph API (pages, profiles, comments), the
//! Messenger Send API, and signed webhooks.
//!
//! Layout: [`graph`] serves the Graph API (`/graph/v24.0/...`), [`login`] the Login dialog
//! (`/www/v24.0/dialog/oauth`), [`console`] the consumer console (`/console`), [`media`]
//! the media the sandbox serves (`/media/{id}`). This module holds the state, the seeding
//! and consumer actions tests use, and webhook delivery.

pub mod console;
pub mod graph;
pub mod login;
pub mod media;

use crate::common::{Fault, Shared, hmac_sha256, now_millis, random_alnum, random_digits};
use crate::{Credentials, GRAPH_VERSION};
use axum::Router;
use axum::extract::{DefaultBodyLimit, Path, State as AxState};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
pub use media::MediaKind;
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

const HOUR_MS: u64 = 3_600_000;
/// The standard messaging window.
pub const STANDARD_WINDOW_MS: u64 = 24 * HOUR_MS;
/// The HUMAN_AGENT tag's window, and the private replies' window.
pub const HUMAN_AGENT_WINDOW_MS: u64 = 7 * 24 * HOUR_MS;

#[derive(Clone)]
pub struct Facebook {
    shared: Shared,
    app_id: String,
    app_secret: String,
    verify_token: String,
    state: Arc<Mutex<FbState>>,
}

/// A person with a Facebook account who manages pages (signs in through the Login dialog).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub id: String,
    pub name: String,
    /// A long-lived user token for this user (as the Graph API Explorer would give).
    pub access_token: String,
}

/// A Facebook page; `access_token` is a page token usable at once (like a system-user
/// token from Business Manager).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Page {
    pub id: String,
    pub name: String,
    pub username: String,
    pub access_token: String,
}

/// A consumer (a person writing to pages). `id` is the id their posts and comments
/// carry in `feed` webhooks; Messenger uses a page-scoped id, [`Facebook::psid`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Consumer {
    pub id: String,
    pub name: String,
    pub first_name: String,
    pub last_name: String,
    /// Whether `locale`, `timezone` and `gender` are available (false: e.g. an EU user).
    pub private_fields: bool,
}

/// One Messenger attachment as the consumer sees it (and webhooks carry).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Attachment {
    /// `image`, `video`, `audio`, `file`, `sticker` or `fallback`.
    pub kind: String,
    /// The file's URL on the sandbox, or, for a `fallback` (a shared link), the link.
    pub url: String,
    /// A shared link's title (`fallback` only).
    pub title: Option<String>,
}

/// A Messenger message in a page–consumer thread.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Message {
    pub mid: String,
    pub page_id: String,
    pub consumer_id: String,
    /// True for the page's sends (echoes), false for the consumer's messages.
    pub from_page: bool,
    pub text: Option<String>,
    pub attachments: Vec<Attachment>,
    pub timestamp: u64,
    pub messaging_type: Option<String>,
    pub tag: Option<String>,
    /// For a private reply: the comment or post it answers.
    pub private_reply_to: Option<String>,
}

/// Who wrote a post or comment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Author {
    pub id: String,
    pub name: String,
    pub is_page: bool,
}

/// A post on a page's timeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Post {
    pub id: String,
    pub page_id: String,
    pub from: Author,
    pub message: String,
    pub media: Option<Attachment>,
    /// Milliseconds since the epoch.
    pub created: u64,
    pub removed: bool,
}

/// A comment; `parent_id` is the post for a top-level comment, else the top-level comment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comment {
    pub id: String,
    pub post_id: String,
    pub parent_id: String,
    pub from: Author,
    pub message: String,
    pub attachment_url: Option<String>,
    pub created: u64,
    pub removed: bool,
}

/// What a page sent, in order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Sent {
    Message(Message),
    Comment(Comment),
}

#[derive(Debug, Clone)]
pub(crate) enum TokenKind {
    User { user_id: String, pages: Vec<String> },
    Page { page_id: String },
}

#[derive(Debug, Clone)]
pub(crate) struct TokenRec {
    pub kind: TokenKind,
    /// Milliseconds since the epoch; `None` never expires.
    pub expires: Option<u64>,
    /// Set when the session was invalidated (subcode 460).
    pub invalidated: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct CodeRec {
    pub user_id: String,
    pub pages: Vec<String>,
    pub redirect_uri: String,
    pub used: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct UserRec {
    pub id: String,
    pub name: String,
    pub pages: Vec<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct PageRec {
    pub id: String,
    pub name: String,
    pub username: String,
    pub category: String,
    /// The app's `subscribed_fields` on this page (empty: not subscribed).
    pub subscribed: Vec<String>,
}

#[derive(Default)]
pub(crate) struct FbState {
    pub users: Vec<UserRec>,
    pub pages: Vec<PageRec>,
    pub consumers: Vec<Consumer>,
    /// (page id, consumer id) → PSID.
    pub psids: HashMap<(String, String), String>,
    pub tokens: HashMap<String, TokenRec>,
    pub codes: HashMap<String, CodeRec>,
    pub posts: Vec<Post>,
    pub comments: Vec<Comment>,
    pub messages: Vec<Message>,
    /// (page id, consumer id) → time of the consumer's last Messenger message.
    pub last_inbound: HashMap<(String, String), u64>,
    /// Comments and posts already answered with a private reply.
    pub private_replied: HashSet<String>,
    /// Media id (with extension) → (MIME, bytes).
    pub media: HashMap<String, (String, Vec<u8>)>,
    /// Reusable attachment ids → (type, url).
    pub reusable: HashMap<String, (String, String)>,
    /// Consumer id → profile picture URL.
    pub pics: HashMap<String, String>,
}

impl FbState {
    pub fn page(&self, id: &str) -> Option<&PageRec> {
        self.pages.iter().find(|p| p.id == id)
    }
    pub fn consumer(&self, id: &str) -> Option<&Consumer> {
        self.consumers.iter().find(|c| c.id == id)
    }
    /// (page id, consumer id) for a PSID.
    pub fn by_psid(&self, psid: &str) -> Option<(String, String)> {
        self.psids
            .iter()
            .find(|(_, v)| v.as_str() == psid)
            .map(|(k, _)| k.clone())
    }
    pub fn psid(&mut self, page_id: &str, consumer_id: &str) -> String {
        self.psids
            .entry((page_id.to_owned(), consumer_id.to_owned()))
            .or_insert_with(|| random_digits(16))
            .clone()
    }
    pub fn post(&self, id: &str) -> Option<&Post> {
        self.posts.iter().find(|p| p.id == id)
    }
    pub fn comment(&self, id: &str) -> Option<&Comment> {
        self.comments.iter().find(|c| c.id == id)
    }
    pub(crate) fn new_token(&mut self, kind: TokenKind, ttl: Option<Duration>) -> String {
        let token = format!("EAA{}", random_alnum(120));
        let expires = ttl.map(|d| now_millis() + d.as_millis() as u64);
        self.tokens.insert(
            token.clone(),
            TokenRec {
                kind,
                expires,
                invalidated: false,
            },
        );
        token
    }
    pub(crate) fn store_media(&mut self, mime: &str, bytes: Vec<u8>) -> String {
        let id = format!("{}.{}", random_digits(16), media::extension_for(mime));
        self.media.insert(id.clone(), (mime.to_owned(), bytes));
        id
    }
}

impl Facebook {
    pub fn new(shared: Shared, credentials: &Credentials) -> Self {
        Facebook {
            shared,
            app_id: credentials.facebook_app_id.clone(),
            app_secret: credentials.facebook_app_secret.clone(),
            verify_token: credentials.facebook_verify_token.clone(),
            state: Arc::default(),
        }
    }

    /// Routes below `/facebook`.
    pub fn router(&self) -> Router {
        let graph = format!("/graph/{GRAPH_VERSION}");
        let www = format!("/www/{GRAPH_VERSION}");
        Router::new()
            .route(&format!("{graph}/{{*rest}}"), any(graph::handle))
            .route(
                &format!("{www}/dialog/oauth"),
                get(login::dialog).post(login::confirm),
            )
            .route("/media/{id}", get(serve_media))
            .route("/console", get(console::page))
            .route("/console/post", post(console::post))
            .route("/console/brand-post", post(console::brand_post))
            .route("/console/comment", post(console::comment))
            .route("/console/message", post(console::message))
            .route("/console/edit", post(console::edit))
            .route("/console/remove", post(console::remove))
            // Uploads go up to 25 MB; leave room for the multipart framing.
            .layer(DefaultBodyLimit::max(27 * 1024 * 1024))
            .with_state(self.clone())
    }

    pub fn graph_url(&self) -> String {
        format!("{}/facebook/graph/{GRAPH_VERSION}", self.shared.url)
    }

    pub fn www_url(&self) -> String {
        format!("{}/facebook/www/{GRAPH_VERSION}", self.shared.url)
    }

    /// Fault injection (shared with Twitter); Facebook's endpoints are listed in [`graph`].
    pub fn faults(&self) -> &crate::common::Faults {
        &self.shared.faults
    }

    /// Every API call received (both networks).
    pub fn calls(&self) -> &crate::common::CallLog {
        &self.shared.calls
    }

    /// Webhook delivery attempts (both networks).
    pub fn webhooks(&self) -> &crate::common::Webhooks {
        &self.shared.webhooks
    }

    pub fn app_id(&self) -> &str {
        &self.app_id
    }

    /// The verify token the product's webhook endpoint expects (`hub.verify_token`).
    pub fn verify_token(&self) -> &str {
        &self.verify_token
    }

    /// The `appsecret_proof` for `token`: hex HMAC-SHA256(app secret, token).
    pub fn appsecret_proof(&self, token: &str) -> String {
        hex::encode(hmac_sha256(self.app_secret.as_bytes(), token.as_bytes()))
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, FbState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn shared(&self) -> &Shared {
        &self.shared
    }

    pub(crate) fn app_secret(&self) -> &str {
        &self.app_secret
    }

    pub(crate) fn media_url(&self, id: &str) -> String {
        format!("{}/facebook/media/{id}", self.shared.url)
    }

    // ----- seeding -----------------------------------------------------------------

    /// A user who can sign in through the Login dialog and manage pages.
    pub fn add_user(&self, name: &str) -> User {
        let mut st = self.lock();
        let id = random_digits(15);
        st.users.push(UserRec {
            id: id.clone(),
            name: name.to_owned(),
            pages: Vec::new(),
        });
        let access_token = st.new_token(
            TokenKind::User {
                user_id: id.clone(),
                pages: Vec::new(),
            },
            Some(Duration::from_secs(60 * 24 * 3600)),
        );
        User {
            id,
            name: name.to_owned(),
            access_token,
        }
    }

    /// A page managed by the most recently added user (a "Sandbox Admin" is created when
    /// there is none), with a page token usable at once.
    pub fn add_page(&self, name: &str, username: &str) -> Page {
        if self.lock().users.is_empty() {
            self.add_user("Sandbox Admin");
        }
        let mut st = self.lock();
        let id = random_digits(15);
        st.pages.push(PageRec {
            id: id.clone(),
            name: name.to_owned(),
            username: username.to_owned(),
            category: "Product/service".to_owned(),
            subscribed: Vec::new(),
        });
        if let Some(u) = st.users.last_mut() {
            u.pages.push(id.clone());
        }
        let access_token = st.new_token(
            TokenKind::Page {
                page_id: id.clone(),
            },
            None,
        );
        Page {
            id,
            name: name.to_owned(),
            username: username.to_owned(),
            access_token,
        }
    }

    /// A consumer; without private fields the profile lacks locale, timezone and gender.
    pub fn add_consumer(&self, name: &str, with_private_fields: bool) -> Consumer {
        let (first, last) = match name.split_once(' ') {
            Some((f, l)) => (f.to_owned(), l.to_owned()),
            None => (name.to_owned(), String::new()),
        };
        let c = Consumer {
            id: random_digits(15),
            name: name.to_owned(),
            first_name: first,
            last_name: last,
            private_fields: with_private_fields,
        };
        self.lock().consumers.push(c.clone());
        c
    }

    pub fn pages(&self) -> Vec<Page> {
        let st = self.lock();
        st.pages
            .iter()
            .map(|p| Page {
                id: p.id.clone(),
                name: p.name.clone(),
                username: p.username.clone(),
                access_token: st
                    .tokens
                    .iter()
                    .find(
                        |(_, t)| matches!(&t.kind, TokenKind::Page { page_id } if *page_id == p.id),
                    )
                    .map(|(k, _)| k.clone())
                    .unwrap_or_default(),
            })
            .collect()
    }

    pub fn consumers(&self) -> Vec<Consumer> {
        self.lock().consumers.clone()
    }

    /// The consumer's page-scoped id for `page` (Messenger's `sender.id`).
    pub fn psid(&self, page: &Page, consumer: &Consumer) -> String {
        self.lock().psid(&page.id, &consumer.id)
    }

    /// The app's subscribed fields on the page (empty: not subscribed).
    pub fn subscribed_fields(&self, page: &Page) -> Vec<String> {
        self.lock()
            .page(&page.id)
            .map(|p| p.subscribed.clone())
            .unwrap_or_default()
    }

    /// A generated media file the sandbox serves; returns its URL.
    pub fn new_media(&self, kind: MediaKind) -> String {
        let (mime, bytes) = kind.generate();
        let id = self.lock().store_media(mime, bytes);
        self.media_url(&id)
    }

    /// The bytes and MIME type of media the sandbox serves, by URL.
    pub fn media(&self, url: &str) -> Option<(String, Vec<u8>)> {
        let id = url.strip_prefix(&format!("{}/facebook/media/", self.shared.url))?;
        self.lock().media.get(id).cloned()
    }

    // ----- simulated time and token states ---------------------------------------------

    /// Moves the consumer's last Messenger message `by` into the past.
    pub fn age_last_message(&self, page: &Page, consumer: &Consumer, by: Duration) {
        let by = by.as_millis() as u64;
        let mut st = self.lock();
        if let Some(t) = st
            .last_inbound
            .get_mut(&(page.id.clone(), consumer.id.clone()))
        {
            *t = t.saturating_sub(by);
        }
        for m in st
            .messages
            .iter_mut()
            .filter(|m| m.page_id == page.id && m.consumer_id == consumer.id && !m.from_page)
        {
            m.timestamp = m.timestamp.saturating_sub(by);
        }
    }

    /// Moves a post's or comment's creation `by` into the past.
    pub fn age_object(&self, object_id: &str, by: Duration) {
        let by = by.as_millis() as u64;
        let mut st = self.lock();
        for p in st.posts.iter_mut().filter(|p| p.id == object_id) {
            p.created = p.created.saturating_sub(by);
        }
        for c in st.comments.iter_mut().filter(|c| c.id == object_id) {
            c.created = c.created.saturating_sub(by);
        }
    }

    /// Makes a token expired (Graph answers 190 / subcode 463).
    pub fn expire_token(&self, token: &str) {
        if let Some(t) = self.lock().tokens.get_mut(token) {
            t.expires = Some(now_millis().saturating_sub(1000));
        }
    }

    /// Invalidates a token's session, as a password change does (190 / subcode 460).
    pub fn invalidate_token(&self, token: &str) {
        if let Some(t) = self.lock().tokens.get_mut(token) {
            t.invalidated = true;
        }
    }

    // ----- consumer actions (fire webhooks) ---------------------------------------------

    /// The consumer posts on the page's timeline; returns the post id.
    pub fn consumer_post(
        &self,
        page: &Page,
        consumer: &Consumer,
        text: &str,
        media: Option<MediaKind>,
    ) -> String {
        let media = media.map(|k| Attachment {
            kind: k.attachment_type().to_owned(),
            url: self.new_media(k),
            title: None,
        });
        let mut st = self.lock();
        let post = Post {
            id: format!("{}_{}", page.id, random_digits(16)),
            page_id: page.id.clone(),
            from: Author {
                id: consumer.id.clone(),
                name: consumer.name.clone(),
                is_page: false,
            },
            message: text.to_owned(),
            media,
            created: now_millis(),
            removed: false,
        };
        st.posts.push(post.clone());
        let value = post_value(&post, "add");
        self.deliver_feed(&st, &page.id, value);
        post.id
    }

    /// The brand publishes a post on its own page (as it would from Facebook itself), for
    /// consumers to comment on: the most common public case. Facebook tells the app of it
    /// too (`feed`, `from` the page); the product starts no conversation from it. Returns
    /// the post id.
    pub fn brand_post(&self, page: &Page, text: &str) -> String {
        let mut st = self.lock();
        let post = Post {
            id: format!("{}_{}", page.id, random_digits(16)),
            page_id: page.id.clone(),
            from: Author {
                id: page.id.clone(),
                name: page.name.clone(),
                is_page: true,
            },
            message: text.to_owned(),
            media: None,
            created: now_millis(),
            removed: false,
        };
        st.posts.push(post.clone());
        let value = post_value(&post, "add");
        self.deliver_feed(&st, &page.id, value);
        post.id
    }

    /// The consumer comments on a post, or replies to a comment (a reply to a reply
    /// attaches to the top-level comment, as on Facebook). Returns the comment id, or
    /// `None` when the parent does not exist.
    pub fn consumer_comment(
        &self,
        page: &Page,
        parent_id: &str,
        consumer: &Consumer,
        text: &str,
    ) -> Option<String> {
        let from = Author {
            id: consumer.id.clone(),
            name: consumer.name.clone(),
            is_page: false,
        };
        let mut st = self.lock();
        let c = new_comment(&mut st, &page.id, parent_id, from, text, None)?;
        self.deliver_feed(&st, &page.id, comment_value(&c, "add"));
        Some(c.id)
    }

    /// The consumer edits their post or comment (`verb: "edited"`).
    pub fn consumer_edit(&self, page: &Page, object_id: &str, text: &str) -> bool {
        let mut st = self.lock();
        let value = if let Some(p) = st.posts.iter_mut().find(|p| p.id == object_id) {
            p.message = text.to_owned();
            post_value(p, "edited")
        } else if let Some(c) = st.comments.iter_mut().find(|c| c.id == object_id) {
            c.message = text.to_owned();
            comment_value(c, "edited")
        } else {
            return false;
        };
        self.deliver_feed(&st, &page.id, value);
        true
    }

    /// The consumer removes their post or comment (`verb: "remove"`).
    pub fn consumer_remove(&self, page: &Page, object_id: &str) -> bool {
        let mut st = self.lock();
        let value = if let Some(p) = st.posts.iter_mut().find(|p| p.id == object_id) {
            p.removed = true;
            let mut v = post_value(p, "remove");
            v.as_object_mut().map(|o| o.remove("message"));
            v
        } else if let Some(c) = st.comments.iter_mut().find(|c| c.id == object_id) {
            c.removed = true;
            let mut v = comment_value(c, "remove");
            v.as_object_mut().map(|o| o.remove("message"));
            v
        } else {
            return false;
        };
        self.deliver_feed(&st, &page.id, value);
        true
    }

    /// The consumer writes to the page in Messenger (opens the 24-hour window); returns
    /// the message id.
    pub fn consumer_message(
        &self,
        page: &Page,
        consumer: &Consumer,
        text: &str,
        attachments: &[MediaKind],
    ) -> String {
        let atts: Vec<Attachment> = attachments
            .iter()
            .map(|k| Attachment {
                kind: k.attachment_type().to_owned(),
                url: self.new_media(*k),
                title: None,
            })
            .collect();
        self.deliver_consumer_message(page, consumer, text, atts)
    }

    /// The consumer shares a link in Messenger (with `text`, possibly empty): the message
    /// carries it as Messenger does, a `fallback` attachment with the link's title and URL;
    /// returns the message id. The URL may point anywhere on the web.
    pub fn consumer_shares_link(
        &self,
        page: &Page,
        consumer: &Consumer,
        text: &str,
        title: &str,
        url: &str,
    ) -> String {
        let link = Attachment {
            kind: "fallback".into(),
            url: url.to_owned(),
            title: Some(title.to_owned()),
        };
        self.deliver_consumer_message(page, consumer, text, vec![link])
    }

    fn deliver_consumer_message(
        &self,
        page: &Page,
        consumer: &Consumer,
        text: &str,
        atts: Vec<Attachment>,
    ) -> String {
        let mut st = self.lock();
        let psid = st.psid(&page.id, &consumer.id);
        let now = now_millis();
        let msg = Message {
            mid: new_mid(),
            page_id: page.id.clone(),
            consumer_id: consumer.id.clone(),
            from_page: false,
            text: (!text.is_empty()).then(|| text.to_owned()),
            attachments: atts,
            timestamp: now,
            messaging_type: None,
            tag: None,
            private_reply_to: None,
        };
        st.messages.push(msg.clone());
        st.last_inbound
            .insert((page.id.clone(), consumer.id.clone()), now);
        let event = json!({
            "sender": {"id": psid},
            "recipient": {"id": page.id},
            "timestamp": now,
            "message": message_json(&msg, None),
        });
        self.deliver_messaging(&st, &page.id, "messages", event);
        msg.mid
    }

    /// Whether the post or comment `id` was written by the author `author_id`.
    pub fn is_authored_by(&self, id: &str, author_id: &str) -> bool {
        let st = self.lock();
        st.post(id).is_some_and(|p| p.from.id == author_id)
            || st.comment(id).is_some_and(|c| c.from.id == author_id)
    }

    // ----- reads for assertions ----------------------------------------------------------

    /// The Messenger thread between the page and the consumer, both ways, oldest first.
    pub fn inbox(&self, page: &Page, consumer: &Consumer) -> Vec<Message> {
        self.lock()
            .messages
            .iter()
            .filter(|m| m.page_id == page.id && m.consumer_id == consumer.id)
            .cloned()
            .collect()
    }

    /// The page's posts (the consumers' and its own), oldest first.
    pub fn posts(&self, page: &Page) -> Vec<Post> {
        self.lock()
            .posts
            .iter()
            .filter(|p| p.page_id == page.id)
            .cloned()
            .collect()
    }

    /// Every comment under a post (top-level and replies), oldest first.
    pub fn comments(&self, post_id: &str) -> Vec<Comment> {
        self.lock()
            .comments
            .iter()
            .filter(|c| c.post_id == post_id)
            .cloned()
            .collect()
    }

    /// What the page sent through the API (messages and comments), in order.
    pub fn sent(&self, page: &Page) -> Vec<Sent> {
        let st = self.lock();
        let mut out: Vec<(u64, Sent)> = st
            .messages
            .iter()
            .filter(|m| m.page_id == page.id && m.from_page)
            .map(|m| (m.timestamp, Sent::Message(m.clone())))
            .chain(
                st.comments
                    .iter()
                    .filter(|c| c.from.is_page && c.from.id == page.id)
                    .map(|c| (c.created, Sent::Comment(c.clone()))),
            )
            .collect();
        out.sort_by_key(|(t, _)| *t);
        out.into_iter().map(|(_, s)| s).collect()
    }

    /// The bodies of the Facebook webhooks the product accepted (2xx), parsed, in order.
    pub fn delivered_webhooks(&self) -> Vec<Value> {
        self.shared
            .webhooks
            .deliveries()
            .into_iter()
            .filter(|d| {
                d.network == "facebook" && d.status.is_some_and(|s| (200..300).contains(&s))
            })
            .filter_map(|d| serde_json::from_str(&d.body).ok())
            .collect()
    }

    /// Waits (polling) until an accepted Facebook webhook satisfies `pred`, up to `timeout`.
    pub async fn wait_for_webhook(
        &self,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(v) = self.delivered_webhooks().into_iter().find(|v| pred(v)) {
                return Some(v);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Runs Facebook's verification request against the product's webhook endpoint, as the
    /// App Dashboard does when the callback URL is set: `GET {callback}/webhooks/facebook
    /// ?hub.mode=subscribe&hub.verify_token=..&hub.challenge=..`. True when the product
    /// answered 200 with the challenge as the body.
    pub async fn verify_webhook(&self) -> bool {
        let challenge = random_digits(10);
        let url = format!("{}/webhooks/facebook", self.shared.callback);
        let Ok(client) = crate::common::product_client().build() else {
            return false;
        };
        let resp = client
            .get(url)
            .query(&[
                ("hub.mode", "subscribe"),
                ("hub.verify_token", self.verify_token.as_str()),
                ("hub.challenge", challenge.as_str()),
            ])
            .send()
            .await;
        match resp {
            Ok(r) if r.status().is_success() => r.text().await.is_ok_and(|t| t == challenge),
            _ => false,
        }
    }

    // ----- webhooks ------------------------------------------------------------------

    pub(crate) fn deliver_feed(&self, st: &FbState, page_id: &str, value: Value) {
        let entry = json!({
            "id": page_id,
            "time": now_millis(),
            "changes": [{"field": "feed", "value": value}],
        });
        self.deliver(st, page_id, "feed", entry);
    }

    pub(crate) fn deliver_messaging(&self, st: &FbState, page_id: &str, field: &str, event: Value) {
        let entry = json!({"id": page_id, "time": now_millis(), "messaging": [event]});
        self.deliver(st, page_id, field, entry);
    }

    /// Sends `{"object":"page","entry":[entry]}` if the app subscribed `field` on the page,
    /// signed with `X-Hub-Signature-256` (and the older SHA-1 `X-Hub-Signature`).
    fn deliver(&self, st: &FbState, page_id: &str, field: &str, entry: Value) {
        let subscribed = st
            .page(page_id)
            .is_some_and(|p| p.subscribed.iter().any(|f| f == field));
        if !subscribed {
            return;
        }
        let mut delay = Duration::ZERO;
        for fault in self.shared.faults.take("facebook", "webhook") {
            match fault {
                Fault::DropWebhook => return,
                Fault::Latency(d) => delay += d,
                _ => {}
            }
        }
        let body = json!({"object": "page", "entry": [entry]}).to_string();
        let headers = signature_headers(&self.app_secret, body.as_bytes());
        let url = format!("{}/webhooks/facebook", self.shared.callback);
        let webhooks = self.shared.webhooks.clone();
        if delay.is_zero() {
            webhooks.send("facebook", url, body, headers);
        } else {
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                webhooks.send("facebook", url, body, headers);
            });
        }
    }
}

/// `X-Hub-Signature-256: sha256=<hex>` and `X-Hub-Signature: sha1=<hex>` over the raw body.
pub fn signature_headers(app_secret: &str, body: &[u8]) -> Vec<(&'static str, String)> {
    use hmac::{Hmac, Mac};
    let mut sha1 =
        Hmac::<sha1::Sha1>::new_from_slice(app_secret.as_bytes()).expect("any key length");
    sha1.update(body);
    vec![
        (
            "X-Hub-Signature-256",
            format!(
                "sha256={}",
                hex::encode(hmac_sha256(app_secret.as_bytes(), body))
            ),
        ),
        (
            "X-Hub-Signature",
            format!("sha1={}", hex::encode(sha1.finalize().into_bytes())),
        ),
    ]
}

pub(crate) fn new_mid() -> String {
    format!("m_{}", random_alnum(40))
}

pub(crate) fn message_json(m: &Message, app_id: Option<&str>) -> Value {
    let mut msg = json!({"mid": m.mid});
    if let Some(t) = &m.text {
        msg["text"] = json!(t);
    }
    if !m.attachments.is_empty() {
        msg["attachments"] = Value::Array(
            m.attachments
                .iter()
                .map(|a| match a.kind.as_str() {
                    // A shared link: title and URL beside the payload (Messenger's
                    // `messages` webhook reference, "fallback" attachments).
                    "fallback" => json!({"type": "fallback", "title": a.title,
                        "url": a.url, "payload": {"url": a.url}}),
                    _ => json!({"type": a.kind, "payload": {"url": a.url}}),
                })
                .collect(),
        );
    }
    if let Some(app_id) = app_id {
        msg["is_echo"] = json!(true);
        // The echo's `app_id` is a number in Meta's examples.
        msg["app_id"] = app_id
            .parse::<u64>()
            .map(Value::from)
            .unwrap_or(json!(app_id));
    }
    msg
}

pub(crate) fn post_value(p: &Post, verb: &str) -> Value {
    let item = match p.media.as_ref().map(|m| m.kind.as_str()) {
        Some("image") => "photo",
        Some("video") => "video",
        _ => "status",
    };
    let mut v = json!({
        "from": {"id": p.from.id, "name": p.from.name},
        "item": item,
        "verb": verb,
        "post_id": p.id,
        "message": p.message,
        "created_time": p.created / 1000,
    });
    match (item, &p.media) {
        ("photo", Some(m)) => v["photo"] = json!(m.url),
        ("video", Some(m)) => v["link"] = json!(m.url),
        _ => {}
    }
    v
}

pub(crate) fn comment_value(c: &Comment, verb: &str) -> Value {
    let mut v = json!({
        "from": {"id": c.from.id, "name": c.from.name},
        "item": "comment",
        "verb": verb,
        "post_id": c.post_id,
        "comment_id": c.id,
        "parent_id": c.parent_id,
        "message": c.message,
        "created_time": c.created / 1000,
    });
    if let Some(url) = &c.attachment_url {
        v["photo"] = json!(url);
    }
    v
}

/// Adds a comment under `parent_id` (a post, or a comment: replies thread under the
/// top-level comment). `None` when the parent is unknown, removed or on another page.
pub(crate) fn new_comment(
    st: &mut FbState,
    page_id: &str,
    parent_id: &str,
    from: Author,
    text: &str,
    attachment_url: Option<String>,
) -> Option<Comment> {
    let (post_id, parent) = if let Some(p) = st.post(parent_id) {
        if p.removed || p.page_id != page_id {
            return None;
        }
        (p.id.clone(), p.id.clone())
    } else if let Some(c) = st.comment(parent_id) {
        if c.removed {
            return None;
        }
        let top = if c.parent_id == c.post_id {
            c.id.clone()
        } else {
            c.parent_id.clone()
        };
        (c.post_id.clone(), top)
    } else {
        return None;
    };
    if st.post(&post_id).is_none_or(|p| p.page_id != page_id) {
        return None;
    }
    let post_num = post_id.split('_').nth(1).unwrap_or(&post_id).to_owned();
    let c = Comment {
        id: format!("{post_num}_{}", random_digits(16)),
        post_id,
        parent_id: parent,
        from,
        message: text.to_owned(),
        attachment_url,
        created: now_millis(),
        removed: false,
    };
    st.comments.push(c.clone());
    Some(c)
}

async fn serve_media(AxState(fb): AxState<Facebook>, Path(id): Path<String>) -> Response {
    match fb.lock().media.get(&id).cloned() {
        Some((mime, bytes)) => ([(header::CONTENT_TYPE, mime)], bytes).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Escapes text for HTML element content and quoted attribute values.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_html() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn signature_matches_hmac_of_raw_body() {
        let h = signature_headers("secret", b"{}");
        assert_eq!(
            h[0].1,
            format!("sha256={}", hex::encode(hmac_sha256(b"secret", b"{}")))
        );
        assert!(h[1].1.starts_with("sha1=") && h[1].1.len() == 45);
    }

    #[test]
    fn replies_to_replies_attach_to_the_top_level_comment() {
        let mut st = FbState::default();
        let author = Author {
            id: "1".into(),
            name: "A".into(),
            is_page: false,
        };
        st.posts.push(Post {
            id: "9_100".into(),
            page_id: "9".into(),
            from: author.clone(),
            message: "p".into(),
            media: None,
            created: 0,
            removed: false,
        });
        let top = new_comment(&mut st, "9", "9_100", author.clone(), "c", None).unwrap();
        assert_eq!(top.parent_id, "9_100");
        assert!(top.id.starts_with("100_"));
        let reply = new_comment(&mut st, "9", &top.id, author.clone(), "r", None).unwrap();
        assert_eq!(reply.parent_id, top.id);
        let reply2 = new_comment(&mut st, "9", &reply.id, author.clone(), "r2", None).unwrap();
        assert_eq!(reply2.parent_id, top.id);
        assert!(new_comment(&mut st, "8", "9_100", author, "x", None).is_none());
    }
}
