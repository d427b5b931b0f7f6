//! The session holding the migration lock, as an operator needs to find it.

use std::fmt;

use chrono::{DateTime, Utc};
use diesel::{
    sql_types::{Integer, Nullable, Text, Timestamptz},
    QueryableByName,
};

/// The session holding the migration lock, as `pg_stat_activity` shows it.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct LockHolder {
    /// Backend process id of the holding session.
    #[diesel(sql_type = Integer)]
    pub pid: i32,
    /// Its `application_name`; hidden from roles without `pg_read_all_stats`.
    #[diesel(sql_type = Nullable<Text>)]
    pub application_name: Option<String>,
    /// Its client address; `None` for a Unix socket or when hidden.
    #[diesel(sql_type = Nullable<Text>)]
    pub client_addr: Option<String>,
    /// When the holding session connected (PostgreSQL does not record when a lock was granted).
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub backend_start: Option<DateTime<Utc>>,
    /// When its current query or transaction started, or its state last changed.
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub state_change: Option<DateTime<Utc>>,
}

impl fmt::Display for LockHolder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unknown = || "?".to_owned();
        write!(
            f,
            "pid {} (application_name {:?}, client {}, connected since {}, last active {})",
            self.pid,
            self.application_name.as_deref().unwrap_or("?"),
            self.client_addr.as_deref().unwrap_or("local socket"),
            self.backend_start
                .map_or_else(unknown, |at| at.to_rfc3339()),
            self.state_change.map_or_else(unknown, |at| at.to_rfc3339()),
        )
    }
}
