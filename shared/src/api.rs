//! DTOs of the internal JSON API between the widget and the server.

use crate::inbound::MediaKind;
use crate::vocab::{Channel, Role, Tag};
use serde::{Deserialize, Serialize};

/// Header carrying the session's CSRF token on every state-changing request.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// `POST /api/session` — sign in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignIn {
    /// The brand's account number; empty for support staff.
    #[serde(default)]
    pub account_number: String,
    pub email: String,
    pub password: String,
}

/// `POST /api/password`: choose a password through a one-time link's token; the answer
/// is [`Me`] (signed in), as for a sign-in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetPassword {
    pub token: String,
    pub password: String,
}

/// `PUT /api/session/password`: a signed-in person changes their password; their other
/// sessions end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangePassword {
    pub current_password: String,
    pub new_password: String,
}

/// `POST /api/conversations/{id}/transfer`: route a conversation to another skill and/or
/// hand it to a named person of the brand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transfer {
    #[serde(default)]
    pub skill_id: Option<i64>,
    #[serde(default)]
    pub agent_id: Option<i64>,
}

/// `GET /api/team`: where a conversation can be transferred to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Team {
    /// `(id, name)` of the skills in use.
    pub skills: Vec<(i64, String)>,
    /// The brand's active admins and agents.
    pub people: Vec<Teammate>,
}

/// A person a conversation can be handed to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Teammate {
    pub id: i64,
    pub name: String,
    pub role: Role,
}

/// `GET /api/sso?account=NUMBER`: how that account's people sign in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignInOptions {
    /// Its single sign-on is set up: `GET /sso/start?account=NUMBER` starts it.
    pub sso: bool,
    /// A password is accepted too.
    pub password: bool,
}

/// What a password must be, in the words the set-password page shows; the server checks
/// each (and that it is not one of the 10,000 most common passwords).
pub const PASSWORD_RULES: &str =
    "At least 12 characters, not your email address, and not a common password.";

/// The page a one-time link opens: `PUBLIC_URL/set-password?token=TOKEN` (CONTRACT.md §5).
pub const SET_PASSWORD_PATH: &str = "/set-password";

/// The shortest password accepted.
pub const PASSWORD_MIN_CHARS: usize = 12;

/// `GET /api/session` and the answer to a sign-in: who is signed in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Me {
    pub user_id: i64,
    pub email: String,
    pub name: String,
    pub role: Role,
    /// `None` for support staff, who work across accounts.
    pub account: Option<AccountSummary>,
    /// Send back in [`CSRF_HEADER`] on every state-changing request.
    pub csrf_token: String,
}

impl Me {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountSummary {
    pub number: String,
    pub name: String,
    pub socialconnect_enabled: bool,
}

/// `GET /api/meta` — facts about this server the widget needs before sign-in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    pub version: String,
    pub demo: bool,
    /// The LiveEngage agent workspace widget SDK script the Social Widget page loads when
    /// LiveEngage frames it (`SOCIALCONNECT_LIVEENGAGE_SDK_URL`).
    #[serde(default)]
    pub liveengage_sdk_url: String,
}

/// Which part of the queue `GET /api/conversations?view=` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QueueView {
    /// Open and not assigned to anyone.
    #[default]
    New,
    /// Open and assigned to me.
    Mine,
    /// Every open conversation I may see.
    All,
}

impl QueueView {
    pub const ALL: [QueueView; 3] = [QueueView::New, QueueView::Mine, QueueView::All];

    pub fn as_str(self) -> &'static str {
        match self {
            QueueView::New => "new",
            QueueView::Mine => "mine",
            QueueView::All => "all",
        }
    }

    /// The name people read.
    pub fn label(self) -> &'static str {
        match self {
            QueueView::New => "New",
            QueueView::Mine => "Mine",
            QueueView::All => "All open",
        }
    }
}

/// Open or closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConversationStatus {
    Open,
    Closed,
}

/// Who a conversation is assigned to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentRef {
    pub id: i64,
    pub name: String,
}

/// The latest line of a conversation, as the queue previews it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinePreview {
    pub text: String,
    pub tag: Tag,
    /// RFC 3339, the network's time.
    pub at: String,
    /// Who wrote it: the consumer, an agent or the bot.
    pub author: Author,
}

/// One conversation in the queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueItem {
    pub id: i64,
    pub channel: Channel,
    pub consumer_name: Option<String>,
    pub consumer_handle: Option<String>,
    pub last: Option<LinePreview>,
    /// Not assigned to anyone yet.
    pub new: bool,
    pub assigned_to: Option<AgentRef>,
    /// Closed: search finds closed conversations too; the queue lists open ones only.
    #[serde(default)]
    pub closed: bool,
    /// The consumer's lines that arrived since the asking person last read the transcript.
    #[serde(default)]
    pub unread: u32,
    /// The newest of the brand's lines failed (the consumer did not get it).
    #[serde(default)]
    pub reply_failed: bool,
    /// Since when the consumer has waited for an answer (RFC 3339): their first line after
    /// the brand's last line that did not fail; `None` when answered.
    #[serde(default)]
    pub waiting_since: Option<String>,
}

/// The order of `GET /api/conversations?sort=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QueueSort {
    /// Latest activity first.
    #[default]
    Activity,
    /// Longest waiting consumer first; answered conversations after, latest activity first.
    Waiting,
}

impl QueueSort {
    pub const ALL: [QueueSort; 2] = [QueueSort::Activity, QueueSort::Waiting];

    pub fn as_str(self) -> &'static str {
        match self {
            QueueSort::Activity => "activity",
            QueueSort::Waiting => "waiting",
        }
    }

    /// The name people read.
    pub fn label(self) -> &'static str {
        match self {
            QueueSort::Activity => "Newest activity",
            QueueSort::Waiting => "Longest waiting",
        }
    }
}

/// The event name of [`Typing`] on `GET /api/events` (other events are unnamed).
pub const TYPING_EVENT: &str = "typing";

/// `event: typing` on `GET /api/events`: another person is writing a reply in a
/// conversation the reader may see (`POST /api/conversations/{id}/typing`, sent at most
/// every few seconds while they type).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Typing {
    pub conversation_id: i64,
    pub agent: AgentRef,
}

impl QueueItem {
    /// The consumer as people read them: name, else @handle, else a placeholder.
    pub fn consumer_label(&self) -> String {
        consumer_label(
            self.consumer_name.as_deref(),
            self.consumer_handle.as_deref(),
        )
    }
}

/// The consumer's name, else their handle, else a placeholder.
pub fn consumer_label(name: Option<&str>, handle: Option<&str>) -> String {
    match (
        name.filter(|n| !n.is_empty()),
        handle.filter(|h| !h.is_empty()),
    ) {
        (Some(n), _) => n.to_owned(),
        (None, Some(h)) => format!("@{}", h.trim_start_matches('@')),
        (None, None) => "Unknown consumer".to_owned(),
    }
}

/// A conversation's own facts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationInfo {
    pub id: i64,
    pub channel: Channel,
    pub status: ConversationStatus,
    pub skill: Option<String>,
    pub assigned_to: Option<AgentRef>,
}

/// The consumer as the network described them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConsumerInfo {
    pub network_id: String,
    pub handle: Option<String>,
    pub name: Option<String>,
    /// The profile the network gave (every field empty when none was fetched yet).
    #[serde(default)]
    pub profile: Profile,
}

/// The fields of a consumer's profile the Social Widget shows, as the networks name them:
/// Facebook's user profile (`name`, `profile_pic`, `locale`, `timezone`, `gender`) and an
/// X v2 user (`name`, `username`, `created_at`, `description`, `location`, `url`,
/// `public_metrics`, `profile_image_url`). A field the network did not give is `None`.
/// Typed rather than free JSON so the widget carries no JSON tree.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Profile {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Facebook's picture: our copy (`/media/{id}`) once made — Facebook's URLs expire —
    /// and until then Facebook's own URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile_pic: Option<String>,
    /// X's picture.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile_image_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    /// Facebook: hours from UTC, possibly fractional.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timezone: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gender: Option<String>,
    /// X: when the account was made (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// X: the biography.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_metrics: Option<PublicMetrics>,
}

impl Profile {
    /// Reads a stored profile, keeping every field it understands; anything unreadable
    /// gives the empty profile (the widget then says what was not given).
    pub fn from_json(json: &str) -> Profile {
        serde_json::from_str(json).unwrap_or_default()
    }
}

/// X's `public_metrics` of a user.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PublicMetrics {
    pub followers_count: Option<u64>,
    pub following_count: Option<u64>,
    pub tweet_count: Option<u64>,
    pub like_count: Option<u64>,
}

/// The brand's linked page or account a conversation came through: what the Social
/// Widget's tools need to know about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrandFacts {
    pub channel: Channel,
    /// The Facebook page's username or the X screen name.
    pub name: String,
    /// The page id or the X account's numeric id.
    pub network_id: String,
    /// Whether agents may send images (an admin switch; on until SocialConnect Home has it).
    pub send_image: bool,
}

impl BrandFacts {
    /// The brand's private-channel link an agent puts in a public reply: the X Direct
    /// Message compose link or the page's `m.me` link; `None` when the stored name or id
    /// cannot make one.
    pub fn private_link(&self) -> Option<String> {
        match self.channel {
            Channel::Twitter => self
                .network_id
                .parse::<u64>()
                .ok()
                .map(crate::links::twitter_dm_link),
            Channel::Facebook => crate::links::messenger_link(&self.name),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    In,
    Out,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Author {
    Consumer,
    Agent,
    Bot,
}

impl Author {
    pub fn label(self) -> &'static str {
        match self {
            Author::Consumer => "Consumer",
            Author::Agent => "Agent",
            Author::Bot => "Bot",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LineStatus {
    Received,
    Sending,
    Sent,
    Failed,
}

impl LineStatus {
    pub fn label(self) -> &'static str {
        match self {
            LineStatus::Received => "Received",
            LineStatus::Sending => "Sending…",
            LineStatus::Sent => "Sent",
            LineStatus::Failed => "Failed: message not sent",
        }
    }
}

/// A picture, video or file on a line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineMedia {
    pub kind: MediaKind,
    /// Our media route when we hold a copy, else the network's URL (none once a copy was
    /// refused).
    pub url: Option<String>,
    pub mime: Option<String>,
    /// Our copy's size in bytes.
    #[serde(default)]
    pub bytes: Option<i64>,
    /// A small preview (fits 320×320) of an image or GIF.
    #[serde(default)]
    pub thumbnail_url: Option<String>,
    /// A GIF's first frame: what the transcript shows instead of the animation.
    #[serde(default)]
    pub still_url: Option<String>,
    /// The still the network gave for a video, or for a GIF that X delivered as MP4 (its
    /// preview image).
    #[serde(default)]
    pub poster_url: Option<String>,
}

/// How a picture, GIF or video is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Playback {
    /// An image (a GIF file animates by itself).
    Picture,
    /// A GIF delivered as a video (X's MP4): looping, muted, playing by itself.
    Loop,
    /// A video the agent plays, with its controls.
    Video,
}

impl LineMedia {
    /// How this plays, for pictures, GIFs and videos; `None` for audio and files.
    pub fn playback(&self) -> Option<Playback> {
        let video_file = self
            .mime
            .as_deref()
            .is_some_and(|m| m.starts_with("video/"));
        match self.kind {
            MediaKind::Image | MediaKind::Sticker => Some(Playback::Picture),
            MediaKind::Gif if video_file => Some(Playback::Loop),
            MediaKind::Gif => Some(Playback::Picture),
            MediaKind::Video => Some(Playback::Video),
            MediaKind::Audio | MediaKind::File => None,
        }
    }

    /// What the transcript shows in place of the media itself, when it may load it: a
    /// GIF's first frame or the network's preview, a picture's thumbnail, a video's poster.
    pub fn still(&self) -> Option<&str> {
        [&self.still_url, &self.poster_url, &self.thumbnail_url]
            .into_iter()
            .find_map(|u| u.as_deref().and_then(safe_media_url))
    }
}

/// One line of a transcript.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    pub id: i64,
    pub tag: Tag,
    pub direction: Direction,
    pub author: Author,
    pub text: String,
    pub media: Vec<LineMedia>,
    /// Links the consumer shared with the line: shown as links, never fetched by us.
    #[serde(default)]
    pub links: Vec<crate::inbound::SharedLink>,
    pub status: LineStatus,
    pub error: Option<String>,
    /// RFC 3339, the network's time.
    pub created_at: String,
    pub edited: bool,
    pub removed: bool,
}

/// `GET /api/conversations/{id}`: the conversation, its consumer and every line, in the
/// network's time order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transcript {
    pub conversation: ConversationInfo,
    pub consumer: ConsumerInfo,
    /// The brand's page or account the conversation came through.
    pub brand: BrandFacts,
    pub lines: Vec<Line>,
    /// The brand's private notes on the conversation, oldest first: never sent, never a
    /// line (so they count for no reply mode).
    #[serde(default)]
    pub notes: Vec<crate::notes::Note>,
    /// What decides which reply modes are open (`shared::replies`); the widget applies the
    /// rule with its own clock, so a window that closes while the page is open shows closed.
    #[serde(default)]
    pub reply_facts: crate::replies::ReplyFacts,
    /// Each reply mode of the channel, and whether it was available when this was read,
    /// with why not: for the API's other readers. The widget applies `reply_facts` itself
    /// and never reads this, so its bundle carries no decoder for it.
    #[serde(default, skip_deserializing)]
    pub reply_modes: Vec<crate::replies::ModeAvailability>,
}

/// One message on `GET /api/events` (Server-Sent Events): something in a conversation
/// changed; `conversation_id` is `None` when events were missed and everything should be
/// fetched again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveEvent {
    pub conversation_id: Option<i64>,
}

/// An RFC 3339 time as the transcript shows it: `2026-11-25 10:00 UTC` (the server
/// sends UTC); anything else as given.
pub fn display_time(rfc3339: &str) -> String {
    let b = rfc3339.as_bytes();
    if b.len() >= 16 && b[10] == b'T' && rfc3339.ends_with('Z') {
        format!("{} {} UTC", &rfc3339[..10], &rfc3339[11..16])
    } else {
        rfc3339.to_owned()
    }
}

/// A media URL the page may load or link to: http(s), or a path on this server. Anything
/// else (`javascript:`, `data:`, protocol-relative) is refused, since the URL comes from
/// a network event.
pub fn safe_media_url(url: &str) -> Option<&str> {
    let lower = url.trim_start().to_ascii_lowercase();
    let ok = lower.starts_with("https://")
        || lower.starts_with("http://")
        || (lower.starts_with('/') && !lower.starts_with("//") && !lower.starts_with("/\\"));
    ok.then_some(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_short_and_only_safe_media_urls_pass() {
        assert_eq!(display_time("2026-11-25T10:01:02Z"), "2026-11-25 10:01 UTC");
        assert_eq!(display_time("yesterday"), "yesterday");
        assert_eq!(
            safe_media_url("https://cdn.example/a.png"),
            Some("https://cdn.example/a.png")
        );
        assert_eq!(safe_media_url("/media/4"), Some("/media/4"));
        for bad in [
            "javascript:alert(1)",
            " JavaScript:x",
            "data:text/html,x",
            "//evil.example/x",
            "x",
        ] {
            assert_eq!(safe_media_url(bad), None, "{bad}");
        }
    }

    #[test]
    fn x_gifs_loop_as_video_and_show_their_preview() {
        let media = |kind, mime: Option<&str>| LineMedia {
            kind,
            url: Some("/media/1".into()),
            mime: mime.map(str::to_owned),
            bytes: None,
            thumbnail_url: None,
            still_url: None,
            poster_url: Some("/media/1/poster".into()),
        };
        let x_gif = media(MediaKind::Gif, Some("video/mp4"));
        assert_eq!(x_gif.playback(), Some(Playback::Loop));
        assert_eq!(x_gif.still(), Some("/media/1/poster"));
        assert_eq!(
            media(MediaKind::Gif, Some("image/gif")).playback(),
            Some(Playback::Picture)
        );
        assert_eq!(
            media(MediaKind::Video, None).playback(),
            Some(Playback::Video)
        );
        assert_eq!(media(MediaKind::Audio, Some("video/mp4")).playback(), None);
        // A GIF file's own first frame comes before anything else; unsafe URLs never.
        let gif = LineMedia {
            still_url: Some("/media/2/still".into()),
            thumbnail_url: Some("/media/2/thumb".into()),
            ..media(MediaKind::Gif, Some("image/gif"))
        };
        assert_eq!(gif.still(), Some("/media/2/still"));
        let unsafe_poster = LineMedia {
            poster_url: Some("javascript:alert(1)".into()),
            ..media(MediaKind::Video, None)
        };
        assert_eq!(unsafe_poster.still(), None);
    }

    #[test]
    fn queue_views_and_lines_speak_the_wire_words() {
        assert_eq!(serde_json::to_string(&QueueView::All).unwrap(), "\"all\"");
        assert_eq!(
            serde_json::to_string(&LineStatus::Received).unwrap(),
            "\"received\""
        );
        assert_eq!(consumer_label(None, Some("ann")), "@ann");
        assert_eq!(consumer_label(Some("Ann"), Some("ann")), "Ann");
        assert_eq!(consumer_label(Some(""), None), "Unknown consumer");
    }

    #[test]
    fn brand_links() {
        let x = BrandFacts {
            channel: Channel::Twitter,
            name: "acme".into(),
            network_id: "783214".into(),
            send_image: true,
        };
        assert_eq!(
            x.private_link().as_deref(),
            Some("https://twitter.com/messages/compose?recipient_id=783214")
        );
        let fb = BrandFacts {
            channel: Channel::Facebook,
            name: "AcmeSupport".into(),
            network_id: "1".into(),
            send_image: true,
        };
        assert_eq!(
            fb.private_link().as_deref(),
            Some("https://m.me/AcmeSupport")
        );
    }

    #[test]
    fn profiles_keep_what_the_network_gave() {
        let p = Profile::from_json(
            r#"{"name":"Bo","username":"bo","public_metrics":{"followers_count":3},"id":"9"}"#,
        );
        assert_eq!(p.username.as_deref(), Some("bo"));
        assert_eq!(p.public_metrics.unwrap().followers_count, Some(3));
        assert_eq!(p.gender, None);
        assert_eq!(Profile::from_json("not json"), Profile::default());
    }
}

/// `POST /api/conversations/{id}/replies` — an agent's reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyRequest {
    /// May be empty when an image goes with the reply.
    pub text: String,
    pub mode: crate::ReplyMode,
    /// An image or GIF stored with `POST /api/uploads`, sent with the text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_id: Option<i64>,
}

/// `POST /api/uploads` and `POST /api/uploads/from-url` — the stored image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadInfo {
    pub id: i64,
    pub mime: String,
    pub bytes: i64,
}

/// `POST /api/uploads/from-url` — a public http(s) image to fetch and store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadFromUrl {
    pub url: String,
}

/// The stored reply line (`sending`, or `failed` when it was refused before sending).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyLine {
    pub id: i64,
    pub tag: Tag,
    pub status: LineStatus,
    pub error: Option<String>,
}

/// The reply mode that answers the consumer where they last wrote: public when their
/// last line was public, private otherwise (also when they have written nothing yet).
pub fn default_reply_mode(lines: &[Line]) -> crate::ReplyMode {
    match lines.iter().rev().find(|l| l.direction == Direction::In) {
        Some(l) if l.tag.is_public() => crate::ReplyMode::Public,
        _ => crate::ReplyMode::Private,
    }
}
