//! Why the adapter could not start or had to stop.

/// A failure that stops the adapter (exit code 1); per-event failures never do.
#[derive(Debug, thiserror::Error)]
pub enum AdapterError {
    /// A Kafka client could not be created or subscribed.
    #[error("{context}: {source}")]
    Kafka {
        /// What was being done.
        context: String,
        /// librdkafka's error.
        source: rdkafka::error::KafkaError,
    },
    /// A setting is out of range or contradicts another.
    #[error("{flag}: {problem}")]
    InvalidSetting {
        /// The flag.
        flag: &'static str,
        /// What is wrong with its value.
        problem: String,
    },
    /// The database settings are unusable.
    #[error("database configuration: {0}")]
    Database(#[from] bridge_models::Error),
    /// The database URL could not be worked out from the environment.
    #[error("database configuration: {0}")]
    Connect(#[from] bridge_connect::ConnectError),
    /// A task the adapter needs (the HTTP server, the parked-event sweep)
    /// stopped while it ran: the adapter stopped too rather than run half-alive.
    #[error("{task} stopped: {reason}")]
    TaskDied {
        /// Which task.
        task: &'static str,
        /// Its error or panic.
        reason: String,
    },
    /// The HTTP server could not bind or failed.
    #[error("HTTP server on {addr}: {source}")]
    Http {
        /// The address.
        addr: std::net::SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
}

impl AdapterError {
    /// A [`AdapterError::Kafka`] saying what was being done.
    pub fn kafka(context: impl Into<String>, source: rdkafka::error::KafkaError) -> Self {
        Self::Kafka {
            context: context.into(),
            source,
        }
    }
}
