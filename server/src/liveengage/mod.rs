//! The LiveEngage connector (issue 21): a brand account connected to its LiveEngage
//! account (SocialConnect Home, or `socialconnect link liveengage`) has each of its
//! conversations mirrored into LiveEngage ([`mirror`]), and the messages LiveEngage's
//! agents write there come back through `POST /webhooks/liveengage` (CONTRACT.md §2) as
//! our replies, through the same outbox as the workspace's, in the mode the agent chose
//! for that conversation in the widget (`PUT /api/conversations/{id}/host-mode`; by
//! default where the consumer last wrote). A conversation closed in LiveEngage closes
//! ours.
//!
//! Webhooks are matched to the brand by `x-liveperson-account-id` and
//! `x-liveperson-client-id`, checked against `x-liveperson-signature` (`sha1=` or
//! `sha256=` + base64 HMAC of the raw body with the app's client secret, compared in
//! constant time) before anything is parsed, and taken once per (conversation, sequence).

pub mod mirror;
pub mod session;

pub use session::{Connector, Session};

use crate::AppState;
use crate::auth::{BrandAdmin, BrandUser};
use crate::error::{ApiJson, AppError, AppResult};
use crate::outbound::{Checked, Reply, WrittenBy, check_reply};
use crate::store::{LeLink, ReplyContext};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::Value;
use shared::ReplyMode;
use shared::liveengage::{
    HostConversation, HostMode, LiveEngageConfig, SetLiveEngage, default_host_mode,
    format_skill_map, parse_skill_map,
};

/// Routes open without a session: the webhook, checked by signature (see
/// `crate::public_routes`).
pub const PUBLIC_ROUTES: &[(&str, &str)] = &[("POST", "/webhooks/liveengage")];

/// Routes that need a session (see `crate::api_routes`).
pub const ROUTES: &[(&str, &str)] = &[
    ("PUT", "/api/conversations/{id}/host-mode"),
    ("GET", "/api/liveengage/conversations/{le_id}"),
    ("GET", "/api/home/liveengage"),
    ("PUT", "/api/home/liveengage"),
    ("DELETE", "/api/home/liveengage"),
];

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/webhooks/liveengage",
            post(webhook).layer(axum::extract::DefaultBodyLimit::max(
                crate::inbound::WEBHOOK_BODY_LIMIT,
            )),
        )
        .route("/api/conversations/{id}/host-mode", put(set_host_mode))
        .route(
            "/api/liveengage/conversations/{le_id}",
            get(host_conversation),
        )
        .route(
            "/api/home/liveengage",
            get(config).put(set_config).delete(remove_config),
        )
}

// ----- the webhook -------------------------------------------------------------------------

/// `x-liveperson-signature: sha1=<base64 HMAC-SHA1(secret, body)>` (or `sha256=`),
/// verified in constant time.
pub fn signature_ok(secret: &str, signature: &str, body: &[u8]) -> bool {
    let b64 = base64::engine::general_purpose::STANDARD;
    let key = secret.as_bytes();
    if let Some(given) = signature.strip_prefix("sha1=") {
        let Ok(given) = b64.decode(given.trim()) else {
            return false;
        };
        let mut mac = Hmac::<sha1::Sha1>::new_from_slice(key).expect("any key length");
        mac.update(body);
        mac.verify_slice(&given).is_ok()
    } else if let Some(given) = signature.strip_prefix("sha256=") {
        let Ok(given) = b64.decode(given.trim()) else {
            return false;
        };
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).expect("any key length");
        mac.update(body);
        mac.verify_slice(&given).is_ok()
    } else {
        false
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// `POST /webhooks/liveengage`.
async fn webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> AppResult<Response> {
    let answer = checked_webhook(&state, &headers, &body).await;
    let outcome = match &answer {
        Ok(r) if r.status() == StatusCode::OK => "accepted",
        Ok(_) => "refused",
        Err(AppError::Api(e)) if e.code.status() < 500 => "refused",
        Err(_) => "failed",
    };
    metrics::counter!("socialconnect_webhooks_total", "network" => "liveengage", "outcome" => outcome)
        .increment(1);
    answer
}

async fn checked_webhook(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> AppResult<Response> {
    let refused = |status: StatusCode| (status, "invalid signature").into_response();
    let Some(signature) = header(headers, "x-liveperson-signature") else {
        tracing::warn!("LiveEngage webhook without a signature refused");
        return Ok(refused(StatusCode::UNAUTHORIZED));
    };
    let link = match (
        header(headers, "x-liveperson-account-id"),
        header(headers, "x-liveperson-client-id"),
    ) {
        (Some(account), Some(client)) => state.store.le_link_by_app(account, client).await?,
        _ => None,
    };
    // An app no brand is connected to cannot be checked: refused like a bad signature.
    let Some(link) = link else {
        tracing::warn!("LiveEngage webhook for an app no brand is connected to refused");
        return Ok(refused(StatusCode::FORBIDDEN));
    };
    let secret = state
        .cipher
        .open(&link.client_secret_sealed)
        .map_err(AppError::Internal)?;
    if !signature_ok(&secret, signature, body) {
        tracing::warn!(
            account = link.account_id,
            "LiveEngage webhook with a bad signature refused"
        );
        return Ok(refused(StatusCode::FORBIDDEN));
    }
    let v: Value = serde_json::from_slice(body)
        .map_err(|_| AppError::bad_request("the notification is not JSON"))?;
    let changes = v
        .pointer("/body/changes")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    match v.get("type").and_then(Value::as_str) {
        Some("ms.MessagingEventNotification") => {
            for change in &changes {
                messaging_change(state, &link, change).await?;
            }
        }
        Some("cqm.ExConversationChangeNotification") => {
            for change in &changes {
                conversation_change(state, &link, change).await?;
            }
        }
        other => tracing::debug!(kind = ?other, "LiveEngage notification ignored"),
    }
    Ok(StatusCode::OK.into_response())
}

/// An agent's text becomes our reply; everything else (the consumer's own lines coming
/// back, typing, read receipts, files) is acknowledged and left.
async fn messaging_change(state: &AppState, link: &LeLink, change: &Value) -> AppResult<()> {
    let role = change
        .pointer("/originatorMetadata/role")
        .and_then(Value::as_str);
    let event = &change["event"];
    if role != Some("ASSIGNED_AGENT")
        || event.get("type").and_then(Value::as_str) != Some("ContentEvent")
    {
        return Ok(());
    }
    let dialog = change
        .get("dialogId")
        .or_else(|| change.get("conversationId"))
        .and_then(Value::as_str);
    let (Some(dialog), Some(sequence)) = (dialog, change.get("sequence").and_then(Value::as_i64))
    else {
        tracing::warn!("an agent's message without its conversation or sequence ignored");
        return Ok(());
    };
    let text = match (
        event.get("contentType").and_then(Value::as_str),
        event.get("message"),
    ) {
        (Some("text/plain"), Some(Value::String(t))) => t.as_str(),
        _ => {
            tracing::info!(
                le_conversation = dialog,
                "an agent's file or rich content is not sent on"
            );
            return Ok(());
        }
    };
    let Some(d) = state
        .store
        .le_dialog(dialog)
        .await?
        .filter(|d| d.account_id == link.account_id)
    else {
        tracing::info!(
            le_conversation = dialog,
            "an agent's message in a conversation we did not open ignored"
        );
        return Ok(());
    };
    let Some(ctx) = state.store.reply_context(d.conversation_id).await? else {
        return Ok(());
    };
    let mode = match state.store.host_mode(ctx.conversation_id).await? {
        Some(m) => m,
        None => default_mode(&ctx),
    };
    let reply = Reply {
        mode,
        text,
        upload: None,
        by: WrittenBy::Host,
        now_ms: crate::auth::now_secs() * 1000,
    };
    // A reply the rules refuse (a mode the conversation does not offer now, say) is kept as
    // a failed line with the reason: nobody is there to be told otherwise.
    let checked = match check_reply(state, &ctx, reply).await {
        Ok(c) => c,
        Err(AppError::Api(e)) => Checked::refused(&ctx, reply, e.message),
        Err(e) => return Err(e),
    };
    let stored = state
        .store
        .le_agent_reply(dialog, sequence, checked.new_reply(&ctx))
        .await?;
    match stored {
        Some(line) => {
            tracing::info!(
                line,
                le_conversation = dialog,
                sequence,
                ?mode,
                "LiveEngage agent's reply queued"
            );
            state.sender.wake();
            state
                .live
                .conversations_changed(ctx.account_id, &[ctx.conversation_id]);
        }
        None => {
            tracing::info!(
                le_conversation = dialog,
                sequence,
                "LiveEngage agent's message delivered again; stored before"
            )
        }
    }
    Ok(())
}

/// A conversation closed in LiveEngage closes ours (unless we asked for it).
async fn conversation_change(state: &AppState, link: &LeLink, change: &Value) -> AppResult<()> {
    let result = &change["result"];
    let (Some(dialog), Some("CLOSE")) = (
        result.get("convId").and_then(Value::as_str),
        result
            .pointer("/conversationDetails/state")
            .and_then(Value::as_str),
    ) else {
        return Ok(());
    };
    let ours = state
        .store
        .le_dialog(dialog)
        .await?
        .filter(|d| d.account_id == link.account_id && d.current);
    if ours.is_none() {
        return Ok(());
    }
    if let Some(id) = state.store.le_closed_by_host(dialog).await? {
        tracing::info!(
            conversation = id,
            le_conversation = dialog,
            "closed in LiveEngage"
        );
        crate::automation::on_close(state, id).await;
        state.live.conversations_changed(link.account_id, &[id]);
    }
    Ok(())
}

/// Where a host reply goes when the agent chose nothing: where the consumer last wrote.
fn default_mode(ctx: &ReplyContext) -> ReplyMode {
    default_host_mode(
        ctx.last_public.as_ref().map(|l| l.line.created_at_ms),
        ctx.last_private_at_ms,
    )
}

// ----- the host's reply mode -------------------------------------------------------------

/// `PUT /api/conversations/{id}/host-mode {"mode"}`: where replies written in the host go.
async fn set_host_mode(
    State(state): State<AppState>,
    caller: BrandUser,
    Path(id): Path<i64>,
    ApiJson(req): ApiJson<HostMode>,
) -> AppResult<ApiJson<HostConversation>> {
    crate::conversations::authorised(&state, &caller, id).await?;
    let ctx = state
        .store
        .reply_context(id)
        .await?
        .ok_or_else(|| AppError::not_found("conversation"))?;
    if !req.mode.available_on(ctx.linked.channel) {
        return Err(AppError::bad_request(format!(
            "{} is not offered on {}",
            req.mode.label(),
            ctx.linked.channel.label()
        )));
    }
    state.store.set_host_mode(id, req.mode).await?;
    Ok(ApiJson(HostConversation {
        conversation_id: id,
        mode: req.mode,
        chosen: true,
    }))
}

/// `GET /api/liveengage/conversations/{le_id}`: our conversation behind a LiveEngage one.
async fn host_conversation(
    State(state): State<AppState>,
    caller: BrandUser,
    Path(le_id): Path<String>,
) -> AppResult<ApiJson<HostConversation>> {
    let missing = || AppError::not_found("conversation");
    let d = state
        .store
        .le_dialog(&le_id)
        .await?
        .filter(|d| d.account_id == caller.account.id)
        .ok_or_else(missing)?;
    crate::conversations::authorised(&state, &caller, d.conversation_id).await?;
    let chosen = state.store.host_mode(d.conversation_id).await?;
    let mode = match chosen {
        Some(m) => m,
        None => {
            let ctx = state
                .store
                .reply_context(d.conversation_id)
                .await?
                .ok_or_else(missing)?;
            default_mode(&ctx)
        }
    };
    Ok(ApiJson(HostConversation {
        conversation_id: d.conversation_id,
        mode,
        chosen: chosen.is_some(),
    }))
}

// ----- SocialConnect Home ------------------------------------------------------------------

/// `GET /api/home/liveengage`: the brand's connection (never its secret).
async fn config(
    State(state): State<AppState>,
    admin: BrandAdmin,
) -> AppResult<ApiJson<LiveEngageConfig>> {
    let link = state.store.le_link(admin.account.id).await?;
    Ok(ApiJson(LiveEngageConfig {
        configured: link.is_some(),
        le_account_id: link
            .as_ref()
            .map(|l| l.le_account_id.clone())
            .unwrap_or_default(),
        client_id: link
            .as_ref()
            .map(|l| l.client_id.clone())
            .unwrap_or_default(),
        skills: link
            .as_ref()
            .map(|l| format_skill_map(&l.skill_map))
            .unwrap_or_default(),
        webhook_url: format!("{}/webhooks/liveengage", state.public_url),
    }))
}

/// `PUT /api/home/liveengage`: connect (or change) the brand's LiveEngage account, once
/// LiveEngage gives an app token for the credentials.
async fn set_config(
    State(state): State<AppState>,
    admin: BrandAdmin,
    ApiJson(req): ApiJson<SetLiveEngage>,
) -> AppResult<ApiJson<LiveEngageConfig>> {
    if !admin.account.socialconnect_enabled {
        return Err(AppError::new(
            shared::ErrorCode::Forbidden,
            "SocialConnect is not enabled for this account yet: sign up at /socialconnect and \
             support will enable it",
        ));
    }
    let store = state.store.as_ref();
    let skill_map = parse_skill_map(&req.skills).map_err(AppError::bad_request)?;
    let secret = match req.client_secret.as_deref().map(str::trim) {
        Some(s) if !s.is_empty() => s.to_owned(),
        _ => match store.le_link(admin.account.id).await? {
            Some(l) => state
                .cipher
                .open(&l.client_secret_sealed)
                .map_err(AppError::Internal)?,
            None => return Err(AppError::bad_request("give the client secret")),
        },
    };
    let link = crate::link::link_liveengage(
        store,
        &state.cipher,
        &state.network,
        &state.settings.liveengage,
        crate::link::LiveEngageApp {
            account_number: &admin.account.number,
            le_account_id: &req.le_account_id,
            client_id: &req.client_id,
            client_secret: &secret,
            skill_map: Some(skill_map),
            by: &format!("{} ({})", admin.user.name, admin.user.email),
        },
    )
    .await?;
    let detail = format!(
        "LiveEngage account {} (client {})",
        link.le_account_id, link.client_id
    );
    crate::home::audit(store, &admin, "connected LiveEngage", detail).await?;
    state.liveengage.wake();
    config(State(state), admin).await
}

/// `DELETE /api/home/liveengage`: conversations are no longer mirrored.
async fn remove_config(State(state): State<AppState>, admin: BrandAdmin) -> AppResult<StatusCode> {
    state.store.set_le_link(admin.account.id, None).await?;
    crate::home::audit(
        state.store.as_ref(),
        &admin,
        "disconnected LiveEngage",
        String::new(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(secret: &str, body: &[u8], sha256: bool) -> String {
        let b64 = base64::engine::general_purpose::STANDARD;
        if sha256 {
            let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
            mac.update(body);
            format!("sha256={}", b64.encode(mac.finalize().into_bytes()))
        } else {
            let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes()).unwrap();
            mac.update(body);
            format!("sha1={}", b64.encode(mac.finalize().into_bytes()))
        }
    }

    #[test]
    fn signatures_are_checked_over_the_raw_body() {
        let body = br#"{"kind":"notification"}"#;
        for sha256 in [false, true] {
            let sig = sign("s3cret", body, sha256);
            assert!(signature_ok("s3cret", &sig, body));
            assert!(!signature_ok("other", &sig, body));
            assert!(!signature_ok(
                "s3cret",
                &sig,
                br#"{"kind":"notification" }"#
            ));
        }
        // The documented example's shape: sha1= and base64 (28 characters).
        assert_eq!(sign("s", b"x", false).len(), 5 + 28);
        assert!(!signature_ok("s3cret", "sha1=not base64!", body));
        assert!(!signature_ok("s3cret", "md5=abc", body));
        assert!(!signature_ok("s3cret", "", body));
    }
}
