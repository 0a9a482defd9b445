//! A simulated OpenID Connect provider (a company's identity provider, standing for the
//! seed's sign-in through the LiveEngage account), under `{url}/oidc`:
//!
//! | path | what |
//! |---|---|
//! | `/.well-known/openid-configuration` | discovery |
//! | `/authorize` | authorization code flow: a sign-in page (`Email`, `Continue`), then a redirect with `code` and `state` |
//! | `/token` | the code (once, with its PKCE `code_verifier`, S256 only) for an RS256-signed ID token |
//! | `/jwks` | the signing key |
//!
//! One client is registered: [`Oidc::client_id`], [`Oidc::client_secret`], redirecting to
//! `{callback}/oauth/oidc/callback`. Tests can make the next token forged (signed by a key
//! the JWKS does not hold) or replayed (an earlier ID token again).

use crate::common::{Shared, random_alnum, same};
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use openidconnect::core::{
    CoreIdToken, CoreIdTokenClaims, CoreJsonWebKeySet, CoreJwsSigningAlgorithm,
    CoreProviderMetadata, CoreResponseType, CoreRsaPrivateSigningKey, CoreSubjectIdentifierType,
};
use openidconnect::{
    Audience, AuthUrl, EmptyAdditionalClaims, EmptyAdditionalProviderMetadata, EndUserEmail,
    IssuerUrl, JsonWebKeyId, JsonWebKeySetUrl, PrivateSigningKey, ResponseTypes, Scope,
    StandardClaims, SubjectIdentifier, TokenUrl,
};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

/// The provider's signing key. A simulator's key, public by design: it signs for the
/// sandbox only.
const SIGNING_KEY: &str = include_str!("../keys/oidc-signing.pem");
/// Another key, for forged tokens (same key id, so only the signature gives them away).
const FORGER_KEY: &str = include_str!("../keys/oidc-forger.pem");
const KEY_ID: &str = "sandbox-1";

struct Pending {
    redirect_uri: String,
    nonce: Option<String>,
    challenge: String,
    email: String,
}

#[derive(Default)]
struct OidcState {
    codes: HashMap<String, Pending>,
    unverified: HashSet<String>,
    forge_next: bool,
    replay_next: bool,
    last_token: Option<String>,
}

/// The simulated identity provider.
#[derive(Clone)]
pub struct Oidc {
    shared: Shared,
    client_id: Arc<str>,
    client_secret: Arc<str>,
    state: Arc<Mutex<OidcState>>,
}

impl Oidc {
    pub fn new(shared: Shared, client_id: &str, client_secret: &str) -> Oidc {
        Oidc {
            shared,
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            state: Arc::default(),
        }
    }

    /// The issuer URL (discovery is at `{issuer}/.well-known/openid-configuration`).
    pub fn issuer(&self) -> String {
        format!("{}/oidc", self.shared.url)
    }

    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    pub fn client_secret(&self) -> &str {
        &self.client_secret
    }

    /// Where the provider sends people back: the product's callback.
    pub fn redirect_uri(&self) -> String {
        format!("{}/oauth/oidc/callback", self.shared.callback)
    }

    /// ID tokens for `email` say its address is not verified.
    pub fn set_unverified(&self, email: &str) {
        self.lock().unverified.insert(email.to_ascii_lowercase());
    }

    /// The next ID token is signed with a key the JWKS does not hold.
    pub fn forge_next(&self) {
        self.lock().forge_next = true;
    }

    /// The next token answer carries the previous ID token again.
    pub fn replay_next(&self) {
        self.lock().replay_next = true;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, OidcState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/authorize", get(authorize_page).post(authorize))
            .route("/token", post(token))
            .with_state(self.clone())
    }

    fn key(pem: &str) -> CoreRsaPrivateSigningKey {
        CoreRsaPrivateSigningKey::from_pem(pem, Some(JsonWebKeyId::new(KEY_ID.into())))
            .expect("the sandbox's key is a PKCS#1 RSA key")
    }
}

fn url<T>(make: impl FnOnce(String) -> Result<T, url::ParseError>, s: String) -> T {
    make(s).expect("the sandbox's own URLs parse")
}

async fn discovery(State(o): State<Oidc>) -> Json<CoreProviderMetadata> {
    let issuer = o.issuer();
    let metadata = CoreProviderMetadata::new(
        url(IssuerUrl::new, issuer.clone()),
        url(AuthUrl::new, format!("{issuer}/authorize")),
        url(JsonWebKeySetUrl::new, format!("{issuer}/jwks")),
        vec![ResponseTypes::new(vec![CoreResponseType::Code])],
        vec![CoreSubjectIdentifierType::Public],
        vec![CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256],
        EmptyAdditionalProviderMetadata {},
    )
    .set_token_endpoint(Some(url(TokenUrl::new, format!("{issuer}/token"))))
    .set_scopes_supported(Some(
        ["openid", "email", "profile"]
            .map(|s| Scope::new(s.into()))
            .to_vec(),
    ));
    Json(metadata)
}

async fn jwks() -> Json<CoreJsonWebKeySet> {
    Json(CoreJsonWebKeySet::new(vec![
        Oidc::key(SIGNING_KEY).as_verification_key(),
    ]))
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn refuse(status: StatusCode, why: &str) -> Response {
    (
        status,
        Html(format!(
            "<!doctype html><meta charset=utf-8><title>Sign-in error</title><h1>Sign-in error</h1><p>{}</p>",
            esc(why)
        )),
    )
        .into_response()
}

/// The request as the provider checks it: why it is refused, if it is.
fn check_request(o: &Oidc, q: &HashMap<String, String>) -> Result<(), String> {
    let get = |k: &str| q.get(k).map(String::as_str).unwrap_or("");
    if get("client_id") != &*o.client_id {
        return Err("unknown client_id".into());
    }
    if get("redirect_uri") != o.redirect_uri() {
        return Err("redirect_uri is not the one registered".into());
    }
    if get("response_type") != "code" {
        return Err("only response_type=code".into());
    }
    if !get("scope").split(' ').any(|s| s == "openid") {
        return Err("the scope must include openid".into());
    }
    if get("code_challenge_method") != "S256" || get("code_challenge").len() < 43 {
        return Err("PKCE with S256 is required".into());
    }
    Ok(())
}

const CARRIED: [&str; 8] = [
    "client_id",
    "redirect_uri",
    "response_type",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
];

async fn authorize_page(
    State(o): State<Oidc>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Err(why) = check_request(&o, &q) {
        return refuse(StatusCode::BAD_REQUEST, &why);
    }
    let hidden: String = CARRIED
        .iter()
        .filter_map(|k| {
            q.get(*k)
                .map(|v| format!("<input type=hidden name=\"{k}\" value=\"{}\">", esc(v)))
        })
        .collect();
    let hint = q.get("login_hint").map(String::as_str).unwrap_or("");
    Html(format!(
        "<!doctype html><html lang=en><meta charset=utf-8>\
         <meta name=viewport content=\"width=device-width, initial-scale=1\">\
         <title>Sandbox identity provider</title>\
         <main><h1>Sign in to your company</h1>\
         <form method=post>{hidden}\
         <p><label for=email>Email</label> <input id=email name=email type=email required value=\"{}\"></p>\
         <p><button type=submit>Continue</button></p></form></main></html>",
        esc(hint)
    ))
    .into_response()
}

async fn authorize(State(o): State<Oidc>, Form(f): Form<HashMap<String, String>>) -> Response {
    if let Err(why) = check_request(&o, &f) {
        return refuse(StatusCode::BAD_REQUEST, &why);
    }
    let email = f
        .get("email")
        .map(|e| e.trim().to_owned())
        .unwrap_or_default();
    if !email.contains('@') {
        return refuse(StatusCode::BAD_REQUEST, "enter your email address");
    }
    let code = random_alnum(32);
    o.lock().codes.insert(
        code.clone(),
        Pending {
            redirect_uri: f["redirect_uri"].clone(),
            nonce: f.get("nonce").cloned(),
            challenge: f["code_challenge"].clone(),
            email,
        },
    );
    let mut back = url::Url::parse(&f["redirect_uri"]).expect("checked");
    back.query_pairs_mut().append_pair("code", &code);
    if let Some(state) = f.get("state") {
        back.query_pairs_mut().append_pair("state", state);
    }
    Redirect::to(back.as_str()).into_response()
}

fn token_error(error: &str, description: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(serde_json::json!({"error": error, "error_description": description})),
    )
        .into_response()
}

/// The client's credentials: HTTP Basic (`client_secret_basic`) or the form
/// (`client_secret_post`).
fn client_of(headers: &HeaderMap, f: &HashMap<String, String>) -> Option<(String, String)> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| {
            let (id, secret) = s.split_once(':')?;
            let decode = |p: &str| {
                percent_encoding::percent_decode_str(&p.replace('+', " "))
                    .decode_utf8()
                    .ok()
                    .map(|c| c.into_owned())
            };
            Some((decode(id)?, decode(secret)?))
        });
    basic.or_else(|| Some((f.get("client_id")?.clone(), f.get("client_secret")?.clone())))
}

async fn token(
    State(o): State<Oidc>,
    headers: HeaderMap,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let Some((id, secret)) = client_of(&headers, &f) else {
        return token_error("invalid_client", "client authentication is required");
    };
    if id != *o.client_id || !same(&secret, &o.client_secret) {
        return token_error("invalid_client", "unknown client or wrong secret");
    }
    if f.get("grant_type").map(String::as_str) != Some("authorization_code") {
        return token_error("unsupported_grant_type", "only authorization_code");
    }
    let code = f.get("code").cloned().unwrap_or_default();
    // Single use: taken out whatever happens next.
    let Some(pending) = o.lock().codes.remove(&code) else {
        return token_error("invalid_grant", "unknown or used code");
    };
    if f.get("redirect_uri") != Some(&pending.redirect_uri) {
        return token_error("invalid_grant", "redirect_uri does not match");
    }
    let verifier = f.get("code_verifier").cloned().unwrap_or_default();
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.as_bytes()));
    if verifier.len() < 43 || !same(&challenge, &pending.challenge) {
        return token_error("invalid_grant", "PKCE verification failed");
    }
    let email = pending.email.to_ascii_lowercase();
    let (forge, replay, verified) = {
        let mut st = o.lock();
        let flags = (
            st.forge_next,
            st.replay_next,
            !st.unverified.contains(&email),
        );
        st.forge_next = false;
        st.replay_next = false;
        flags
    };
    let now = chrono::Utc::now();
    let subject = hex::encode(&Sha256::digest(email.as_bytes())[..12]);
    let claims = CoreIdTokenClaims::new(
        url(IssuerUrl::new, o.issuer()),
        vec![Audience::new(o.client_id.to_string())],
        now + chrono::Duration::seconds(300),
        now,
        StandardClaims::new(SubjectIdentifier::new(subject))
            .set_email(Some(EndUserEmail::new(pending.email.clone())))
            .set_email_verified(Some(verified)),
        EmptyAdditionalClaims {},
    )
    .set_nonce(pending.nonce.map(openidconnect::Nonce::new));
    let key = Oidc::key(if forge { FORGER_KEY } else { SIGNING_KEY });
    let Ok(id_token) = CoreIdToken::new(
        claims,
        &key,
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        None,
        None,
    ) else {
        return token_error("server_error", "could not sign");
    };
    let mut id_token = id_token.to_string();
    {
        let mut st = o.lock();
        if replay && let Some(last) = st.last_token.clone() {
            id_token = last;
        }
        st.last_token = Some(id_token.clone());
    }
    Json(serde_json::json!({
        "access_token": random_alnum(32),
        "token_type": "Bearer",
        "expires_in": 300,
        "id_token": id_token,
    }))
    .into_response()
}
