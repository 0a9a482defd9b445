//! SocialConnect Home's API: what admins see of their linked pages and accounts, routing,
//! feature switches and audit log, and what they send to change them. No token ever
//! appears here.

use crate::{Channel, Role};
use serde::{Deserialize, Serialize};

/// Where a linked page or account stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkState {
    Linked,
    TokenInvalid,
    WebhooksFailing,
    /// Facebook answered a send with "Pages temporarily restricted from sending" (Send API
    /// code 10, subcode 1893063); cleared by the next Messenger reply that goes through.
    SendingRestricted,
    Unlinked,
}

impl LinkState {
    /// The words the accounts table shows.
    pub fn label(self) -> &'static str {
        match self {
            LinkState::Linked => "Linked",
            LinkState::TokenInvalid => "Token invalid — relink",
            LinkState::WebhooksFailing => "Webhooks failing",
            LinkState::SendingRestricted => "Sending restricted by Facebook",
            LinkState::Unlinked => "Unlinked",
        }
    }

    /// What an admin should know beyond the label, when there is more to say.
    pub fn explanation(self) -> Option<&'static str> {
        match self {
            LinkState::SendingRestricted => Some(
                "Facebook has temporarily restricted this page from sending messages: \
                 Messenger replies fail until Facebook lifts it. Messages still arrive; the \
                 status clears when a reply goes through again.",
            ),
            _ => None,
        }
    }

    /// Whether the account still receives and sends.
    pub fn is_active(self) -> bool {
        !matches!(self, LinkState::Unlinked)
    }
}

/// `GET /api/home` — everything SocialConnect Home shows, for the admin's own brand.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HomeOverview {
    pub account_number: String,
    pub account_name: String,
    pub accounts: Vec<LinkedRow>,
    pub skills: Vec<SkillRow>,
    pub people: Vec<PersonRow>,
    pub settings: HomeSettings,
    /// Latest first.
    pub audit: Vec<AuditRow>,
    pub networks: Networks,
}

/// Which networks this server is set up for (an app id and secret each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Networks {
    pub facebook: bool,
    pub twitter: bool,
}

/// One row of the accounts table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkedRow {
    pub id: i64,
    pub channel: Channel,
    pub name: String,
    pub network_id: String,
    pub status: LinkState,
    /// The skill its conversations are routed to.
    pub skill_id: Option<i64>,
    /// `YYYY-MM-DD` (UTC).
    pub created_on: String,
    pub created_by: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkillRow {
    pub id: i64,
    pub name: String,
}

/// A person of the brand: who they are, what they may do, the skills they answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonRow {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub role: Role,
    pub skills: Vec<i64>,
    /// Answers every skill of the account (an explicit choice; `skills` then does not count).
    pub all_skills: bool,
    pub status: PersonStatus,
    /// `YYYY-MM-DD HH:MM` (UTC) of their last sign-in; `None` before the first.
    pub last_sign_in: Option<String>,
}

/// Whether a person can sign in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PersonStatus {
    /// Signs in.
    Active,
    /// Created, has not yet chosen a password through their one-time link.
    Invited,
    /// Deactivated: cannot sign in, and their sessions have ended.
    Disabled,
}

impl PersonStatus {
    pub const ALL: [PersonStatus; 3] = [
        PersonStatus::Active,
        PersonStatus::Invited,
        PersonStatus::Disabled,
    ];

    /// The word stored and printed by `socialconnect users list`.
    pub fn as_str(self) -> &'static str {
        match self {
            PersonStatus::Active => "active",
            PersonStatus::Invited => "invited",
            PersonStatus::Disabled => "disabled",
        }
    }

    /// The words the People table shows.
    pub fn label(self) -> &'static str {
        match self {
            PersonStatus::Active => "Active",
            PersonStatus::Invited => "Invited",
            PersonStatus::Disabled => "Deactivated",
        }
    }
}

/// `POST /api/home/people`: invite a person of the brand.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invite {
    pub email: String,
    pub name: String,
    /// `admin` or `agent`.
    pub role: Role,
}

/// The answer to [`Invite`]: the person, and the one-time link through which they choose
/// their password (single use, valid [`SET_PASSWORD_HOURS`] hours) for the admin to pass on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invited {
    pub person: PersonRow,
    pub link: String,
    /// Whether the link was also emailed to them (SMTP is set up).
    pub emailed: bool,
}

/// How long a set-password link is valid.
pub const SET_PASSWORD_HOURS: i64 = 72;

/// `PUT /api/home/people/{id}/role`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetRole {
    pub role: Role,
}

/// The brand's feature switches (automation has its own section).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HomeSettings {
    pub send_image: bool,
    /// An agent's reply takes a conversation nobody holds (Chatwoot's rule), so two agents
    /// do not answer the same person.
    #[serde(default = "on")]
    pub reply_takes: bool,
}

fn on() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRow {
    /// `YYYY-MM-DD HH:MM` (UTC).
    pub at: String,
    pub actor: String,
    pub action: String,
    pub detail: String,
}

/// Where the browser goes next (the network's sign-in page).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Redirect {
    pub url: String,
}

/// `GET /api/home/pending/{id}` — the pages Facebook says this admin manages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingPages {
    pub pages: Vec<PageChoice>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageChoice {
    pub id: String,
    pub name: String,
    /// Already linked to this brand (picking it relinks it).
    pub linked: bool,
}

/// `POST /api/home/pending/{id}` — the page to link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PickPage {
    pub page_id: String,
}

/// `PUT /api/home/accounts/{id}/skill` — route a channel to a skill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetSkill {
    pub skill_id: i64,
}

/// `POST /api/home/skills`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewSkill {
    pub name: String,
}

/// `PUT /api/home/people/{id}/skills`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetPersonSkills {
    pub skills: Vec<i64>,
    /// Every skill of the account instead of `skills`.
    #[serde(default)]
    pub all_skills: bool,
}

/// `PUT /api/home/skills/{id}`: a new name for a skill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenameSkill {
    pub name: String,
}

/// The longest skill name accepted.
pub const MAX_SKILL_NAME: usize = 60;

/// A skill name as typed, trimmed; `None` when empty, too long or holding control
/// characters.
pub fn skill_name(s: &str) -> Option<&str> {
    let s = s.trim();
    (!s.is_empty() && s.chars().count() <= MAX_SKILL_NAME && !s.chars().any(char::is_control))
        .then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skill_names_are_trimmed_and_bounded() {
        assert_eq!(skill_name("  billing "), Some("billing"));
        assert_eq!(skill_name("   "), None);
        assert_eq!(skill_name("a\nb"), None);
        assert_eq!(
            skill_name(&"x".repeat(MAX_SKILL_NAME)).map(str::len),
            Some(60)
        );
        assert_eq!(skill_name(&"x".repeat(MAX_SKILL_NAME + 1)), None);
    }

    #[test]
    fn link_states_use_the_stored_words() {
        assert_eq!(
            serde_json::to_string(&LinkState::WebhooksFailing).unwrap(),
            "\"webhooks_failing\""
        );
        assert!(!LinkState::Unlinked.is_active());
        assert!(LinkState::TokenInvalid.is_active());
        assert_eq!(
            serde_json::to_string(&LinkState::SendingRestricted).unwrap(),
            "\"sending_restricted\""
        );
        assert!(LinkState::SendingRestricted.is_active());
        assert!(
            LinkState::SendingRestricted
                .explanation()
                .unwrap()
                .contains("restricted this page from sending messages")
        );
    }
}

/// `GET /api/home/sso`: the account's single sign-on (never its client secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SsoConfig {
    /// Whether a provider is set up.
    pub configured: bool,
    pub issuer: String,
    pub client_id: String,
    /// Whether people may still sign in with a password.
    pub password_sign_in: bool,
    /// Where the provider must send people back (to register with it).
    pub redirect_uri: String,
}

/// `PUT /api/home/sso`: set up (or change) the account's OpenID Connect provider. The
/// server checks the issuer's discovery document before saving.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetSso {
    pub issuer: String,
    pub client_id: String,
    /// Empty or absent: keep the stored one.
    #[serde(default)]
    pub client_secret: Option<String>,
    pub password_sign_in: bool,
}
