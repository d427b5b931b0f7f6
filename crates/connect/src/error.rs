//! Why a connection could not be opened.

/// Why opening a connection failed; every URL in it has its password redacted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectError {
    /// The configuration is unusable: a malformed URL, an unknown or invalid
    /// option, a setting the server refuses.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The server could not be reached, did not answer, or is starting or
    /// shutting down.
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
    /// The server refused who we are: a wrong password, an unknown role, a
    /// role without the right to connect, or no password where one is needed.
    #[error("authentication or authorisation failed at {url}: {reason}")]
    Authentication {
        /// The URL, with any password redacted.
        url: String,
        /// The server's reason.
        reason: String,
    },
    /// The server is out of connection slots or other resources for now.
    #[error("database server busy at {url}: {reason}")]
    ServerBusy {
        /// The URL, with any password redacted.
        url: String,
        /// The server's reason, e.g. too many connections.
        reason: String,
    },
    /// TLS could not be set up as `sslmode` demands: the server offers none,
    /// or its certificate is not trusted or does not name the host.
    #[error("TLS failed at {url}: {reason}")]
    Tls {
        /// The URL, with any password redacted.
        url: String,
        /// What failed.
        reason: String,
    },
}

impl ConnectError {
    /// Whether trying again later, unchanged, can succeed: the server may come
    /// up or free a connection slot; a wrong password or URL stays wrong.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unreachable { .. } | Self::ServerBusy { .. })
    }
}
