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
    /// The network's time, milliseconds since the epoch.
    pub created_at_ms: i64,
    /// The network id of what this answers (parent comment or post, replied-to tweet).
    pub reply_to: Option<String>,
    pub change: Change,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum InboundEvent {
    Message(InboundMessage),
    /// The brand revoked the app's access: the account needs relinking.
    AccessRevoked {
        channel: Channel,
        brand_id: String,
    },
}
