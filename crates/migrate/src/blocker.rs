//! A session whose lock a migration waited for, as an operator needs to find it.

use std::{fmt, time::Duration};

use diesel::{
    sql_types::{Double, Integer, Nullable, Text},
    QueryableByName,
};

/// A session holding (or queued ahead for) a lock a migration waited for,
/// as `pg_blocking_pids` and `pg_stat_activity` show it.
#[derive(Debug, Clone, PartialEq, QueryableByName)]
pub struct Blocker {
    /// Backend process id of the blocking session (`pg_terminate_backend` takes it).
    #[diesel(sql_type = Integer)]
    pub pid: i32,
    /// Its `application_name`; hidden from roles without `pg_read_all_stats`.
    #[diesel(sql_type = Nullable<Text>)]
    pub application_name: Option<String>,
    /// Its state, e.g. `idle in transaction` or `active`.
    #[diesel(sql_type = Nullable<Text>)]
    pub state: Option<String>,
    /// Seconds since its transaction began (or, outside one, since it connected).
    #[diesel(sql_type = Nullable<Double>)]
    pub open_seconds: Option<f64>,
}

impl Blocker {
    /// How long its transaction (or, outside one, its session) has been open.
    pub fn open_for(&self) -> Option<Duration> {
        self.open_seconds
            .and_then(|seconds| Duration::try_from_secs_f64(seconds.max(0.0)).ok())
    }
}

impl fmt::Display for Blocker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "pid {} (application_name {:?}, {}, open for {})",
            self.pid,
            self.application_name.as_deref().unwrap_or("?"),
            self.state.as_deref().unwrap_or("state unknown"),
            self.open_for().map_or_else(
                || "?".to_owned(),
                |open| format!("{:.1} s", open.as_secs_f64())
            ),
        )
    }
}

/// The blockers of session `pid`: every session holding or queued ahead for a lock it waits for.
pub(crate) const BLOCKERS_OF: &str = "\
    SELECT a.pid, a.application_name, a.state, \
           EXTRACT(EPOCH FROM clock_timestamp() - COALESCE(a.xact_start, a.backend_start))::float8 \
               AS open_seconds \
    FROM pg_stat_activity a \
    WHERE a.pid = ANY (pg_blocking_pids($1)) \
    ORDER BY a.pid";

/// `blockers` as one phrase for messages.
pub(crate) fn blockers_text(blockers: &[Blocker]) -> String {
    match blockers {
        [] => "no blocking session was seen (it may have ended)".to_owned(),
        _ => format!(
            "blocked by {}",
            blockers
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}
