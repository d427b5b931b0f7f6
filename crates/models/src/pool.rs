//! The connection pool: bb8 over diesel-async's `AsyncPgConnection`.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use bridge_connect::{validate_url, ConnectError};
use diesel::{ConnectionError, ConnectionResult};
use diesel_async::{
    pooled_connection::{
        bb8, AsyncDieselConnectionManager, ManagerConfig, PoolError, PoolableConnection,
        RecyclingMethod,
    },
    AsyncPgConnection,
};
use futures_util::FutureExt;

use crate::{
    config::{CheckoutOrder, DbConfig},
    error::{Error, Result},
};

/// A connection checked out of the pool; returns to it when dropped.
pub type PooledConnection<'a> = bb8::PooledConnection<'a, AsyncPgConnection>;

/// A snapshot of the pool's connections; see [`Db::pool_state`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolState {
    /// Connections open, idle or checked out.
    pub connections: u32,
    /// Open connections waiting in the pool, not checked out.
    pub idle_connections: u32,
}

/// Handle to the bridge database: a pool of async connections. Cheap to clone.
#[derive(Clone)]
pub struct Db {
    pool: bb8::Pool<AsyncPgConnection>,
    config: DbConfig,
    last_connect_error: LastConnectError,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("config", &self.config)
            .field("state", &self.pool.state())
            .finish()
    }
}

impl Db {
    /// Opens a pool as `config` says, failing fast when the server is unreachable.
    pub async fn connect(config: DbConfig) -> Result<Self> {
        let db = Self::connect_lazy(config)?;
        // Prove the server answers now, within the connect timeout, rather
        // than at the first query after a whole check-out timeout.
        let conn =
            bridge_connect::establish(&db.config.database_url, db.config.connect_timeout).await?;
        // A full pool just drops the spare connection; nothing is lost.
        let _ = db.pool.add(conn);
        Ok(db)
    }

    /// Builds the pool without opening a connection; connections open on demand.
    pub fn connect_lazy(config: DbConfig) -> Result<Self> {
        validate_url(&config.database_url)?;
        let connect_timeout = config.connect_timeout;
        let last_connect_error = LastConnectError::default();
        let mut manager_config = ManagerConfig::<AsyncPgConnection>::default();
        let record = last_connect_error.clone();
        manager_config.custom_setup = Box::new(move |url| {
            let (url, record) = (url.to_owned(), record.clone());
            async move { record.outcome(establish(&url, connect_timeout).await) }.boxed()
        });
        manager_config.recycling_method = if config.test_on_checkout {
            RecyclingMethod::Verified
        } else {
            RecyclingMethod::CustomFunction(Box::new(|conn| {
                let closed = conn.is_broken();
                async move { reject_if_closed(closed) }.boxed()
            }))
        };
        let manager =
            AsyncDieselConnectionManager::new_with_config(&config.database_url, manager_config);
        let pool = bb8::Pool::builder()
            .max_size(config.max_connections)
            .min_idle(config.min_idle)
            .connection_timeout(config.checkout_timeout)
            // Always on: what the check costs is the recycling method's choice.
            .test_on_check_out(true)
            .queue_strategy(match config.checkout_order {
                CheckoutOrder::MostRecentlyUsed => ::bb8::QueueStrategy::Lifo,
                CheckoutOrder::LeastRecentlyUsed => ::bb8::QueueStrategy::Fifo,
            })
            .error_sink(Box::new(last_connect_error.clone()))
            .build_unchecked(manager);
        Ok(Self {
            pool,
            config,
            last_connect_error,
        })
    }

    /// Checks a connection out of the pool.
    pub async fn conn(&self) -> Result<PooledConnection<'_>> {
        self.pool.get().await.map_err(|err| match err {
            // bb8 retries failed connects until the check-out times out; when
            // the latest attempt failed, that is why (the server's connection
            // limit, a wrong password, a server down), not the pool's size.
            ::bb8::RunError::TimedOut => match self.last_connect_error.get() {
                Some(err) => err.into(),
                None => Error::PoolTimeout(self.config.checkout_timeout),
            },
            ::bb8::RunError::User(PoolError::ConnectionError(err)) => {
                match self.last_connect_error.get() {
                    Some(err) => err.into(),
                    None => self.unreachable(err.to_string()),
                }
            }
            ::bb8::RunError::User(PoolError::QueryError(err)) => err.into(),
        })
    }

    fn unreachable(&self, reason: String) -> Error {
        Error::Unreachable {
            url: self.config.redacted_url(),
            reason,
        }
    }

    /// How many connections the pool holds now, and how many of them are idle.
    pub fn pool_state(&self) -> PoolState {
        let state = self.pool.state();
        PoolState {
            connections: state.connections,
            idle_connections: state.idle_connections,
        }
    }

    /// The settings this pool was built with.
    pub fn config(&self) -> &DbConfig {
        &self.config
    }
}

/// The free check-out test: refuses a connection whose socket the server has
/// closed (restart, `pg_terminate_backend`, idle timeout), so the pool opens a
/// new one instead of handing out one that fails its first query.
fn reject_if_closed(closed: bool) -> diesel::QueryResult<()> {
    if closed {
        Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::ClosedConnection,
            Box::new("pooled connection was closed by the server".to_owned()),
        ))
    } else {
        Ok(())
    }
}

/// Opens one connection for the pool, giving up after `timeout`.
async fn establish(url: &str, timeout: Duration) -> Result<AsyncPgConnection, ConnectError> {
    bridge_connect::establish(url, timeout).await
}

/// The outcome of the pool's latest connection attempt, kept typed to
/// explain a check-out that failed or timed out.
#[derive(Debug, Clone, Default)]
struct LastConnectError(Arc<Mutex<Option<ConnectError>>>);

impl LastConnectError {
    /// The error of the latest attempt, unless one succeeded since.
    fn get(&self) -> Option<ConnectError> {
        self.0
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .clone()
    }

    /// Records the outcome of an attempt and hands it to bb8.
    fn outcome(
        &self,
        attempt: Result<AsyncPgConnection, ConnectError>,
    ) -> ConnectionResult<AsyncPgConnection> {
        let mut last = self.0.lock().unwrap_or_else(|poison| poison.into_inner());
        *last = attempt.as_ref().err().cloned();
        attempt.map_err(|err| ConnectionError::BadConnection(err.to_string()))
    }
}

impl ::bb8::ErrorSink<PoolError> for LastConnectError {
    fn sink(&self, error: PoolError) {
        tracing::warn!(%error, "database connection failed");
    }

    fn boxed_clone(&self) -> Box<dyn ::bb8::ErrorSink<PoolError>> {
        Box::new(self.clone())
    }
}
