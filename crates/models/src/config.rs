//! Where the database is and how the pool behaves.

use std::time::Duration;

use bridge_connect::{database_url_from_env, redact_url};

use crate::error::Result;

/// Connection target and pool settings.
#[derive(Clone, PartialEq, Eq)]
pub struct DbConfig {
    /// PostgreSQL connection URL; may carry a password, so never log it raw.
    pub database_url: String,
    /// Most connections the pool keeps open.
    pub max_connections: u32,
    /// Connections the pool keeps idle and ready; `None` keeps up to the maximum.
    pub min_idle: Option<u32>,
    /// How long opening one connection may take.
    pub connect_timeout: Duration,
    /// How long a caller waits for a free pooled connection.
    pub checkout_timeout: Duration,
    /// Whether each check-out first proves the connection alive with a
    /// `SELECT 1` round trip.
    ///
    /// Off by default: the round trip doubled the cost of a one-statement
    /// operation (see the benchmark README), and a connection the server
    /// closed is refused at check-out anyway, without a round trip. The query
    /// only adds detection of a peer that vanished silently (a half-open TCP
    /// connection); turn it on where such network failures are expected.
    pub test_on_checkout: bool,
    /// Which idle connection a check-out takes.
    pub checkout_order: CheckoutOrder,
}

/// Which idle connection the pool hands out next.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CheckoutOrder {
    /// The one returned last (a stack): a caller working alone keeps reusing
    /// one warm connection and server process, and connections the load no
    /// longer needs sit idle until they time out.
    ///
    /// The default: rotating over every pooled connection made one caller's
    /// 1 000-row batches 12-16 % slower (see the benchmark README).
    #[default]
    MostRecentlyUsed,
    /// The one idle longest (a queue): every connection is used in turn,
    /// which keeps all of them active, e.g. against idle timeouts in the network.
    LeastRecentlyUsed,
}

impl std::fmt::Debug for DbConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbConfig")
            .field("database_url", &redact_url(&self.database_url))
            .field("max_connections", &self.max_connections)
            .field("min_idle", &self.min_idle)
            .field("connect_timeout", &self.connect_timeout)
            .field("checkout_timeout", &self.checkout_timeout)
            .field("test_on_checkout", &self.test_on_checkout)
            .field("checkout_order", &self.checkout_order)
            .finish()
    }
}

impl DbConfig {
    /// Settings for `database_url` with the default pool settings.
    pub fn new(database_url: impl Into<String>) -> Self {
        Self {
            database_url: database_url.into(),
            max_connections: 10,
            min_idle: None,
            connect_timeout: Duration::from_secs(5),
            checkout_timeout: Duration::from_secs(30),
            test_on_checkout: false,
            checkout_order: CheckoutOrder::default(),
        }
    }

    /// Settings for the database named by the environment (see [`database_url_from_env`]).
    pub fn from_env() -> Result<Self> {
        Ok(Self::new(database_url_from_env()?))
    }

    /// The URL with any password replaced, safe for errors and logs.
    pub fn redacted_url(&self) -> String {
        redact_url(&self.database_url)
    }
}
