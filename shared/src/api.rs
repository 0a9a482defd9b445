//! DTOs of the internal JSON API between the widget and the server.

use crate::vocab::Role;
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
}
