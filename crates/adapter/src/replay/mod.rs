//! `bridge-adapter dlq`: counts the dead letters on the `<topic>.dlq` topics
//! and re-publishes chosen ones to their original topics. Nothing is ever
//! removed from a dead-letter topic.

pub mod cli;
pub mod clients;
pub mod error;
pub mod letter;
pub mod list;
pub mod progress;
pub mod reader;
pub mod republish;
pub mod selection;
pub mod topics;

pub use error::DlqError;
pub use letter::Letter;
pub use list::{list, Listing};
pub use republish::{replay, ReplayOptions, ReplayReport};
pub use selection::Selection;
