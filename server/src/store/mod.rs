//! Storage: the one interface handlers use, whatever the engine behind it.
//!
//! Handlers hold an `Arc<dyn Store>`: the embedded SQLite database (the default) or
//! PostgreSQL (`SOCIALCONNECT_DATABASE_URL`), which several instances can share.

mod accounts;
mod automation;
mod canned;
mod conversations;
mod error;
mod ingest;
mod links;
mod liveengage;
mod media;
mod notes;
mod onboarding;
mod outbox;
mod people;
mod postgres;
pub(crate) mod rows;
mod search;
mod sqlite;
mod sso;

/// Writes items once for both engines: they are compiled twice, first with `Engine`
/// naming `SqliteStore`, `Row` its row type and `PG` false, then for `PgStore`. sqlx's
/// SQLite driver takes PostgreSQL's `$N` placeholders, so a query the engines agree on is
/// one string; where their SQL differs, `if PG { … } else { … }` holds both texts side by
/// side. A multi-statement write holds `self.write_lock()` through its transaction
/// (SQLite has one writer, see `SqliteStore::writer`; PostgreSQL's lock is a no-op).
macro_rules! for_both_engines {
    ($($body:tt)*) => {
        const _: () = {
            #[allow(unused_imports)]
            use $crate::store::SqliteStore as Engine;
            #[allow(dead_code)]
            type Row = sqlx::sqlite::SqliteRow;
            #[allow(dead_code)]
            type Db = sqlx::Sqlite;
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
            type Db = sqlx::Postgres;
            #[allow(dead_code)]
            const PG: bool = true;
            $($body)*
        };
    };
}
pub(crate) use for_both_engines;

use std::path::Path;
use std::sync::Arc;

pub use postgres::PgStore;
pub use sqlite::SqliteStore;

pub use error::{StoreError, StoreResult};
// Each feature's records and trait.
pub use {
    accounts::*, automation::*, conversations::*, ingest::*, links::*, liveengage::*, media::*,
    onboarding::*, outbox::*, people::*, sso::*,
};
// The agent's tools (canned responses, private notes, search).
pub use {canned::Canned, notes::Notes, search::Search};

/// The features' traits, for calling the store's methods on a concrete engine
/// (`use crate::store::prelude::*`); `dyn Store` needs no import.
pub mod prelude {
    pub use super::{
        Accounts, Automation, Conversations, Ingest, Links, LiveEngage, Media, Onboarding, Outbox,
        People, Sso, Store,
    };
    pub use super::{Canned, Notes, Search};
}

/// Everything the server stores, whatever the engine behind it: the sum of the
/// features' traits, so handlers hold one `Arc<dyn Store>`.
pub trait Store:
    Accounts
    + Links
    + Conversations
    + Ingest
    + Outbox
    + Media
    + Automation
    + Onboarding
    + People
    + Sso
    + LiveEngage
    + Canned
    + Notes
    + Search
    + 'static
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
        + People
        + Sso
        + LiveEngage
        + Canned
        + Notes
        + Search
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
