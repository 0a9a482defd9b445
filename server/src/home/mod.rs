//! SocialConnect Home: admins of a brand account link, unlink and relink its Facebook pages
//! and Twitter/X accounts through the networks' own sign-in flows, route each to a skill,
//! say which agents answer which skills, switch Send Image, and read the audit log.
//!
//! Every route here is for the brand's admins only (403 for agents, support staff and
//! anyone else), and a linked account or person of another brand answers 404. A sign-in
//! flow is bound to the session that started it; tokens go from the network straight to
//! the sealed store and never reach the browser or the log.

pub mod oauth;
pub mod people;

use crate::AppState;
use crate::auth::{BrandAdmin, now_secs};
use crate::connectors::twitter::OAuth1;
use crate::error::{ApiJson, AppError, AppResult};
use crate::link::{FacebookPage, TwitterAccount};
use crate::store::prelude::*;
use crate::store::{AuditEntry, LinkStatus, LinkedAccount, OAuthPending};
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect as HttpRedirect, Response};
use axum::routing::{get, post, put};
use rand::RngCore;
use sha2::{Digest, Sha256};
use shared::home::{
    AuditRow, HomeOverview, HomeSettings, LinkState, LinkedRow, Networks, NewSkill, PageChoice,
    PendingPages, PersonRow, PickPage, Redirect, SetPersonSkills, SetSkill, SkillRow,
};
use shared::{Channel, ErrorCode};
use std::collections::HashMap;

/// How long a started sign-in flow stays usable.
const PENDING_TTL_SECS: i64 = 15 * 60;
/// The skill a newly linked channel is routed to until an admin chooses another.
pub const DEFAULT_SKILL: &str = "social";
/// Audit entries Home shows.
const AUDIT_SHOWN: i64 = 100;

/// The routes of [`router`] (see `crate::api_routes`): all need an admin's session.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/api/home"),
    ("POST", "/api/home/link/facebook"),
    ("POST", "/api/home/link/twitter"),
    ("GET", "/api/home/pending/{id}"),
    ("POST", "/api/home/pending/{id}"),
    ("POST", "/api/home/accounts/{id}/unlink"),
    ("POST", "/api/home/accounts/{id}/relink"),
    ("PUT", "/api/home/accounts/{id}/skill"),
    ("POST", "/api/home/skills"),
    ("PUT", "/api/home/people/{id}/skills"),
    ("PUT", "/api/home/settings"),
    ("GET", "/oauth/facebook/callback"),
    ("GET", "/oauth/twitter/callback"),
];

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/home", get(overview))
        .route("/api/home/link/facebook", post(start_facebook))
        .route("/api/home/link/twitter", post(start_twitter))
        .route("/api/home/pending/{id}", get(pending_pages).post(pick_page))
        .route("/api/home/accounts/{id}/unlink", post(unlink))
        .route("/api/home/accounts/{id}/relink", post(relink))
        .route("/api/home/accounts/{id}/skill", put(set_skill))
        .route("/api/home/skills", post(new_skill))
        .route("/api/home/people/{id}/skills", put(set_person_skills))
        .route("/api/home/settings", put(set_settings))
        .route("/oauth/facebook/callback", get(facebook_callback))
        .route("/oauth/twitter/callback", get(twitter_callback))
        .merge(people::router())
}

/// The refusal of an image while an admin has Send Image switched off.
pub fn send_image_off() -> AppError {
    AppError::new(
        ErrorCode::Forbidden,
        "Send Image is switched off for this account in SocialConnect Home",
    )
}

/// Who the audit log names.
fn actor(admin: &BrandAdmin) -> String {
    format!("{} ({})", admin.user.name, admin.user.email)
}

/// Ties a sign-in flow to this browser session: a hash of the session's CSRF token, which
/// only this session knows.
fn binding(admin: &BrandAdmin) -> String {
    hex::encode(Sha256::digest(admin.csrf_token.as_bytes()))
}

fn random_id() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

fn date(secs: i64, with_time: bool) -> String {
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp(secs) else {
        return String::new();
    };
    let f = if with_time {
        time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]")
    } else {
        time::macros::format_description!("[year]-[month]-[day]")
    };
    t.format(&f).unwrap_or_default()
}

/// What the accounts table shows of a linked page or account: an unlinked one or a token
/// to renew comes first; then a page Facebook restricted from sending, as replies fail
/// until that lifts; then the webhooks.
fn state_of(linked: &LinkedAccount) -> LinkState {
    match linked.status {
        LinkStatus::Unlinked => LinkState::Unlinked,
        LinkStatus::TokenInvalid => LinkState::TokenInvalid,
        _ if linked.sending_restricted_at.is_some() => LinkState::SendingRestricted,
        LinkStatus::WebhooksFailing => LinkState::WebhooksFailing,
        LinkStatus::Linked => LinkState::Linked,
    }
}

pub(crate) async fn audit(
    store: &dyn Store,
    admin: &BrandAdmin,
    action: &str,
    detail: String,
) -> AppResult<()> {
    tracing::info!(account = admin.account.id, user = admin.user.id, action, %detail, "home");
    store
        .audit(
            admin.account.id,
            &AuditEntry {
                at: now_secs(),
                actor: actor(admin),
                action: action.to_owned(),
                detail,
            },
        )
        .await
        .map_err(Into::into)
}

fn describe(linked: &LinkedAccount) -> String {
    format!("{} {}", linked.channel.label(), linked.name)
}

/// The brand's linked account `id`; another brand's (or none) is 404.
async fn own_linked(store: &dyn Store, admin: &BrandAdmin, id: i64) -> AppResult<LinkedAccount> {
    store
        .linked_by_id(id)
        .await?
        .filter(|l| l.account_id == admin.account.id)
        .ok_or_else(|| AppError::not_found("linked account"))
}

async fn overview(
    State(state): State<AppState>,
    admin: BrandAdmin,
) -> AppResult<ApiJson<HomeOverview>> {
    let store = state.store.as_ref();
    let accounts = store
        .home_linked(admin.account.id)
        .await?
        .into_iter()
        .map(|h| LinkedRow {
            id: h.linked.id,
            channel: h.linked.channel,
            // Read before the fields below move out.
            status: state_of(&h.linked),
            name: h.linked.name,
            network_id: h.linked.network_id,
            skill_id: h.linked.skill_id,
            created_on: date(h.created_at, false),
            created_by: h.created_by,
        })
        .collect();
    let skills = store
        .skills(admin.account.id)
        .await?
        .into_iter()
        .map(|(id, name)| SkillRow { id, name })
        .collect();
    let people = store
        .people_of(Some(crate::store::PeopleOf::Account(admin.account.id)))
        .await?
        .into_iter()
        .map(people::row)
        .collect();
    let audit = store
        .audit_log(admin.account.id, AUDIT_SHOWN)
        .await?
        .into_iter()
        .map(|e| AuditRow {
            at: date(e.at, true),
            actor: e.actor,
            action: e.action,
            detail: e.detail,
        })
        .collect();
    let s = &state.settings;
    Ok(ApiJson(HomeOverview {
        account_number: admin.account.number.clone(),
        account_name: admin.account.name.clone(),
        accounts,
        skills,
        people,
        settings: settings_of(store, admin.account.id).await?,
        audit,
        networks: Networks {
            facebook: s.facebook.facebook_app_id.is_some()
                && s.facebook.facebook_app_secret.is_some(),
            twitter: s.twitter.twitter_consumer_key.is_some()
                && s.twitter.twitter_consumer_secret.is_some(),
        },
    }))
}

fn callback_url(state: &AppState, channel: Channel) -> String {
    format!("{}/oauth/{}/callback", state.public_url, channel.as_str())
}

fn network_off(channel: Channel) -> AppError {
    AppError::bad_request(format!(
        "{} is not set up on this server (its app id and secret are missing)",
        channel.label()
    ))
}

async fn begin(state: &AppState, admin: &BrandAdmin, channel: Channel) -> AppResult<String> {
    if !admin.account.socialconnect_enabled {
        // Pages and accounts are linked once support has set the account up.
        return Err(AppError::new(
            ErrorCode::Forbidden,
            "SocialConnect is not enabled for this account yet: sign up at /socialconnect and \
             support will enable it",
        ));
    }
    let store = state.store.as_ref();
    store
        .delete_oauth_pending(None, now_secs() - PENDING_TTL_SECS)
        .await?;
    let mut pending = OAuthPending {
        id: random_id(),
        account_id: admin.account.id,
        user_id: admin.user.id,
        session_binding: binding(admin),
        channel,
        request_token: None,
        secret_sealed: None,
        pages_sealed: None,
        created_at: now_secs(),
    };
    let url = match channel {
        Channel::Facebook => {
            let fb = &state.settings.facebook;
            let (Some(app_id), Some(_)) = (&fb.facebook_app_id, &fb.facebook_app_secret) else {
                return Err(network_off(channel));
            };
            oauth::facebook_dialog_url(fb, app_id, &callback_url(state, channel), &pending.id)
        }
        Channel::Twitter => {
            let tw = &state.settings.twitter;
            let (Some(key), Some(secret)) = (&tw.twitter_consumer_key, &tw.twitter_consumer_secret)
            else {
                return Err(network_off(channel));
            };
            let (token, token_secret) = oauth::twitter_request_token(
                &state.network,
                tw,
                key,
                secret,
                &callback_url(state, channel),
            )
            .await
            .map_err(|e| AppError::bad_request(format!("X refused to start the sign-in: {e}")))?;
            pending.secret_sealed = Some(state.cipher.seal(&token_secret));
            let url = oauth::twitter_authorize_url(tw, &token);
            pending.request_token = Some(token);
            url
        }
    };
    store.put_oauth_pending(&pending).await?;
    Ok(url)
}

async fn start_facebook(
    State(state): State<AppState>,
    admin: BrandAdmin,
) -> AppResult<ApiJson<Redirect>> {
    let url = begin(&state, &admin, Channel::Facebook).await?;
    Ok(ApiJson(Redirect { url }))
}

async fn start_twitter(
    State(state): State<AppState>,
    admin: BrandAdmin,
) -> AppResult<ApiJson<Redirect>> {
    let url = begin(&state, &admin, Channel::Twitter).await?;
    Ok(ApiJson(Redirect { url }))
}

/// Relink: the channel's sign-in flow again; the linked account keeps its id, so its
/// conversations continue.
async fn relink(
    State(state): State<AppState>,
    admin: BrandAdmin,
    Path(id): Path<i64>,
) -> AppResult<ApiJson<Redirect>> {
    let linked = own_linked(state.store.as_ref(), &admin, id).await?;
    let url = begin(&state, &admin, linked.channel).await?;
    Ok(ApiJson(Redirect { url }))
}

/// Back to Home with a message for the admin (shown as text, never as markup).
fn back_home(key: &str, message: &str) -> Response {
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair(key, message)
        .finish();
    HttpRedirect::to(&format!("/home?{query}")).into_response()
}

/// A flow of this session, still fresh, on `channel`.
fn usable(p: &OAuthPending, admin: &BrandAdmin, channel: Channel) -> bool {
    use subtle::ConstantTimeEq;
    p.channel == channel
        && p.account_id == admin.account.id
        && p.user_id == admin.user.id
        && bool::from(
            p.session_binding
                .as_bytes()
                .ct_eq(binding(admin).as_bytes()),
        )
        && p.created_at >= now_secs() - PENDING_TTL_SECS
}

/// `GET /oauth/facebook/callback?code&state` (or `error=...`): the code becomes the list
/// of pages this admin manages; the browser goes back to Home to pick one.
async fn facebook_callback(
    State(state): State<AppState>,
    admin: BrandAdmin,
    Query(q): Query<HashMap<String, String>>,
) -> AppResult<Response> {
    let store = state.store.as_ref();
    let param = |k: &str| q.get(k).map(String::as_str).unwrap_or("");
    let Some(pending) = store
        .oauth_pending(param("state"))
        .await?
        .filter(|p| usable(p, &admin, Channel::Facebook))
    else {
        return Ok(back_home(
            "error",
            "That Facebook sign-in was not started here or has expired; use Add Account again.",
        ));
    };
    if !param("error").is_empty() || param("code").is_empty() {
        store.delete_oauth_pending(Some(&pending.id), 0).await?;
        return Ok(back_home("error", "Facebook sign-in was cancelled."));
    }
    let fb = &state.settings.facebook;
    let (Some(app_id), Some(app_secret)) = (&fb.facebook_app_id, &fb.facebook_app_secret) else {
        return Err(network_off(Channel::Facebook));
    };
    let pages = match oauth::facebook_pages(
        &state.network,
        fb,
        app_id,
        app_secret,
        &callback_url(&state, Channel::Facebook),
        param("code"),
    )
    .await
    {
        Ok(p) => p,
        Err(e) => {
            store.delete_oauth_pending(Some(&pending.id), 0).await?;
            tracing::warn!(account = admin.account.id, error = %e, "Facebook Login failed");
            return Ok(back_home("error", &format!("Facebook sign-in failed: {e}")));
        }
    };
    if pages.is_empty() {
        store.delete_oauth_pending(Some(&pending.id), 0).await?;
        return Ok(back_home(
            "error",
            "Facebook says this person manages no pages (or granted none to the app).",
        ));
    }
    let json = serde_json::to_string(&pages).map_err(anyhow::Error::from)?;
    store
        .set_oauth_pages(&pending.id, &state.cipher.seal(&json))
        .await?;
    Ok(back_home("pick", &pending.id))
}

async fn pending_of(
    state: &AppState,
    admin: &BrandAdmin,
    id: &str,
) -> AppResult<(OAuthPending, Vec<oauth::ManagedPage>)> {
    let pending = state
        .store
        .oauth_pending(id)
        .await?
        .filter(|p| usable(p, admin, Channel::Facebook))
        .ok_or_else(|| AppError::not_found("sign-in"))?;
    let sealed = pending
        .pages_sealed
        .as_deref()
        .ok_or_else(|| AppError::not_found("sign-in"))?;
    let json = state.cipher.open(sealed).map_err(AppError::Internal)?;
    let pages = serde_json::from_str(&json).map_err(anyhow::Error::from)?;
    Ok((pending, pages))
}

async fn pending_pages(
    State(state): State<AppState>,
    admin: BrandAdmin,
    Path(id): Path<String>,
) -> AppResult<ApiJson<PendingPages>> {
    let (_, pages) = pending_of(&state, &admin, &id).await?;
    let mut choices = Vec::new();
    for p in pages {
        let linked = state
            .store
            .linked_account(Channel::Facebook, &p.id)
            .await?
            .is_some_and(|l| l.account_id == admin.account.id);
        choices.push(PageChoice {
            id: p.id,
            name: p.name,
            linked,
        });
    }
    Ok(ApiJson(PendingPages { pages: choices }))
}

/// The skill a (re)linked page or account is routed to: the one it had, else the default.
async fn skill_for(
    store: &dyn Store,
    account_id: i64,
    existing: Option<&LinkedAccount>,
) -> AppResult<String> {
    if let Some(skill_id) = existing.and_then(|l| l.skill_id)
        && let Some((_, name)) = store
            .skills(account_id)
            .await?
            .into_iter()
            .find(|(id, _)| *id == skill_id)
    {
        return Ok(name);
    }
    Ok(DEFAULT_SKILL.to_owned())
}

/// Whether linking `network_id` now is a relink (this brand had it before).
async fn existing_link(
    store: &dyn Store,
    admin: &BrandAdmin,
    channel: Channel,
    network_id: &str,
) -> AppResult<Option<LinkedAccount>> {
    Ok(store
        .linked_account(channel, network_id)
        .await?
        .filter(|l| l.account_id == admin.account.id))
}

async fn pick_page(
    State(state): State<AppState>,
    admin: BrandAdmin,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<PickPage>,
) -> AppResult<(StatusCode, ApiJson<LinkedRow>)> {
    let (pending, pages) = pending_of(&state, &admin, &id).await?;
    let page = pages
        .into_iter()
        .find(|p| p.id == req.page_id)
        .ok_or_else(|| {
            AppError::bad_request("that page was not among the pages Facebook listed")
        })?;
    let store = state.store.as_ref();
    let before = existing_link(store, &admin, Channel::Facebook, &page.id).await?;
    let skill = skill_for(store, admin.account.id, before.as_ref()).await?;
    let linked = crate::link::link_facebook(
        store,
        &state.cipher,
        &state.network,
        &state.settings.facebook,
        FacebookPage {
            account_number: &admin.account.number,
            page_id: &page.id,
            page_name: page.stored_name(),
            page_token: &page.access_token,
            skill: &skill,
            by: &actor(&admin),
        },
    )
    .await?;
    store.delete_oauth_pending(Some(&pending.id), 0).await?;
    let action = if before.is_some() {
        "relinked"
    } else {
        "linked"
    };
    audit(store, &admin, action, describe(&linked)).await?;
    Ok((StatusCode::CREATED, ApiJson(row_of(store, linked).await?)))
}

async fn row_of(store: &dyn Store, linked: LinkedAccount) -> AppResult<LinkedRow> {
    let h = store
        .home_linked(linked.account_id)
        .await?
        .into_iter()
        .find(|h| h.linked.id == linked.id)
        .ok_or_else(|| AppError::not_found("linked account"))?;
    Ok(LinkedRow {
        id: h.linked.id,
        channel: h.linked.channel,
        // Read before the fields below move out.
        status: state_of(&h.linked),
        name: h.linked.name,
        network_id: h.linked.network_id,
        skill_id: h.linked.skill_id,
        created_on: date(h.created_at, false),
        created_by: h.created_by,
    })
}

/// `GET /oauth/twitter/callback?oauth_token&oauth_verifier` (or `denied=`): the access
/// token, then the account linked and subscribed; back to Home.
async fn twitter_callback(
    State(state): State<AppState>,
    admin: BrandAdmin,
    Query(q): Query<HashMap<String, String>>,
) -> AppResult<Response> {
    let store = state.store.as_ref();
    let param = |k: &str| q.get(k).map(String::as_str).unwrap_or("");
    let token = if param("denied").is_empty() {
        param("oauth_token")
    } else {
        param("denied")
    };
    let pending = match token {
        "" => None,
        t => store.oauth_pending_by_request_token(t).await?,
    };
    let Some(pending) = pending.filter(|p| usable(p, &admin, Channel::Twitter)) else {
        return Ok(back_home(
            "error",
            "That X sign-in was not started here or has expired; use Add Account again.",
        ));
    };
    store.delete_oauth_pending(Some(&pending.id), 0).await?;
    if !param("denied").is_empty() || param("oauth_verifier").is_empty() {
        return Ok(back_home("error", "X sign-in was cancelled."));
    }
    let tw = &state.settings.twitter;
    let (Some(key), Some(secret)) = (&tw.twitter_consumer_key, &tw.twitter_consumer_secret) else {
        return Err(network_off(Channel::Twitter));
    };
    let request_secret = pending
        .secret_sealed
        .as_deref()
        .map(|s| state.cipher.open(s))
        .transpose()
        .map_err(AppError::Internal)?
        .unwrap_or_default();
    let grant = match oauth::twitter_access_token(
        &state.network,
        tw,
        OAuth1 {
            consumer_key: key,
            consumer_secret: secret,
            token,
            token_secret: &request_secret,
        },
        param("oauth_verifier"),
    )
    .await
    {
        Ok(g) => g,
        Err(e) => {
            tracing::warn!(account = admin.account.id, error = %e, "X sign-in failed");
            return Ok(back_home("error", &format!("X sign-in failed: {e}")));
        }
    };
    let before = existing_link(store, &admin, Channel::Twitter, &grant.user_id).await?;
    let skill = skill_for(store, admin.account.id, before.as_ref()).await?;
    let linked = crate::link::link_twitter(
        store,
        &state.cipher,
        &state.network,
        tw,
        Some(&state.public_url),
        TwitterAccount {
            account_number: &admin.account.number,
            user_id: &grant.user_id,
            screen_name: &grant.screen_name,
            token: &grant.token,
            token_secret: &grant.token_secret,
            skill: &skill,
            by: &actor(&admin),
        },
    )
    .await;
    let (linked, warning) = match linked {
        Ok(l) => l,
        Err(AppError::Api(e)) => return Ok(back_home("error", &e.message)),
        Err(e) => return Err(e),
    };
    let action = if before.is_some() {
        "relinked"
    } else {
        "linked"
    };
    audit(store, &admin, action, describe(&linked)).await?;
    let done = format!("{} is {action}.", describe(&linked));
    Ok(match warning {
        Some(w) => back_home("error", &format!("{done} But {w}")),
        None => back_home("done", &done),
    })
}

/// Unlink: nothing more is received or sent for it; its conversations stay.
async fn unlink(
    State(state): State<AppState>,
    admin: BrandAdmin,
    Path(id): Path<i64>,
) -> AppResult<ApiJson<LinkedRow>> {
    let store = state.store.as_ref();
    let linked = own_linked(store, &admin, id).await?;
    if linked.status == LinkStatus::Unlinked {
        return Ok(ApiJson(row_of(store, linked).await?));
    }
    store
        .set_linked_status(linked.id, LinkStatus::Unlinked)
        .await?;
    // Ask the network to stop sending its events too; whatever it answers, events for
    // an unlinked page or account are ignored.
    let stopped =
        match crate::connectors::Credentials::open(&state.settings, &state.cipher, &linked) {
            Ok(crate::connectors::Credentials::Facebook {
                app_secret,
                page_token,
            }) => {
                oauth::facebook_unsubscribe(
                    &state.network,
                    &state.settings.facebook,
                    &app_secret,
                    &linked.network_id,
                    &page_token,
                )
                .await
            }
            Ok(crate::connectors::Credentials::Twitter {
                consumer_key,
                consumer_secret,
                token,
                token_secret,
            }) => oauth::twitter_unsubscribe(
                &state.network,
                &state.settings.twitter,
                OAuth1 {
                    consumer_key: &consumer_key,
                    consumer_secret: &consumer_secret,
                    token: &token,
                    token_secret: &token_secret,
                },
                &linked.network_id,
            )
            .await
            .map(|_| ()),
            Err(e) => Err(e.into()),
        };
    if let Err(e) = stopped {
        tracing::warn!(linked = linked.id, error = %e, "the network was not told to stop sending events");
    }
    audit(store, &admin, "unlinked", describe(&linked)).await?;
    let linked = own_linked(store, &admin, id).await?;
    Ok(ApiJson(row_of(store, linked).await?))
}

async fn own_skill(store: &dyn Store, admin: &BrandAdmin, skill_id: i64) -> AppResult<String> {
    store
        .skills(admin.account.id)
        .await?
        .into_iter()
        .find(|(id, _)| *id == skill_id)
        .map(|(_, name)| name)
        .ok_or_else(|| AppError::not_found("skill"))
}

async fn set_skill(
    State(state): State<AppState>,
    admin: BrandAdmin,
    Path(id): Path<i64>,
    ApiJson(req): ApiJson<SetSkill>,
) -> AppResult<ApiJson<LinkedRow>> {
    let store = state.store.as_ref();
    let linked = own_linked(store, &admin, id).await?;
    let skill = own_skill(store, &admin, req.skill_id).await?;
    if linked.skill_id != Some(req.skill_id) {
        store.set_linked_skill(linked.id, req.skill_id).await?;
        audit(
            store,
            &admin,
            "changed routing",
            format!("{} → skill {skill}", describe(&linked)),
        )
        .await?;
    }
    let linked = own_linked(store, &admin, id).await?;
    Ok(ApiJson(row_of(store, linked).await?))
}

async fn new_skill(
    State(state): State<AppState>,
    admin: BrandAdmin,
    ApiJson(req): ApiJson<NewSkill>,
) -> AppResult<(StatusCode, ApiJson<SkillRow>)> {
    let name = shared::home::skill_name(&req.name).ok_or_else(|| {
        AppError::bad_request(format!(
            "a skill needs a name of 1 to {} characters",
            shared::home::MAX_SKILL_NAME
        ))
    })?;
    let store = state.store.as_ref();
    let existed = store
        .skills(admin.account.id)
        .await?
        .iter()
        .any(|(_, n)| n == name);
    let id = store.ensure_skill(admin.account.id, name).await?;
    if !existed {
        audit(store, &admin, "added skill", name.to_owned()).await?;
    }
    Ok((
        StatusCode::CREATED,
        ApiJson(SkillRow {
            id,
            name: name.to_owned(),
        }),
    ))
}

async fn set_person_skills(
    State(state): State<AppState>,
    admin: BrandAdmin,
    Path(id): Path<i64>,
    ApiJson(req): ApiJson<SetPersonSkills>,
) -> AppResult<ApiJson<PersonRow>> {
    let store = state.store.as_ref();
    let person = store
        .user_by_id(id)
        .await?
        .filter(|u| u.account_id == Some(admin.account.id))
        .ok_or_else(|| AppError::not_found("person"))?;
    let skills = store.skills(admin.account.id).await?;
    let mut names = Vec::new();
    let mut ids = req.skills.clone();
    ids.sort_unstable();
    ids.dedup();
    for skill in &ids {
        let (_, name) = skills
            .iter()
            .find(|(s, _)| s == skill)
            .ok_or_else(|| AppError::not_found("skill"))?;
        names.push(name.clone());
    }
    store
        .set_user_skills(person.id, req.all_skills, &ids)
        .await?;
    let list = match (req.all_skills, names.is_empty()) {
        (true, _) => "all skills".to_owned(),
        (false, true) => "none".to_owned(),
        (false, false) => names.join(", "),
    };
    audit(
        store,
        &admin,
        "changed skills",
        format!("{} ({}): {list}", person.name, person.email),
    )
    .await?;
    let person = store
        .person(crate::store::PeopleOf::Account(admin.account.id), person.id)
        .await?
        .ok_or_else(|| AppError::not_found("person"))?;
    Ok(ApiJson(people::row(person)))
}

async fn set_settings(
    State(state): State<AppState>,
    admin: BrandAdmin,
    ApiJson(req): ApiJson<HomeSettings>,
) -> AppResult<ApiJson<HomeSettings>> {
    let store = state.store.as_ref();
    let id = admin.account.id;
    let before = settings_of(store, id).await?;
    if before.send_image != req.send_image {
        store.set_send_image(id, req.send_image).await?;
    }
    if before.reply_takes != req.reply_takes {
        store.set_reply_takes(id, req.reply_takes).await?;
    }
    for (name, was, now) in [
        ("Send Image", before.send_image, req.send_image),
        (
            "Replying takes the conversation",
            before.reply_takes,
            req.reply_takes,
        ),
    ] {
        if was != now {
            let word = if now { "on" } else { "off" };
            audit(store, &admin, "changed settings", format!("{name} {word}")).await?;
        }
    }
    Ok(ApiJson(settings_of(store, id).await?))
}

async fn settings_of(store: &dyn Store, account_id: i64) -> AppResult<HomeSettings> {
    Ok(HomeSettings {
        send_image: store.send_image_enabled(account_id).await?,
        reply_takes: store.reply_takes(account_id).await?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc_and_readable() {
        assert_eq!(date(0, false), "1970-01-01");
        assert_eq!(date(1_764_000_000, true), "2025-11-24 16:00");
    }

    #[test]
    fn messages_back_home_are_query_encoded() {
        let res = back_home("error", "<b>x</b> & y");
        let loc = res.headers()["location"].to_str().unwrap();
        assert_eq!(loc, "/home?error=%3Cb%3Ex%3C%2Fb%3E+%26+y");
    }
}
