//! Private PostgreSQL databases for tests of code built on the bridge crates.
//!
//! Every [`TestDatabase`] is a new, uniquely named database on the server
//! named by `DATABASE_URL` (or the `PG*` variables), dropped again when the
//! value is dropped, so tests run in parallel and never see each other's rows.
//! Migrated databases are cloned from a template database that is migrated
//! once per migration set, which makes a fresh database cost one
//! `CREATE DATABASE … TEMPLATE`.
//!
//! ```no_run
//! # async fn demo() -> bridge_models::Result<()> {
//! let test_db = bridge_testkit::TestDatabase::migrated();
//! let db = test_db.db().await?;
//! // … use `db`; the database is dropped with `test_db`.
//! # Ok(()) }
//! ```

mod admin;
mod template;

use bridge_models::{Db, DbConfig};
use diesel::Connection;
use diesel_async::{async_connection_wrapper::AsyncConnectionWrapper, AsyncPgConnection};

pub use admin::{execute, server_url};

/// A blocking connection, for tests that run outside an async runtime.
pub type SyncPgConnection = AsyncConnectionWrapper<AsyncPgConnection>;

/// A uniquely named database that exists until this value is dropped.
#[derive(Debug)]
pub struct TestDatabase {
    name: String,
    url: String,
}

impl TestDatabase {
    /// A new database with every embedded migration applied.
    pub fn migrated() -> Self {
        let template = template::ensure_migrated_template();
        Self::create(Some(&template))
    }

    /// A new database with no migrations applied.
    pub fn empty() -> Self {
        Self::create(None)
    }

    fn create(template: Option<&str>) -> Self {
        let name = format!("bridge_test_{}", uuid_like_suffix());
        admin::create_database(&name, template);
        let url = admin::database_url(&name);
        Self { name, url }
    }

    /// The database name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A connection URL for this database.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Pool settings for this database.
    pub fn config(&self) -> DbConfig {
        DbConfig::new(&self.url)
    }

    /// A connection pool on this database.
    pub async fn db(&self) -> bridge_models::Result<Db> {
        Db::connect(self.config()).await
    }

    /// A blocking connection; call it outside any async runtime.
    pub fn sync_conn(&self) -> SyncPgConnection {
        SyncPgConnection::establish(&self.url)
            .unwrap_or_else(|err| panic!("connecting to test database {}: {err}", self.name))
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        admin::drop_database(&self.name);
    }
}

/// 32 hex digits unique to this process, this call and this moment.
fn uuid_like_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{SystemTime, UNIX_EPOCH};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos() as u64);
    format!(
        "{:08x}{:08x}{:016x}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        nanos
    )
}
