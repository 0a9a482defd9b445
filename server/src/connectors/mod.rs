//! Calls out to the networks (CONTRACT.md §3): one HTTP client with timeouts and a user
//! agent, and a small client per network speaking its real paths, parameters and auth.

pub mod facebook;
pub mod twitter;

use std::time::Duration;

/// The one HTTP client for calls to the networks.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .user_agent(concat!("SocialConnect/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .build()
        .expect("building the HTTP client")
}

/// A network's refusal, with its own words, for the agent's or admin's screen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{network} answered {status}: {message}")]
pub struct NetworkError {
    pub network: &'static str,
    pub status: u16,
    /// The network's error code (Graph `error.code`, X `errors[].code`), when it gave one.
    pub code: Option<i64>,
    pub message: String,
}

/// Why a send did not go through, and whether to try again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendFailure {
    /// Worth retrying: timeouts, 5xx, rate limits (with when to retry, if the network said).
    Transient {
        message: String,
        retry_after: Option<Duration>,
    },
    /// Will not succeed as it is: the network's reason for the agent; `token_invalid` when
    /// the linked account must be relinked.
    Permanent {
        message: String,
        token_invalid: bool,
    },
}

impl SendFailure {
    pub fn message(&self) -> &str {
        match self {
            SendFailure::Transient { message, .. } | SendFailure::Permanent { message, .. } => {
                message
            }
        }
    }
}

pub(crate) fn transport_failure(network: &str, e: reqwest::Error) -> SendFailure {
    SendFailure::Transient {
        message: format!("{network} could not be reached: {}", e.without_url()),
        retry_after: None,
    }
}
