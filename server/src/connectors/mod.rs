//! Calls out to the networks (CONTRACT.md §3): one HTTP client with timeouts and a user
//! agent, and a small client per network speaking its real paths, parameters and auth.

pub mod facebook;
pub mod liveengage;
pub mod twitter;

use std::time::Duration;

/// Builds the HTTP client for calls to the networks: the server builds it once, at start
/// (`AppState::network`); a CLI command, once per run.
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
    /// the linked account must be relinked; `sending_restricted` when Facebook restricted
    /// the page from sending (SocialConnect Home shows it).
    Permanent {
        message: String,
        token_invalid: bool,
        sending_restricted: bool,
    },
}

impl SendFailure {
    /// Will not succeed as it is, for a reason of its own (not the token, not a restriction).
    pub fn permanent(message: impl Into<String>) -> Self {
        SendFailure::Permanent {
            message: message.into(),
            token_invalid: false,
            sending_restricted: false,
        }
    }

    pub fn message(&self) -> &str {
        match self {
            SendFailure::Transient { message, .. } | SendFailure::Permanent { message, .. } => {
                message
            }
        }
    }
}

/// The id at `pointer` in a network's success answer; its absence is a permanent failure
/// ("`network` accepted the `what` but returned no id").
pub(crate) fn id_from(
    answer: &serde_json::Value,
    pointer: &str,
    network: &str,
    what: &str,
) -> Result<String, SendFailure> {
    answer
        .pointer(pointer)
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| SendFailure::Permanent {
            message: format!("{network} accepted the {what} but returned no id"),
            token_invalid: false,
            sending_restricted: false,
        })
}

pub(crate) fn transport_failure(network: &str, e: reqwest::Error) -> SendFailure {
    SendFailure::Transient {
        message: format!("{network} could not be reached: {}", e.without_url()),
        retry_after: None,
    }
}

/// A linked account's credentials, opened from their sealed form for one round of calls.
pub enum Credentials {
    Facebook {
        app_secret: String,
        page_token: String,
    },
    Twitter {
        consumer_key: String,
        consumer_secret: String,
        token: String,
        token_secret: String,
    },
}

/// Why an account's credentials cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialsError {
    pub message: String,
    /// The stored token itself is unusable: the account must be relinked.
    pub token_invalid: bool,
}

impl From<CredentialsError> for SendFailure {
    fn from(e: CredentialsError) -> Self {
        SendFailure::Permanent {
            message: e.message,
            token_invalid: e.token_invalid,
            sending_restricted: false,
        }
    }
}

impl From<CredentialsError> for NetworkError {
    fn from(e: CredentialsError) -> Self {
        NetworkError {
            network: "SocialConnect",
            status: 0,
            code: None,
            message: e.message,
        }
    }
}

impl Credentials {
    /// Opens `linked`'s sealed tokens with the app's settings for its network.
    pub fn open(
        settings: &crate::config::ServeArgs,
        cipher: &crate::crypto::TokenCipher,
        linked: &crate::store::LinkedAccount,
    ) -> Result<Credentials, CredentialsError> {
        let unreadable = |what: &str| CredentialsError {
            message: format!("the stored {what} cannot be read; relink the account"),
            token_invalid: true,
        };
        let off = |network: &str| CredentialsError {
            message: format!("{network} is not configured on this server"),
            token_invalid: false,
        };
        let token = cipher
            .open(&linked.token_sealed)
            .map_err(|_| unreadable("token"))?;
        match linked.channel {
            shared::Channel::Facebook => Ok(Credentials::Facebook {
                app_secret: settings
                    .facebook
                    .facebook_app_secret
                    .clone()
                    .ok_or_else(|| off("Facebook"))?,
                page_token: token,
            }),
            shared::Channel::Twitter => {
                let tw = &settings.twitter;
                let (Some(consumer_key), Some(consumer_secret)) = (
                    tw.twitter_consumer_key.clone(),
                    tw.twitter_consumer_secret.clone(),
                ) else {
                    return Err(off("Twitter/X"));
                };
                let token_secret = linked
                    .token_secret_sealed
                    .as_deref()
                    .and_then(|s| cipher.open(s).ok())
                    .ok_or_else(|| unreadable("token secret"))?;
                Ok(Credentials::Twitter {
                    consumer_key,
                    consumer_secret,
                    token,
                    token_secret,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A listener counting the connections made to it, and its base URL.
    async fn counting() -> (String, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let hits = Arc::new(AtomicUsize::new(0));
        let counted = hits.clone();
        tokio::spawn(async move {
            while let Ok((_socket, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
            }
        });
        (base, hits)
    }

    /// Ids are checked again where they go into a URL, whoever stored them: a call that
    /// would name another path, query or fragment is never made.
    #[tokio::test]
    async fn calls_are_not_built_from_ids_of_another_shape() {
        let (base, hits) = counting().await;
        let http = reqwest::Client::new();
        let graph = super::facebook::Graph {
            http: &http,
            base: &base,
            app_secret: "s",
        };
        let x = super::twitter::XApi {
            http: &http,
            base: &base,
            consumer_key: "ck",
            consumer_secret: "cs",
        };
        let user = super::twitter::OAuth1 {
            consumer_key: "ck",
            consumer_secret: "cs",
            token: "t",
            token_secret: "ts",
        };
        for bad in ["../me", "1/feed", "1?fields=x", "1#x", "1 2", ".."] {
            let e = graph.profile("token", bad).await.unwrap_err();
            assert!(e.message.contains("not a valid"), "{e}");
            assert!(graph.subscribe_page(bad, "token").await.is_err());
            let e = graph.comment("token", bad, "hi", None).await.unwrap_err();
            assert!(e.message().contains("not a valid"), "{e:?}");
            let e = x.user(&user, bad).await.unwrap_err();
            assert!(e.message.contains("not a valid"), "{e}");
            let e = x.direct_message(&user, bad, "hi", None).await.unwrap_err();
            assert!(e.message().contains("not a valid"), "{e:?}");
        }
        assert_eq!(hits.load(Ordering::SeqCst), 0, "no call was made");
    }
}
