//! Typed rows and an async data-access API for the OmniNode bridge database.

pub mod config;
pub mod error;
pub mod migrate;
pub mod pool;

pub use config::DbConfig;
pub use error::{ConstraintKind, Error, Result};
pub use pool::{Db, PooledConnection};
