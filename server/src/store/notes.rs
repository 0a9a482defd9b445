//! Private notes: what the brand's people write on a conversation for each other. Kept in
//! a table of their own, apart from the lines: the outbox, the export, the queue's preview
//! and the reply modes read `messages` only, so a note can reach none of them.

use super::rows::rfc3339;
use super::{StoreResult, for_both_engines};
use async_trait::async_trait;
use shared::api::AgentRef;
use shared::notes::Note;
use sqlx::Row as _;

#[async_trait]
pub trait Notes: Send + Sync {
    /// Stores a note by `author_user_id` on a conversation, written at `now_ms`.
    async fn add_note(
        &self,
        conversation_id: i64,
        author_user_id: i64,
        text: &str,
        now_ms: i64,
    ) -> StoreResult<Note>;
    /// A conversation's notes, oldest first.
    async fn notes(&self, conversation_id: i64) -> StoreResult<Vec<Note>>;
}

for_both_engines! {
    fn note_from(r: &Row) -> Note {
        Note {
            id: r.get("id"),
            author: r.get::<Option<i64>, _>("author_user_id").map(|id| AgentRef {
                id,
                name: r.get::<Option<String>, _>("author_name").unwrap_or_default(),
            }),
            text: r.get("text"),
            created_at: rfc3339(r.get("created_at")),
        }
    }

    #[async_trait]
    impl Notes for Engine {
        async fn add_note(
            &self,
            conversation_id: i64,
            author_user_id: i64,
            text: &str,
            now_ms: i64,
        ) -> StoreResult<Note> {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO notes (conversation_id, author_user_id, text, created_at)
                 VALUES ($1, $2, $3, $4) RETURNING id",
            )
            .bind(conversation_id)
            .bind(author_user_id)
            .bind(text)
            .bind(now_ms)
            .fetch_one(&self.pool)
            .await?;
            let row = sqlx::query(
                "SELECT n.id, n.author_user_id, u.name AS author_name, n.text, n.created_at
                 FROM notes n LEFT JOIN users u ON u.id = n.author_user_id WHERE n.id = $1",
            )
            .bind(id)
            .fetch_one(&self.pool)
            .await?;
            Ok(note_from(&row))
        }

        async fn notes(&self, conversation_id: i64) -> StoreResult<Vec<Note>> {
            let rows = sqlx::query(
                "SELECT n.id, n.author_user_id, u.name AS author_name, n.text, n.created_at
                 FROM notes n LEFT JOIN users u ON u.id = n.author_user_id
                 WHERE n.conversation_id = $1 ORDER BY n.created_at, n.id",
            )
            .bind(conversation_id)
            .fetch_all(&self.pool)
            .await?;
            Ok(rows.iter().map(note_from).collect())
        }
    }
}
