//! Turning stored words and numbers back into the models, for both engines.

use super::{StoreError, StoreResult};
use shared::{Channel, ReplyMode, Role};

/// Seconds since the Unix epoch, bound from here rather than asked of the database, so a
/// query reads the same on both engines.
pub(crate) fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

pub(crate) fn mode_str(mode: ReplyMode) -> &'static str {
    match mode {
        ReplyMode::Public => "public",
        ReplyMode::Private => "private",
        ReplyMode::PrivateResponse => "private_response",
    }
}

pub(crate) fn parse_mode(s: &str) -> StoreResult<ReplyMode> {
    match s {
        "public" => Ok(ReplyMode::Public),
        "private" => Ok(ReplyMode::Private),
        "private_response" => Ok(ReplyMode::PrivateResponse),
        other => Err(StoreError::corrupt(format!("unknown reply mode {other:?}"))),
    }
}

pub(crate) fn parse_channel(s: &str) -> StoreResult<Channel> {
    s.parse()
        .map_err(|e: shared::vocab::UnknownWord| StoreError::Other(e.into()))
}

/// A stored word (tag, direction, author, status, media kind) read back through its serde
/// name, so the database and the wire share one spelling.
pub(crate) fn parse_word<T: serde::de::DeserializeOwned>(s: &str) -> StoreResult<T> {
    serde_json::from_value(serde_json::Value::String(s.to_owned()))
        .map_err(|e| StoreError::corrupt(format!("unknown stored word {s:?}: {e}")))
}

pub(crate) fn export_kind(kind: String) -> String {
    match kind.as_str() {
        "sticker" => "image".into(),
        "audio" => "file".into(),
        _ => kind,
    }
}

/// RFC 3339 in UTC with milliseconds always present, so times sort as text too.
pub(crate) fn rfc3339(ms: i64) -> String {
    const FORMAT: &[time::format_description::BorrowedFormatItem<'_>] = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(FORMAT).ok())
        .unwrap_or_default()
}

pub(crate) fn parse_role(s: &str) -> StoreResult<Role> {
    s.parse()
        .map_err(|e: shared::vocab::UnknownWord| StoreError::Other(e.into()))
}
