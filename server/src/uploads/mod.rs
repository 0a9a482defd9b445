//! Images and GIFs agents send with replies: stored from the browser (`POST /api/uploads`,
//! the raw file as the body with its `Content-Type`) or from a public URL
//! (`POST /api/uploads/from-url`), checked by magic bytes, kept under `DATA_DIR/uploads/`;
//! and served to the networks that fetch by URL at a signed, expiring address
//! (`GET /media/uploads/{id}?exp=..&sig=..`).

pub mod fetch;
pub mod policy;

use crate::error::{ApiJson, AppError, AppResult};
use crate::{AppState, auth::BrandUser};
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::StreamExt;
use serde::Deserialize;
use shared::ErrorCode;
use shared::api::{UploadFromUrl, UploadInfo};
use std::time::Duration;

/// The largest image or GIF stored (see `shared::media_limits`).
pub const MAX_UPLOAD: usize = shared::media_limits::UPLOAD_MAX_BYTES as usize;
/// How long a signed media URL stays valid: long enough for a network to fetch it after
/// retries and backoff, short enough that a leaked link dies.
pub const SIGNED_URL_TTL_SECS: i64 = 24 * 3600;
const FETCH_DEADLINE: Duration = Duration::from_secs(20);

/// The routes of [`router`] that need a session (see `crate::api_routes`).
pub const ROUTES: &[(&str, &str)] = &[("POST", "/api/uploads"), ("POST", "/api/uploads/from-url")];
/// Signed, expiring URLs the networks fetch without a session.
pub const PUBLIC_ROUTES: &[(&str, &str)] = &[("GET", "/media/uploads/{id}")];

/// The upload routes, with their own body limit (the rest of the app keeps 1 MiB).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/uploads", post(upload))
        .route("/api/uploads/from-url", post(upload_from_url))
        .route("/media/uploads/{id}", get(serve_signed))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(
            MAX_UPLOAD + 64 * 1024,
        ))
}

/// What the first bytes say the file is: JPEG, PNG, GIF or WEBP, else `None`.
pub fn sniff(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if bytes.len() >= 12 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}

fn extension(mime: &str) -> &'static str {
    match mime {
        "image/jpeg" => "jpg",
        "image/png" => "png",
        "image/gif" => "gif",
        _ => "webp",
    }
}

fn too_large() -> AppError {
    AppError::new(
        ErrorCode::PayloadTooLarge,
        format!("images may be at most {} MB", MAX_UPLOAD / (1024 * 1024)),
    )
}

/// Checks the bytes against the declared type, writes the file and records it.
async fn store(
    state: &AppState,
    account_id: i64,
    declared: Option<&str>,
    bytes: Vec<u8>,
) -> AppResult<UploadInfo> {
    let Some(mime) = sniff(&bytes) else {
        return Err(AppError::bad_request(
            "not an image: JPEG, PNG, GIF or WEBP only",
        ));
    };
    if let Some(declared) = declared
        && shared::media_limits::image_type(declared) != Some(mime)
    {
        return Err(AppError::bad_request(format!(
            "the file is {mime}, not {declared}"
        )));
    }
    let mut name = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut name);
    let file = format!("{}.{}", hex::encode(name), extension(mime));
    let size = bytes.len() as i64;
    state
        .blobs
        .write(&format!("uploads/{file}"), bytes.to_vec())
        .await
        .map_err(AppError::Internal)?;
    let id = state
        .store
        .create_upload(
            account_id,
            mime,
            size,
            &format!("uploads/{file}"),
            crate::auth::now_secs() * 1000,
        )
        .await?;
    Ok(UploadInfo {
        id,
        mime: mime.to_owned(),
        bytes: size,
    })
}

/// `POST /api/uploads`: the raw image as the body, its type in `Content-Type`.
async fn upload(
    State(state): State<AppState>,
    uploader: BrandUser,
    headers: HeaderMap,
    body: Body,
) -> AppResult<(StatusCode, ApiJson<UploadInfo>)> {
    let account_id = uploader.account.id;
    if !state.store.send_image_enabled(account_id).await? {
        return Err(crate::home::send_image_off());
    }
    let declared = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(media_type)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| AppError::bad_request("send the image with its Content-Type"))?;
    if shared::media_limits::image_type(&declared).is_none() {
        return Err(AppError::bad_request(format!(
            "{declared} is not accepted: JPEG, PNG, GIF or WEBP only"
        )));
    }
    // Refused before reading when the length says it is too large, and while reading
    // otherwise: never more than the limit in memory.
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if length.is_some_and(|n| n > MAX_UPLOAD as u64) {
        return Err(too_large());
    }
    let mut bytes = Vec::with_capacity(length.unwrap_or(0).min(MAX_UPLOAD as u64) as usize);
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| too_large())?;
        if bytes.len() + chunk.len() > MAX_UPLOAD {
            return Err(too_large());
        }
        bytes.extend_from_slice(&chunk);
    }
    let info = store(&state, account_id, Some(&declared), bytes).await?;
    Ok((StatusCode::CREATED, ApiJson(info)))
}

/// A `Content-Type` value's media type, lower case, without parameters.
pub(crate) fn media_type(value: &str) -> String {
    let essence = value.split(';').next().unwrap_or("");
    essence.trim().to_ascii_lowercase()
}

/// `POST /api/uploads/from-url {url}`: fetches a public http(s) image (see [`fetch`]).
async fn upload_from_url(
    State(state): State<AppState>,
    uploader: BrandUser,
    ApiJson(req): ApiJson<UploadFromUrl>,
) -> AppResult<(StatusCode, ApiJson<UploadInfo>)> {
    let account_id = uploader.account.id;
    if !state.store.send_image_enabled(account_id).await? {
        return Err(crate::home::send_image_off());
    }
    let fetched = state
        .fetchers
        .given
        .fetch(req.url.trim(), MAX_UPLOAD, FETCH_DEADLINE)
        .await
        .map_err(|e| match e {
            fetch::FetchError::TooLarge(_) => too_large(),
            e => AppError::bad_request(e.to_string()),
        })?;
    // A server that names an image type must name the one the bytes are.
    let declared = fetched
        .content_type
        .as_deref()
        .filter(|t| t.starts_with("image/"));
    let info = store(&state, account_id, declared, fetched.bytes).await?;
    Ok((StatusCode::CREATED, ApiJson(info)))
}

/// The signed, expiring public URL of an upload, for networks that fetch an image by URL
/// (a Facebook comment's `attachment_url`): they come without our session, so the
/// signature is what authorises them, and the expiry bounds a leaked link.
pub fn signed_url(state: &AppState, upload_id: i64) -> String {
    let exp = crate::auth::now_secs() + SIGNED_URL_TTL_SECS;
    let sig = state.cipher.sign(&format!("upload:{upload_id}:{exp}"));
    format!(
        "{}/media/uploads/{upload_id}?exp={exp}&sig={sig}",
        state.public_url
    )
}

#[derive(Deserialize)]
struct Signature {
    exp: i64,
    sig: String,
}

/// `GET /media/uploads/{id}?exp=..&sig=..`: no session; the signature and expiry decide.
async fn serve_signed(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(q): Query<Signature>,
) -> AppResult<Response> {
    if q.exp < crate::auth::now_secs()
        || !state
            .cipher
            .verify(&format!("upload:{id}:{}", q.exp), &q.sig)
    {
        return Err(AppError::not_found("media"));
    }
    let upload = state
        .store
        .upload(id)
        .await?
        .ok_or_else(|| AppError::not_found("media"))?;
    let bytes = state
        .blobs
        .read(&upload.path)
        .await
        .map_err(|_| AppError::not_found("media"))?;
    Ok((
        [
            (header::CONTENT_TYPE, upload.mime),
            (header::CACHE_CONTROL, "private, max-age=3600".to_owned()),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
        ],
        bytes,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_the_four_types_by_magic_bytes() {
        assert_eq!(sniff(b"\xFF\xD8\xFF\xE0rest"), Some("image/jpeg"));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\nrest"), Some("image/png"));
        assert_eq!(sniff(b"GIF89a...."), Some("image/gif"));
        assert_eq!(sniff(b"GIF87a...."), Some("image/gif"));
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(sniff(b"RIFF\0\0\0\0WAVEfmt "), None);
        assert_eq!(sniff(b"hello, world"), None);
        assert_eq!(sniff(b"<svg xmlns="), None);
        assert_eq!(sniff(b""), None);
    }
}
