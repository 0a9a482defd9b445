//! One model for everything the networks tell us: each webhook event of either network
//! becomes zero or more [`InboundEvent`]s before anything is stored.

use crate::vocab::{Channel, Tag};
use serde::{Deserialize, Serialize};

/// What kind of media a line carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaKind {
    Image,
    Gif,
    Video,
    Audio,
    File,
    Sticker,
}

impl MediaKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Image => "image",
            MediaKind::Gif => "gif",
            MediaKind::Video => "video",
            MediaKind::Audio => "audio",
            MediaKind::File => "file",
            MediaKind::Sticker => "sticker",
        }
    }

    /// The kind as `export` names it (`image`, `gif`, `video` or `file`).
    pub fn export_kind(self) -> &'static str {
        match self {
            MediaKind::Image | MediaKind::Sticker => "image",
            MediaKind::Gif => "gif",
            MediaKind::Video => "video",
            MediaKind::Audio | MediaKind::File => "file",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaRef {
    pub kind: MediaKind,
    /// Where the network serves it (these URLs expire: copy promptly).
    pub url: Option<String>,
    pub mime: Option<String>,
    /// A still the network shows before a video or animated GIF plays (X's
    /// `preview_image_url`), when it gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poster_url: Option<String>,
}

/// A link the consumer shared (a Messenger `fallback` attachment, a `share` on the page's
/// feed). Its URL points anywhere on the web: it is shown as a link, never fetched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedLink {
    /// The title the network gave the link, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub url: String,
}

impl SharedLink {
    /// Longest URL kept; a longer one is no link anyone clicks.
    pub const MAX_URL: usize = 2048;
    /// Longest title kept, in characters; a longer one is cut.
    pub const MAX_TITLE: usize = 300;

    /// The link as kept: the URL trimmed (`None` when empty or longer than [`Self::MAX_URL`]),
    /// the title trimmed, cut to [`Self::MAX_TITLE`] characters, and dropped when empty.
    pub fn new(title: Option<&str>, url: &str) -> Option<SharedLink> {
        let url = url.trim();
        if url.is_empty() || url.len() > Self::MAX_URL {
            return None;
        }
        let title = title
            .map(|t| t.trim().chars().take(Self::MAX_TITLE).collect::<String>())
            .filter(|t| !t.is_empty());
        Some(SharedLink {
            title,
            url: url.to_owned(),
        })
    }

    /// The host a browser would open, when the URL is an http(s) link one may offer to
    /// click (`None` for any other scheme, or a URL with spaces or control characters).
    /// User info before an `@` is skipped: `https://bank.example@evil.example/` is
    /// `evil.example`, as the browser sees it.
    pub fn web_host(&self) -> Option<String> {
        let url = self.url.as_str();
        if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return None;
        }
        let lower = url.to_ascii_lowercase();
        let rest = ["https://", "http://"]
            .iter()
            .find_map(|scheme| lower.strip_prefix(scheme))?;
        // Browsers end the authority at `\` too in http(s) URLs.
        let authority = rest.split(['/', '\\', '?', '#']).next().unwrap_or("");
        let host_port = authority.rsplit('@').next().unwrap_or("");
        let host = if host_port.starts_with('[') {
            host_port.split_inclusive(']').next().unwrap_or("")
        } else {
            host_port.split(':').next().unwrap_or("")
        };
        (!host.is_empty() && host != "[]").then(|| host.to_owned())
    }
}

/// The consumer as the event names them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumerRef {
    /// Page-scoped id (Facebook) or user id (Twitter/X).
    pub network_id: String,
    /// `@handle` on Twitter/X.
    pub handle: Option<String>,
    pub name: Option<String>,
}

/// What happened to a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    New,
    Edited,
    Removed,
}

/// One message, comment, post or tweet, normalised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboundMessage {
    pub channel: Channel,
    /// The linked page's or brand account's network id the event was for.
    pub brand_id: String,
    /// The consumer the conversation is with (for the brand's own lines: the recipient).
    pub consumer: ConsumerRef,
    /// The network's id of this line (mid, comment id, tweet id, DM event id).
    pub network_id: String,
    pub tag: Tag,
    /// Written by the brand (an echo, the page's own comment, the brand's own post or DM).
    pub from_brand: bool,
    pub text: String,
    pub media: Vec<MediaRef>,
    /// Links the consumer shared with the line (never fetched).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<SharedLink>,
    /// The network's time, milliseconds since the epoch.
    pub created_at_ms: i64,
    /// The network id of what this answers (parent comment or post, replied-to tweet).
    pub reply_to: Option<String>,
    pub change: Change,
}

// Events live for one webhook batch, nearly all of them messages: boxing the large
// variant would only add an allocation per message.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum InboundEvent {
    Message(InboundMessage),
    /// The brand revoked the app's access: the account needs relinking.
    AccessRevoked {
        channel: Channel,
        brand_id: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_links_are_trimmed_bounded_and_named_by_the_host_a_browser_opens() {
        let link = |url: &str| SharedLink::new(Some("t"), url).unwrap();
        assert_eq!(
            link("https://Shop.Example:8443/a?b#c")
                .web_host()
                .as_deref(),
            Some("shop.example")
        );
        assert_eq!(
            link("http://bank.example@evil.example/x")
                .web_host()
                .as_deref(),
            Some("evil.example")
        );
        assert_eq!(
            link("https://evil.example\\@bank.example/")
                .web_host()
                .as_deref(),
            Some("evil.example")
        );
        assert_eq!(
            link("https://[2001:db8::1]:443/").web_host().as_deref(),
            Some("[2001:db8::1]")
        );
        for not_web in [
            "javascript:alert(1)",
            "data:text/html,x",
            "ftp://files.example/",
            "https://",
            "https:///path",
            "https://a b.example/",
            "//evil.example/",
        ] {
            assert_eq!(link(not_web).web_host(), None, "{not_web}");
        }
        assert_eq!(SharedLink::new(None, "  "), None);
        assert_eq!(SharedLink::new(None, &"a".repeat(2049)), None);
        let titled = SharedLink::new(Some(&"é".repeat(400)), " https://x.example ").unwrap();
        assert_eq!(titled.title.unwrap().chars().count(), SharedLink::MAX_TITLE);
        assert_eq!(titled.url, "https://x.example");
        assert_eq!(
            SharedLink::new(Some("  "), "https://x.example")
                .unwrap()
                .title,
            None
        );
    }
}
