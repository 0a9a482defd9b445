//! One LiveEngage account's calls, with what the connector keeps between them: the hosts
//! the domain look-up named, and the app token for its hour.

use crate::AppState;
use crate::connectors::liveengage::{Api, LeFailure};
use crate::store::LeLink;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// An app token is valid one hour; it is used for a little less, so a call never goes out
/// with one about to expire.
const APP_TOKEN_USE: Duration = Duration::from_secs(55 * 60);

/// The LiveEngage connector's shared state: caches, and the mirror's wake-up.
#[derive(Clone, Default)]
pub struct Connector {
    cache: Arc<Mutex<Cache>>,
    wake: Arc<Notify>,
}

#[derive(Default)]
struct Cache {
    /// (LiveEngage account, service) → host.
    hosts: HashMap<(String, &'static str), String>,
    /// (LiveEngage account, client id) → app token and until when it is used.
    app_tokens: HashMap<(String, String), (String, Instant)>,
}

impl Connector {
    /// Wakes the mirror: a consumer's line or a close may be waiting.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    pub(super) async fn woken(&self) {
        self.wake.notified().await
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The calls of one brand's LiveEngage account.
pub struct Session<'a> {
    state: &'a AppState,
    link: &'a LeLink,
    secret: String,
}

impl<'a> Session<'a> {
    /// Opens the link's sealed client secret.
    pub fn new(state: &'a AppState, link: &'a LeLink) -> Result<Self, String> {
        let secret = state.cipher.open(&link.client_secret_sealed).map_err(|_| {
            "the stored LiveEngage client secret cannot be read; connect LiveEngage again in \
             SocialConnect Home"
                .to_owned()
        })?;
        Ok(Session {
            state,
            link,
            secret,
        })
    }

    pub fn api(&self) -> Api<'a> {
        Api {
            http: &self.state.network,
            domain: &self.state.settings.liveengage.liveengage_domain_url,
            account: &self.link.le_account_id,
        }
    }

    /// The host of `service`, looked up once per account.
    pub async fn host(&self, service: &'static str) -> Result<String, LeFailure> {
        let key = (self.link.le_account_id.clone(), service);
        if let Some(h) = self.state.liveengage.cache().hosts.get(&key) {
            return Ok(h.clone());
        }
        let host = self.api().base_uri(service).await?;
        self.state
            .liveengage
            .cache()
            .hosts
            .insert(key, host.clone());
        Ok(host)
    }

    /// The app token: the one in use, or (`fresh`, or none, or its hour is nearly over) a
    /// new one from Sentinel.
    pub async fn app_token(&self, fresh: bool) -> Result<String, LeFailure> {
        let key = (self.link.le_account_id.clone(), self.link.client_id.clone());
        if !fresh
            && let Some((token, until)) = self.state.liveengage.cache().app_tokens.get(&key)
            && *until > Instant::now()
        {
            return Ok(token.clone());
        }
        let sentinel = self.host("sentinel").await?;
        let token = self
            .api()
            .app_token(&sentinel, &self.link.client_id, &self.secret)
            .await?;
        self.state
            .liveengage
            .cache()
            .app_tokens
            .insert(key, (token.clone(), Instant::now() + APP_TOKEN_USE));
        Ok(token)
    }
}
