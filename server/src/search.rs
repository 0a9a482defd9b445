//! `GET /api/search?q=…`: the conversations the caller may see (an agent: their skills'
//! and those assigned to them; an admin: all of the brand's) whose consumer's name or
//! handle, or any line's text, contains `q`, case-insensitive; open and closed, newest
//! activity first, at most [`LIMIT`]. See `store::Search` for the scale it is made for.

use crate::AppState;
use crate::auth::BrandUser;
use crate::error::{ApiJson, AppError, AppResult};
use crate::store::QueueScope;
use axum::Router;
use axum::extract::{Query, State};
use axum::routing::get;
use serde::Deserialize;
use shared::api::QueueItem;

/// Every route of [`router`] (see `crate::api_routes`).
pub const ROUTES: &[(&str, &str)] = &[("GET", "/api/search")];

/// The most conversations one search answers.
pub const LIMIT: i64 = 50;
/// The longest query, in characters.
pub const QUERY_MAX: usize = 200;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/search", get(search))
}

#[derive(Debug, Deserialize)]
struct Params {
    #[serde(default)]
    q: String,
}

async fn search(
    State(state): State<AppState>,
    caller: BrandUser,
    params: Result<Query<Params>, axum::extract::rejection::QueryRejection>,
) -> AppResult<ApiJson<Vec<QueueItem>>> {
    let Query(params) = params.map_err(|_| AppError::bad_request("search with ?q=TEXT"))?;
    let term = params.q.trim();
    if term.is_empty() {
        return Err(AppError::bad_request(
            "type a name, a handle or words to search for",
        ));
    }
    if term.chars().count() > QUERY_MAX {
        return Err(AppError::bad_request(format!(
            "search for at most {QUERY_MAX} characters"
        )));
    }
    let scope = QueueScope {
        account_id: caller.account.id,
        user_id: caller.user.id,
        by_skills: caller.is_agent(),
    };
    Ok(ApiJson(state.store.search(scope, term, LIMIT).await?))
}
