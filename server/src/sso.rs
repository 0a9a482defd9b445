//! Single sign-on: each brand account may sign its people in through its own OpenID
//! Connect provider (issuer, client id and secret set in SocialConnect Home), through the
//! `openidconnect` crate: authorization code flow with PKCE (S256) and a nonce, the ID
//! token's signature checked against the provider's published keys, its issuer, audience,
//! expiry and nonce checked. A person is matched by their verified email to an existing,
//! active person of that account — never created. Each sign-in is bound to the browser
//! that started it (a cookie holding its `state`) and taken once, so a replayed callback
//! or ID token signs no one in. With password sign-in switched off, the account's people
//! sign in this way only.
//!
//! The provider is asked through the client for URLs people give (`uploads::fetch`):
//! public addresses only, like every URL an admin types.

use crate::AppState;
use crate::auth::{BrandAdmin, new_session};
use crate::error::{ApiJson, AppError, AppResult};
use crate::store::{PeopleOf, SsoPending, SsoSettings};
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use serde::Deserialize;
use shared::api::SignInOptions;
use shared::home::{SetSso, SsoConfig};

/// Routes open without a session (see `crate::public_routes`).
pub const PUBLIC_ROUTES: &[(&str, &str)] = &[
    ("GET", "/api/sso"),
    ("GET", "/sso/start"),
    ("GET", "/oauth/oidc/callback"),
];

/// SocialConnect Home's single sign-on settings, for the brand's admins.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/api/home/sso"),
    ("PUT", "/api/home/sso"),
    ("DELETE", "/api/home/sso"),
];

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/sso", get(options))
        .route("/sso/start", get(start))
        .route("/oauth/oidc/callback", get(callback))
        .route(
            "/api/home/sso",
            get(config).put(set_config).delete(remove_config),
        )
}

/// The cookie binding a sign-in to the browser that started it.
const SSO_COOKIE: &str = "sc_sso";
/// How long a sign-in at the provider may take.
const PENDING_SECS: i64 = 10 * 60;

fn redirect_uri(state: &AppState) -> String {
    format!("{}/oauth/oidc/callback", state.public_url)
}

/// Sends the person back to the sign-in page with `why`, ending the flow's cookie.
fn back_to_sign_in(jar: CookieJar, why: &str) -> Response {
    tracing::info!(why, "single sign-on refused");
    let mut url = url::Url::parse("http://x/login").expect("a fixed URL");
    url.query_pairs_mut().append_pair("error", why);
    let target = format!("/login?{}", url.query().unwrap_or_default());
    (
        jar.remove(Cookie::build(SSO_COOKIE).path("/")),
        Redirect::to(&target),
    )
        .into_response()
}

#[derive(Debug, Deserialize)]
struct AccountParam {
    #[serde(default)]
    account: String,
    #[serde(default)]
    login_hint: Option<String>,
}

/// `GET /api/sso?account=NUMBER`: how that account's people sign in (an unknown account
/// answers as one without single sign-on).
async fn options(
    State(state): State<AppState>,
    Query(q): Query<AccountParam>,
) -> AppResult<ApiJson<SignInOptions>> {
    let sso = match state.store.account_by_number(q.account.trim()).await? {
        Some(a) => state.store.sso_settings(a.id).await?,
        None => None,
    };
    Ok(ApiJson(SignInOptions {
        sso: sso.is_some(),
        password: sso.is_none_or(|s| s.password_sign_in),
    }))
}

/// `GET /sso/start?account=NUMBER[&login_hint=EMAIL]`: to the account's provider.
async fn start(
    State(state): State<AppState>,
    jar: CookieJar,
    Query(q): Query<AccountParam>,
) -> AppResult<Response> {
    // One answer for an unknown account and one without single sign-on: which account
    // numbers exist is not told here.
    let not_set_up = "single sign-on is not set up for that account number";
    let Some(account) = state.store.account_by_number(q.account.trim()).await? else {
        return Ok(back_to_sign_in(jar, not_set_up));
    };
    let Some(sso) = state.store.sso_settings(account.id).await? else {
        return Ok(back_to_sign_in(jar, not_set_up));
    };
    let client = match client_for(&state, &sso).await {
        Ok(c) => c,
        Err(why) => return Ok(back_to_sign_in(jar, &why)),
    };
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".into()))
        .set_pkce_challenge(challenge);
    if let Some(hint) = q.login_hint.as_deref().filter(|h| !h.trim().is_empty()) {
        request = request.add_extra_param("login_hint", hint.trim().to_owned());
    }
    let (url, csrf, nonce) = request.url();
    state
        .store
        .sso_begin(&SsoPending {
            state: csrf.secret().clone(),
            account_id: account.id,
            nonce: nonce.secret().clone(),
            verifier_sealed: state.cipher.seal(verifier.secret()),
            created_at: crate::auth::now_secs(),
        })
        .await?;
    let cookie = Cookie::build((SSO_COOKIE, csrf.secret().clone()))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.public_url.starts_with("https://"))
        .path("/")
        .max_age(time::Duration::seconds(PENDING_SECS))
        .build();
    Ok((jar.add(cookie), Redirect::to(url.as_str())).into_response())
}

#[derive(Debug, Deserialize)]
struct CallbackParams {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
}

type Client = CoreClient<
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

/// The provider's client, from its discovery document (keys included).
async fn client_for(state: &AppState, sso: &SsoSettings) -> Result<Client, String> {
    let secret = state
        .cipher
        .open(&sso.client_secret_sealed)
        .map_err(|_| "the stored client secret cannot be opened".to_owned())?;
    discover(state, &sso.issuer, &sso.client_id, secret).await
}

async fn discover(
    state: &AppState,
    issuer: &str,
    client_id: &str,
    secret: String,
) -> Result<Client, String> {
    let issuer = IssuerUrl::new(issuer.trim().to_owned())
        .map_err(|_| "the issuer is not a URL".to_owned())?;
    let http = http_client(state);
    let metadata = CoreProviderMetadata::discover_async(issuer, &http)
        .await
        .map_err(|e| format!("the provider's discovery failed: {}", chain(&e)))?;
    let redirect = RedirectUrl::new(redirect_uri(state)).map_err(|e| e.to_string())?;
    Ok(CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(client_id.trim().to_owned()),
        Some(ClientSecret::new(secret)),
    )
    .set_redirect_uri(redirect))
}

/// The error and its causes, in one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut words = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        words.push_str(": ");
        words.push_str(&s.to_string());
        source = s.source();
    }
    words
}

type HttpFuture = std::pin::Pin<
    Box<
        dyn Future<Output = Result<openidconnect::HttpResponse, crate::uploads::fetch::GetError>>
            + Send,
    >,
>;

/// `openidconnect`'s transport: the client for URLs people give.
fn http_client(state: &AppState) -> impl Fn(openidconnect::HttpRequest) -> HttpFuture + use<> {
    let http = state.fetchers.given.clone();
    move |req| {
        let http = http.clone();
        Box::pin(async move { http.http(req).await })
    }
}

/// `GET /oauth/oidc/callback?code&state`: the provider sends the person back.
async fn callback(
    State(state): State<AppState>,
    jar: CookieJar,
    Query(q): Query<CallbackParams>,
) -> AppResult<Response> {
    if let Some(error) = q.error {
        let why = q.error_description.unwrap_or(error);
        return Ok(back_to_sign_in(jar, &format!("the provider said: {why}")));
    }
    let (Some(code), Some(flow)) = (q.code, q.state) else {
        return Ok(back_to_sign_in(jar, "the provider's answer is incomplete"));
    };
    // Bound to this browser: its cookie holds the state it was sent with.
    if jar.get(SSO_COOKIE).map(|c| c.value()) != Some(flow.as_str()) {
        return Ok(back_to_sign_in(
            jar,
            "this sign-in was not started in this browser",
        ));
    }
    let since = crate::auth::now_secs() - PENDING_SECS;
    let Some(pending) = state.store.sso_take(&flow, since).await? else {
        return Ok(back_to_sign_in(
            jar,
            "this sign-in expired or was already used",
        ));
    };
    match finish(&state, &pending, code).await {
        Ok(user) => {
            let account = state.store.account_by_id(pending.account_id).await?;
            let jar = jar.remove(Cookie::build(SSO_COOKIE).path("/"));
            let (jar, me) = new_session(&state, jar, user, account).await?;
            tracing::info!(user = me.user_id, "signed in through single sign-on");
            Ok((jar, Redirect::to("/workspace")).into_response())
        }
        Err(why) => Ok(back_to_sign_in(jar, &why)),
    }
}

/// The code for an ID token, checked, and the person it names.
async fn finish(
    state: &AppState,
    pending: &SsoPending,
    code: String,
) -> Result<crate::store::User, String> {
    let sso = state
        .store
        .sso_settings(pending.account_id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("single sign-on was switched off meanwhile")?;
    let client = client_for(state, &sso).await?;
    let verifier = state
        .cipher
        .open(&pending.verifier_sealed)
        .map_err(|_| "this sign-in cannot be read back")?;
    let http = http_client(state);
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .map_err(|e| e.to_string())?
        .set_pkce_verifier(PkceCodeVerifier::new(verifier))
        .request_async(&http)
        .await
        .map_err(|e| format!("the provider refused the code: {}", chain(&e)))?;
    let id_token = tokens.id_token().ok_or("the provider sent no ID token")?;
    let claims = id_token
        .claims(
            &client.id_token_verifier(),
            &Nonce::new(pending.nonce.clone()),
        )
        .map_err(|e| format!("the ID token is not valid: {}", chain(&e)))?;
    let email = claims
        .email()
        .map(|e| e.as_str().to_owned())
        .ok_or("the provider gave no email address")?;
    if claims.email_verified() != Some(true) {
        return Err(format!("the provider has not verified {email}"));
    }
    let person = state
        .store
        .person_by_email(PeopleOf::Account(pending.account_id), &email)
        .await
        .map_err(|e| e.to_string())?
        .filter(|p| p.status == shared::home::PersonStatus::Active)
        .ok_or_else(|| {
            format!("{email} is not an active person of this account; ask your admin")
        })?;
    Ok(person.user)
}

async fn config(State(state): State<AppState>, admin: BrandAdmin) -> AppResult<ApiJson<SsoConfig>> {
    let sso = state.store.sso_settings(admin.account.id).await?;
    Ok(ApiJson(SsoConfig {
        configured: sso.is_some(),
        issuer: sso.as_ref().map(|s| s.issuer.clone()).unwrap_or_default(),
        client_id: sso
            .as_ref()
            .map(|s| s.client_id.clone())
            .unwrap_or_default(),
        password_sign_in: sso.is_none_or(|s| s.password_sign_in),
        redirect_uri: redirect_uri(&state),
    }))
}

async fn set_config(
    State(state): State<AppState>,
    admin: BrandAdmin,
    ApiJson(req): ApiJson<SetSso>,
) -> AppResult<ApiJson<SsoConfig>> {
    let store = state.store.as_ref();
    let stored = store.sso_settings(admin.account.id).await?;
    let secret = match req.client_secret.as_deref().map(str::trim) {
        Some(s) if !s.is_empty() => s.to_owned(),
        _ => match &stored {
            Some(s) => state
                .cipher
                .open(&s.client_secret_sealed)
                .map_err(AppError::Internal)?,
            None => return Err(AppError::bad_request("give the client secret")),
        },
    };
    if req.client_id.trim().is_empty() {
        return Err(AppError::bad_request("give the client id"));
    }
    // Only a provider that answers its discovery is saved.
    discover(&state, &req.issuer, &req.client_id, secret.clone())
        .await
        .map_err(AppError::bad_request)?;
    let settings = SsoSettings {
        issuer: req.issuer.trim().to_owned(),
        client_id: req.client_id.trim().to_owned(),
        client_secret_sealed: state.cipher.seal(&secret),
        password_sign_in: req.password_sign_in,
    };
    store.set_sso(admin.account.id, Some(&settings)).await?;
    let detail = format!(
        "{} (client {}); password sign-in {}",
        settings.issuer,
        settings.client_id,
        if settings.password_sign_in {
            "on"
        } else {
            "off"
        }
    );
    crate::home::audit(store, &admin, "set up single sign-on", detail).await?;
    config(State(state), admin).await
}

async fn remove_config(State(state): State<AppState>, admin: BrandAdmin) -> AppResult<StatusCode> {
    state.store.set_sso(admin.account.id, None).await?;
    crate::home::audit(
        state.store.as_ref(),
        &admin,
        "removed single sign-on",
        String::new(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
