//! The simulated Twitter/X: OAuth 1.0a, webhooks with CRC, the X Activity API and the
//! legacy Account Activity API, posts, Direct Messages, media upload and users.

use crate::Credentials;
use crate::common::Shared;
use axum::Router;

#[derive(Clone)]
pub struct Twitter {
    shared: Shared,
    consumer_key: String,
    consumer_secret: String,
}

impl Twitter {
    pub fn new(shared: Shared, credentials: &Credentials) -> Self {
        Twitter {
            shared,
            consumer_key: credentials.twitter_consumer_key.clone(),
            consumer_secret: credentials.twitter_consumer_secret.clone(),
        }
    }

    /// Routes below `/twitter`.
    pub fn router(&self) -> Router {
        let _ = (&self.consumer_key, &self.consumer_secret);
        Router::new()
    }

    pub fn api_url(&self) -> String {
        format!("{}/twitter/api", self.shared.url)
    }

    pub fn upload_url(&self) -> String {
        format!("{}/twitter/upload", self.shared.url)
    }
}
