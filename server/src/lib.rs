//! The SocialConnect server. `app(state)` is the whole HTTP surface; `run` serves it on a
//! listener until a shutdown signal, so tests start it on `127.0.0.1:0`.

pub mod auth;
pub mod automation;
pub mod blobs;
pub mod canned;
pub mod claims;
pub mod cli;
pub mod config;
pub mod connectors;
pub mod conversations;
pub mod count_cmd;
pub mod crypto;
pub mod error;
pub mod home;
pub mod inbound;
pub mod link;
pub mod live;
pub mod liveengage;
pub mod mail;
pub mod media;
pub mod metrics;
pub mod notes;
pub mod onboarding;
pub mod outbound;
pub mod people_cmd;
pub mod profiles;
pub mod search;
pub mod seed;
pub mod sso;
pub mod store;
pub mod uploads;
pub mod web;

use anyhow::Context as _;
use axum::Router;
use axum::http::{HeaderName, Request, StatusCode};
use axum::routing::get;
use config::ServeArgs;
use error::{ApiJson, AppError};
use shared::api::Meta;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use store::Store;
use tokio::net::TcpListener;
use tower_http::compression::CompressionLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

/// Largest request body accepted anywhere (uploads get their own, larger limit).
const BODY_LIMIT: usize = 1024 * 1024;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub settings: Arc<ServeArgs>,
    /// Without a trailing slash.
    pub public_url: Arc<str>,
    /// This instance's name in claims on shared work (outbox rows, bot turns).
    pub instance: claims::InstanceId,
    /// Seals and opens network tokens at rest.
    pub cipher: crypto::TokenCipher,
    /// Wakes the outbox sender.
    pub sender: outbound::SenderHandle,
    /// Wakes the profile fetcher.
    pub profiles: profiles::ProfileHandle,
    /// Wakes the media fetcher.
    pub media: media::MediaHandle,
    /// Conversation changes, relayed to the browsers as Server-Sent Events.
    pub live: live::Live,
    /// Wakes the automation worker (bots).
    pub automation: automation::AutomationHandle,
    /// Where media copies and uploads live.
    pub blobs: blobs::Blobs,
    /// Sign-up requests: their live changes and rate limits.
    pub onboarding: onboarding::Onboarding,
    /// Tells the background workers the server is stopping.
    pub stopping: Stopping,
    /// The one client for calls to Facebook and X (timeouts, user agent).
    pub network: reqwest::Client,
    /// The clients for addresses the server did not choose (URLs people give, the
    /// networks' media), each connecting only where its address policy allows.
    pub fetchers: uploads::fetch::SafeClients,
    /// Emails invitations when SMTP settings are given.
    pub mailer: Option<mail::Mailer>,
    /// The LiveEngage connector's caches (hosts, app tokens) and the mirror's wake-up.
    pub liveengage: liveengage::Connector,
}

/// The server is stopping: background workers finish what they are doing (a send in
/// flight is recorded) and take nothing new, so `run` returns with none left running.
#[derive(Clone)]
pub struct Stopping(Arc<tokio::sync::watch::Sender<bool>>);

impl Default for Stopping {
    fn default() -> Self {
        Stopping(Arc::new(tokio::sync::watch::Sender::new(false)))
    }
}

impl Stopping {
    pub fn stop(&self) {
        self.0.send_replace(true);
    }

    pub fn is_stopping(&self) -> bool {
        *self.0.borrow()
    }

    /// Waits for `wake` while idle; `false` when the server began stopping instead.
    pub async fn idle(&self, wake: impl Future<Output = ()>) -> bool {
        let mut stopping = self.0.subscribe();
        tokio::select! {
            _ = wake => !self.is_stopping(),
            _ = stopping.wait_for(|s| *s) => false,
        }
    }
}

impl AppState {
    pub fn new(
        store: Arc<dyn Store>,
        settings: ServeArgs,
        public_url: String,
        cipher: crypto::TokenCipher,
        network: reqwest::Client,
    ) -> Self {
        AppState {
            cipher,
            network,
            fetchers: uploads::fetch::SafeClients::new(&settings),
            mailer: None,
            sender: outbound::SenderHandle::default(),
            profiles: profiles::ProfileHandle::default(),
            media: media::MediaHandle::default(),
            live: live::Live::new(),
            automation: automation::AutomationHandle::default(),
            liveengage: liveengage::Connector::default(),
            blobs: blobs::Blobs::Dir(settings.store.data_dir.clone()),
            onboarding: onboarding::Onboarding::default(),
            stopping: Stopping::default(),
            store,
            settings: Arc::new(settings),
            public_url: public_url.into(),
            instance: claims::InstanceId::random(),
        }
    }
}

/// Every route that needs a session, as `(method, path pattern)`: each feature module lists
/// its own next to its `router()`. The authorisation matrix test walks these, and checks
/// that every `route("…")` in the sources is listed here or in [`public_routes`].
pub fn api_routes() -> Vec<(&'static str, &'static str)> {
    [
        auth::ROUTES,
        conversations::ROUTES,
        outbound::ROUTES,
        uploads::ROUTES,
        media::ROUTES,
        automation::ROUTES,
        onboarding::ROUTES,
        home::people::ROUTES,
        sso::ROUTES,
        liveengage::ROUTES,
        notes::ROUTES,
        search::ROUTES,
        canned::ROUTES,
        // Last: the authorisation matrix unlinks accounts through them.
        home::ROUTES,
    ]
    .concat()
}

/// Routes open without a session: health, meta, sign-in, the webhooks (signed), signed
/// upload URLs, and the API's 404 fallback.
pub fn public_routes() -> Vec<(&'static str, &'static str)> {
    [
        &[
            ("GET", "/healthz"),
            ("GET", "/api/meta"),
            ("ANY", "/api/{*rest}"),
        ][..],
        auth::PUBLIC_ROUTES,
        inbound::PUBLIC_ROUTES,
        uploads::PUBLIC_ROUTES,
        automation::PUBLIC_ROUTES,
        sso::PUBLIC_ROUTES,
        liveengage::PUBLIC_ROUTES,
        metrics::PUBLIC_ROUTES,
    ]
    .concat()
}

/// The whole HTTP surface: the internal API, health, and the widget.
pub fn app(state: AppState) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    let api = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/api/meta", get(meta))
        .merge(auth::router())
        .merge(inbound::router())
        .merge(outbound::router())
        .merge(conversations::router())
        .merge(automation::router())
        .merge(home::router())
        .merge(onboarding::router())
        .merge(sso::router())
        .merge(liveengage::router())
        .merge(canned::router())
        .merge(notes::router())
        .merge(search::router())
        .route("/metrics", axum::routing::get(metrics::scrape))
        .route("/api/{*rest}", axum::routing::any(api_not_found))
        .with_state(state.clone());

    // Media is served as stored, uncompressed, so byte ranges stay byte ranges.
    let media = media::router().with_state(state.clone());
    let framing = web::WidgetFraming::from_settings(&state.settings);
    api.merge(web::router(&state.settings.widget_dir, &framing))
        .layer(CompressionLayer::new())
        .merge(media)
        .layer(RequestBodyLimitLayer::new(BODY_LIMIT))
        // Uploads carry their own, larger limit.
        .merge(uploads::router().with_state(state.clone()))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
                let route = req
                    .extensions()
                    .get::<axum::extract::MatchedPath>()
                    .map(|p| p.as_str().to_owned())
                    .unwrap_or_default();
                let id = req
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                tracing::info_span!("http", method = %req.method(), route, request_id = id)
            }),
        )
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
}

async fn meta(axum::extract::State(state): axum::extract::State<AppState>) -> ApiJson<Meta> {
    ApiJson(Meta {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        demo: state.settings.demo,
        liveengage_sdk_url: state.settings.liveengage.liveengage_sdk_url.to_string(),
    })
}

async fn api_not_found() -> AppError {
    AppError::not_found("API route")
}

/// Opens storage (refusing a secret key that is not the one the database's tokens are
/// sealed with), applies the bootstrap admin (and the demo brand), and serves until
/// `shutdown` resolves; in-flight requests then get up to 10 s to finish. With a TLS
/// certificate in the settings it serves HTTPS (HTTP/2 and HTTP/1.1), else plain HTTP.
pub async fn run(
    mut settings: ServeArgs,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    // The recorder first, so nothing recorded from here on is lost.
    metrics::handle();
    let bound = listener.local_addr()?;
    // With a certificate, HTTPS with HTTP/2 by ALPN: an agent's event streams then share
    // one connection instead of exhausting the browser's six per host.
    let tls = match settings.tls.files() {
        Some((cert, key)) => Some(
            axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key)
                .await
                .with_context(|| {
                    format!(
                        "reading the TLS certificate {} and key {}",
                        cert.display(),
                        key.display()
                    )
                })?,
        ),
        None => None,
    };
    let (store, cipher) = settings.store.open_sealed().await?;
    if let Some(b) = &settings.bootstrap_admin {
        seed::bootstrap_admin(store.as_ref(), b).await?;
    }
    let public_url = settings.public_url_for(bound);
    let scheme = settings.tls.scheme();
    let network = connectors::http_client();
    // The demo runs the sandbox networks in this process and points the settings at them.
    let demo_networks = if settings.demo {
        seed::demo(store.as_ref()).await?;
        let networks = seed::demo_networks(
            &mut settings,
            store.as_ref(),
            &cipher,
            &network,
            &public_url,
        )
        .await?;
        println!("{}", seed::demo_banner(&public_url, Some(&networks.url)));
        Some(networks)
    } else {
        None
    };
    let postgres = settings.store.postgres_url().map(str::to_owned);
    let blobs = blobs::Blobs::from_settings(&settings.media_store, &settings.store.data_dir)?;
    let mut state = AppState::new(store.clone(), settings, public_url, cipher, network);
    state.mailer = mail::Mailer::from_settings(&state.settings, &state.public_url)?;
    state.blobs = blobs;
    if let Some(url) = postgres {
        state.live.relay_postgres(&url).await?;
    }
    let workers = [
        spawn_session_purge(state.clone()),
        outbound::spawn_sender(state.clone()),
        profiles::spawn_fetcher(state.clone()),
        media::spawn_fetcher(state.clone()),
        automation::spawn_worker(state.clone()),
        liveengage::mirror::spawn(state.clone()),
    ];
    let (live, stopping) = (state.live.clone(), state.stopping.clone());

    {
        // X validates webhooks against the running server: connect linked accounts once
        // the listener is serving.
        let (store, cipher, http, twitter, url) = (
            store.clone(),
            state.cipher.clone(),
            state.network.clone(),
            state.settings.twitter.clone(),
            state.public_url.to_string(),
        );
        if twitter.twitter_consumer_secret.is_some() {
            tokio::spawn(async move {
                if let Err(e) =
                    link::connect_twitter_accounts(store.as_ref(), &cipher, &http, &twitter, &url)
                        .await
                {
                    tracing::warn!(error = %e, "connecting Twitter/X accounts");
                }
            });
        }
    }
    let handle = axum_server::Handle::new();
    {
        let handle = handle.clone();
        tokio::spawn(async move {
            shutdown.await;
            live.stop();
            stopping.stop();
            handle.graceful_shutdown(Some(Duration::from_secs(10)));
        });
    }
    // The peer's address goes with each request: sign-in throttling counts per client.
    let service = app(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    let listener = listener.into_std()?;
    tracing::info!("listening on {scheme}://{bound}");
    // A peer that fails its TLS handshake or hangs up at once is the peer's problem.
    let refused = |peer: Option<&std::net::SocketAddr>, e: &std::io::Error| {
        tracing::debug!(?peer, error = %e, "connection closed before its first request");
    };
    match tls {
        Some(tls) => {
            axum_server::from_tcp_rustls(listener, tls)?
                .handle(handle)
                .accept_error_handler(refused)
                .serve(service)
                .await?
        }
        None => {
            axum_server::from_tcp(listener)?
                .handle(handle)
                .accept_error_handler(refused)
                .serve(service)
                .await?
        }
    }
    // The workers finish what they hold (a send in flight gets its answer recorded).
    let finished = futures_util::future::join_all(workers);
    if tokio::time::timeout(Duration::from_secs(10), finished)
        .await
        .is_err()
    {
        tracing::warn!("background work still running after 10 s; leaving it");
    }
    if let Some(networks) = demo_networks {
        networks.stop().await;
    }
    tracing::info!("stopped");
    Ok(())
}

/// Hourly: expired sessions, and sign-in counts whose window is over.
fn spawn_session_purge(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(3600));
        while state
            .stopping
            .idle(async {
                every.tick().await;
            })
            .await
        {
            match state.store.purge_sessions(auth::now_secs()).await {
                Ok(n) if n > 0 => tracing::debug!(n, "expired sessions removed"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "purging sessions"),
            }
            let window = state.settings.sign_in_limits.window.as_millis() as i64;
            let over = state.settings.clock.now_ms() - window;
            match state.store.purge_sign_in_counts(over).await {
                Ok(n) if n > 0 => tracing::debug!(n, "sign-in counts of past windows removed"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "purging sign-in counts"),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use tower::ServiceExt;

    /// A concrete path for a pattern: `{id}` → 1, `{variant}` → thumb.
    fn concrete(pattern: &str) -> String {
        pattern.replace("{id}", "1").replace("{variant}", "thumb")
    }

    #[tokio::test]
    async fn the_router_answers_every_listed_route() {
        let dir = tempfile::tempdir().unwrap();
        let settings = ServeArgs::for_tests(dir.path().to_path_buf());
        let store = store::open(None, dir.path()).await.unwrap();
        let cipher = settings.store.cipher().unwrap();
        let network = connectors::http_client();
        let app = app(AppState::new(
            store,
            settings,
            "http://x".into(),
            cipher,
            network,
        ));
        for (method, path) in api_routes() {
            let req = Request::builder()
                .method(method)
                .uri(concrete(path))
                .body(Body::empty())
                .unwrap();
            let res = app.clone().oneshot(req).await.unwrap();
            // Listed but not routed would be the API's 404 (or 405): without a session,
            // every one of them must ask for it.
            assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{method} {path}");
        }
    }
}
