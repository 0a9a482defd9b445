//! Storage: the one interface handlers use, whatever the engine behind it.
//!
//! Handlers hold an `Arc<dyn Store>`: the embedded SQLite database (the default) or
//! PostgreSQL (`SOCIALCONNECT_DATABASE_URL`), which several instances can share.

mod accounts;
mod automation;
mod conversations;
mod error;
mod ingest;
mod links;
mod media;
mod onboarding;
mod outbox;
mod postgres;
pub(crate) mod rows;
mod sqlite;

/// Writes items once for both engines: they are compiled twice, first with `Engine`
/// naming `SqliteStore`, `Row` its row type and `PG` false, then for `PgStore`. sqlx's
/// SQLite driver takes PostgreSQL's `$N` placeholders, so a query the engines agree on is
/// one string; where their SQL differs, `if PG { … } else { … }` holds both texts side by
/// side. A multi-statement write takes `self.write_lock()` before it begins (SQLite has
/// one writer; see `SqliteStore::writer`; PostgreSQL's is a no-op).
macro_rules! for_both_engines {
    ($($body:tt)*) => {
        const _: () = {
            #[allow(unused_imports)]
            use $crate::store::SqliteStore as Engine;
            #[allow(dead_code)]
            type Row = sqlx::sqlite::SqliteRow;
            #[allow(dead_code)]
            const PG: bool = false;
            $($body)*
        };
        const _: () = {
            #[allow(unused_imports)]
            use $crate::store::PgStore as Engine;
            #[allow(dead_code)]
            type Row = sqlx::postgres::PgRow;
            #[allow(dead_code)]
            const PG: bool = true;
            $($body)*
        };
    };
}
#[allow(unused_imports)]
pub(crate) use for_both_engines;

use async_trait::async_trait;
use shared::inbound::InboundMessage;
use shared::{Channel, ReplyMode, Tag};
use std::path::Path;
use std::sync::Arc;

pub use postgres::PgStore;
pub use sqlite::SqliteStore;

pub use error::{StoreError, StoreResult};
// Each feature's records and trait (the features' modules fill in as they move).
#[allow(unused_imports)]
pub use {
    accounts::*, automation::*, conversations::*, ingest::*, links::*, media::*, onboarding::*,
    outbox::*,
};

/// The features' traits, for calling the store's methods on a concrete engine
/// (`use crate::store::prelude::*`); `dyn Store` needs no import.
pub mod prelude {
    pub use super::{
        Accounts, Automation, Conversations, Ingest, Links, Media, Onboarding, Outbox, Store,
    };
}

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

/// A reply to store: sending (with its outbox row) or already failed.
#[derive(Debug, Clone)]
pub struct NewReply<'a> {
    pub conversation_id: i64,
    pub linked_account_id: i64,
    pub tag: Tag,
    pub text: &'a str,
    pub mode: ReplyMode,
    /// The network id of the line answered, and that line's tag.
    pub in_reply_to: Option<(&'a str, Tag)>,
    /// `agent` or `bot`.
    pub author: &'a str,
    pub sent_by: Option<i64>,
    pub now_ms: i64,
    /// `Some(reason)`: not sent at all (over the limit, say): stored as failed, no outbox row.
    pub refused: Option<String>,
    /// The image or GIF that goes with the text.
    pub upload: Option<&'a Upload>,
}

/// An image or GIF an agent stored to send with replies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    pub id: i64,
    pub account_id: i64,
    /// `image/jpeg`, `image/png`, `image/gif` or `image/webp`, from the magic bytes.
    pub mime: String,
    pub bytes: i64,
    /// Relative to the data dir.
    pub path: String,
}

impl Upload {
    pub fn is_gif(&self) -> bool {
        self.mime == "image/gif"
    }
}

/// An outbox row ready to send.
#[derive(Debug, Clone)]
pub struct OutboxItem {
    pub message_id: i64,
    pub conversation_id: i64,
    pub mode: ReplyMode,
    pub in_reply_to: Option<String>,
    /// The tag of the line answered when the reply was written (a visitor post and a
    /// comment take different Private Response recipients).
    pub in_reply_to_tag: Option<Tag>,
    pub attempts: i64,
    pub text: String,
    pub author: String,
    pub linked: LinkedAccount,
    pub consumer_network_id: String,
    pub last_private_at_ms: Option<i64>,
    /// The image or GIF to send with the text.
    pub upload: Option<Upload>,
    /// The network's id for the image, when it went as a message of its own already.
    pub media_sent_id: Option<String>,
}

/// What [`Store::mark_sent`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkedSent {
    /// The line is sent; the row was still this instance's.
    Sent,
    /// The line is sent, though another instance had taken the row over (or it was gone):
    /// this instance's answer came after its lease.
    SentLate,
    /// The line was sent already (by the instance that took it over, or the network's
    /// echo): nothing changed.
    AlreadySent,
}

// Automation

/// A linked account's automation row: the admin's settings (JSON of
/// `shared::automation::AutomationSettings`) and the external bot's credentials.
#[derive(Debug, Clone)]
pub struct AutomationRecord {
    pub linked_account_id: i64,
    pub enabled: bool,
    pub settings_json: String,
    pub secret_sealed: Option<Vec<u8>>,
    pub has_token: bool,
    /// Lines received before this (ms) are never the bot's.
    pub enabled_at_ms: i64,
}

/// Who has a conversation, as far as automation is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BotPhase {
    /// The bot answers; the conversation is not in the agents' queue.
    Bot,
    /// Handed over or taken: the bot is quiet until it closes.
    People,
    /// Closed with the survey question asked; the next private line may be the answer.
    Survey,
    /// Closed: the next private line may start the bot again.
    Idle,
}

impl BotPhase {
    pub fn as_str(self) -> &'static str {
        match self {
            BotPhase::Bot => "bot",
            BotPhase::People => "people",
            BotPhase::Survey => "survey",
            BotPhase::Idle => "idle",
        }
    }

    pub fn parse(s: &str) -> StoreResult<Self> {
        [
            BotPhase::Bot,
            BotPhase::People,
            BotPhase::Survey,
            BotPhase::Idle,
        ]
        .into_iter()
        .find(|p| p.as_str() == s)
        .ok_or_else(|| StoreError::corrupt(format!("unknown bot phase {s:?}")))
    }
}

/// Where the bot stands in one conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotState {
    pub phase: BotPhase,
    /// The last consumer line the bot has seen.
    pub last_line_id: i64,
    pub away_sent: bool,
    /// The external bot must answer or hand over by then (ms, automation's clock).
    pub answer_by_ms: Option<i64>,
    pub reason: Option<String>,
}

/// A consumer's line the bot has not seen yet.
#[derive(Debug, Clone)]
pub struct BotLine {
    pub id: i64,
    pub tag: Tag,
    pub text: String,
    pub created_at_ms: i64,
    pub received_at_ms: i64,
}

/// What the bot needs to act on a conversation.
#[derive(Debug, Clone)]
pub struct BotContext {
    pub conversation_id: i64,
    pub account_id: i64,
    pub linked: LinkedAccount,
    pub consumer_network_id: String,
    pub consumer_name: Option<String>,
    pub consumer_handle: Option<String>,
    pub open: bool,
    pub assigned: bool,
    pub automation: Option<AutomationRecord>,
    pub state: Option<BotState>,
    /// Consumer lines after `state.last_line_id`, in arrival order.
    pub new_lines: Vec<BotLine>,
    /// The conversation's latest consumer line, seen or not (0: none).
    pub latest_line_id: i64,
    /// When the consumer last wrote in private (ms), for Messenger's window.
    pub last_private_at_ms: Option<i64>,
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

/// Replies out: uploads, the outbox and its claims.
#[async_trait]
pub trait Outbox: Send + Sync {
    /// Records a stored upload file; returns its id.
    async fn create_upload(
        &self,
        account_id: i64,
        mime: &str,
        bytes: i64,
        path: &str,
        now_ms: i64,
    ) -> StoreResult<i64>;
    async fn upload(&self, id: i64) -> StoreResult<Option<Upload>>;
    /// Stores a reply line, and its outbox row unless it was refused; returns the line id.
    async fn enqueue_reply(&self, reply: NewReply<'_>) -> StoreResult<i64>;
    /// The earliest outbox row due at `now_ms` whose conversation has no earlier row
    /// waiting (replies in one conversation go out in the order they were written),
    /// claimed by `owner` (this instance's [`InstanceId`](crate::claims::InstanceId)):
    /// from now on only `owner`'s `extend_claim`, `set_media_sent`, `reschedule` and
    /// `mark_failed` change the row, until another instance claims it (after the lease).
    async fn next_due(&self, owner: &str, now_ms: i64) -> StoreResult<Option<OutboxItem>>;
    /// How long a claim by `next_due` lasts, where instances share the outbox (`None`:
    /// this instance alone sends, and a claim lasts until the row is worked off).
    fn outbox_lease(&self) -> Option<std::time::Duration> {
        None
    }
    /// Keeps `owner`'s claim on a reply it is still sending for another lease from
    /// `now_ms`, so that no other instance takes it over and sends it again. `false`: the
    /// row is no longer `owner`'s (taken over, or worked off).
    async fn extend_claim(&self, owner: &str, message_id: i64, now_ms: i64) -> StoreResult<bool>;
    /// The image part of a two-message reply went out as `network_id`; `false` (nothing
    /// recorded) when the row is no longer `owner`'s.
    async fn set_media_sent(
        &self,
        owner: &str,
        message_id: i64,
        network_id: &str,
    ) -> StoreResult<bool>;
    /// The network took the reply: the line is `sent` with the network's id and its outbox
    /// row goes.
    ///
    /// Unlike the other results, a sent reply is recorded even when `owner` no longer
    /// holds the row: the network has accepted it, so it is a fact, not an attempt.
    /// Dropping it would leave the row to be sent again (a second copy) when the instance
    /// that took it over reschedules it, or let that instance's failure (say, "already
    /// replied to") mark a line `failed` that the consumer has received. So the line is
    /// recorded sent and the row removed whoever holds it; the taker's own result then
    /// finds no row and changes nothing. Only a line already `sent` (by the instance
    /// that took over, or by the network's echo) is left as it is, keeping its first
    /// network id. No rule can take back a copy the taker sent while this instance
    /// stalled: the lease, extended while a send runs, is what keeps that rare.
    async fn mark_sent(
        &self,
        owner: &str,
        message_id: i64,
        network_id: &str,
    ) -> StoreResult<MarkedSent>;
    /// It will not go: the line is `failed` with the reason and the row goes; `false`
    /// (nothing changed) when the row is no longer `owner`'s.
    async fn mark_failed(&self, owner: &str, message_id: i64, error: &str) -> StoreResult<bool>;
    /// Try again at `next_at_ms` (the claim is released); `false` (nothing changed) when
    /// the row is no longer `owner`'s.
    async fn reschedule(
        &self,
        owner: &str,
        message_id: i64,
        attempts: i64,
        next_at_ms: i64,
        error: &str,
    ) -> StoreResult<bool>;
}

/// Bots: settings, credentials, turns and where each conversation stands.
#[async_trait]
pub trait Automation: Send + Sync {
    /// Every linked page or account of a brand account, with its automation row if any.
    async fn automation_accounts(
        &self,
        account_id: i64,
    ) -> StoreResult<Vec<(LinkedAccount, Option<AutomationRecord>)>>;
    /// The linked account `id` with its automation row, if it exists.
    async fn automation_account(
        &self,
        linked_account_id: i64,
    ) -> StoreResult<Option<(LinkedAccount, Option<AutomationRecord>)>>;
    /// Saves the settings; switching on (re)starts `enabled_at` at `now_ms`.
    async fn set_automation(
        &self,
        linked_account_id: i64,
        enabled: bool,
        settings_json: &str,
        now_ms: i64,
    ) -> StoreResult<()>;
    /// Replaces the external bot's sealed secret and token hash.
    async fn set_bot_credentials(
        &self,
        linked_account_id: i64,
        secret_sealed: &[u8],
        token_hash: &str,
        now_ms: i64,
    ) -> StoreResult<()>;
    /// The linked account whose bot holds the token with this SHA-256.
    async fn bot_by_token(&self, token_hash: &str) -> StoreResult<Option<i64>>;
    /// Takes the claim on a bot turn for `owner` until `lease_until_ms` when no live claim
    /// is held at `now_ms`, or renews `owner`'s own; `false` when another instance holds
    /// it. Two instances never run a turn on one conversation at once, and a claim of an
    /// instance that died runs out.
    async fn claim_bot_turn(
        &self,
        conversation_id: i64,
        owner: &str,
        now_ms: i64,
        lease_until_ms: i64,
    ) -> StoreResult<bool>;
    /// Gives up `owner`'s claim on a bot turn (another's is left alone).
    async fn release_bot_turn(&self, conversation_id: i64, owner: &str) -> StoreResult<()>;
    /// Open conversations with consumer lines the bot has not seen (on linked accounts
    /// with automation on, or where the bot or the survey holds the conversation), and
    /// those whose external bot is late at `now_ms`.
    async fn automation_due(&self, now_ms: i64, limit: i64) -> StoreResult<Vec<i64>>;
    async fn bot_context(&self, conversation_id: i64) -> StoreResult<Option<BotContext>>;
    /// Records where the bot stands (the row is created on first use).
    async fn set_bot_state(
        &self,
        conversation_id: i64,
        state: &BotState,
        now_ms: i64,
    ) -> StoreResult<()>;
    /// Hands the conversation to people: phase `people`, open, unassigned, routed to its
    /// linked account's skill.
    async fn hand_over(&self, conversation_id: i64, reason: &str, now_ms: i64) -> StoreResult<()>;
    /// Records a survey answer on the conversation and closes it again (unless someone
    /// has taken it meanwhile).
    async fn record_survey(&self, conversation_id: i64, score: u8, now_ms: i64) -> StoreResult<()>;
}

/// Everything the server stores, whatever the engine behind it: the sum of the
/// features' traits, so handlers hold one `Arc<dyn Store>`.
pub trait Store:
    Accounts + Links + Conversations + Ingest + Outbox + Media + Automation + Onboarding + 'static
{
}

impl<T> Store for T where
    T: Accounts
        + Links
        + Conversations
        + Ingest
        + Outbox
        + Media
        + Automation
        + Onboarding
        + 'static
{
}

/// How long an instance keeps an outbox row it claimed before another may take it over,
/// unless the settings say otherwise (`--outbox-lease-secs`).
pub const OUTBOX_LEASE: std::time::Duration = std::time::Duration::from_secs(120);

/// Opens the storage the settings name: PostgreSQL for a `postgres://` URL, else the
/// embedded database under `data_dir`. Migrations are applied before it is returned; a
/// database whose schema is newer than this build knows is refused.
pub async fn open(database_url: Option<&str>, data_dir: &Path) -> anyhow::Result<Arc<dyn Store>> {
    open_with(database_url, data_dir, OUTBOX_LEASE).await
}

/// [`open`] with the outbox lease of several instances sharing PostgreSQL.
pub async fn open_with(
    database_url: Option<&str>,
    data_dir: &Path,
    outbox_lease: std::time::Duration,
) -> anyhow::Result<Arc<dyn Store>> {
    match postgres_url(database_url)? {
        Some(url) => {
            let store = PgStore::connect(url, outbox_lease).await?;
            migrate_pool(store.pool(), &postgres::MIGRATOR).await?;
            Ok(Arc::new(store))
        }
        None => Ok(Arc::new(SqliteStore::open(data_dir).await?)),
    }
}

/// `socialconnect migrate`: applies what is pending and says where the schema stands.
pub async fn migrate(database_url: Option<&str>, data_dir: &Path) -> anyhow::Result<SchemaReport> {
    match postgres_url(database_url)? {
        Some(url) => {
            let store = PgStore::connect(url, OUTBOX_LEASE).await?;
            migrate_pool(store.pool(), &postgres::MIGRATOR).await
        }
        None => SqliteStore::migrate(data_dir).await,
    }
}

/// The URL when it names PostgreSQL; `None` for the embedded database; an error for
/// anything else.
fn postgres_url(database_url: Option<&str>) -> anyhow::Result<Option<&str>> {
    match database_url {
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            Ok(Some(url))
        }
        Some(other) => anyhow::bail!(
            "SOCIALCONNECT_DATABASE_URL must be a postgres:// URL, got {:?}",
            other.split(':').next().unwrap_or_default()
        ),
        None => Ok(None),
    }
}

/// What a migration run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaReport {
    pub engine: &'static str,
    /// The versions applied by this run, in order.
    pub applied: Vec<i64>,
    /// The schema's version now (the highest applied).
    pub version: i64,
}

/// Refuses a schema newer than `migrator` knows (an instance of an older build must not
/// write to tables a newer build changed), then applies what is pending. Concurrent runs on
/// PostgreSQL queue behind sqlx's advisory lock, so instances may start together.
pub(crate) async fn migrate_pool<DB>(
    pool: &sqlx::Pool<DB>,
    migrator: &sqlx::migrate::Migrator,
) -> anyhow::Result<SchemaReport>
where
    DB: sqlx::Database,
    DB::Connection: sqlx::migrate::Migrate,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
{
    use anyhow::Context;
    use sqlx::migrate::Migrate;
    let mut conn = pool.acquire().await.context("connecting to the database")?;
    conn.ensure_migrations_table()
        .await
        .context("reading the schema version")?;
    let before: Vec<i64> = conn
        .list_applied_migrations()
        .await
        .context("reading the schema version")?
        .into_iter()
        .map(|m| m.version)
        .collect();
    drop(conn);
    let known = migrator.iter().map(|m| m.version).max().unwrap_or(0);
    if let Some(newer) = before.iter().copied().filter(|v| *v > known).max() {
        anyhow::bail!(
            "the database schema is at version {newer}, newer than this socialconnect knows \
             (up to {known}); run a newer socialconnect"
        );
    }
    migrator
        .run(pool)
        .await
        .context("applying database migrations")?;
    let applied: Vec<i64> = migrator
        .iter()
        .map(|m| m.version)
        .filter(|v| !before.contains(v))
        .collect();
    Ok(SchemaReport {
        engine: DB::NAME,
        version: before.iter().chain(&applied).copied().max().unwrap_or(0),
        applied,
    })
}
