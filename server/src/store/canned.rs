//! Canned responses: each brand account's ready answers under their shortcuts.

use super::{StoreError, StoreResult, for_both_engines};
use async_trait::async_trait;
use shared::canned::{CannedResponse, SaveCanned};
use sqlx::Row as _;

/// The refusal of a shortcut the account already has.
fn taken(shortcut: &str) -> StoreError {
    StoreError::Conflict(format!(
        "there is a canned response /{shortcut} already; choose another shortcut"
    ))
}

/// A unique violation (the one constraint a canned response's write can break by race:
/// `canned_responses_shortcut_key`) is the shortcut being taken.
fn unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.kind() == sqlx::error::ErrorKind::UniqueViolation)
}

#[async_trait]
pub trait Canned: Send + Sync {
    /// The account's canned responses, by shortcut.
    async fn canned(&self, account_id: i64) -> StoreResult<Vec<CannedResponse>>;
    /// Adds one (already validated); a shortcut the account has is a conflict.
    async fn add_canned(&self, account_id: i64, c: &SaveCanned) -> StoreResult<CannedResponse>;
    /// Changes one of the account's; another's (or none) is not found.
    async fn update_canned(
        &self,
        account_id: i64,
        id: i64,
        c: &SaveCanned,
    ) -> StoreResult<CannedResponse>;
    /// Removes one of the account's, answering what it was; another's is not found.
    async fn delete_canned(&self, account_id: i64, id: i64) -> StoreResult<CannedResponse>;
}

for_both_engines! {
    fn canned_from(r: &Row) -> CannedResponse {
        CannedResponse {
            id: r.get("id"),
            shortcut: r.get("shortcut"),
            text: r.get("text"),
        }
    }

    #[async_trait]
    impl Canned for Engine {
        async fn canned(&self, account_id: i64) -> StoreResult<Vec<CannedResponse>> {
            let rows = sqlx::query(
                "SELECT id, shortcut, text FROM canned_responses WHERE account_id = $1
                 ORDER BY shortcut",
            )
            .bind(account_id)
            .fetch_all(&self.pool)
            .await?;
            Ok(rows.iter().map(canned_from).collect())
        }

        async fn add_canned(
            &self,
            account_id: i64,
            c: &SaveCanned,
        ) -> StoreResult<CannedResponse> {
            let now = super::rows::now_secs();
            let row = sqlx::query(
                "INSERT INTO canned_responses (account_id, shortcut, text, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $4)
                 ON CONFLICT (account_id, shortcut) DO NOTHING
                 RETURNING id, shortcut, text",
            )
            .bind(account_id)
            .bind(&c.shortcut)
            .bind(&c.text)
            .bind(now)
            .fetch_optional(&self.pool)
            .await?;
            row.as_ref().map(canned_from).ok_or_else(|| taken(&c.shortcut))
        }

        async fn update_canned(
            &self,
            account_id: i64,
            id: i64,
            c: &SaveCanned,
        ) -> StoreResult<CannedResponse> {
            let row = sqlx::query(
                "UPDATE canned_responses SET shortcut = $3, text = $4, updated_at = $5
                 WHERE account_id = $1 AND id = $2
                 RETURNING id, shortcut, text",
            )
            .bind(account_id)
            .bind(id)
            .bind(&c.shortcut)
            .bind(&c.text)
            .bind(super::rows::now_secs())
            .fetch_optional(&self.pool)
            .await;
            match row {
                Ok(Some(r)) => Ok(canned_from(&r)),
                Ok(None) => Err(StoreError::NotFound("canned response")),
                Err(e) if unique_violation(&e) => Err(taken(&c.shortcut)),
                Err(e) => Err(e.into()),
            }
        }

        async fn delete_canned(&self, account_id: i64, id: i64) -> StoreResult<CannedResponse> {
            let row = sqlx::query(
                "DELETE FROM canned_responses WHERE account_id = $1 AND id = $2
                 RETURNING id, shortcut, text",
            )
            .bind(account_id)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
            row.as_ref()
                .map(canned_from)
                .ok_or(StoreError::NotFound("canned response"))
        }
    }
}
