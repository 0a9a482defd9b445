//! Canned responses: a brand's admins keep them in SocialConnect Home (a shortcut such as
//! `greet` and a text with placeholders), and its agents read them to answer with
//! `/greet` in the Reply box, where the widget fills the placeholders in
//! (`shared::canned`). A text with an unknown placeholder is refused when saved, and so
//! is a shortcut the account has already. Another brand's answer 404, as if they did not
//! exist.

use crate::AppState;
use crate::auth::{BrandAdmin, BrandUser};
use crate::error::{ApiJson, AppError, AppResult};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use shared::canned::{CannedResponse, SaveCanned};

/// Every route of [`router`] (see `crate::api_routes`): reading is for the brand's people,
/// changing for its admins (under Home's `/api/home`).
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/api/canned"),
    ("POST", "/api/home/canned"),
    ("PUT", "/api/home/canned/{id}"),
    ("DELETE", "/api/home/canned/{id}"),
];

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/canned", get(list))
        .route("/api/home/canned", post(add))
        .route("/api/home/canned/{id}", put(update).delete(remove))
}

/// `GET /api/canned`: the account's canned responses, by shortcut.
async fn list(
    State(state): State<AppState>,
    caller: BrandUser,
) -> AppResult<ApiJson<Vec<CannedResponse>>> {
    Ok(ApiJson(state.store.canned(caller.account.id).await?))
}

fn checked(req: &SaveCanned) -> AppResult<SaveCanned> {
    shared::canned::validate(req).map_err(AppError::bad_request)
}

/// `POST /api/home/canned {shortcut, text}`.
async fn add(
    State(state): State<AppState>,
    admin: BrandAdmin,
    ApiJson(req): ApiJson<SaveCanned>,
) -> AppResult<(StatusCode, ApiJson<CannedResponse>)> {
    let c = checked(&req)?;
    let saved = state.store.add_canned(admin.account.id, &c).await?;
    let detail = format!("/{}", saved.shortcut);
    crate::home::audit(
        state.store.as_ref(),
        &admin,
        "added canned response",
        detail,
    )
    .await?;
    Ok((StatusCode::CREATED, ApiJson(saved)))
}

/// `PUT /api/home/canned/{id} {shortcut, text}`.
async fn update(
    State(state): State<AppState>,
    admin: BrandAdmin,
    Path(id): Path<i64>,
    ApiJson(req): ApiJson<SaveCanned>,
) -> AppResult<ApiJson<CannedResponse>> {
    let c = checked(&req)?;
    let saved = state.store.update_canned(admin.account.id, id, &c).await?;
    let detail = format!("/{}", saved.shortcut);
    crate::home::audit(
        state.store.as_ref(),
        &admin,
        "changed canned response",
        detail,
    )
    .await?;
    Ok(ApiJson(saved))
}

/// `DELETE /api/home/canned/{id}`.
async fn remove(
    State(state): State<AppState>,
    admin: BrandAdmin,
    Path(id): Path<i64>,
) -> AppResult<StatusCode> {
    let gone = state.store.delete_canned(admin.account.id, id).await?;
    let detail = format!("/{}", gone.shortcut);
    crate::home::audit(
        state.store.as_ref(),
        &admin,
        "removed canned response",
        detail,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
