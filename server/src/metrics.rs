//! Measured in production: `GET /metrics` in Prometheus' text format, through the `metrics`
//! crates, behind a bearer token (`SOCIALCONNECT_METRICS_TOKEN`; without it there is no
//! endpoint: 404). What is counted, each named `socialconnect_…`:
//!
//! | metric | kind | labels |
//! |---|---|---|
//! | `webhooks_total` | counter | `network`, `outcome` (`accepted`, `refused`) |
//! | `webhook_events_total` | counter | `network`, `result` (`stored`, `duplicate`, `updated`) |
//! | `webhook_seconds` | histogram: request to the 200 | `network` |
//! | `ingest_seconds` | histogram: the durable write | `network` |
//! | `ingest_commits_total` | counter: group transactions committed (each stores one or more webhooks) | `engine` |
//! | `ingest_group_webhooks` | summary: webhooks per group transaction | `engine` |
//! | `sends_total` | counter | `network`, `outcome` (`sent`, `retried`, `failed`) |
//! | `send_errors_total` | counter: sends the network answered with an error | `network`, `code` (Graph `error.code`, X `errors[].code`; `http_STATUS` when it gave none) |
//! | `outbox_depth`, `outbox_oldest_seconds` | gauges, read from the database at each scrape | |
//! | `media_fetches_total` | counter | `outcome` (`copied`, `retried`, `rejected`, `gone`) |
//! | `event_streams_open` | gauge: agents' live streams on this instance | |
//!
//! One recorder per process (several servers in one test process share it).

use crate::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use subtle::ConstantTimeEq;

pub const PUBLIC_ROUTES: &[(&str, &str)] = &[("GET", "/metrics")];

/// Buckets for the time histograms, in seconds: 0.5 ms to 10 s.
const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0,
];

/// Counts a send the network answered with an error, by the network's own code.
pub fn send_error(network: &'static str, e: &crate::connectors::NetworkError) {
    let code = e
        .code
        .map_or_else(|| format!("http_{}", e.status), |c| c.to_string());
    metrics::counter!("socialconnect_send_errors_total", "network" => network, "code" => code)
        .increment(1);
}

/// The process' recorder, installed on first use.
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), BUCKETS)
            .expect("fixed, non-empty buckets")
            .build_recorder();
        let handle = recorder.handle();
        // Another recorder (a test's) may be installed already: then ours only renders
        // what it is given, and the endpoint still answers.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

/// `GET /metrics`: with `Authorization: Bearer <SOCIALCONNECT_METRICS_TOKEN>`.
pub async fn scrape(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(expected) = state.settings.metrics_token.as_deref() else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if !bool::from(given.as_bytes().ct_eq(expected.as_bytes())) {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "a bearer token is required",
        )
            .into_response();
    }
    let handle = handle();
    match state
        .store
        .outbox_backlog(crate::auth::now_secs() * 1000)
        .await
    {
        Ok((depth, oldest_ms)) => {
            metrics::gauge!("socialconnect_outbox_depth").set(depth as f64);
            metrics::gauge!("socialconnect_outbox_oldest_seconds").set(oldest_ms as f64 / 1000.0);
        }
        Err(e) => tracing::warn!(error = %e, "metrics: reading the outbox"),
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle.render(),
    )
        .into_response()
}

/// Counts an agent's live event stream while it is open.
pub struct StreamOpen;

impl StreamOpen {
    /// Counts one more open stream, until dropped.
    pub fn count() -> Self {
        metrics::gauge!("socialconnect_event_streams_open").increment(1.0);
        StreamOpen
    }
}

impl Drop for StreamOpen {
    fn drop(&mut self) {
        metrics::gauge!("socialconnect_event_streams_open").decrement(1.0);
    }
}
