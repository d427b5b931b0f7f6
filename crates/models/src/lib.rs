#![doc = include_str!("../README.md")]

pub mod batch;
pub mod bridge_state;
pub mod config;
pub mod error;
mod fresh_insert;
pub mod fsm_transition;
mod insert;
pub mod json;
pub mod metadata_stamp;
pub mod node_registration;
mod outcome;
pub mod paging;
mod partition_key;
pub mod pool;
pub mod retention;
pub mod state;
pub mod uncached;
pub mod validate;
pub mod workflow_execution;
pub mod workflow_step;

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
pub use workflow_execution::{
    NewWorkflowExecution, StateChange, WorkflowExecution, WorkflowExecutionChangeset,
};
pub use workflow_step::{NewWorkflowStep, WorkflowStep, WorkflowStepChangeset};
