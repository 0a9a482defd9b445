//! Webhooks in (CONTRACT.md §2): the networks' verification handshakes, signature checks in
//! constant time over the raw body, then parsing into the shared inbound model and storing
//! it durably before the 200.

pub mod facebook;
pub mod twitter;

use crate::AppState;
use crate::error::{AppError, AppResult};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use serde_json::Value;
use shared::inbound::InboundEvent;
use shared::{Channel, ErrorCode};
use std::collections::HashMap;

/// Webhook bodies larger than this are refused before any parsing.
pub const WEBHOOK_BODY_LIMIT: usize = 512 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unreadable webhook payload: {0}")]
pub struct ParseError(pub String);

/// Every route of [`router`]: the networks' own, checked by signature, not session.
pub const PUBLIC_ROUTES: &[(&str, &str)] = &[
    ("GET", "/webhooks/facebook"),
    ("POST", "/webhooks/facebook"),
    ("GET", "/webhooks/twitter"),
    ("POST", "/webhooks/twitter"),
];

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/webhooks/facebook",
            get(facebook_verify).post(facebook_event),
        )
        .route("/webhooks/twitter", get(twitter_crc).post(twitter_event))
        .layer(axum::extract::DefaultBodyLimit::max(WEBHOOK_BODY_LIMIT))
}

/// Drops events that cannot be attributed: without the brand's or the line's id, or a
/// consumer's new line without the consumer's id (stored, it would merge every such
/// author into one conversation). The brand's own lines find their consumer from what
/// they answer, and a removal needs only the line's id. Drops, with a log line, events
/// carrying an id not of its network's shape (see [`shared::ids`]): those ids later go
/// into calls to the network (`/{psid}`, `/{comment-id}/comments`, `/2/users/:id`).
pub(crate) fn attributable(mut events: Vec<InboundEvent>) -> Vec<InboundEvent> {
    events.retain(|e| match e {
        InboundEvent::Message(m) => {
            !m.brand_id.is_empty()
                && !m.network_id.is_empty()
                && (!m.consumer.network_id.is_empty()
                    || m.from_brand
                    || m.change == shared::inbound::Change::Removed)
        }
        InboundEvent::AccessRevoked { brand_id, .. } => !brand_id.is_empty(),
    });
    events.retain(|e| match ids_in_shape(e) {
        Ok(()) => true,
        Err(bad) => {
            tracing::warn!(reason = %bad, "webhook event with a malformed id dropped");
            false
        }
    });
    events
}

/// Checks every id of an event against its network's shape.
fn ids_in_shape(event: &InboundEvent) -> Result<(), shared::ids::BadId> {
    use shared::ids::IdKind::*;
    let m = match event {
        InboundEvent::AccessRevoked { channel, brand_id } => {
            let kind = match channel {
                Channel::Facebook => FacebookNode,
                Channel::Twitter => XId,
            };
            return kind.check(brand_id).map(drop);
        }
        InboundEvent::Message(m) => m,
    };
    let (brand, person, line) = match (m.channel, m.tag) {
        (Channel::Facebook, shared::Tag::Private) => (FacebookNode, FacebookNode, MessengerMid),
        (Channel::Facebook, _) => (FacebookNode, FacebookNode, FacebookObject),
        (Channel::Twitter, _) => (XId, XId, XId),
    };
    brand.check(&m.brand_id)?;
    if !m.consumer.network_id.is_empty() {
        person.check(&m.consumer.network_id)?;
    }
    line.check(&m.network_id)?;
    if let Some(answered) = &m.reply_to {
        line.check(answered)?;
    }
    Ok(())
}

/// The longest challenge echoed or CRC token signed.
const CHALLENGE_MAX: usize = 255;

/// Whether a verification challenge (Facebook's `hub.challenge`, X's `crc_token`) has the
/// shape the networks send: 1 to 255 characters of letters, digits and base64's and
/// URL-safe base64's `- _ + / =` (Facebook sends digits; X's documented example is a UUID).
/// X's CRC answer is the same HMAC that signs an event body, so signing any text would let
/// a stranger sign an event of their own; no JSON body can be made of these characters.
pub fn challenge_in_shape(token: &str) -> bool {
    (1..=CHALLENGE_MAX).contains(&token.len())
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_+/=".contains(&b))
}

/// A string field, accepting numbers too (ids arrive as either).
pub(crate) fn json_str(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// An integer field, accepting numeric strings (Twitter sends `"timestamp_ms": "…"`).
pub(crate) fn json_i64(v: &Value, key: &str) -> Option<i64> {
    match v.get(key)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app secret, raw body)>`.
pub fn facebook_signature_ok(secret: &str, headers: &HeaderMap, body: &[u8]) -> bool {
    let Some(given) = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("sha256="))
        .and_then(|hex_sig| hex::decode(hex_sig).ok())
    else {
        return false;
    };
    constant_time_eq(&given, &hmac_sha256(secret.as_bytes(), body))
}

/// `x-twitter-webhooks-signature: sha256=<base64 HMAC-SHA256(consumer secret, raw body)>`.
pub fn twitter_signature_ok(secret: &str, headers: &HeaderMap, body: &[u8]) -> bool {
    let b64 = base64::engine::general_purpose::STANDARD;
    let Some(given) = headers
        .get("x-twitter-webhooks-signature")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("sha256="))
        .and_then(|s| b64.decode(s).ok())
    else {
        return false;
    };
    constant_time_eq(&given, &hmac_sha256(secret.as_bytes(), body))
}

/// The CRC answer: `sha256=` + base64(HMAC-SHA256(consumer secret, crc_token)).
pub fn twitter_crc_response(secret: &str, crc_token: &str) -> String {
    let mac = hmac_sha256(secret.as_bytes(), crc_token.as_bytes());
    format!(
        "sha256={}",
        base64::engine::general_purpose::STANDARD.encode(mac)
    )
}

fn network_off(channel: Channel) -> AppError {
    AppError::new(
        ErrorCode::NotFound,
        format!("{} is not configured on this server", channel.label()),
    )
}

/// The networks send JSON; a body declared as anything else is refused before parsing
/// (415). No `Content-Type` at all is tolerated: the signature already vouches for it.
fn json_declared(headers: &HeaderMap) -> Option<Response> {
    let ct = headers.get(axum::http::header::CONTENT_TYPE)?;
    let essence = ct
        .to_str()
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if essence == "application/json" || essence.ends_with("+json") {
        None
    } else {
        Some(
            (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "webhook bodies are application/json",
            )
                .into_response(),
        )
    }
}

fn bad_signature(present: bool) -> Response {
    // Missing: 401 (no credentials); present but wrong: 403.
    let status = if present {
        StatusCode::FORBIDDEN
    } else {
        StatusCode::UNAUTHORIZED
    };
    (status, "invalid signature").into_response()
}

async fn facebook_verify(
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> AppResult<Response> {
    let Some(expected) = state.settings.facebook.facebook_verify_token.as_deref() else {
        return Err(network_off(Channel::Facebook));
    };
    let mode_ok = q.get("hub.mode").map(String::as_str) == Some("subscribe");
    let token_ok = q
        .get("hub.verify_token")
        .is_some_and(|t| constant_time_eq(t.as_bytes(), expected.as_bytes()));
    match (mode_ok && token_ok, q.get("hub.challenge")) {
        // Echoed as plain text, and only when it is of the shape Facebook sends.
        (true, Some(challenge)) if challenge_in_shape(challenge) => {
            Ok(challenge.clone().into_response())
        }
        (true, Some(_)) => Err(AppError::bad_request(
            "hub.challenge is not of the shape Facebook sends",
        )),
        _ => Ok((StatusCode::FORBIDDEN, "verification failed").into_response()),
    }
}

async fn facebook_event(
    state: State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> AppResult<Response> {
    observed(Channel::Facebook, facebook_checked(state, headers, body)).await
}

async fn twitter_event(
    state: State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> AppResult<Response> {
    observed(Channel::Twitter, twitter_checked(state, headers, body)).await
}

/// Counts a webhook delivery by what became of it, and times the accepted ones to their
/// 200 (`crate::metrics`).
async fn observed(
    channel: Channel,
    handling: impl Future<Output = AppResult<Response>>,
) -> AppResult<Response> {
    let started = std::time::Instant::now();
    let answer = handling.await;
    let network = channel.as_str();
    let outcome = match &answer {
        Ok(r) if r.status() == StatusCode::OK => {
            metrics::histogram!("socialconnect_webhook_seconds", "network" => network)
                .record(started.elapsed().as_secs_f64());
            "accepted"
        }
        Ok(_) => "refused",
        Err(crate::error::AppError::Api(e)) if e.code.status() < 500 => "refused",
        Err(_) => "failed",
    };
    metrics::counter!("socialconnect_webhooks_total", "network" => network, "outcome" => outcome)
        .increment(1);
    answer
}

async fn facebook_checked(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> AppResult<Response> {
    let Some(secret) = state.settings.facebook.facebook_app_secret.as_deref() else {
        return Err(network_off(Channel::Facebook));
    };
    if !facebook_signature_ok(secret, &headers, &body) {
        tracing::warn!("facebook webhook with a bad or missing signature refused");
        return Ok(bad_signature(headers.contains_key("x-hub-signature-256")));
    }
    if let Some(refused) = json_declared(&headers) {
        return Ok(refused);
    }
    let events = facebook::parse(&body).map_err(|e| AppError::bad_request(e.to_string()))?;
    ingest(&state, Channel::Facebook, events).await?;
    Ok(StatusCode::OK.into_response())
}

async fn twitter_crc(
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> AppResult<Response> {
    let Some(secret) = state.settings.twitter.twitter_consumer_secret.as_deref() else {
        return Err(network_off(Channel::Twitter));
    };
    let Some(token) = q.get("crc_token") else {
        return Err(AppError::bad_request("crc_token is required"));
    };
    if !challenge_in_shape(token) {
        tracing::warn!("a CRC with a crc_token not of X's shape refused");
        return Err(AppError::bad_request(
            "crc_token is not of the shape X sends",
        ));
    }
    Ok(axum::Json(serde_json::json!({
        "response_token": twitter_crc_response(secret, token)
    }))
    .into_response())
}

async fn twitter_checked(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> AppResult<Response> {
    let Some(secret) = state.settings.twitter.twitter_consumer_secret.as_deref() else {
        return Err(network_off(Channel::Twitter));
    };
    if !twitter_signature_ok(secret, &headers, &body) {
        tracing::warn!("twitter webhook with a bad or missing signature refused");
        return Ok(bad_signature(
            headers.contains_key("x-twitter-webhooks-signature"),
        ));
    }
    if let Some(refused) = json_declared(&headers) {
        return Ok(refused);
    }
    let events = twitter::parse(&body).map_err(|e| AppError::bad_request(e.to_string()))?;
    ingest(&state, Channel::Twitter, events).await?;
    Ok(StatusCode::OK.into_response())
}

/// Stores every event for a linked account; events for pages or accounts that are not
/// linked are acknowledged and only logged.
pub async fn ingest(
    state: &AppState,
    channel: Channel,
    events: Vec<InboundEvent>,
) -> AppResult<()> {
    let mut by_brand: HashMap<String, Vec<shared::inbound::InboundMessage>> = HashMap::new();
    for event in events {
        match event {
            InboundEvent::Message(m) => by_brand.entry(m.brand_id.clone()).or_default().push(m),
            InboundEvent::AccessRevoked { brand_id, .. } => {
                if let Some(linked) = state.store.linked_account(channel, &brand_id).await? {
                    state
                        .store
                        .set_linked_status(linked.id, crate::store::LinkStatus::TokenInvalid)
                        .await?;
                    tracing::warn!(
                        linked = linked.id,
                        "access revoked: the account needs relinking"
                    );
                }
            }
        }
    }
    let network = channel.as_str();
    for (brand_id, messages) in by_brand {
        let started = std::time::Instant::now();
        let stored = state
            .store
            .ingest_for(
                channel,
                &brand_id,
                &messages,
                crate::auth::now_secs() * 1000,
            )
            .await?;
        metrics::histogram!("socialconnect_ingest_seconds", "network" => network)
            .record(started.elapsed().as_secs_f64());
        match stored {
            Some((linked, report)) => {
                for (result, n) in [
                    ("stored", report.stored),
                    ("duplicate", report.duplicates),
                    ("updated", report.updated),
                ] {
                    metrics::counter!("socialconnect_webhook_events_total",
                        "network" => network, "result" => result)
                    .increment(n as u64);
                }
                state
                    .live
                    .conversations_changed(linked.account_id, &report.conversations);
                if report.stored > 0 {
                    // A new consumer may need their profile.
                    state.profiles.wake();
                    // New media is copied before the network's URLs expire.
                    state.media.wake();
                    // A bot may answer.
                    state.automation.wake();
                    // A LiveEngage mirror may have a line to publish.
                    state.liveengage.wake();
                }
                tracing::debug!(linked = linked.id, ?report, "webhook stored");
            }
            None => {
                tracing::info!(%channel, brand = %brand_id, n = messages.len(), "event for an account that is not linked; ignored")
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_checked_over_the_raw_body() {
        let body = br#"{"object":"page","entry":[]}"#;
        let mut h = HeaderMap::new();
        let sig = hex::encode(hmac_sha256(b"s3cret", body));
        h.insert(
            "x-hub-signature-256",
            format!("sha256={sig}").parse().unwrap(),
        );
        assert!(facebook_signature_ok("s3cret", &h, body));
        assert!(!facebook_signature_ok("other", &h, body));
        assert!(!facebook_signature_ok(
            "s3cret",
            &h,
            b"{\"object\":\"page\",\"entry\":[] }"
        ));
        assert!(!facebook_signature_ok("s3cret", &HeaderMap::new(), body));

        let mut t = HeaderMap::new();
        let b64 = base64::engine::general_purpose::STANDARD.encode(hmac_sha256(b"cs", body));
        t.insert(
            "x-twitter-webhooks-signature",
            format!("sha256={b64}").parse().unwrap(),
        );
        assert!(twitter_signature_ok("cs", &t, body));
        assert!(!twitter_signature_ok("cs", &t, b"{}"));
    }

    #[test]
    fn only_challenges_of_the_networks_shape_are_answered() {
        for ok in [
            "1158201444",
            "9b4507b3-9040-4669-9ca3-6b94edb50553",
            "ZjJhZjE0NjItMWM5NC00OTM4LWE2M2EtNmM2YjJhZmQ1NWMw",
            "a+b/c==",
            "x_y-z",
            &"a".repeat(CHALLENGE_MAX),
        ] {
            assert!(challenge_in_shape(ok), "{ok}");
        }
        for bad in [
            "",
            r#"{"for_user_id":"1"}"#,
            "a b",
            "a\nb",
            "<script>",
            "a.b",
            "a%20b",
            "é",
            &"a".repeat(CHALLENGE_MAX + 1),
        ] {
            assert!(!challenge_in_shape(bad), "{bad:?}");
        }
    }

    #[test]
    fn events_with_ids_of_another_shape_are_dropped() {
        use shared::inbound::{Change, ConsumerRef, InboundMessage};
        let line = |channel, tag, brand: &str, person: &str, id: &str, reply: Option<&str>| {
            InboundEvent::Message(InboundMessage {
                channel,
                brand_id: brand.into(),
                consumer: ConsumerRef {
                    network_id: person.into(),
                    ..Default::default()
                },
                network_id: id.into(),
                tag,
                from_brand: false,
                text: String::new(),
                media: vec![],
                links: vec![],
                created_at_ms: 0,
                reply_to: reply.map(str::to_owned),
                change: Change::New,
            })
        };
        use shared::Tag::*;
        let good = [
            line(
                Channel::Facebook,
                Private,
                "11",
                "22",
                "m_abc",
                Some("mid.$x:1"),
            ),
            line(
                Channel::Facebook,
                PublicComment,
                "11",
                "22",
                "1_2",
                Some("11_1"),
            ),
            line(Channel::Twitter, PublicThread, "11", "22", "33", Some("44")),
        ];
        assert_eq!(attributable(good.to_vec()), good.to_vec());
        let bad = [
            line(Channel::Facebook, Private, "11", "../22", "m_abc", None),
            line(Channel::Facebook, Private, "11?x=1", "22", "m_abc", None),
            line(Channel::Facebook, Private, "11", "22", "m/abc", None),
            line(Channel::Facebook, PublicComment, "11", "22", "1_2#x", None),
            line(
                Channel::Facebook,
                PublicComment,
                "11",
                "22",
                "1_2",
                Some("11_1/x"),
            ),
            line(Channel::Twitter, PublicPost, "11", "2 2", "33", None),
            line(Channel::Twitter, PublicPost, "11", "22", "..", None),
            line(Channel::Twitter, Private, "11", "22", "33", Some("44?")),
            InboundEvent::AccessRevoked {
                channel: Channel::Twitter,
                brand_id: "1/2".into(),
            },
        ];
        assert_eq!(attributable(bad.to_vec()), vec![]);
    }

    #[test]
    fn crc_matches_xs_documented_example_shape() {
        let r = twitter_crc_response("secret", "token");
        let b64 = r.strip_prefix("sha256=").unwrap();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        assert_eq!(raw, hmac_sha256(b"secret", b"token"));
    }
}
