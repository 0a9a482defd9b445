//! Private notes: an agent or admin writes a note on a conversation they may see; it shows
//! in the transcript (`Transcript::notes`) of every one of the brand's people who see the
//! conversation, live, and goes nowhere else — no outbox row, no network call, no export
//! (the export is the conversation with the consumer, CONTRACT.md §5), and no reply mode
//! or queue preview reads it.

use crate::AppState;
use crate::auth::BrandUser;
use crate::error::{ApiJson, AppError, AppResult};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use shared::notes::{NewNote, Note};

/// Every route of [`router`] (see `crate::api_routes`).
pub const ROUTES: &[(&str, &str)] = &[("POST", "/api/conversations/{id}/notes")];

pub fn router() -> Router<AppState> {
    Router::new().route("/api/conversations/{id}/notes", post(add))
}

/// `POST /api/conversations/{id}/notes {text}`: 201 with the note.
async fn add(
    State(state): State<AppState>,
    caller: BrandUser,
    Path(id): Path<i64>,
    ApiJson(req): ApiJson<NewNote>,
) -> AppResult<(StatusCode, ApiJson<Note>)> {
    let account = crate::conversations::authorised(&state, &caller, id).await?;
    shared::notes::check(&req.text).map_err(AppError::bad_request)?;
    let now_ms = crate::auth::now_secs() * 1000;
    let note = state
        .store
        .add_note(id, caller.user.id, &req.text, now_ms)
        .await?;
    tracing::info!(
        conversation = id,
        by = caller.user.id,
        note = note.id,
        "note"
    );
    state.live.conversations_changed(account, &[id]);
    Ok((StatusCode::CREATED, ApiJson(note)))
}
