#![doc = include_str!("../README.md")]

mod admin;
mod leftovers;
mod template;

use bridge_models::{Db, DbConfig};
use diesel::Connection;
use diesel_async::{async_connection_wrapper::AsyncConnectionWrapper, AsyncPgConnection};

pub use admin::{execute, server_url};
pub use leftovers::remove_leftovers;

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
        static CLEANED: std::sync::Once = std::sync::Once::new();
        CLEANED.call_once(|| {
            remove_leftovers();
        });
        let name = leftovers::new_name();
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
