#![doc = include_str!("../README.md")]

mod error;
mod establish;
mod redact;
mod tls;
mod url;
mod verifier;

pub use error::ConnectError;
pub use establish::establish;
pub use redact::redact_url;
pub use url::{
    database_name, database_url_from_env, url_from_parts, validate_url, DEFAULT_DATABASE_URL,
};
