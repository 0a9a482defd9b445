//! The storage's own error: what a caller can do about a failure, without HTTP in sight.
//! The edge turns it into the API's error (`crate::error::AppError`).

/// Why a storage call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// What the call names does not exist (a sign-up request, say).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The change collides with what is stored; the words are safe to show.
    #[error("{0}")]
    Conflict(String),
    /// The database is busy, locked, full or out of reach: the same call may well succeed
    /// later.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// Anything else: a bug or a database in a state this build does not expect.
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

pub type StoreResult<T> = Result<T, StoreError>;

impl StoreError {
    /// A stored value this build cannot read (an unknown word, a missing row).
    pub fn corrupt(what: impl std::fmt::Display) -> Self {
        StoreError::Other(anyhow::anyhow!("{what}"))
    }
}

/// A database failure that says nothing about the call: the storage is busy, locked, full
/// or failing, and the same call may well succeed later.
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

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            // A locked or unreachable database is a condition to retry, not a bug.
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) => {
                StoreError::Unavailable(e.to_string())
            }
            sqlx::Error::Database(db) if retryable(db.as_ref()) => {
                StoreError::Unavailable(e.to_string())
            }
            _ => StoreError::Other(e.into()),
        }
    }
}

/// The SQLite ingest path's driver: the same codes mean the same as through sqlx.
impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match &e {
            rusqlite::Error::SqliteFailure(f, _) if sqlite_retryable(f.extended_code) => {
                StoreError::Unavailable(e.to_string())
            }
            _ => StoreError::Other(e.into()),
        }
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
                    StoreError::from(sqlite_failure(code)),
                    StoreError::Unavailable(_)
                ),
                "{code}"
            );
        }
        // SQLITE_CONSTRAINT_UNIQUE (19 | 8 << 8) says something about the request.
        assert!(matches!(
            StoreError::from(sqlite_failure(19 | (8 << 8))),
            StoreError::Other(_)
        ));
        assert!(matches!(
            StoreError::from(rusqlite::Error::QueryReturnedNoRows),
            StoreError::Other(_)
        ));
    }
}
