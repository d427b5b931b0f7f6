#![doc = include_str!("../README.md")]

// Every module is private: the crate root below is the one public path of
// each item, except `retention`, a sub-API of its own.
mod batch;
mod bridge_state;
mod config;
mod error;
mod fresh_insert;
mod fsm_transition;
mod insert;
mod json;
mod metadata_stamp;
mod node_registration;
mod outcome;
mod paging;
mod partition_key;
mod pool;
pub mod retention;
mod state;
mod uncached;
mod validate;
mod workflow_execution;
mod workflow_step;

pub use batch::MAX_BIND_PARAMS;
pub use bridge_state::{AppliedDelta, BridgeState, BridgeStateDelta};
pub use config::{CheckoutOrder, DbConfig};
pub use error::{ConstraintKind, Error, Result};
pub use fsm_transition::{FsmTransition, NewFsmTransition};
pub use json::MAX_READ_JSON_DEPTH;
pub use metadata_stamp::{MetadataStamp, NewMetadataStamp};
pub use node_registration::{NewNodeRegistration, NodeHeartbeat, NodeRegistration};
pub use paging::{Cursor, Keyset, Page, PageRequest};
pub use pool::{Db, PoolState, PooledConnection};
pub use state::{HealthStatus, StepStatus, WorkflowState};
pub use uncached::Uncached;
pub use validate::{MAX_JSON_DEPTH, TEXT_COLUMN_BOUNDS};
pub use workflow_execution::{
    NewWorkflowExecution, StateChange, WorkflowExecution, WorkflowExecutionChangeset,
};
pub use workflow_step::{NewWorkflowStep, WorkflowStep, WorkflowStepChangeset};
