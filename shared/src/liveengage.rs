//! The LiveEngage connector's words both sides share: SocialConnect Home's LiveEngage
//! settings, the reply mode the agent chose in the host for a conversation, and how a
//! consumer's line reads in LiveEngage (its tag as a signifier, as LivePerson's own Social
//! Messaging shows it).

use crate::{ReplyMode, Tag};
use serde::{Deserialize, Serialize};

/// `GET /api/home/liveengage`: the brand's LiveEngage connection (never the secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct LiveEngageConfig {
    /// Whether the brand account is connected to a LiveEngage account.
    pub configured: bool,
    /// The LiveEngage account (site) id.
    pub le_account_id: String,
    /// The installed connector app's client id.
    pub client_id: String,
    /// Our skills' LiveEngage skill ids, `name=id` pairs separated by commas.
    pub skills: String,
    /// Where the connector app's webhooks must point (set in the app's installation).
    pub webhook_url: String,
}

/// `PUT /api/home/liveengage`: connect (or change) the brand's LiveEngage account. The
/// server asks LiveEngage for an app token with these credentials before saving.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetLiveEngage {
    pub le_account_id: String,
    pub client_id: String,
    /// Empty or absent: keep the stored one.
    #[serde(default)]
    pub client_secret: Option<String>,
    /// `name=id` pairs separated by commas (see [`parse_skill_map`]).
    #[serde(default)]
    pub skills: String,
}

/// `PUT /api/conversations/{id}/host-mode`: where the replies an agent writes in the host
/// (LiveEngage's compose box) go for this conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostMode {
    pub mode: ReplyMode,
}

/// `GET /api/liveengage/conversations/{le_conversation_id}`: our conversation behind a
/// LiveEngage conversation (the host's `chatInfo.rtSessionId`), and its host reply mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostConversation {
    pub conversation_id: i64,
    /// The mode chosen, or, when none was, where the consumer last wrote.
    pub mode: ReplyMode,
    /// Whether an agent chose `mode` (false: the default).
    pub chosen: bool,
}

/// How a consumer's line reads in LiveEngage: its tag as a signifier, then the text, then
/// each link (media not shared as files, links the consumer shared) on a line of its own.
pub fn line_text(tag: Tag, text: &str, links: &[String]) -> String {
    let mut out = format!("[{}]", tag.as_str());
    let text = text.trim();
    if !text.is_empty() {
        out.push(' ');
        out.push_str(text);
    }
    for l in links {
        out.push('\n');
        out.push_str(l);
    }
    out
}

/// The mode a host reply takes when the agent chose none: where the consumer last wrote
/// (public, unless their latest line was private). Times in milliseconds.
pub fn default_host_mode(last_public_at: Option<i64>, last_private_at: Option<i64>) -> ReplyMode {
    match (last_public_at, last_private_at) {
        (Some(public), Some(private)) if private > public => ReplyMode::Private,
        (None, Some(_)) => ReplyMode::Private,
        _ => ReplyMode::Public,
    }
}

/// The longest LiveEngage skill id taken (they are numeric, a few digits to a dozen).
const SKILL_ID_MAX: usize = 20;

/// Parses `name=id, name=id` (our skill's name, LiveEngage's numeric skill id): a name
/// not listed is mirrored with no skill (LiveEngage's routing decides).
pub fn parse_skill_map(s: &str) -> Result<Vec<(String, String)>, String> {
    let mut out: Vec<(String, String)> = Vec::new();
    for pair in s
        .split([',', '\n'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        let Some((name, id)) = pair.split_once('=') else {
            return Err(format!("{pair:?} is not name=id"));
        };
        let (name, id) = (name.trim(), id.trim());
        if name.is_empty() {
            return Err(format!("{pair:?} names no skill"));
        }
        if id.is_empty() || id.len() > SKILL_ID_MAX || !id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "{id:?} is not a LiveEngage skill id (digits, as LiveEngage shows them)"
            ));
        }
        if out.iter().any(|(n, _)| n == name) {
            return Err(format!("skill {name:?} is named twice"));
        }
        out.push((name.to_owned(), id.to_owned()));
    }
    Ok(out)
}

/// The `name=id, …` text of a skill map.
pub fn format_skill_map(map: &[(String, String)]) -> String {
    map.iter()
        .map(|(n, id)| format!("{n}={id}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_carry_their_tag_and_links() {
        assert_eq!(
            line_text(Tag::PublicComment, " hi there ", &[]),
            "[Public/Comment] hi there"
        );
        assert_eq!(
            line_text(Tag::Private, "", &["image: https://x/1.jpg".into()]),
            "[Private]\nimage: https://x/1.jpg"
        );
    }

    #[test]
    fn the_default_mode_follows_the_consumers_last_line() {
        assert_eq!(default_host_mode(Some(1), None), ReplyMode::Public);
        assert_eq!(default_host_mode(None, Some(1)), ReplyMode::Private);
        assert_eq!(default_host_mode(Some(2), Some(1)), ReplyMode::Public);
        assert_eq!(default_host_mode(Some(1), Some(2)), ReplyMode::Private);
        assert_eq!(default_host_mode(None, None), ReplyMode::Public);
    }

    #[test]
    fn skill_maps_parse_and_print() {
        let map = parse_skill_map("social=123, vip = 4567\n").unwrap();
        assert_eq!(
            map,
            [
                ("social".to_owned(), "123".to_owned()),
                ("vip".to_owned(), "4567".to_owned())
            ]
        );
        assert_eq!(format_skill_map(&map), "social=123, vip=4567");
        assert!(parse_skill_map("").unwrap().is_empty());
        assert!(parse_skill_map("social").is_err());
        assert!(parse_skill_map("social=abc").is_err());
        assert!(parse_skill_map("=1").is_err());
        assert!(parse_skill_map("a=1,a=2").is_err());
        let mode: HostMode = serde_json::from_str(r#"{"mode":"private_response"}"#).unwrap();
        assert_eq!(mode.mode, ReplyMode::PrivateResponse);
    }
}
