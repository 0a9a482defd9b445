//! Storing what webhooks bring, once. The engines differ most here (SQLite's group-commit
//! writer, PostgreSQL's retried transactions), so each keeps its own implementation.

use super::{LinkStatus, LinkedAccount, Links, StoreResult};
use async_trait::async_trait;
use shared::Channel;
use shared::inbound::InboundMessage;

/// What one batch of inbound messages did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngestReport {
    pub stored: usize,
    pub duplicates: usize,
    pub updated: usize,
    /// The brand's own lines that answer nothing we know of.
    pub unmatched: usize,
    /// Conversations that gained or changed a line, each once.
    pub conversations: Vec<i64>,
}

/// Storing what the networks' webhooks say.
#[async_trait]
pub trait Ingest: Links {
    /// Stores a batch of one linked account's inbound messages in one transaction:
    /// idempotent on the network's ids; a consumer's new line (re)opens their conversation.
    async fn ingest(
        &self,
        linked: &LinkedAccount,
        messages: &[InboundMessage],
        now_ms: i64,
    ) -> StoreResult<IngestReport>;
    /// A webhook's messages for the page or account `brand_id` names on `channel`, stored
    /// as `ingest` stores them, with the linked account they were stored for; `None`, and
    /// nothing stored, when it is not linked (or was unlinked).
    async fn ingest_for(
        &self,
        channel: Channel,
        brand_id: &str,
        messages: &[InboundMessage],
        now_ms: i64,
    ) -> StoreResult<Option<(LinkedAccount, IngestReport)>> {
        match self.linked_account(channel, brand_id).await? {
            Some(linked) if linked.status != LinkStatus::Unlinked => {
                let report = self.ingest(&linked, messages, now_ms).await?;
                Ok(Some((linked, report)))
            }
            _ => Ok(None),
        }
    }
}
