//! The one error shape of the internal API: `{ "code": "...", "message": "..." }`.
//! `code` is stable and machine-readable (the widget matches on it); `message` is for
//! people and safe to show.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadRequest,
    /// The reply mode asked for cannot be used in this conversation now (`shared::replies`):
    /// the message says why.
    ReplyModeUnavailable,
    InvalidCredentials,
    Unauthenticated,
    Forbidden,
    Csrf,
    NotFound,
    Conflict,
    /// What the request names existed but is no longer usable (a used or expired link).
    Gone,
    PayloadTooLarge,
    RateLimited,
    Unavailable,
    Internal,
    /// A code this version does not know (a newer server); kept so old widgets still decode.
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    /// The HTTP status the server answers with.
    pub fn status(self) -> u16 {
        match self {
            ErrorCode::BadRequest | ErrorCode::ReplyModeUnavailable => 400,
            ErrorCode::InvalidCredentials | ErrorCode::Unauthenticated => 401,
            ErrorCode::Forbidden | ErrorCode::Csrf => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::Conflict => 409,
            ErrorCode::Gone => 410,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::RateLimited => 429,
            ErrorCode::Unavailable => 503,
            ErrorCode::Internal | ErrorCode::Unknown => 500,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ApiError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_shape_is_code_and_message() {
        let e = ApiError::new(ErrorCode::InvalidCredentials, "wrong password");
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"code":"invalid_credentials","message":"wrong password"}"#
        );
        assert_eq!(e.code.status(), 401);
    }

    #[test]
    fn unknown_codes_still_decode() {
        let e: ApiError = serde_json::from_str(r#"{"code":"teapot","message":"?"}"#).unwrap();
        assert_eq!(e.code, ErrorCode::Unknown);
    }
}
