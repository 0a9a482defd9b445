//! Inbound media: the copies under `DATA_DIR/media/` (made by the fetcher in [`fetch`],
//! checked and derived in [`decode`]) — lines' media and consumers' profile pictures — and
//! serving them to the brand's own people.
//!
//! `GET /media/{id}` serves the original, `/media/{id}/thumb` the thumbnail,
//! `/media/{id}/still` a GIF's first frame and `/media/{id}/poster` a video's poster.
//! Who may: as for conversations — the brand account's admins and agents (another brand's
//! media answers 404, support staff 403, no session 401). Single byte ranges are answered
//! (206, 416 when unsatisfiable), so videos seek.

pub mod decode;
pub mod fetch;

use crate::AppState;
use crate::auth::BrandUser;
use crate::error::{AppError, AppResult};
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, header};
use axum::response::Response;
use axum::routing::get;
use shared::inbound::MediaKind;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::Notify;

pub use fetch::spawn_fetcher;

/// Wakes the media fetcher.
#[derive(Clone, Default)]
pub struct MediaHandle(Arc<Notify>);

/// Where copies live.
pub fn media_dir(data_dir: &std::path::Path) -> PathBuf {
    data_dir.join("media")
}

/// Every route of [`router`] (see `crate::api_routes`).
pub const ROUTES: &[(&str, &str)] = &[("GET", "/media/{id}"), ("GET", "/media/{id}/{variant}")];

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/media/{id}", get(original))
        .route("/media/{id}/{variant}", get(variant))
}

async fn original(
    State(state): State<AppState>,
    caller: BrandUser,
    Path(id): Path<String>,
    req: Request,
) -> AppResult<Response> {
    serve(&state, caller.account.id, &id, None, req).await
}

async fn variant(
    State(state): State<AppState>,
    caller: BrandUser,
    Path((id, variant)): Path<(String, String)>,
    req: Request,
) -> AppResult<Response> {
    serve(&state, caller.account.id, &id, Some(&variant), req).await
}

/// The MIME type of a derivative, from the extension we gave it.
fn derivative_mime(path: &str) -> &'static str {
    if path.ends_with(".png") {
        "image/png"
    } else {
        "image/jpeg"
    }
}

async fn serve(
    state: &AppState,
    account: i64,
    id: &str,
    variant: Option<&str>,
    req: Request,
) -> AppResult<Response> {
    let not_found = || AppError::not_found("media");
    let id: i64 = id.parse().map_err(|_| not_found())?;
    let record = state
        .store
        .media_record(id)
        .await?
        // Another brand's media is indistinguishable from missing media.
        .filter(|r| r.account_id == account)
        .ok_or_else(not_found)?;
    let (path, mime) = match variant {
        None => (record.stored_path, record.mime.clone()),
        Some("thumb") => derived(record.thumb_path),
        Some("still") => derived(record.still_path),
        Some("poster") => derived(record.poster_path),
        Some(_) => return Err(not_found()),
    };
    let (Some(path), Some(mime)) = (path, mime) else {
        return Err(not_found());
    };
    // Stored paths are ours ("media/…"), never from the network; still, refuse anything
    // that could leave the data dir.
    if path.split('/').any(|part| part == ".." || part.is_empty()) {
        return Err(not_found());
    }
    let Some(res) = state
        .blobs
        .response(&path, req)
        .await
        .map_err(AppError::Internal)?
    else {
        tracing::warn!(id, path, "a stored media file is missing");
        return Err(not_found());
    };
    let (mut parts, body) = res.into_parts();
    let h = &mut parts.headers;
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if parts.status.is_success() {
        if let Ok(v) = HeaderValue::from_str(&mime) {
            h.insert(header::CONTENT_TYPE, v);
        }
        // A line's copy never changes once made; only this session's browser may keep it.
        // A profile picture is copied again when the profile is refreshed, at the same URL.
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static(if record.of_consumer {
                "private, no-cache"
            } else {
                "private, max-age=31536000, immutable"
            }),
        );
        let inline = variant.is_some()
            || matches!(
                record.kind,
                MediaKind::Image | MediaKind::Gif | MediaKind::Sticker | MediaKind::Video
            ) && (mime.starts_with("image/") || mime.starts_with("video/"));
        let disposition = if inline {
            "inline".to_owned()
        } else {
            format!("attachment; filename=\"media-{id}{}\"", extension(&mime))
        };
        if let Ok(v) = HeaderValue::from_str(&disposition) {
            h.insert(header::CONTENT_DISPOSITION, v);
        }
    }
    Ok(Response::from_parts(parts, Body::new(body)))
}

fn derived(path: Option<String>) -> (Option<String>, Option<String>) {
    let mime = path.as_deref().map(|p| derivative_mime(p).to_owned());
    (path, mime)
}

/// A file name extension for a download, from the checked type.
fn extension(mime: &str) -> &'static str {
    match mime {
        "application/pdf" => ".pdf",
        "audio/mpeg" => ".mp3",
        "audio/ogg" => ".ogg",
        "audio/wav" => ".wav",
        "audio/mp4" => ".m4a",
        "video/mp4" => ".mp4",
        "video/quicktime" => ".mov",
        "video/webm" => ".webm",
        "image/jpeg" => ".jpg",
        "image/png" => ".png",
        "image/gif" => ".gif",
        "image/webp" => ".webp",
        _ => "",
    }
}
