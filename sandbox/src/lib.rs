//! Simulated Facebook, Twitter/X and LiveEngage for tests, the demo and stand-alone use.
//!
//! One HTTP server hosts both networks under their own prefixes, speaking the real wire
//! formats (paths, parameters, signatures, payloads, error shapes), so the product's
//! connectors talk to it exactly as they would to the real networks:
//!
//! | base | stands in for |
//! |---|---|
//! | `{url}/facebook/graph/v24.0` | `https://graph.facebook.com/v24.0` |
//! | `{url}/facebook/www/v24.0` | `https://www.facebook.com/v24.0` (Login dialog) |
//! | `{url}/twitter/api` | `https://api.x.com` |
//! | `{url}/twitter/upload` | the media upload host |
//! | `{url}/liveengage/domain` | `https://api.liveperson.net` (LiveEngage's Domain API; the hosts it names are `{url}/liveengage/{service}`) |
//! | `{url}/liveengage/agent/` | LiveEngage's agent workspace, hosting the product's widget (`{callback}/widget`) in an iframe |
//! | `{url}/liveengage/webagent/client-SDK.js` | LiveEngage's agent workspace widget SDK (`lpTag.agentSDK`) |
//! | `{url}/oidc` | a company's OpenID Connect identity provider (single sign-on) |
//! | `{url}/console` | a consumer's view of both networks, for people |
//!
//! Webhooks go to `{callback}/webhooks/facebook`, `{callback}/webhooks/twitter` and
//! `{callback}/webhooks/liveengage`.

// `Faults`' map type trips clippy::type_complexity; allowed here so `common.rs` stays as is.
pub mod common;
pub mod console;
pub mod facebook;
pub mod liveengage;
pub mod oidc;
pub mod twitter;

use anyhow::Context;
use axum::Router;
use common::Shared;
use std::net::SocketAddr;
use std::path::Path;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// The Graph API version the sandbox serves (and the product's default).
pub const GRAPH_VERSION: &str = "v24.0";

#[derive(Debug, Clone)]
pub struct SandboxOptions {
    /// Where to listen; `127.0.0.1:0` picks a free port.
    pub listen: SocketAddr,
    /// The product's base URL; webhooks go to `{callback}/webhooks/{network}`.
    pub callback: String,
    /// Fixed app credentials (for a reproducible demo); random when `None`.
    pub credentials: Option<Credentials>,
}

/// The apps registered with the simulated networks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub facebook_app_id: String,
    pub facebook_app_secret: String,
    pub facebook_verify_token: String,
    pub twitter_consumer_key: String,
    pub twitter_consumer_secret: String,
    /// The product's client at the identity provider.
    pub oidc_client_id: String,
    pub oidc_client_secret: String,
    /// The LiveEngage account with the connector app installed: its site id, and the
    /// app's client id and secret (what `socialconnect link liveengage` takes).
    pub liveengage_account_id: String,
    pub liveengage_client_id: String,
    pub liveengage_client_secret: String,
}

impl Credentials {
    pub fn random() -> Self {
        let le = liveengage::Account::random();
        Credentials {
            facebook_app_id: common::random_digits(15),
            facebook_app_secret: common::random_hex(16),
            facebook_verify_token: common::random_hex(12),
            twitter_consumer_key: common::random_alnum(25),
            twitter_consumer_secret: common::random_alnum(50),
            oidc_client_id: format!("socialconnect-{}", common::random_hex(4)),
            oidc_client_secret: common::random_alnum(40),
            liveengage_account_id: le.id,
            liveengage_client_id: le.client_id,
            liveengage_client_secret: le.client_secret,
        }
    }
}

/// A running sandbox. Dropping it does not stop it; call [`Sandbox::stop`].
pub struct Sandbox {
    pub url: String,
    pub credentials: Credentials,
    pub facebook: facebook::Facebook,
    pub twitter: twitter::Twitter,
    pub liveengage: liveengage::LiveEngage,
    pub oidc: oidc::Oidc,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    https: Option<axum_server::Handle<SocketAddr>>,
}

/// Every network under its prefix, and the console.
fn app(
    facebook: &facebook::Facebook,
    twitter: &twitter::Twitter,
    liveengage: &liveengage::LiveEngage,
    oidc: &oidc::Oidc,
) -> Router {
    Router::new()
        .nest("/oidc", oidc.router())
        .nest("/facebook", facebook.router())
        .nest("/twitter", twitter.router())
        .nest("/liveengage", liveengage.router())
        .merge(console::router(facebook.clone(), twitter.clone()))
}

impl Sandbox {
    pub async fn start(options: SandboxOptions) -> anyhow::Result<Sandbox> {
        let listener = TcpListener::bind(options.listen)
            .await
            .with_context(|| format!("sandbox: cannot listen on {}", options.listen))?;
        let url = format!("http://{}", listener.local_addr()?);
        let credentials = options.credentials.unwrap_or_else(Credentials::random);
        let shared = Shared::new(&url, options.callback.trim_end_matches('/'));
        let facebook = facebook::Facebook::new(shared.clone(), &credentials);
        let twitter = twitter::Twitter::new(shared.clone(), &credentials);
        let liveengage = liveengage::LiveEngage::new(
            shared.clone(),
            liveengage::Account {
                id: credentials.liveengage_account_id.clone(),
                client_id: credentials.liveengage_client_id.clone(),
                client_secret: credentials.liveengage_client_secret.clone(),
            },
        );
        let oidc = oidc::Oidc::new(
            shared.clone(),
            &credentials.oidc_client_id,
            &credentials.oidc_client_secret,
        );
        let app = app(&facebook, &twitter, &liveengage, &oidc);
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = rx.await;
            });
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "sandbox server failed");
            }
        });
        Ok(Sandbox {
            url,
            credentials,
            facebook,
            twitter,
            liveengage,
            oidc,
            stop: Some(tx),
            task: Some(task),
            https: None,
        })
    }

    /// Serves the same networks over HTTPS as well, on another port of the same address,
    /// with the PEM certificate chain and key given; returns that origin
    /// (`https://ADDR`). Browser tests load the sandbox's pages from it, as a site of
    /// its own beside the product's, and LiveEngage's agent workspace is then named
    /// there; the product keeps calling [`Sandbox::url`].
    pub async fn serve_https(&mut self, cert: &Path, key: &Path) -> anyhow::Result<String> {
        let tls = axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key)
            .await
            .with_context(|| {
                format!("sandbox: reading {} and {}", cert.display(), key.display())
            })?;
        let mut addr: SocketAddr = self.url.trim_start_matches("http://").parse()?;
        addr.set_port(0);
        let listener = std::net::TcpListener::bind(addr)?;
        let url = format!("https://{}", listener.local_addr()?);
        let handle = axum_server::Handle::new();
        let app = app(&self.facebook, &self.twitter, &self.liveengage, &self.oidc);
        let server = axum_server::from_tcp_rustls(listener, tls)?.handle(handle.clone());
        tokio::spawn(async move {
            if let Err(e) = server.serve(app.into_make_service()).await {
                tracing::error!(error = %e, "sandbox HTTPS server failed");
            }
        });
        self.https = Some(handle);
        // LiveEngage's agent workspace is reached over HTTPS, as the real one is.
        self.liveengage.serve_workspace_at(&url);
        Ok(url)
    }

    /// The `SOCIALCONNECT_...` settings that point a server at this sandbox.
    pub fn settings(&self) -> Vec<(&'static str, String)> {
        let c = &self.credentials;
        vec![
            ("SOCIALCONNECT_FACEBOOK_APP_ID", c.facebook_app_id.clone()),
            (
                "SOCIALCONNECT_FACEBOOK_APP_SECRET",
                c.facebook_app_secret.clone(),
            ),
            (
                "SOCIALCONNECT_FACEBOOK_VERIFY_TOKEN",
                c.facebook_verify_token.clone(),
            ),
            (
                "SOCIALCONNECT_FACEBOOK_GRAPH_URL",
                self.facebook.graph_url(),
            ),
            ("SOCIALCONNECT_FACEBOOK_WWW_URL", self.facebook.www_url()),
            (
                "SOCIALCONNECT_TWITTER_CONSUMER_KEY",
                c.twitter_consumer_key.clone(),
            ),
            (
                "SOCIALCONNECT_TWITTER_CONSUMER_SECRET",
                c.twitter_consumer_secret.clone(),
            ),
            ("SOCIALCONNECT_TWITTER_API_URL", self.twitter.api_url()),
            (
                "SOCIALCONNECT_TWITTER_UPLOAD_URL",
                self.twitter.upload_url(),
            ),
            (
                "SOCIALCONNECT_LIVEENGAGE_DOMAIN_URL",
                self.liveengage.domain_url(),
            ),
            (
                "SOCIALCONNECT_LIVEENGAGE_SDK_URL",
                self.liveengage.sdk_url(),
            ),
            (
                "SOCIALCONNECT_FRAME_ANCESTORS",
                self.liveengage.workspace_origin(),
            ),
            ("SOCIALCONNECT_MEDIA_HTTP_HOSTS", self.media_http_hosts()),
        ]
    }

    /// The `host:port` the sandbox serves its media at (over http, on this machine): what
    /// a server's `--media-http-hosts` must name to copy the sandbox's media.
    pub fn media_http_hosts(&self) -> String {
        self.url.trim_start_matches("http://").to_owned()
    }

    pub async fn stop(mut self) {
        if let Some(https) = self.https.take() {
            https.shutdown();
        }
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}
