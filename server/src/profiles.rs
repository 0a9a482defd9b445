//! Consumer profiles: fetched from the network at first contact (the ingest wakes this)
//! and refreshed after a week, in the background so a slow or failing look-up never
//! holds up a webhook. Failed look-ups are tried again after five minutes. A Facebook
//! profile's picture URL expires, so the picture is copied into the media store by the
//! media fetcher (as safely as any media) and the profile is then served pointing at the
//! copy.

use crate::AppState;
use crate::connectors::facebook::Graph;
use crate::connectors::twitter::{OAuth1, XApi};
use crate::connectors::{Credentials, NetworkError};
use crate::store::ProfileDue;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

const STALE_AFTER_MS: i64 = 7 * 24 * 3600 * 1000;
const RETRY_AFTER_MS: i64 = 5 * 60 * 1000;

/// Wakes the profile fetcher.
#[derive(Clone, Default)]
pub struct ProfileHandle(Arc<Notify>);

impl ProfileHandle {
    pub fn wake(&self) {
        self.0.notify_one();
    }
}

/// Consumers looked up per pass.
const BATCH: i64 = 20;

pub fn spawn_fetcher(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let http = state.network.clone();
        loop {
            let now = crate::auth::now_secs() * 1000;
            let mut more = false;
            match state
                .store
                .profiles_due(now, now - STALE_AFTER_MS, now - RETRY_AFTER_MS, BATCH)
                .await
            {
                Ok(due) => {
                    // A full batch may have left others due: the next pass comes at the
                    // burst pace without waiting for another webhook (or a minute).
                    more = due.len() as i64 == BATCH;
                    for d in due {
                        fetch_one(&state, &http, d).await;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "profiles: reading what is due failed"),
            }
            let wake = async {
                if more {
                    tokio::time::sleep(PASS_GAP).await;
                    return;
                }
                tokio::select! {
                    _ = state.profiles.0.notified() => {
                        // Every webhook wakes this: a burst is looked at once per pass,
                        // not once per webhook.
                        tokio::time::sleep(PASS_GAP).await;
                    }
                    _ = tokio::time::sleep(Duration::from_secs(60)) => {}
                }
            };
            if !state.stopping.idle(wake).await {
                break;
            }
        }
    })
}

/// The least pause between two passes under a burst.
const PASS_GAP: Duration = Duration::from_millis(100);

async fn fetch_one(state: &AppState, http: &reqwest::Client, due: ProfileDue) {
    let fetched = fetch(state, http, &due).await;
    let now = crate::auth::now_secs() * 1000;
    match fetched {
        Ok((name, handle, profile)) => {
            let stored = state
                .store
                .set_profile(
                    due.consumer_id,
                    name.as_deref(),
                    handle.as_deref(),
                    &profile,
                    now,
                )
                .await;
            let picture = (due.linked.channel == shared::Channel::Facebook)
                .then(|| profile.get("profile_pic").and_then(Value::as_str))
                .flatten();
            let stored = match (stored, picture) {
                (Ok(()), Some(url)) => {
                    let queued = state.store.copy_picture(due.consumer_id, url).await;
                    state.media.wake();
                    queued
                }
                (other, _) => other,
            };
            match stored {
                Ok(()) => {
                    if let Some(c) = due.conversation_id {
                        state
                            .live
                            .conversations_changed(due.linked.account_id, &[c]);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "profiles: storing failed"),
            }
        }
        Err(e) => {
            tracing::info!(consumer = due.consumer_id, error = %e, "profile look-up failed; will retry")
        }
    }
}

type Fetched = (Option<String>, Option<String>, Value);

async fn fetch(
    state: &AppState,
    http: &reqwest::Client,
    due: &ProfileDue,
) -> Result<Fetched, NetworkError> {
    match Credentials::open(&state.settings, &state.cipher, &due.linked)? {
        Credentials::Facebook {
            app_secret,
            page_token: token,
        } => {
            let fb = &state.settings.facebook;
            let secret = app_secret.as_str();
            let graph = Graph {
                http,
                base: &fb.facebook_graph_url,
                app_secret: secret,
            };
            let mut profile = graph.profile(&token, &due.network_id).await?;
            if let Some(map) = profile.as_object_mut() {
                map.remove("id");
            }
            let name = profile
                .get("name")
                .and_then(Value::as_str)
                .map(str::to_owned);
            Ok((name, None, profile))
        }
        Credentials::Twitter {
            consumer_key,
            consumer_secret,
            token,
            token_secret,
        } => {
            let tw = &state.settings.twitter;
            let (key, secret) = (consumer_key.as_str(), consumer_secret.as_str());
            let api = XApi {
                http,
                base: &tw.twitter_api_url,
                consumer_key: key,
                consumer_secret: secret,
            };
            let user = OAuth1 {
                consumer_key: key,
                consumer_secret: secret,
                token: &token,
                token_secret: &token_secret,
            };
            let profile = api.user(&user, &due.network_id).await?;
            let name = profile
                .get("name")
                .and_then(Value::as_str)
                .map(str::to_owned);
            let handle = profile
                .get("username")
                .and_then(Value::as_str)
                .map(str::to_owned);
            Ok((name, handle, profile))
        }
    }
}
