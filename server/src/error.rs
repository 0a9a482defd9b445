//! The server's one error type. 4xx answers carry safe text in the shared `{code, message}`
//! shape; anything internal answers "internal error" and the detail goes to the log.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use shared::{ApiError, ErrorCode};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    Api(ApiError),
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        AppError::Api(ApiError::new(code, message))
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, message)
    }
    pub fn unauthenticated() -> Self {
        Self::new(ErrorCode::Unauthenticated, "sign in first")
    }
    pub fn forbidden() -> Self {
        Self::new(ErrorCode::Forbidden, "you may not do that")
    }
    pub fn not_found(what: &str) -> Self {
        Self::new(ErrorCode::NotFound, format!("{what} not found"))
    }
}

/// A database failure that says nothing about the request: the storage is busy, locked,
/// full or failing, and the same request may well succeed later.
fn retryable(db: &dyn sqlx::error::DatabaseError) -> bool {
    let Some(code) = db.code() else {
        return false;
    };
    // PostgreSQL's five-character SQLSTATE: class 53 is insufficient resources (disk full,
    // out of memory).
    if code.len() == 5 {
        return code.starts_with("53");
    }
    code.parse::<i32>().is_ok_and(sqlite_retryable)
}

/// SQLite's extended result codes carry the primary one in the low byte:
/// SQLITE_BUSY (5), SQLITE_LOCKED (6), SQLITE_IOERR (10), SQLITE_FULL (13).
fn sqlite_retryable(extended_code: i32) -> bool {
    matches!(extended_code & 0xff, 5 | 6 | 10 | 13)
}

impl From<sqlx::Error> for AppError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            // A locked or unreachable database is a condition to retry, not a bug.
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) => AppError::Unavailable(e.to_string()),
            sqlx::Error::Database(db) if retryable(db.as_ref()) => {
                AppError::Unavailable(e.to_string())
            }
            _ => AppError::Internal(e.into()),
        }
    }
}

/// The SQLite ingest path's driver: the same codes mean the same as through sqlx.
impl From<rusqlite::Error> for AppError {
    fn from(e: rusqlite::Error) -> Self {
        match &e {
            rusqlite::Error::SqliteFailure(f, _) if sqlite_retryable(f.extended_code) => {
                AppError::Unavailable(e.to_string())
            }
            _ => AppError::Internal(e.into()),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let body = match self {
            AppError::Api(e) => e,
            AppError::Unavailable(detail) => {
                tracing::warn!(%detail, "storage unavailable");
                ApiError::new(ErrorCode::Unavailable, "temporarily unavailable, try again")
            }
            AppError::Internal(e) => {
                tracing::error!(error = ?e, "internal error");
                ApiError::new(ErrorCode::Internal, "internal error")
            }
        };
        let status =
            StatusCode::from_u16(body.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, axum::Json(body)).into_response()
    }
}

/// `Json` whose rejections answer in the shared error shape.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    axum::Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(rejection) => {
                let code = if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ErrorCode::PayloadTooLarge
                } else {
                    ErrorCode::BadRequest
                };
                Err(AppError::new(code, rejection.body_text()))
            }
        }
    }
}

impl<T: serde::Serialize> IntoResponse for ApiJson<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqlite_failure(extended_code: i32) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(extended_code), None)
    }

    #[test]
    fn rusqlite_busy_locked_ioerr_and_full_are_unavailable_like_through_sqlx() {
        // SQLITE_BUSY, SQLITE_LOCKED, SQLITE_IOERR_FSYNC (10 | 4 << 8), SQLITE_FULL.
        for code in [5, 6, 10 | (4 << 8), 13] {
            assert!(
                matches!(
                    AppError::from(sqlite_failure(code)),
                    AppError::Unavailable(_)
                ),
                "{code}"
            );
        }
        // SQLITE_CONSTRAINT_UNIQUE (19 | 8 << 8) says something about the request.
        assert!(matches!(
            AppError::from(sqlite_failure(19 | (8 << 8))),
            AppError::Internal(_)
        ));
        assert!(matches!(
            AppError::from(rusqlite::Error::QueryReturnedNoRows),
            AppError::Internal(_)
        ));
    }
}
