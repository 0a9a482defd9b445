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
use serde::Serialize;
use shared::api::{ConversationInfo, QueueItem, QueueView, Transcript};
use shared::inbound::{InboundMessage, MediaKind};
use shared::replies::{PublicLine, ReplyFacts};
use shared::{Channel, Role};
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: i64,
    pub number: String,
    pub name: String,
    pub socialconnect_enabled: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub account_id: Option<i64>,
    pub email: String,
    pub name: String,
    pub role: Role,
}

/// A user as sign-in needs it: with the password hash.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub user: User,
    pub password_hash: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser<'a> {
    pub account_id: Option<i64>,
    pub email: &'a str,
    pub name: &'a str,
    pub role: Role,
    pub password_hash: &'a str,
}

/// The user behind a live session, with the account they belong to.
#[derive(Debug, Clone)]
pub struct SessionRecord {
    pub user: User,
    pub account: Option<Account>,
    pub csrf_token: String,
}

/// Where a linked page or account stands (shown in SocialConnect Home).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkStatus {
    Linked,
    TokenInvalid,
    WebhooksFailing,
    Unlinked,
}

impl LinkStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkStatus::Linked => "linked",
            LinkStatus::TokenInvalid => "token_invalid",
            LinkStatus::WebhooksFailing => "webhooks_failing",
            LinkStatus::Unlinked => "unlinked",
        }
    }

    pub fn parse(s: &str) -> StoreResult<Self> {
        [
            LinkStatus::Linked,
            LinkStatus::TokenInvalid,
            LinkStatus::WebhooksFailing,
            LinkStatus::Unlinked,
        ]
        .into_iter()
        .find(|l| l.as_str() == s)
        .ok_or_else(|| StoreError::corrupt(format!("unknown link status {s:?}")))
    }
}

/// A Facebook page or Twitter/X account linked to a brand account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkedAccount {
    pub id: i64,
    pub account_id: i64,
    pub channel: Channel,
    pub network_id: String,
    pub name: String,
    pub skill_id: Option<i64>,
    pub status: LinkStatus,
    /// Sealed with the server's token cipher.
    pub token_sealed: Vec<u8>,
    pub token_secret_sealed: Option<Vec<u8>>,
    /// When Facebook last refused a send because the page is temporarily restricted from
    /// sending (ms); `None` once a Messenger reply went through again.
    pub sending_restricted_at: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct NewLink<'a> {
    pub account_id: i64,
    pub channel: Channel,
    pub network_id: &'a str,
    pub name: &'a str,
    pub token_sealed: Vec<u8>,
    pub token_secret_sealed: Option<Vec<u8>>,
    pub skill_id: Option<i64>,
    pub created_by: &'a str,
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

/// Whose queue: the brand account, the user, and whether only their skills count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueScope {
    pub account_id: i64,
    pub user_id: i64,
    /// Only conversations of the skills in `user_skills` (when the user has any).
    pub by_skills: bool,
}

/// What `take` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TakeOutcome {
    Taken,
    /// Closed, or assigned to someone else.
    Refused,
}

/// A consumer whose profile is due to be fetched (never fetched, or stale).
#[derive(Debug, Clone)]
pub struct ProfileDue {
    pub consumer_id: i64,
    pub network_id: String,
    pub linked: LinkedAccount,
    /// The conversation to announce when the profile arrives.
    pub conversation_id: Option<i64>,
}

/// What sending a reply in a conversation needs to know.
#[derive(Debug, Clone)]
pub struct ReplyContext {
    pub conversation_id: i64,
    pub account_id: i64,
    pub linked: LinkedAccount,
    pub consumer_network_id: String,
    /// The consumer's last public line that is not removed.
    pub last_public: Option<LastPublic>,
    /// When the consumer last wrote in private (ms), for Messenger's windows.
    pub last_private_at_ms: Option<i64>,
}

impl ReplyContext {
    /// What `shared::replies` decides the open reply modes by.
    pub fn facts(&self) -> ReplyFacts {
        ReplyFacts {
            last_public: self.last_public.as_ref().map(|l| l.line),
            wrote_privately: self.last_private_at_ms.is_some(),
        }
    }
}

/// The consumer's last public line, which Public and Private Response answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastPublic {
    pub network_id: String,
    /// Its tag, when it was created, and whether a private reply to it was sent or is
    /// on its way.
    pub line: PublicLine,
}

/// A sign-in attempt counted (see [`Store::count_sign_in`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignInCount {
    /// Attempts in the current window, this one included.
    pub attempts: i64,
    /// When the current window ends (ms).
    pub window_ends_ms: i64,
}

/// One conversation as `socialconnect export` writes it (CONTRACT.md §5).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExportConversation {
    pub id: i64,
    pub account: String,
    pub channel: Channel,
    pub skill: Option<String>,
    pub status: String,
    pub consumer: ExportConsumer,
    pub messages: Vec<ExportMessage>,
    /// The satisfaction survey's answer, 1–5, when the consumer gave one.
    pub survey_score: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExportConsumer {
    pub network_id: String,
    pub handle: Option<String>,
    pub name: Option<String>,
    pub profile: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExportMessage {
    pub id: i64,
    pub network_id: Option<String>,
    pub tag: String,
    pub direction: String,
    pub author: String,
    pub text: String,
    pub media: Vec<ExportMedia>,
    /// Links the consumer shared with the line (not media: never fetched).
    pub links: Vec<shared::inbound::SharedLink>,
    pub status: String,
    pub error: Option<String>,
    /// RFC 3339, from the network's time.
    pub created_at: String,
    pub edited: bool,
    pub removed: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExportMedia {
    pub kind: String,
    pub mime: Option<String>,
    pub bytes: Option<i64>,
}

/// An inbound media item whose copy is due (never tried, or due for another try): a
/// line's media, or a consumer's profile picture.
#[derive(Debug, Clone)]
pub struct MediaDue {
    pub id: i64,
    pub kind: MediaKind,
    pub source_url: String,
    pub poster_url: Option<String>,
    /// Tries so far, this one not counted.
    pub attempts: i64,
    /// The page or account the line came to (whose token fetches X's DM media).
    pub linked: LinkedAccount,
    /// The line's conversation, or the consumer's.
    pub conversation_id: i64,
}

/// A copy made: the original's checked type and size, and the files beside it (paths
/// relative to the data dir).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaCopy {
    pub mime: String,
    pub bytes: i64,
    pub stored_path: String,
    pub thumb_path: Option<String>,
    pub still_path: Option<String>,
    pub poster_path: Option<String>,
}

/// Where a media item's copy stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaStatus {
    Pending,
    Stored,
    /// The bytes were refused (wrong type, too large, a decompression bomb, unreadable), or
    /// the URL was (not a network's media host, not https, a private address): never asked.
    Rejected,
    /// The network would not give them (gone, or still failing after every retry).
    Failed,
}

impl MediaStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MediaStatus::Pending => "pending",
            MediaStatus::Stored => "stored",
            MediaStatus::Rejected => "rejected",
            MediaStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> StoreResult<Self> {
        [
            MediaStatus::Pending,
            MediaStatus::Stored,
            MediaStatus::Rejected,
            MediaStatus::Failed,
        ]
        .into_iter()
        .find(|m| m.as_str() == s)
        .ok_or_else(|| StoreError::corrupt(format!("unknown media status {s:?}")))
    }
}

/// A media item as serving it needs: whose it is and where its files are.
#[derive(Debug, Clone)]
pub struct MediaRecord {
    pub id: i64,
    pub account_id: i64,
    pub kind: MediaKind,
    pub mime: Option<String>,
    pub bytes: Option<i64>,
    pub status: MediaStatus,
    pub error: Option<String>,
    pub attempts: i64,
    /// A consumer's profile picture (copied again on each profile refresh), not a line's.
    pub of_consumer: bool,
    pub stored_path: Option<String>,
    pub thumb_path: Option<String>,
    pub still_path: Option<String>,
    pub poster_path: Option<String>,
}

// Home

/// A linked page or account as SocialConnect Home's accounts table shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HomeLinked {
    pub linked: LinkedAccount,
    /// Seconds.
    pub created_at: i64,
    pub created_by: String,
}

/// One entry of a brand account's audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Seconds.
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub detail: String,
}

/// A sign-in flow an admin started in SocialConnect Home (see migration 0008).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthPending {
    pub id: String,
    pub account_id: i64,
    pub user_id: i64,
    /// Ties the flow to the browser session that started it.
    pub session_binding: String,
    pub channel: Channel,
    /// X's request token (public: it travels in the authorize URL).
    pub request_token: Option<String>,
    /// X's request token secret, sealed.
    pub secret_sealed: Option<Vec<u8>>,
    /// The Facebook pages offered (JSON with page tokens), sealed.
    pub pages_sealed: Option<Vec<u8>>,
    /// Seconds.
    pub created_at: i64,
}

/// Brand accounts, their people and skills, sessions, sign-in counts, the key fingerprint, settings and the audit log.
#[async_trait]
pub trait Accounts: Send + Sync {
    async fn account_by_number(&self, number: &str) -> StoreResult<Option<Account>>;
    async fn account_by_id(&self, id: i64) -> StoreResult<Option<Account>>;
    /// Creates the account, or returns the existing one with that number.
    async fn ensure_account(&self, number: &str, name: &str, enabled: bool)
    -> StoreResult<Account>;
    /// Looks a user up by account (`None`: support staff) and email, case-insensitively.
    async fn credentials(
        &self,
        account_id: Option<i64>,
        email: &str,
    ) -> StoreResult<Option<Credentials>>;
    /// Creates the user; `Ok(None)` when that email already exists in that account.
    async fn create_user(&self, user: NewUser<'_>) -> StoreResult<Option<User>>;
    async fn create_session(
        &self,
        token_hash: &str,
        user_id: i64,
        csrf_token: &str,
        now: i64,
        expires_at: i64,
    ) -> StoreResult<()>;
    async fn session(&self, token_hash: &str, now: i64) -> StoreResult<Option<SessionRecord>>;
    async fn delete_session(&self, token_hash: &str) -> StoreResult<()>;
    /// Removes expired sessions; returns how many.
    async fn purge_sessions(&self, now: i64) -> StoreResult<u64>;
    /// Counts one sign-in attempt for `key` (a hash of what is counted) in its window of
    /// `window_ms` (a new window starts at `now_ms` when the last one is over), atomically,
    /// so parallel attempts each get their own number.
    async fn count_sign_in(
        &self,
        key: &str,
        now_ms: i64,
        window_ms: i64,
    ) -> StoreResult<SignInCount>;
    /// A sign-in succeeded: `cleared`'s count starts again, and the attempt counted for
    /// `forgiven` (if any) is taken back.
    async fn sign_in_succeeded(&self, cleared: &str, forgiven: Option<&str>) -> StoreResult<()>;
    /// Removes the counts whose window began before `before_ms`; returns how many.
    async fn purge_sign_in_counts(&self, before_ms: i64) -> StoreResult<u64>;
    /// The fingerprint of the key this database's tokens are sealed with, recording
    /// `fingerprint` as that when none is recorded yet (the first start, or the first
    /// since fingerprints were kept); returns the one recorded.
    async fn key_fingerprint(&self, fingerprint: &str, now_ms: i64) -> StoreResult<String>;
    /// Whether a key fingerprint is recorded yet.
    async fn has_key_fingerprint(&self) -> StoreResult<bool>;
    /// The skill's id, creating it when missing.
    async fn ensure_skill(&self, account_id: i64, name: &str) -> StoreResult<i64>;
    /// Replaces the skills a user answers.
    async fn set_user_skills(&self, user_id: i64, skills: &[i64]) -> StoreResult<()>;
    /// A brand account's skills by name: `(id, name)`.
    async fn skills(&self, account_id: i64) -> StoreResult<Vec<(i64, String)>>;
    /// A brand account's users, each with the skills they answer.
    async fn people(&self, account_id: i64) -> StoreResult<Vec<(User, Vec<i64>)>>;
    async fn user_by_id(&self, id: i64) -> StoreResult<Option<User>>;
    /// Whether agents of the account may send images (on unless switched off).
    async fn send_image_enabled(&self, account_id: i64) -> StoreResult<bool>;
    async fn set_send_image(&self, account_id: i64, on: bool) -> StoreResult<()>;
    async fn audit(&self, account_id: i64, entry: &AuditEntry) -> StoreResult<()>;
    /// The latest `limit` entries, latest first.
    async fn audit_log(&self, account_id: i64, limit: i64) -> StoreResult<Vec<AuditEntry>>;
}

/// The pages and accounts brand accounts link, and the sign-in flows that link them.
#[async_trait]
pub trait Links: Send + Sync {
    /// Links a page or account, or relinks it (new token, status linked). Refused with
    /// `Conflict` when another brand account holds it.
    async fn link(&self, link: NewLink<'_>) -> StoreResult<LinkedAccount>;
    async fn linked_account(
        &self,
        channel: Channel,
        network_id: &str,
    ) -> StoreResult<Option<LinkedAccount>>;
    async fn set_linked_status(&self, id: i64, status: LinkStatus) -> StoreResult<()>;
    /// Records that Facebook restricted the page from sending (`Some(ms)`) or that a send
    /// went through again (`None`).
    async fn set_sending_restricted(&self, id: i64, since_ms: Option<i64>) -> StoreResult<()>;
    /// Every page or account linked on `channel`, whatever its status.
    async fn linked_accounts(&self, channel: Channel) -> StoreResult<Vec<LinkedAccount>>;
    async fn linked_by_id(&self, id: i64) -> StoreResult<Option<LinkedAccount>>;
    /// Every page or account a brand account ever linked, in the order linked.
    async fn home_linked(&self, account_id: i64) -> StoreResult<Vec<HomeLinked>>;
    /// Routes a linked account's new conversations (and its open, unassigned ones) to a skill.
    async fn set_linked_skill(&self, linked_id: i64, skill_id: i64) -> StoreResult<()>;
    async fn put_oauth_pending(&self, pending: &OAuthPending) -> StoreResult<()>;
    async fn oauth_pending(&self, id: &str) -> StoreResult<Option<OAuthPending>>;
    async fn oauth_pending_by_request_token(
        &self,
        token: &str,
    ) -> StoreResult<Option<OAuthPending>>;
    async fn set_oauth_pages(&self, id: &str, pages_sealed: &[u8]) -> StoreResult<()>;
    /// Removes one flow, or (`None`) every flow started before `before`.
    async fn delete_oauth_pending(&self, id: Option<&str>, before: i64) -> StoreResult<()>;
}

/// Conversations: queues, transcripts, ownership, profiles and export.
#[async_trait]
pub trait Conversations: Send + Sync {
    async fn reply_context(&self, conversation_id: i64) -> StoreResult<Option<ReplyContext>>;
    /// Consumers whose profile was never fetched, or fetched before `stale_before_ms`,
    /// and not tried since `retry_before_ms`; each is marked tried now.
    async fn profiles_due(
        &self,
        now_ms: i64,
        stale_before_ms: i64,
        retry_before_ms: i64,
        limit: i64,
    ) -> StoreResult<Vec<ProfileDue>>;
    /// Stores a fetched profile; `name` and `handle` replace the stored ones when given.
    async fn set_profile(
        &self,
        consumer_id: i64,
        name: Option<&str>,
        handle: Option<&str>,
        profile: &serde_json::Value,
        now_ms: i64,
    ) -> StoreResult<()>;
    /// Facebook named the consumer of `conversation_id` by their page-scoped id (a private
    /// reply's `recipient_id`): their Messenger lines belong to this conversation from now
    /// on, and a conversation that id already had is folded into this one. Returns the
    /// conversation folded in (now gone), if any.
    async fn learn_psid(&self, conversation_id: i64, psid: &str) -> StoreResult<Option<i64>>;
    /// A line's status and error, for tests and the API.
    async fn line_status(&self, message_id: i64) -> StoreResult<Option<(String, Option<String>)>>;
    /// Open conversations in a queue view, latest activity first.
    async fn queue(&self, scope: QueueScope, view: QueueView) -> StoreResult<Vec<QueueItem>>;
    /// The brand account a conversation belongs to.
    async fn conversation_account(&self, id: i64) -> StoreResult<Option<i64>>;
    async fn conversation_info(&self, id: i64) -> StoreResult<Option<ConversationInfo>>;
    /// The conversation, its consumer and its lines in the network's time order.
    async fn transcript(&self, id: i64) -> StoreResult<Option<Transcript>>;
    /// Assigns an open conversation to `user_id` unless someone else holds it.
    async fn take(&self, id: i64, user_id: i64) -> StoreResult<TakeOutcome>;
    /// Closes a conversation and releases it, so a new line brings it back as new.
    async fn close(&self, id: i64) -> StoreResult<()>;
    /// Every conversation of a brand account with a line at or after `since_ms`.
    async fn export(&self, account_id: i64, since_ms: i64) -> StoreResult<Vec<ExportConversation>>;
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

/// Copies of inbound media and profile pictures.
#[async_trait]
pub trait Media: Send + Sync {
    /// Inbound media to copy, due at `now_ms`; each is leased until `lease_until_ms` so a
    /// crash mid-copy only delays it.
    async fn media_due(
        &self,
        now_ms: i64,
        lease_until_ms: i64,
        limit: i64,
    ) -> StoreResult<Vec<MediaDue>>;
    /// The copy is made: status `stored`.
    async fn media_stored(&self, id: i64, copy: &MediaCopy) -> StoreResult<()>;
    /// This try failed and another is due at `next_at_ms`.
    async fn media_retry(&self, id: i64, next_at_ms: i64, error: &str) -> StoreResult<()>;
    /// No copy will be made: `Rejected` or `Failed`, with the reason (and what was learned
    /// of the bytes, if anything).
    async fn media_refused(
        &self,
        id: i64,
        status: MediaStatus,
        reason: &str,
        mime: Option<&str>,
        bytes: Option<i64>,
    ) -> StoreResult<()>;
    async fn media_record(&self, id: i64) -> StoreResult<Option<MediaRecord>>;
    /// The consumer's profile picture is at `source_url` (the network's, which expires):
    /// their one picture item becomes due now. A copy made before stays served until the
    /// new one replaces it.
    async fn copy_picture(&self, consumer_id: i64, source_url: &str) -> StoreResult<()>;
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
