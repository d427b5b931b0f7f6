//! Typed rows and an async data-access API for the OmniNode bridge database.

pub mod batch;
pub mod config;
pub mod error;
pub mod fsm_transition;
pub mod paging;
pub mod pool;
pub mod state;

pub use config::DbConfig;
pub use error::{ConstraintKind, Error, Result};
pub use fsm_transition::{FsmTransition, NewFsmTransition};
pub use paging::{Cursor, Keyset, Page, PageRequest};
pub use pool::{Db, PooledConnection};
pub use state::{HealthStatus, StepStatus, WorkflowState};
