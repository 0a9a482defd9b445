//! Search across a brand's conversations: by the consumer's name, their handle (with or
//! without `@`) and the text of any line, case-insensitive, newest activity first, within
//! what the person may see (an agent: their skills' conversations and those assigned to
//! them, the rule `agent_sees` applies).
//!
//! Meant for a brand's working set: a `LIKE '%…%'` over the account's consumers and lines,
//! which reads every line of the account's conversations (tens of thousands of lines answer
//! well within a request; beyond a few million, an index for substring search — PostgreSQL's
//! `pg_trgm`, SQLite's FTS5 — would be the next step). SQLite's `lower()` folds ASCII
//! letters only, so on the embedded database "ÉMILE" is not found by "émile"; PostgreSQL
//! folds every letter.

use super::people::AGENT_SEES;
use super::rows::{parse_channel, parse_word, rfc3339};
use super::{QueueScope, StoreError, StoreResult, for_both_engines};
use async_trait::async_trait;
use shared::api::{AgentRef, LinePreview, QueueItem};
use sqlx::Row as _;

/// A `LIKE` pattern finding `term` anywhere (lower-cased), its `%`, `_` and `\` taken
/// literally (the queries say `ESCAPE '\'`).
pub(crate) fn contains_pattern(term: &str) -> String {
    let mut p = String::with_capacity(term.len() + 2);
    p.push('%');
    for c in term.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

#[async_trait]
pub trait Search: Send + Sync {
    /// The conversations of `scope`'s account (an agent's own only when
    /// `scope.by_skills`), open or closed, whose consumer's name or handle or any line's
    /// text contains `term`; newest activity first, at most `limit`.
    async fn search(
        &self,
        scope: QueueScope,
        term: &str,
        limit: i64,
    ) -> StoreResult<Vec<QueueItem>>;
}

for_both_engines! {
    #[async_trait]
    impl Search for Engine {
        async fn search(
            &self,
            scope: QueueScope,
            term: &str,
            limit: i64,
        ) -> StoreResult<Vec<QueueItem>> {
            let text = contains_pattern(term);
            // A handle is found with or without its `@`.
            let handle = term.trim_start_matches('@');
            let handle = (!handle.is_empty()).then(|| contains_pattern(handle));
            let rows = sqlx::query(&format!(
                "SELECT c.id, c.status, l.channel, k.name AS consumer_name, k.handle,
                        c.assigned_user_id, holder.name AS agent_name, m.text, m.tag, m.author, m.created_at
                 FROM conversations c
                 JOIN linked_accounts l ON l.id = c.linked_account_id
                 JOIN consumers k ON k.id = c.consumer_id
                 LEFT JOIN users holder ON holder.id = c.assigned_user_id
                 LEFT JOIN messages m ON m.id = (
                     SELECT id FROM messages WHERE conversation_id = c.id
                     ORDER BY created_at DESC, id DESC LIMIT 1)
                 WHERE l.account_id = $1
                   AND (NOT $3 OR EXISTS (SELECT 1 FROM users u WHERE u.id = $2 AND {AGENT_SEES}))
                   AND (lower(k.name) LIKE $4 ESCAPE '\\'
                        OR ($5 IS NOT NULL AND lower(k.handle) LIKE $5 ESCAPE '\\')
                        OR EXISTS (SELECT 1 FROM messages t WHERE t.conversation_id = c.id
                                     AND lower(t.text) LIKE $4 ESCAPE '\\'))
                 ORDER BY c.last_message_at DESC, c.id DESC
                 LIMIT $6"
            ))
            .bind(scope.account_id)
            .bind(scope.user_id)
            .bind(scope.by_skills)
            .bind(&text)
            .bind(handle.as_deref())
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
            rows.iter()
                .map(|r| {
                    let tag: Option<String> = r.get("tag");
                    let assigned_to = r.get::<Option<i64>, _>("assigned_user_id").map(|id| {
                        AgentRef {
                            id,
                            name: r.get::<Option<String>, _>("agent_name").unwrap_or_default(),
                        }
                    });
                    let closed = r.get::<String, _>("status") == "closed";
                    Ok(QueueItem {
                        id: r.get("id"),
                        channel: parse_channel(r.get("channel"))?,
                        consumer_name: r.get("consumer_name"),
                        consumer_handle: r.get("handle"),
                        last: tag
                            .map(|t| {
                                Ok::<_, StoreError>(LinePreview {
                                    text: r.get("text"),
                                    tag: parse_word(&t)?,
                                    author: parse_word(r.get("author"))?,
                                    at: rfc3339(r.get("created_at")),
                                })
                            })
                            .transpose()?,
                        new: assigned_to.is_none() && !closed,
                        assigned_to,
                        closed,
                        // A search answers where a conversation is, not what awaits in it.
                        unread: 0,
                        reply_failed: false,
                        waiting_since: None,
                    })
                })
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn patterns_take_like_wildcards_literally_and_ignore_case() {
        assert_eq!(super::contains_pattern("Ann"), "%ann%");
        assert_eq!(super::contains_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
        assert_eq!(super::contains_pattern("ÉMILE"), "%émile%");
    }
}
