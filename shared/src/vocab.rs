//! The words every side uses: channels, the four message tags, reply modes, the five
//! reply targets with their character limits, and user roles.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A social network SocialConnect connects to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Facebook,
    Twitter,
}

impl Channel {
    pub const ALL: [Channel; 2] = [Channel::Facebook, Channel::Twitter];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Facebook => "facebook",
            Channel::Twitter => "twitter",
        }
    }

    /// The name people read.
    pub fn label(self) -> &'static str {
        match self {
            Channel::Facebook => "Facebook",
            Channel::Twitter => "Twitter/X",
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Channel {
    type Err = UnknownWord;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Channel::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownWord::new("channel", s))
    }
}

/// The public/private signifier and type every transcript line carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Tag {
    /// Facebook: a consumer's post on the brand's page. Twitter: a tweet naming the brand.
    #[serde(rename = "Public/Post")]
    PublicPost,
    /// Facebook: a comment on a post, or a reply to a comment.
    #[serde(rename = "Public/Comment")]
    PublicComment,
    /// Twitter: a reply tweet in a thread.
    #[serde(rename = "Public/Thread")]
    PublicThread,
    /// Messenger or a Direct Message.
    #[serde(rename = "Private")]
    Private,
}

impl Tag {
    pub const ALL: [Tag; 4] = [
        Tag::PublicPost,
        Tag::PublicComment,
        Tag::PublicThread,
        Tag::Private,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Tag::PublicPost => "Public/Post",
            Tag::PublicComment => "Public/Comment",
            Tag::PublicThread => "Public/Thread",
            Tag::Private => "Private",
        }
    }

    pub fn is_public(self) -> bool {
        self != Tag::Private
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Tag {
    type Err = UnknownWord;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Tag::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UnknownWord::new("tag", s))
    }
}

/// How an agent's reply travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplyMode {
    /// A comment (Facebook) or reply tweet (Twitter) under the consumer's last public message.
    Public,
    /// Messenger or a Direct Message.
    Private,
    /// Facebook only: a Messenger message in answer to a visitor post or a comment.
    PrivateResponse,
}

impl ReplyMode {
    /// In the order the switch shows them.
    pub const ALL: [ReplyMode; 3] = [
        ReplyMode::Public,
        ReplyMode::Private,
        ReplyMode::PrivateResponse,
    ];

    /// The control's name on screen (CONTRACT.md §4).
    pub fn label(self) -> &'static str {
        match self {
            ReplyMode::Public => "Public",
            ReplyMode::Private => "Private",
            ReplyMode::PrivateResponse => "Private Response",
        }
    }

    /// Whether `channel` offers this mode.
    pub fn available_on(self, channel: Channel) -> bool {
        !(self == ReplyMode::PrivateResponse && channel == Channel::Twitter)
    }
}

/// Where a piece of text is going; each target has its own limit and way of counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Target {
    TwitterPublic,
    TwitterDm,
    FacebookPost,
    FacebookComment,
    Messenger,
}

impl Target {
    pub const ALL: [Target; 5] = [
        Target::TwitterPublic,
        Target::TwitterDm,
        Target::FacebookPost,
        Target::FacebookComment,
        Target::Messenger,
    ];

    /// The name used by `socialconnect count --target` and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Target::TwitterPublic => "twitter-public",
            Target::TwitterDm => "twitter-dm",
            Target::FacebookPost => "facebook-post",
            Target::FacebookComment => "facebook-comment",
            Target::Messenger => "messenger",
        }
    }

    /// The network's limit for one message to this target.
    ///
    /// Twitter public 280 weighted characters and DMs 10,000; Facebook post 63,206 and
    /// comment 5,000 from the product overview; Messenger 2,000 from the Send API
    /// reference ("must be UTF-8 and has a 2000 character limit").
    pub fn limit(self) -> usize {
        match self {
            Target::TwitterPublic => 280,
            Target::TwitterDm => 10_000,
            Target::FacebookPost => 63_206,
            Target::FacebookComment => 5_000,
            Target::Messenger => 2_000,
        }
    }

    pub fn channel(self) -> Channel {
        match self {
            Target::TwitterPublic | Target::TwitterDm => Channel::Twitter,
            Target::FacebookPost | Target::FacebookComment | Target::Messenger => Channel::Facebook,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Target::TwitterPublic => "Twitter reply",
            Target::TwitterDm => "Direct Message",
            Target::FacebookPost => "Facebook post",
            Target::FacebookComment => "Facebook comment",
            Target::Messenger => "Messenger",
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Target {
    type Err = UnknownWord;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Target::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UnknownWord::new("target", s))
    }
}

/// What a signed-in user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Links accounts and changes settings for one brand account.
    Admin,
    /// Answers consumers for one brand account.
    Agent,
    /// SocialConnect's own staff: enable brand accounts, answer sign-up requests.
    Support,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Admin, Role::Agent, Role::Support];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Agent => "agent",
            Role::Support => "support",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = UnknownWord;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownWord::new("role", s))
    }
}

/// A word that is not one of the vocabulary's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownWord {
    pub kind: &'static str,
    pub word: String,
}

impl UnknownWord {
    fn new(kind: &'static str, word: &str) -> Self {
        UnknownWord {
            kind,
            word: word.to_owned(),
        }
    }
}

impl fmt::Display for UnknownWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown {} {:?}", self.kind, self.word)
    }
}

impl std::error::Error for UnknownWord {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_round_trip_through_their_wire_names() {
        for tag in Tag::ALL {
            let json = serde_json::to_string(&tag).unwrap();
            assert_eq!(json, format!("\"{}\"", tag.as_str()));
            assert_eq!(serde_json::from_str::<Tag>(&json).unwrap(), tag);
            assert_eq!(tag.as_str().parse::<Tag>().unwrap(), tag);
        }
        assert!(!Tag::Private.is_public());
        assert!(Tag::PublicThread.is_public());
    }

    #[test]
    fn targets_carry_the_five_limits() {
        let limits: Vec<_> = Target::ALL
            .iter()
            .map(|t| (t.as_str(), t.limit()))
            .collect();
        assert_eq!(
            limits,
            [
                ("twitter-public", 280),
                ("twitter-dm", 10_000),
                ("facebook-post", 63_206),
                ("facebook-comment", 5_000),
                ("messenger", 2_000),
            ]
        );
        for t in Target::ALL {
            assert_eq!(t.as_str().parse::<Target>().unwrap(), t);
            assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
        }
        assert!("tiktok".parse::<Target>().is_err());
    }

    #[test]
    fn private_response_is_facebook_only() {
        assert!(ReplyMode::PrivateResponse.available_on(Channel::Facebook));
        assert!(!ReplyMode::PrivateResponse.available_on(Channel::Twitter));
        assert!(ReplyMode::Public.available_on(Channel::Twitter));
        assert_eq!(ReplyMode::PrivateResponse.label(), "Private Response");
        assert_eq!(
            serde_json::to_value(ReplyMode::PrivateResponse).unwrap(),
            "private_response"
        );
    }

    #[test]
    fn channels_and_roles_parse() {
        assert_eq!("twitter".parse::<Channel>().unwrap(), Channel::Twitter);
        assert_eq!("support".parse::<Role>().unwrap(), Role::Support);
        let err = "boss".parse::<Role>().unwrap_err();
        assert_eq!(err.to_string(), "unknown role \"boss\"");
    }
}
