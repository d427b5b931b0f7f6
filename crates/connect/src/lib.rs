#![doc = include_str!("../README.md")]

mod error;
mod establish;
mod url;

pub use error::ConnectError;
pub use establish::establish;
pub use url::{
    database_name, database_url_from_env, redact_url, url_from_parts, validate_url,
    DEFAULT_DATABASE_URL,
};
