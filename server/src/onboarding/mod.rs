//! Onboarding: a brand's sign-up request for SocialConnect, the chat between the brand's
//! people and support that goes with it (live, as Server-Sent Events), and support
//! enabling SocialConnect for the account and handing the admin the link to SocialConnect
//! Home.
//!
//! Who may do what: admins and agents of a brand account make their account's request
//! (one per account) and chat in it; another account's request answers 404, as if it did
//! not exist. Support staff see and answer every request and alone may enable one
//! (brand users get 403). Without a session everything answers 401: the marketing page
//! itself is the SPA's and needs no API. Chat text is untrusted: cleaned of control
//! characters, bounded, stored and sent as text, and shown as text.

use crate::AppState;
use crate::auth::{BrandOrSupport, BrandUser, Support, now_secs};
use crate::error::{ApiJson, AppError, AppResult};
use crate::store::NewChatMessage;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::{get, post};
use futures_util::Stream;
use shared::ErrorCode;
use shared::onboarding::{
    ChatAuthor, ChatMessage, ChatPost, SignupChat, SignupEvent, SignupRequest, SignupStatus,
    clean_chat_text,
};
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;

/// Every route of [`router`] (see `crate::api_routes`).
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/api/onboarding/signup"),
    ("POST", "/api/onboarding/signup"),
    ("GET", "/api/onboarding/requests"),
    ("GET", "/api/onboarding/requests/{id}"),
    ("POST", "/api/onboarding/requests/{id}/messages"),
    ("POST", "/api/onboarding/requests/{id}/enable"),
    ("GET", "/api/onboarding/events"),
];

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/onboarding/signup", get(own_request).post(sign_up))
        .route("/api/onboarding/requests", get(list))
        .route("/api/onboarding/requests/{id}", get(chat))
        .route("/api/onboarding/requests/{id}/messages", post(write))
        .route("/api/onboarding/requests/{id}/enable", post(enable))
        .route("/api/onboarding/events", get(events))
}

/// Sign-ups one user may send in [`SIGNUP_WINDOW`].
const SIGNUPS_PER_WINDOW: usize = 5;
const SIGNUP_WINDOW: Duration = Duration::from_secs(600);
/// Chat messages one user may send in [`MESSAGE_WINDOW`].
const MESSAGES_PER_WINDOW: usize = 30;
const MESSAGE_WINDOW: Duration = Duration::from_secs(60);
/// How many changes a slow listener may fall behind before it is told to refetch.
const BACKLOG: usize = 256;

/// What onboarding keeps in the server's state: the live hub and the rate limits.
#[derive(Clone)]
pub struct Onboarding {
    /// (brand account, request) that changed.
    changes: broadcast::Sender<(i64, i64)>,
    signups: Arc<Limiter>,
    messages: Arc<Limiter>,
}

impl Default for Onboarding {
    fn default() -> Self {
        Onboarding {
            changes: broadcast::channel(BACKLOG).0,
            signups: Arc::new(Limiter::new(SIGNUPS_PER_WINDOW, SIGNUP_WINDOW)),
            messages: Arc::new(Limiter::new(MESSAGES_PER_WINDOW, MESSAGE_WINDOW)),
        }
    }
}

impl Onboarding {
    fn changed(&self, account_id: i64, request_id: i64) {
        // No listener is not an error.
        let _ = self.changes.send((account_id, request_id));
    }
}

/// At most `max` actions per key in a sliding `window`. In memory: per instance, which
/// is enough to keep one user from flooding support.
struct Limiter {
    max: usize,
    window: Duration,
    hits: Mutex<HashMap<i64, Vec<Instant>>>,
}

impl Limiter {
    fn new(max: usize, window: Duration) -> Self {
        Limiter {
            max,
            window,
            hits: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one action for `key` and says whether it is within the limit.
    fn allow(&self, key: i64, now: Instant) -> bool {
        let mut hits = self.hits.lock().unwrap_or_else(|e| e.into_inner());
        if hits.len() > 100_000 {
            hits.retain(|_, v| {
                v.last()
                    .is_some_and(|t| now.duration_since(*t) < self.window)
            });
        }
        let v = hits.entry(key).or_default();
        v.retain(|t| now.duration_since(*t) < self.window);
        if v.len() >= self.max {
            return false;
        }
        v.push(now);
        true
    }
}

fn too_many() -> AppError {
    AppError::new(
        ErrorCode::RateLimited,
        "too many requests; wait a few minutes and try again",
    )
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(now_secs() * 1000)
}

/// The request, when a caller of brand account `brand` (`None`: support) may see it:
/// support any, a brand only its own (another brand's is indistinguishable from a missing
/// one). Answers the request's brand account with it.
async fn visible(state: &AppState, brand: Option<i64>, id: i64) -> AppResult<(i64, SignupRequest)> {
    match state.store.signup_request(id).await? {
        Some((account, request)) if brand.is_none_or(|b| b == account) => Ok((account, request)),
        _ => Err(AppError::not_found("sign-up request")),
    }
}

async fn own_request(
    State(state): State<AppState>,
    caller: BrandUser,
) -> AppResult<ApiJson<SignupRequest>> {
    state
        .store
        .signup_of_account(caller.account.id)
        .await?
        .map(ApiJson)
        .ok_or_else(|| AppError::not_found("sign-up request"))
}

/// Makes the account's request (201), or answers the one it has (200).
async fn sign_up(
    State(state): State<AppState>,
    caller: BrandUser,
) -> AppResult<(StatusCode, ApiJson<SignupRequest>)> {
    let account = &caller.account;
    if !state
        .onboarding
        .signups
        .allow(caller.user.id, Instant::now())
    {
        return Err(too_many());
    }
    let greeting = format!(
        "Thank you for signing up for SocialConnect, {}. Support will set it up for account \
         {} and send the link to SocialConnect Home here. Ask them anything in the meantime.",
        account.name, account.number
    );
    let (request, made) = state
        .store
        .signup_create(account.id, caller.user.id, &greeting, now_ms())
        .await?;
    if made {
        tracing::info!(account = %account.number, request = request.id, "sign-up request made");
        state.onboarding.changed(account.id, request.id);
    }
    let status = if made {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, ApiJson(request)))
}

async fn list(
    State(state): State<AppState>,
    _support: Support,
) -> AppResult<ApiJson<Vec<SignupRequest>>> {
    Ok(ApiJson(state.store.signup_requests().await?))
}

async fn chat(
    State(state): State<AppState>,
    caller: BrandOrSupport,
    Path(id): Path<i64>,
) -> AppResult<ApiJson<SignupChat>> {
    let (_, request) = visible(&state, caller.account_id(), id).await?;
    let messages = state.store.signup_messages(id).await?;
    Ok(ApiJson(SignupChat { request, messages }))
}

async fn write(
    State(state): State<AppState>,
    caller: BrandOrSupport,
    Path(id): Path<i64>,
    ApiJson(post): ApiJson<ChatPost>,
) -> AppResult<(StatusCode, ApiJson<ChatMessage>)> {
    let (account, _) = visible(&state, caller.account_id(), id).await?;
    let text = clean_chat_text(&post.text).map_err(AppError::bad_request)?;
    if !state
        .onboarding
        .messages
        .allow(caller.user().id, Instant::now())
    {
        return Err(too_many());
    }
    let author = match caller {
        BrandOrSupport::Brand(_) => ChatAuthor::Brand,
        BrandOrSupport::Support(_) => ChatAuthor::Support,
    };
    let message = state
        .store
        .signup_add_message(NewChatMessage {
            request_id: id,
            author_id: Some(caller.user().id),
            author,
            author_name: &caller.user().name,
            text: &text,
            link: None,
            now_ms: now_ms(),
        })
        .await?;
    state.onboarding.changed(account, id);
    Ok((StatusCode::CREATED, ApiJson(message)))
}

/// The link to SocialConnect Home on this server.
pub fn home_url(public_url: &str) -> String {
    format!("{}/home", public_url.trim_end_matches('/'))
}

async fn enable(
    State(state): State<AppState>,
    support: Support,
    Path(id): Path<i64>,
) -> AppResult<ApiJson<SignupRequest>> {
    let (account, request) = visible(&state, None, id).await?;
    if request.status == SignupStatus::Enabled {
        return Ok(ApiJson(request));
    }
    let home = home_url(&state.public_url);
    let text = format!(
        "SocialConnect is enabled for account {} ({}). Your admin links Facebook pages and \
         Twitter/X accounts in SocialConnect Home:",
        request.account_number, request.account_name
    );
    let request = state
        .store
        .signup_enable(
            id,
            support.user.id,
            &home,
            NewChatMessage {
                request_id: id,
                author_id: Some(support.user.id),
                author: ChatAuthor::System,
                author_name: "SocialConnect",
                text: &text,
                link: Some(&home),
                now_ms: now_ms(),
            },
        )
        .await?;
    tracing::info!(
        account = %request.account_number,
        request = id,
        by = support.user.id,
        "SocialConnect enabled"
    );
    state.onboarding.changed(account, id);
    Ok(ApiJson(request))
}

/// Server-Sent Events: one `data: {"request_id": N}` per change of a request this
/// session may see (`null` after missed events), keep-alive comments in between.
async fn events(
    State(state): State<AppState>,
    caller: BrandOrSupport,
) -> AppResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let brand = caller.account_id();
    let changes = state.onboarding.changes.subscribe();
    let stopping = state.live.stopping();
    let stream = futures_util::stream::unfold(
        (changes, stopping),
        move |(mut changes, mut stopping)| async move {
            loop {
                let next = tokio::select! {
                    next = changes.recv() => next,
                    _ = stopping.wait_for(|s| *s) => return None,
                };
                let event = match next {
                    Ok((account, request)) if brand.is_none_or(|b| b == account) => SignupEvent {
                        request_id: Some(request),
                    },
                    Ok(_) => continue,
                    Err(RecvError::Lagged(_)) => SignupEvent { request_id: None },
                    Err(RecvError::Closed) => return None,
                };
                let event = Event::default()
                    .json_data(event)
                    .unwrap_or_else(|_| Event::default().data("{}"));
                return Some((Ok(event), (changes, stopping)));
            }
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limiter_allows_max_per_window_per_key() {
        let l = Limiter::new(2, Duration::from_secs(60));
        let t = Instant::now();
        assert!(l.allow(1, t));
        assert!(l.allow(1, t));
        assert!(!l.allow(1, t));
        assert!(l.allow(2, t), "another user has their own allowance");
        assert!(l.allow(1, t + Duration::from_secs(61)), "the window passed");
    }

    #[test]
    fn home_is_under_the_public_url() {
        assert_eq!(home_url("https://sc.example/"), "https://sc.example/home");
        assert_eq!(
            home_url("http://127.0.0.1:8080"),
            "http://127.0.0.1:8080/home"
        );
    }
}
