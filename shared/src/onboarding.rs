//! Onboarding: the sign-up request a brand makes from the marketing page, the chat with
//! support that goes with it, and the rules both sides apply to what people type.

use serde::{Deserialize, Serialize};

/// The longest chat message, in characters.
pub const CHAT_MAX_CHARS: usize = 2000;
/// The longest account number the marketing page accepts.
pub const ACCOUNT_NUMBER_MAX: usize = 32;
/// Where the public marketing page lives.
pub const MARKETING_PATH: &str = "/socialconnect";
/// The Thank You screen with the chat to support.
pub const THANK_YOU_PATH: &str = "/socialconnect/thank-you";
/// Support staff's list of sign-up requests.
pub const SUPPORT_PATH: &str = "/support/sign-ups";

/// Where a sign-up request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SignupStatus {
    /// Waiting for support.
    Open,
    /// Support enabled SocialConnect for the account.
    Enabled,
}

impl SignupStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SignupStatus::Open => "open",
            SignupStatus::Enabled => "enabled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [SignupStatus::Open, SignupStatus::Enabled]
            .into_iter()
            .find(|v| v.as_str() == s)
    }

    pub fn label(self) -> &'static str {
        match self {
            SignupStatus::Open => "Waiting for support",
            SignupStatus::Enabled => "Enabled",
        }
    }
}

/// A brand account's request to have SocialConnect enabled (one per account).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignupRequest {
    pub id: i64,
    pub account_number: String,
    pub account_name: String,
    pub status: SignupStatus,
    /// Who asked (name and email), when that user still exists.
    pub requested_by: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    pub enabled_at: Option<String>,
    /// The link to SocialConnect Home, once enabled.
    pub home_url: Option<String>,
    /// How many chat messages the request has.
    pub messages: i64,
    /// The last message's author kind, so support sees who is waiting for an answer.
    pub last_author: Option<ChatAuthor>,
}

/// Who wrote a chat message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChatAuthor {
    /// Someone of the brand account.
    Brand,
    /// Support staff.
    Support,
    /// SocialConnect itself (the request was made, the account was enabled).
    System,
}

impl ChatAuthor {
    pub fn as_str(self) -> &'static str {
        match self {
            ChatAuthor::Brand => "brand",
            ChatAuthor::Support => "support",
            ChatAuthor::System => "system",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [ChatAuthor::Brand, ChatAuthor::Support, ChatAuthor::System]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// One line of the chat between a brand and support.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub id: i64,
    pub author: ChatAuthor,
    pub author_name: String,
    /// As typed: untrusted, shown as text, never as markup.
    pub text: String,
    /// A link the server added (SocialConnect Home), never one from the text.
    pub link: Option<String>,
    /// RFC 3339.
    pub created_at: String,
}

/// `GET /api/onboarding/requests/{id}`: the request and its chat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignupChat {
    pub request: SignupRequest,
    pub messages: Vec<ChatMessage>,
}

/// `POST /api/onboarding/requests/{id}/messages`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatPost {
    pub text: String,
}

/// One Server-Sent Event of `GET /api/onboarding/events`: this request (or its chat)
/// changed; `None` after missed events (refetch everything).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignupEvent {
    pub request_id: Option<i64>,
}

/// A chat message as it will be stored: trimmed, control characters other than line
/// breaks and tabs removed, within [`CHAT_MAX_CHARS`].
pub fn clean_chat_text(text: &str) -> Result<String, String> {
    let cleaned: String = text
        .trim()
        .chars()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .collect();
    let n = cleaned.chars().count();
    if n == 0 {
        return Err("write a message first".into());
    }
    if n > CHAT_MAX_CHARS {
        return Err(format!(
            "a message holds at most {CHAT_MAX_CHARS} characters; this one has {n}"
        ));
    }
    Ok(cleaned)
}

/// An account number as the marketing page takes it: letters, digits and dashes.
pub fn clean_account_number(s: &str) -> Result<String, &'static str> {
    let s = s.trim();
    if s.is_empty() {
        return Err("enter your account number");
    }
    if s.len() > ACCOUNT_NUMBER_MAX || !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err("an account number has only letters, digits and dashes");
    }
    Ok(s.to_owned())
}

/// A path to go to after sign-in, when it stays on this site: one leading slash, no
/// scheme, no `//host` or `/\host` (browsers read both as another host).
pub fn safe_next_path(next: &str) -> Option<&str> {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && !next.chars().any(|c| c.is_control() || c == '\\');
    ok.then_some(next)
}

/// The sign-in page's address for someone coming from the marketing page: the account
/// number filled in, and back to the Thank You screen afterwards.
pub fn login_href(account_number: &str) -> String {
    format!(
        "/login?account={}&next={}",
        encode_component(account_number),
        encode_component(THANK_YOU_PATH)
    )
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
pub fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_text_is_trimmed_cleaned_and_bounded() {
        assert_eq!(
            clean_chat_text("  hi\u{0}\u{7}\n there\t "),
            Ok("hi\n there".into())
        );
        assert!(clean_chat_text(" \u{1b} ").is_err());
        assert!(clean_chat_text(&"é".repeat(CHAT_MAX_CHARS)).is_ok());
        let err = clean_chat_text(&"x".repeat(CHAT_MAX_CHARS + 1)).unwrap_err();
        assert!(err.contains("2001"), "{err}");
        // Markup stays as typed: it is shown as text, never parsed.
        assert_eq!(clean_chat_text("<b>x</b>"), Ok("<b>x</b>".into()));
    }

    #[test]
    fn account_numbers_are_plain() {
        assert_eq!(clean_account_number(" 2000 "), Ok("2000".into()));
        assert_eq!(clean_account_number("AB-12"), Ok("AB-12".into()));
        assert!(clean_account_number("").is_err());
        assert!(clean_account_number("20 00").is_err());
        assert!(clean_account_number("1&next=//evil").is_err());
        assert!(clean_account_number(&"1".repeat(ACCOUNT_NUMBER_MAX + 1)).is_err());
    }

    #[test]
    fn only_local_paths_are_followed_after_sign_in() {
        assert_eq!(
            safe_next_path("/socialconnect/thank-you"),
            Some("/socialconnect/thank-you")
        );
        for bad in [
            "//evil.example",
            "/\\evil.example",
            "https://evil.example",
            "javascript:alert(1)",
            "",
            "/a\\b",
            "/a\nb",
        ] {
            assert_eq!(safe_next_path(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_login_link_carries_the_account_and_the_way_back() {
        assert_eq!(
            login_href("2000"),
            "/login?account=2000&next=%2Fsocialconnect%2Fthank-you"
        );
        assert_eq!(encode_component("a b&c"), "a%20b%26c");
    }
}
