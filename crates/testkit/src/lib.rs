#![doc = include_str!("../README.md")]

mod admin;
mod broker;
mod cluster;
mod kafka_cluster;
mod leftovers;
mod mock_kafka;
mod runtime;
mod template;
mod tls;

use std::time::Duration;

use bridge_connect::ConnectError;
use bridge_models::{Db, DbConfig};
use diesel_async::{async_connection_wrapper::AsyncConnectionWrapper, AsyncPgConnection};

pub use admin::{execute, server_url};
pub use broker::PrivateBroker;
pub use cluster::{remove_leftover_clusters, ClusterBuilder, PrivateCluster};
pub use kafka_cluster::KafkaCluster;
pub use leftovers::remove_leftovers;
pub use mock_kafka::{MockKafka, MOCK_BROKERS};
pub use tls::{ServerCert, TestCa};

/// A blocking connection, for tests that run outside an async runtime.
pub type SyncPgConnection = AsyncConnectionWrapper<AsyncPgConnection>;

/// How long the kit's connection attempts may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A blocking connection to `url`, opened by `bridge_connect::establish`
/// (so with TLS as the URL's `sslmode` asks); call it outside any async runtime.
///
/// Its I/O runs on a runtime the kit keeps for the whole process.
pub fn sync_connect(url: &str) -> Result<SyncPgConnection, ConnectError> {
    let conn = runtime::block_on(bridge_connect::establish(url, CONNECT_TIMEOUT))?;
    // Entered, the wrapper blocks on the kit's runtime instead of making its own.
    let _entered = runtime::runtime().enter();
    Ok(SyncPgConnection::from(conn))
}

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
        sync_connect(&self.url)
            .unwrap_or_else(|err| panic!("connecting to test database {}: {err}", self.name))
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        admin::drop_database(&self.name);
    }
}
