//! Storing what webhooks bring, once. Both engines group-commit the webhooks waiting for
//! their writer (the jobs below); how they write differs most here (SQLite's rusqlite
//! writer on a blocking thread, PostgreSQL's savepoints and retries across instances), so
//! each keeps its own group.

use super::{LinkedAccount, Links, StoreError, StoreResult};
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
    /// nothing stored, when it is not linked (or was unlinked). The linked account is read
    /// in the group's transaction: no round trip of its own, and no unlinking between the
    /// read and the write.
    async fn ingest_for(
        &self,
        channel: Channel,
        brand_id: &str,
        messages: &[InboundMessage],
        now_ms: i64,
    ) -> StoreResult<Option<(LinkedAccount, IngestReport)>>;
}

/// Whose messages a job stores.
pub(super) enum IngestFor {
    Linked(LinkedAccount),
    /// The page or account a webhook names, looked up in the group's transaction.
    Named {
        channel: Channel,
        brand_id: String,
    },
}

/// What a job stored, and for which linked account; `None` when nothing is linked.
pub(super) type Ingested = Option<(LinkedAccount, IngestReport)>;

/// One webhook's messages waiting for a group, and where its outcome goes.
pub(super) struct IngestJob {
    pub(super) target: IngestFor,
    pub(super) messages: Vec<InboundMessage>,
    pub(super) now_ms: i64,
    pub(super) done: tokio::sync::oneshot::Sender<StoreResult<Ingested>>,
}

/// The report of a job stored for a linked account it was given (one always is).
pub(super) fn linked_report(ingested: Ingested) -> StoreResult<IngestReport> {
    match ingested {
        Some((_, report)) => Ok(report),
        None => Err(StoreError::corrupt(
            "a linked account's batch came back unstored",
        )),
    }
}
