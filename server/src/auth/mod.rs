//! Sign-in, sessions and CSRF: argon2 password hashes, sign-in throttling counted in the
//! database (per account and email, and per client address, shared by every instance), an
//! HttpOnly session cookie (see [`session_cookie`]) backed by the database (so it is valid on every
//! instance), and a per-session CSRF token every state-changing request must echo in a
//! header. Who may call a handler is its role extractor ([`roles`]).

pub mod password;
mod roles;

pub use roles::{BrandAdmin, BrandOrSupport, BrandUser, Support};

use crate::AppState;
use crate::error::{ApiJson, AppError, AppResult};
use crate::store::prelude::*;
use crate::store::{Account, NewUser, SessionRecord, User};
use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use axum::Router;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use rand::RngCore;
use sha2::{Digest, Sha256};
use shared::api::{AccountSummary, CSRF_HEADER, Me, SignIn};
use shared::{ErrorCode, Role};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use subtle::ConstantTimeEq;

pub const SESSION_COOKIE: &str = "sc_session";
const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);

/// The session routes that need a session (see `crate::api_routes`).
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/api/session"),
    ("DELETE", "/api/session"),
    ("PUT", "/api/session/password"),
    ("DELETE", "/api/sessions"),
];
/// Signing in needs none.
pub const PUBLIC_ROUTES: &[(&str, &str)] = &[("POST", "/api/session"), ("POST", "/api/password")];

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/session", get(current).post(sign_in).delete(sign_out))
        .route("/api/password", post(password::set_password))
        .route("/api/session/password", put(password::change_password))
        .route("/api/sessions", delete(sign_out_everywhere))
}

pub fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

pub(crate) fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

pub(crate) fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Threads that hash passwords.
const HASHING_THREADS: usize = 2;

/// Runs argon2 work on one of [`HASHING_THREADS`] threads kept for it, off the async
/// runtime (it is deliberately slow), each hashing in memory of its own kept between
/// hashes ([`argon2_into`]). argon2's own allocation of its 19 MiB per hash, freed after
/// each, was not given back by the allocator: sign-ins in a row left the server 19 MB
/// larger each, up to 250 MB. `None` if the threads are gone.
async fn on_hashing_thread<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    type Job = Box<dyn FnOnce() + Send>;
    static QUEUE: std::sync::OnceLock<std::sync::mpsc::Sender<Job>> = std::sync::OnceLock::new();
    let queue = QUEUE.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
        for i in 0..HASHING_THREADS {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("password-hash-{i}"))
                .spawn(move || {
                    loop {
                        let job = match rx.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a password hashing thread");
            }
        }
        tx
    });
    let (done, answer) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        let _ = done.send(work());
    });
    queue.send(job).ok()?;
    answer.await.ok()
}

thread_local! {
    /// A hashing thread's argon2 memory, kept for its next hash.
    static BLOCKS: std::cell::RefCell<Vec<Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// `argon2::Argon2::hash_password_into` in this thread's kept memory (a hash needing more
/// than the default parameters' gets memory of its own, not kept).
fn argon2_into(
    argon2: &Argon2,
    params: &Params,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> argon2::Result<()> {
    let n = params.block_count();
    if n > Params::default().block_count() {
        return argon2.hash_password_into(password, salt, out);
    }
    BLOCKS.with(|blocks| {
        let mut blocks = blocks.borrow_mut();
        if blocks.len() < n {
            blocks.resize(n, Block::default());
        }
        argon2.hash_password_into_with_memory(password, salt, out, &mut blocks[..n])
    })
}

/// `password` hashed with argon2id's default parameters and a fresh salt, as a PHC string
/// (what `PasswordHasher::hash_password` makes).
fn hash_phc(password: &[u8]) -> anyhow::Result<String> {
    let fail = |e: argon2::password_hash::Error| anyhow::anyhow!("hashing a password: {e}");
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    let salt = salt.as_salt();
    let params = Params::default();
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let mut salt_bytes = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_bytes).map_err(fail)?;
    let len = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
    let output = Output::init_with(len, |out| {
        Ok(argon2_into(&argon2, &params, password, salt_bytes, out)?)
    })
    .map_err(fail)?;
    Ok(PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(fail)?,
        salt: Some(salt),
        hash: Some(output),
    }
    .to_string())
}

/// Whether `password` hashes to the PHC string `hash` (what `PasswordVerifier` checks),
/// the outputs compared in constant time.
fn verify_phc(password: &[u8], hash: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let (Ok(algorithm), Ok(version), Ok(params)) = (
        Algorithm::try_from(parsed.algorithm),
        parsed.version.map(Version::try_from).transpose(),
        Params::try_from(&parsed),
    ) else {
        return false;
    };
    let argon2 = Argon2::new(algorithm, version.unwrap_or_default(), params.clone());
    let mut salt_bytes = [0u8; 64];
    let Ok(salt_bytes) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    Output::init_with(expected.len(), |out| {
        Ok(argon2_into(&argon2, &params, password, salt_bytes, out)?)
    })
    // `Output`'s equality is constant-time.
    .is_ok_and(|computed| computed == expected)
}

/// Hashes a password with argon2id on a hashing thread.
pub async fn hash_password(password: String) -> AppResult<String> {
    on_hashing_thread(move || hash_phc(password.as_bytes()))
        .await
        .ok_or_else(|| anyhow::anyhow!("no password hashing thread"))?
        .map_err(AppError::Internal)
}

/// Checks `password` against a stored hash; with no hash (unknown user) it still does the
/// same work, so response time does not reveal which emails exist.
pub(crate) async fn verify_password(password: String, hash: Option<String>) -> bool {
    on_hashing_thread(move || {
        let hash = hash.unwrap_or_else(|| DUMMY_HASH.with(|h| h.clone()));
        verify_phc(password.as_bytes(), &hash)
    })
    .await
    .unwrap_or(false)
}

thread_local! {
    static DUMMY_HASH: String = hash_phc(b"no such user").unwrap_or_default();
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
        .map_err(Into::into)
}

/// How many sign-in attempts get as far as a password check. Counted in the database, so
/// every instance sees the same counts and a restart forgets none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignInLimits {
    /// Attempts per brand account number and email within `window` (a success starts
    /// the count again).
    pub per_account: i64,
    /// Failed attempts per client address within `window`, whatever the emails.
    pub per_address: i64,
    pub window: Duration,
}

impl Default for SignInLimits {
    fn default() -> Self {
        SignInLimits {
            per_account: 10,
            per_address: 100,
            window: Duration::from_secs(300),
        }
    }
}

/// What sign-in throttling counts under: a SHA-256, so no email or address is stored.
fn throttle_key(kind: &str, value: &str) -> String {
    token_hash(&format!("{kind}\u{0}{value}"))
}

/// An IP address or CIDR range (`10.0.0.0/8`, `2001:db8::/32`), for the load balancers
/// whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRange {
    net: IpAddr,
    prefix: u8,
}

impl IpRange {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.net, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                masked(u128::from(u32::from(net)), 32, self.prefix)
                    == masked(u128::from(u32::from(ip)), 32, self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                masked(u128::from(net), 128, self.prefix)
                    == masked(u128::from(ip), 128, self.prefix)
            }
            _ => false,
        }
    }
}

/// The top `prefix` bits of a `bits`-bit address.
fn masked(addr: u128, bits: u32, prefix: u8) -> u128 {
    let keep = u32::from(prefix).min(bits);
    if keep == 0 { 0 } else { addr >> (bits - keep) }
}

/// An IPv4 address written as IPv6 (`::ffff:a.b.c.d`, as a dual-stack listener sees it)
/// is that IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

impl std::str::FromStr for IpRange {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let net = canonical(
            addr.parse::<IpAddr>()
                .map_err(|_| format!("{s:?} is not an IP address or CIDR range"))?,
        );
        let max = if net.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{s:?}: the prefix length must be 0 to {max}"))?,
            None => max,
        };
        Ok(IpRange { net, prefix })
    }
}

/// The client's address as sign-in throttling counts it: the TCP peer, or, when the peer
/// is a trusted proxy, the last address `X-Forwarded-For` names that is not one (the
/// entries before it are the client's word, anyone can write them). An IPv6 client counts
/// by its /64, which one subscriber holds whole. `None` where the server was given no peer
/// (a router called directly, as handler tests do).
pub struct ClientAddr(pub Option<String>);

impl ClientAddr {
    fn resolve(peer: IpAddr, forwarded: &[&str], trusted: &[IpRange]) -> String {
        let is_proxy = |ip: IpAddr| trusted.iter().any(|r| r.contains(ip));
        let mut client = canonical(peer);
        if is_proxy(client) {
            for hop in forwarded.iter().flat_map(|h| h.split(',')).rev() {
                let Ok(ip) = hop.trim().parse::<IpAddr>().map(canonical) else {
                    break;
                };
                client = ip;
                if !is_proxy(ip) {
                    break;
                }
            }
        }
        match client {
            IpAddr::V6(v6) => {
                let net = std::net::Ipv6Addr::from(u128::from(v6) >> 64 << 64);
                format!("{net}/64")
            }
            v4 => v4.to_string(),
        }
    }
}

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some(ConnectInfo(peer)) = parts.extensions.get::<ConnectInfo<SocketAddr>>() else {
            return Ok(ClientAddr(None));
        };
        let forwarded: Vec<&str> = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        Ok(ClientAddr(Some(Self::resolve(
            peer.ip(),
            &forwarded,
            &state.settings.trusted_proxies,
        ))))
    }
}

/// 429 with `Retry-After` (whole seconds until the window that blocks ends).
fn too_many_sign_ins(retry_after_ms: i64) -> Response {
    let secs = (retry_after_ms.max(1) + 999) / 1000;
    (
        [(header::RETRY_AFTER, secs.to_string())],
        AppError::new(
            ErrorCode::RateLimited,
            "too many failed sign-ins; wait a few minutes and try again",
        ),
    )
        .into_response()
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

/// Every attempt is counted before its password is checked — per account number and
/// email, and per client address — in one statement each, so parallel guesses each take
/// a number and no more than the limit reach the (slow) check. Past either limit the
/// answer is 429 with `Retry-After`, the right password included, until the window ends.
async fn sign_in(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    jar: CookieJar,
    ApiJson(req): ApiJson<SignIn>,
) -> AppResult<Response> {
    let account_number = req.account_number.trim();
    let email = req.email.trim();
    if email.is_empty() || req.password.is_empty() {
        return Err(AppError::bad_request("enter your email and password"));
    }
    let limits = state.settings.sign_in_limits;
    let now_ms = state.settings.clock.now_ms();
    let window_ms = limits.window.as_millis() as i64;
    let account_key = throttle_key(
        "account",
        &format!("{account_number}\u{0}{}", email.to_lowercase()),
    );
    let address_key = client.map(|a| throttle_key("address", &a));
    let mut counts = vec![(
        state
            .store
            .count_sign_in(&account_key, now_ms, window_ms)
            .await?,
        limits.per_account,
    )];
    if let Some(key) = &address_key {
        let count = state.store.count_sign_in(key, now_ms, window_ms).await?;
        counts.push((count, limits.per_address));
    }
    if let Some(ends) = counts
        .iter()
        .filter(|(count, limit)| count.attempts > *limit)
        .map(|(count, _)| count.window_ends_ms)
        .max()
    {
        tracing::info!(
            account = account_number,
            "sign-in refused: too many attempts"
        );
        return Ok(too_many_sign_ins(ends - now_ms));
    }
    let account = if account_number.is_empty() {
        None
    } else {
        state.store.account_by_number(account_number).await?
    };
    if let Some(a) = &account
        && state
            .store
            .sso_settings(a.id)
            .await?
            .is_some_and(|sso| !sso.password_sign_in)
    {
        return Err(AppError::new(
            ErrorCode::Forbidden,
            "this account signs in through its single sign-on: use \"Sign in with single sign-on\"",
        ));
    }
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
        tracing::info!(account = account_number, "failed sign-in");
        return Err(AppError::new(
            ErrorCode::InvalidCredentials,
            "wrong account number, email or password",
        ));
    };
    state
        .store
        .sign_in_succeeded(&account_key, address_key.as_deref())
        .await?;

    start_session(&state, jar, credentials.user, account).await
}

/// Signs `user` in: a new session, its cookie, and who is signed in ([`Me`]).
pub(crate) async fn start_session(
    state: &AppState,
    jar: CookieJar,
    user: User,
    account: Option<Account>,
) -> AppResult<Response> {
    let (jar, me) = new_session(state, jar, user, account).await?;
    Ok((jar, ApiJson(me)).into_response())
}

/// A new session for `user`: the jar with its cookie, and who is signed in.
pub(crate) async fn new_session(
    state: &AppState,
    jar: CookieJar,
    user: User,
    account: Option<Account>,
) -> AppResult<(CookieJar, Me)> {
    let token = random_token();
    let csrf = random_token();
    let now = now_secs();
    state
        .store
        .create_session(
            &token_hash(&token),
            user.id,
            &csrf,
            now,
            now + SESSION_TTL.as_secs() as i64,
        )
        .await?;
    state.store.record_sign_in(user.id, now).await?;
    tracing::info!(user = user.id, role = %user.role, "signed in");
    let record = SessionRecord {
        account,
        user,
        csrf_token: csrf,
    };
    Ok((jar.add(session_cookie(state, token)), me(&record)))
}

/// The session cookie's attributes. Over HTTPS it is `Secure; SameSite=None;
/// Partitioned` (CHIPS): the Social Widget inside LiveEngage is a cross-site frame, where
/// a `SameSite=Lax` cookie is never sent and, with third-party cookies blocked, only a
/// partitioned one is kept. Partitioned by the top-level site, the frame's session is its
/// own (the agent signs in inside it once) and no other site embedding our pages gets
/// either session; the CSRF token every state change must echo is what stops forged
/// requests. Over plain HTTP (a proxy-less demo on one host) the cookie stays `Lax`.
fn session_cookie(state: &AppState, value: String) -> Cookie<'static> {
    let https = state.public_url.starts_with("https://");
    Cookie::build((SESSION_COOKIE, value))
        .http_only(true)
        .path("/")
        .secure(https)
        .partitioned(https)
        .same_site(if https { SameSite::None } else { SameSite::Lax })
        .max_age(time::Duration::seconds(SESSION_TTL.as_secs() as i64))
        .build()
}

/// The jar without the session cookie: the removal carries the same attributes, as a
/// partitioned cookie is only replaced by another.
fn end_session_cookie(state: &AppState, jar: CookieJar) -> CookieJar {
    jar.remove(session_cookie(state, String::new()))
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
    Ok((end_session_cookie(&state, jar), StatusCode::NO_CONTENT))
}

/// `DELETE /api/sessions`: ends every session of the signed-in person, on every device;
/// their open pages' event streams close.
async fn sign_out_everywhere(
    State(state): State<AppState>,
    jar: CookieJar,
    session: Session,
) -> AppResult<impl IntoResponse> {
    let user = session.0.user.id;
    state.store.end_sessions(user).await?;
    state.live.signed_out(user);
    tracing::info!(user, "signed out of every session");
    Ok((end_session_cookie(&state, jar), StatusCode::NO_CONTENT))
}

/// Anyone signed in. Extracting it refuses requests without a live session (401) and
/// state-changing requests whose CSRF header does not match the session's (403); the role
/// extractors ([`BrandUser`], …) build on it.
#[derive(Debug, Clone)]
pub struct Session(pub SessionRecord);

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

    #[test]
    fn hashes_agree_with_the_argon2_crates_own_both_ways() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        // Ours, checked by the crate's verifier.
        let ours = hash_phc(b"correct horse").unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"correct horse", &parsed)
                .is_ok()
        );
        // The crate's (every hash stored so far), checked by ours.
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        let theirs = Argon2::default()
            .hash_password(b"correct horse", &salt)
            .unwrap()
            .to_string();
        assert!(verify_phc(b"correct horse", &theirs));
        assert!(!verify_phc(b"correct horsf", &theirs));
        assert!(!verify_phc(
            b"correct horse",
            "$argon2id$v=19$m=19456,t=2,p=1$bm90"
        ));
        assert!(!verify_phc(b"correct horse", "not a hash"));
    }

    #[tokio::test]
    async fn passwords_verify_only_against_their_hash() {
        let hash = hash_password("correct horse".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse".into(), Some(hash.clone())).await);
        assert!(!verify_password("wrong".into(), Some(hash)).await);
        assert!(!verify_password("anything".into(), None).await);
    }

    #[test]
    fn a_client_is_its_peer_unless_the_peer_is_a_trusted_proxy() {
        let lb: IpRange = "10.0.0.0/8".parse().unwrap();
        let peer: IpAddr = "203.0.113.9".parse().unwrap();
        let proxy: IpAddr = "10.1.2.3".parse().unwrap();
        let resolve = ClientAddr::resolve;
        // Not from a trusted proxy: what the client wrote is ignored.
        assert_eq!(resolve(peer, &["198.51.100.1"], &[lb]), "203.0.113.9");
        assert_eq!(resolve(proxy, &["198.51.100.1"], &[]), "10.1.2.3");
        // From one: the last hop it did not add itself; a client's forged entries before
        // it do not count.
        assert_eq!(
            resolve(proxy, &["1.1.1.1, 198.51.100.1", "10.0.0.7"], &[lb]),
            "198.51.100.1"
        );
        assert_eq!(resolve(proxy, &["not an address"], &[lb]), "10.1.2.3");
        // IPv4 seen through a dual-stack listener, and IPv6 by its /64.
        assert_eq!(
            resolve("::ffff:203.0.113.9".parse().unwrap(), &[], &[]),
            "203.0.113.9"
        );
        assert_eq!(
            resolve("2001:db8:1:2:aaaa::1".parse().unwrap(), &[], &[]),
            resolve("2001:db8:1:2:bbbb::9".parse().unwrap(), &[], &[])
        );
        assert_ne!(
            resolve("2001:db8:1:2::1".parse().unwrap(), &[], &[]),
            resolve("2001:db8:1:3::1".parse().unwrap(), &[], &[])
        );
    }

    #[test]
    fn ip_ranges_parse_and_match() {
        let r: IpRange = "192.168.0.0/16".parse().unwrap();
        assert!(r.contains("192.168.44.1".parse().unwrap()));
        assert!(!r.contains("192.169.0.1".parse().unwrap()));
        let one: IpRange = "127.0.0.1".parse().unwrap();
        assert!(one.contains("127.0.0.1".parse().unwrap()));
        assert!(!one.contains("127.0.0.2".parse().unwrap()));
        let v6: IpRange = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains("2001:db8:ffff::1".parse().unwrap()));
        assert!(!v6.contains("192.168.0.1".parse().unwrap()));
        let all: IpRange = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
        for bad in ["10.0.0.0/33", "10.0.0/8", "", "x/1", "::/129"] {
            assert!(bad.parse::<IpRange>().is_err(), "{bad}");
        }
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
