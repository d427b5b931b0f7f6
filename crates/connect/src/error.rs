//! Why a connection could not be opened.

/// Why opening a connection failed; every URL in it has its password redacted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectError {
    /// The configuration is unusable, e.g. a malformed database URL.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The server could not be reached or did not answer.
    #[error("database unreachable at {url}: {reason}")]
    Unreachable {
        /// The URL, with any password redacted.
        url: String,
        /// Why connecting failed.
        reason: String,
    },
    /// The server answered, but the database does not exist.
    #[error("database {name:?} does not exist at {url}")]
    DatabaseMissing {
        /// The database name.
        name: String,
        /// The URL, with any password redacted.
        url: String,
    },
}
