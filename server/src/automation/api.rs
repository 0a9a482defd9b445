//! Automation's HTTP surface: the admin's settings (session, admins of the brand account
//! only) and the bot API an external bot answers through (its bearer token, no session).

use super::{BotPhase, say};
use crate::AppState;
use crate::auth::BrandAdmin;
use crate::error::{ApiJson, AppError, AppResult};
use crate::store::{AutomationRecord, LinkedAccount};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post, put};
use rand::Rng;
use sha2::Digest;
use shared::ErrorCode;
use shared::api::ReplyLine;
use shared::automation::{
    AutomationAccount, AutomationSettings, BotCredentials, BotHandover, BotReply,
};

/// Session routes of [`router`] (see `crate::api_routes`): admins only.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/api/automation"),
    ("PUT", "/api/automation/{id}"),
    ("POST", "/api/automation/{id}/credentials"),
];

/// Routes an external bot calls with its token (see `crate::public_routes`).
pub const PUBLIC_ROUTES: &[(&str, &str)] = &[
    ("POST", "/api/bot/conversations/{id}/replies"),
    ("POST", "/api/bot/conversations/{id}/handover"),
];

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/automation", get(list))
        .route("/api/automation/{id}", put(save))
        .route("/api/automation/{id}/credentials", post(credentials))
        .route("/api/bot/conversations/{id}/replies", post(bot_reply))
        .route("/api/bot/conversations/{id}/handover", post(bot_handover))
}

fn view(linked: LinkedAccount, record: Option<AutomationRecord>) -> AutomationAccount {
    let settings = record
        .as_ref()
        .and_then(|r| serde_json::from_str::<AutomationSettings>(&r.settings_json).ok())
        .map(|mut s| {
            s.enabled = record.as_ref().is_some_and(|r| r.enabled);
            s
        })
        .unwrap_or_default();
    AutomationAccount {
        linked_account_id: linked.id,
        channel: linked.channel,
        name: linked.name,
        settings,
        has_credentials: record.is_some_and(|r| r.has_token && r.secret_sealed.is_some()),
    }
}

/// The linked account `id` when it belongs to `account`; another brand's is "not found".
async fn owned(
    state: &AppState,
    account: i64,
    id: i64,
) -> AppResult<(LinkedAccount, Option<AutomationRecord>)> {
    state
        .store
        .automation_account(id)
        .await?
        .filter(|(l, _)| l.account_id == account)
        .ok_or_else(|| AppError::not_found("linked account"))
}

async fn list(
    State(state): State<AppState>,
    admin: BrandAdmin,
) -> AppResult<ApiJson<Vec<AutomationAccount>>> {
    let account = admin.account.id;
    let rows = state.store.automation_accounts(account).await?;
    Ok(ApiJson(rows.into_iter().map(|(l, r)| view(l, r)).collect()))
}

async fn save(
    State(state): State<AppState>,
    admin: BrandAdmin,
    Path(id): Path<i64>,
    ApiJson(mut settings): ApiJson<AutomationSettings>,
) -> AppResult<ApiJson<AutomationAccount>> {
    let account = admin.account.id;
    owned(&state, account, id).await?;
    settings.time_zone = settings.time_zone.trim().to_owned();
    settings.external_url = settings.external_url.trim().to_owned();
    settings.check().map_err(AppError::bad_request)?;
    if !super::builtin::zone_exists(&settings.time_zone) {
        return Err(AppError::bad_request(format!(
            "{:?} is not an IANA time zone (e.g. Europe/Paris)",
            settings.time_zone
        )));
    }
    if !settings.external_url.is_empty() {
        let policy = crate::uploads::policy::AddressPolicy {
            allow_private: state.settings.allow_private_media_urls,
            also_allow: Vec::new(),
        };
        super::external::check_url(&settings.external_url, &policy)
            .map_err(AppError::bad_request)?;
    }
    let json = serde_json::to_string(&settings).map_err(|e| AppError::Internal(e.into()))?;
    state
        .store
        // Compared with lines' `received_at`: the system's time in whole seconds.
        .set_automation(id, settings.enabled, &json, crate::auth::now_secs() * 1000)
        .await?;
    tracing::info!(linked = id, enabled = settings.enabled, bot = ?settings.bot, "automation saved");
    let (linked, record) = owned(&state, account, id).await?;
    state.automation.wake();
    Ok(ApiJson(view(linked, record)))
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::thread_rng().fill(&mut buf[..]);
    hex::encode(buf)
}

fn token_hash(token: &str) -> String {
    hex::encode(sha2::Sha256::digest(token.as_bytes()))
}

async fn credentials(
    State(state): State<AppState>,
    admin: BrandAdmin,
    Path(id): Path<i64>,
) -> AppResult<ApiJson<BotCredentials>> {
    let account = admin.account.id;
    owned(&state, account, id).await?;
    let secret = format!("scbs_{}", random_hex(32));
    let token = format!("scbt_{}", random_hex(32));
    state
        .store
        .set_bot_credentials(
            id,
            &state.cipher.seal(&secret),
            &token_hash(&token),
            state.settings.clock.now_ms(),
        )
        .await?;
    tracing::info!(linked = id, "new external bot credentials made");
    Ok(ApiJson(BotCredentials { secret, token }))
}

/// The linked account whose bot holds the bearer token; 401 without a known one.
async fn bot_account(state: &AppState, headers: &HeaderMap) -> AppResult<i64> {
    let token = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| AppError::new(ErrorCode::Unauthenticated, "a bot token is required"))?;
    state
        .store
        .bot_by_token(&token_hash(token))
        .await?
        .ok_or_else(|| AppError::new(ErrorCode::Unauthenticated, "unknown bot token"))
}

/// The conversation, when it is this bot's linked account's and the bot holds it.
async fn held(
    state: &AppState,
    headers: &HeaderMap,
    id: i64,
) -> AppResult<crate::store::BotContext> {
    let linked = bot_account(state, headers).await?;
    let ctx = state
        .store
        .bot_context(id)
        .await?
        .filter(|c| c.linked.id == linked)
        .ok_or_else(|| AppError::not_found("conversation"))?;
    let holds = ctx.state.as_ref().is_some_and(|s| s.phase == BotPhase::Bot);
    if !holds || ctx.assigned || !ctx.open {
        return Err(AppError::new(
            ErrorCode::Conflict,
            "the bot does not hold this conversation (a person has it, or it is closed)",
        ));
    }
    Ok(ctx)
}

async fn bot_reply(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    ApiJson(req): ApiJson<BotReply>,
) -> AppResult<(StatusCode, ApiJson<ReplyLine>)> {
    bot_account(&state, &headers).await?;
    let _held = state.automation.lock(id).await;
    let ctx = held(&state, &headers, id).await?;
    let line = say(&state, &ctx, &req.text).await?;
    if let Some(mut st) = ctx.state.clone() {
        // Answered: no longer late.
        st.answer_by_ms = None;
        state
            .store
            .set_bot_state(id, &st, state.settings.clock.now_ms())
            .await?;
    }
    Ok((StatusCode::CREATED, ApiJson(line)))
}

async fn bot_handover(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    body: axum::body::Bytes,
) -> AppResult<StatusCode> {
    bot_account(&state, &headers).await?;
    let _held = state.automation.lock(id).await;
    let ctx = held(&state, &headers, id).await?;
    // The body is optional: `{"reason": "..."}` or nothing.
    let given: BotHandover = if body.iter().all(u8::is_ascii_whitespace) {
        BotHandover::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|_| AppError::bad_request("the body is {\"reason\": \"...\"} or empty"))?
    };
    let reason = Some(given.reason.trim().chars().take(200).collect::<String>())
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| "the bot handed over".into());
    let mut st = ctx.state.clone().unwrap_or(crate::store::BotState {
        phase: BotPhase::Bot,
        last_line_id: 0,
        away_sent: false,
        answer_by_ms: None,
        reason: None,
    });
    super::hand_over(&state, &ctx, &mut st, &reason, None).await?;
    state
        .store
        .set_bot_state(id, &st, state.settings.clock.now_ms())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
