//! The simulated Facebook: Login dialog, Graph API (pages, profiles, comments), the
//! Messenger Send API, and signed webhooks.

use crate::common::Shared;
use crate::{Credentials, GRAPH_VERSION};
use axum::Router;

#[derive(Clone)]
pub struct Facebook {
    shared: Shared,
    app_id: String,
    app_secret: String,
    verify_token: String,
}

impl Facebook {
    pub fn new(shared: Shared, credentials: &Credentials) -> Self {
        Facebook {
            shared,
            app_id: credentials.facebook_app_id.clone(),
            app_secret: credentials.facebook_app_secret.clone(),
            verify_token: credentials.facebook_verify_token.clone(),
        }
    }

    /// Routes below `/facebook`.
    pub fn router(&self) -> Router {
        let _ = (&self.app_id, &self.app_secret, &self.verify_token);
        Router::new()
    }

    pub fn graph_url(&self) -> String {
        format!("{}/facebook/graph/{GRAPH_VERSION}", self.shared.url)
    }

    pub fn www_url(&self) -> String {
        format!("{}/facebook/www/{GRAPH_VERSION}", self.shared.url)
    }
}
