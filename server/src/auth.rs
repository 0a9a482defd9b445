//! Sign-in, sessions and CSRF: argon2 password hashes, an HttpOnly SameSite session
//! cookie backed by the database (so it is valid on every instance), and a per-session
//! CSRF token every state-changing request must echo in a header.

use crate::AppState;
use crate::error::{ApiJson, AppError, AppResult};
use crate::store::{NewUser, SessionRecord, Store, User};
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::Router;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use rand::RngCore;
use sha2::{Digest, Sha256};
use shared::api::{AccountSummary, CSRF_HEADER, Me, SignIn};
use shared::{ErrorCode, Role};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use subtle::ConstantTimeEq;

pub const SESSION_COOKIE: &str = "sc_session";
const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);

/// The session routes that need a session (see `crate::api_routes`).
pub const ROUTES: &[(&str, &str)] = &[("GET", "/api/session"), ("DELETE", "/api/session")];
/// Signing in needs none.
pub const PUBLIC_ROUTES: &[(&str, &str)] = &[("POST", "/api/session")];

pub fn router() -> Router<AppState> {
    Router::new().route("/api/session", get(current).post(sign_in).delete(sign_out))
}

pub fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Hashes a password with argon2id off the async runtime (it is deliberately slow).
pub async fn hash_password(password: String) -> AppResult<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))
    })
    .await
    .map_err(anyhow::Error::from)?
    .map_err(AppError::Internal)
}

/// Checks `password` against a stored hash; with no hash (unknown user) it still does the
/// same work, so response time does not reveal which emails exist.
async fn verify_password(password: String, hash: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || {
        let hash = hash.unwrap_or_else(|| DUMMY_HASH.with(|h| h.clone()));
        PasswordHash::new(&hash)
            .map(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false)
}

thread_local! {
    static DUMMY_HASH: String = {
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        Argon2::default()
            .hash_password(b"no such user", &salt)
            .map(|h| h.to_string())
            .unwrap_or_default()
    };
}

/// Creates a user with a hashed password; `Ok(None)` when the email is taken in that account.
pub async fn create_user(
    store: &dyn Store,
    account_id: Option<i64>,
    email: &str,
    name: &str,
    role: Role,
    password: &str,
) -> AppResult<Option<User>> {
    let hash = hash_password(password.to_owned()).await?;
    store
        .create_user(NewUser {
            account_id,
            email,
            name,
            role,
            password_hash: &hash,
        })
        .await
}

/// Failed sign-ins per (account, email) within a window; past the limit, sign-in answers
/// 429 until the window passes. In memory: a per-instance limit is enough to make
/// guessing slow.
pub struct SignInLimiter {
    window: Duration,
    max_failures: usize,
    failures: Mutex<HashMap<String, Vec<Instant>>>,
}

impl SignInLimiter {
    pub fn new(max_failures: usize, window: Duration) -> Self {
        SignInLimiter {
            window,
            max_failures,
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn key(account: &str, email: &str) -> String {
        format!("{}\u{0}{}", account.trim(), email.trim().to_lowercase())
    }

    fn recent(&self, key: &str, now: Instant) -> usize {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let window = self.window;
        if let Some(v) = map.get_mut(key) {
            v.retain(|t| now.duration_since(*t) < window);
            v.len()
        } else {
            0
        }
    }

    pub fn is_blocked(&self, account: &str, email: &str) -> bool {
        self.recent(&Self::key(account, email), Instant::now()) >= self.max_failures
    }

    pub fn record_failure(&self, account: &str, email: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() > 100_000 {
            // Bound memory under a spray of made-up emails: forget the oldest picture.
            map.clear();
        }
        map.entry(Self::key(account, email))
            .or_default()
            .push(Instant::now());
    }

    pub fn clear(&self, account: &str, email: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(&Self::key(account, email));
    }
}

fn me(record: &SessionRecord) -> Me {
    Me {
        user_id: record.user.id,
        email: record.user.email.clone(),
        name: record.user.name.clone(),
        role: record.user.role,
        account: record.account.as_ref().map(|a| AccountSummary {
            number: a.number.clone(),
            name: a.name.clone(),
            socialconnect_enabled: a.socialconnect_enabled,
        }),
        csrf_token: record.csrf_token.clone(),
    }
}

async fn sign_in(
    State(state): State<AppState>,
    jar: CookieJar,
    ApiJson(req): ApiJson<SignIn>,
) -> AppResult<impl IntoResponse> {
    let account_number = req.account_number.trim();
    let email = req.email.trim();
    if email.is_empty() || req.password.is_empty() {
        return Err(AppError::bad_request("enter your email and password"));
    }
    if state.sign_in_limiter.is_blocked(account_number, email) {
        return Err(AppError::new(
            ErrorCode::RateLimited,
            "too many failed sign-ins; wait a few minutes and try again",
        ));
    }
    let account = if account_number.is_empty() {
        None
    } else {
        state.store.account_by_number(account_number).await?
    };
    let credentials = match (&account, account_number.is_empty()) {
        (Some(a), _) => state.store.credentials(Some(a.id), email).await?,
        (None, true) => state.store.credentials(None, email).await?,
        (None, false) => None,
    };
    let ok = verify_password(
        req.password,
        credentials.as_ref().map(|c| c.password_hash.clone()),
    )
    .await;
    let Some(credentials) = credentials.filter(|_| ok) else {
        state.sign_in_limiter.record_failure(account_number, email);
        tracing::info!(account = account_number, "failed sign-in");
        return Err(AppError::new(
            ErrorCode::InvalidCredentials,
            "wrong account number, email or password",
        ));
    };
    state.sign_in_limiter.clear(account_number, email);

    let token = random_token();
    let csrf = random_token();
    let now = now_secs();
    state
        .store
        .create_session(
            &token_hash(&token),
            credentials.user.id,
            &csrf,
            now,
            now + SESSION_TTL.as_secs() as i64,
        )
        .await?;
    tracing::info!(user = credentials.user.id, role = %credentials.user.role, "signed in");
    let record = SessionRecord {
        account,
        user: credentials.user,
        csrf_token: csrf,
    };
    let cookie = Cookie::build((SESSION_COOKIE, token))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.public_url.starts_with("https://"))
        .path("/")
        .max_age(time::Duration::seconds(SESSION_TTL.as_secs() as i64))
        .build();
    Ok((jar.add(cookie), ApiJson(me(&record))))
}

async fn current(session: Session) -> ApiJson<Me> {
    ApiJson(me(&session.0))
}

async fn sign_out(
    State(state): State<AppState>,
    jar: CookieJar,
    _session: Session,
) -> AppResult<impl IntoResponse> {
    if let Some(c) = jar.get(SESSION_COOKIE) {
        state.store.delete_session(&token_hash(c.value())).await?;
    }
    Ok((
        jar.remove(Cookie::build(SESSION_COOKIE).path("/")),
        StatusCode::NO_CONTENT,
    ))
}

/// The signed-in user. Extracting it refuses requests without a live session (401) and
/// state-changing requests whose CSRF header does not match the session's (403).
#[derive(Debug, Clone)]
pub struct Session(pub SessionRecord);

impl Session {
    pub fn user(&self) -> &User {
        &self.0.user
    }

    /// Refuses anyone but admins of an enabled brand account.
    pub fn require_admin(&self) -> AppResult<()> {
        match (&self.0.user.role, &self.0.account) {
            (Role::Admin, Some(_)) => Ok(()),
            _ => Err(AppError::forbidden()),
        }
    }
}

fn csrf_ok(method: &Method, headers: &HeaderMap, expected: &str) -> bool {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return true;
    }
    headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|given| bool::from(given.as_bytes().ct_eq(expected.as_bytes())))
}

impl FromRequestParts<AppState> for Session {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> AppResult<Self> {
        let jar = CookieJar::from_headers(&parts.headers);
        let token = jar
            .get(SESSION_COOKIE)
            .map(|c| c.value().to_owned())
            .ok_or_else(AppError::unauthenticated)?;
        let record = state
            .store
            .session(&token_hash(&token), now_secs())
            .await?
            .ok_or_else(AppError::unauthenticated)?;
        if !csrf_ok(&parts.method, &parts.headers, &record.csrf_token) {
            return Err(AppError::new(
                ErrorCode::Csrf,
                "missing or wrong CSRF token; reload the page",
            ));
        }
        Ok(Session(record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn passwords_verify_only_against_their_hash() {
        let hash = hash_password("correct horse".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse".into(), Some(hash.clone())).await);
        assert!(!verify_password("wrong".into(), Some(hash)).await);
        assert!(!verify_password("anything".into(), None).await);
    }

    #[test]
    fn limiter_blocks_after_repeated_failures_and_clears_on_success() {
        let l = SignInLimiter::new(3, Duration::from_secs(60));
        for _ in 0..3 {
            assert!(!l.is_blocked("1", "a@x"));
            l.record_failure("1", "A@x ");
        }
        assert!(l.is_blocked("1", "a@x"));
        assert!(!l.is_blocked("2", "a@x"));
        l.clear("1", "a@x");
        assert!(!l.is_blocked("1", "a@x"));
    }

    #[test]
    fn csrf_is_required_only_for_state_changes() {
        let mut h = HeaderMap::new();
        assert!(csrf_ok(&Method::GET, &h, "t"));
        assert!(!csrf_ok(&Method::POST, &h, "t"));
        h.insert(CSRF_HEADER, "nope".parse().unwrap());
        assert!(!csrf_ok(&Method::DELETE, &h, "t"));
        h.insert(CSRF_HEADER, "t".parse().unwrap());
        assert!(csrf_ok(&Method::DELETE, &h, "t"));
    }
}
