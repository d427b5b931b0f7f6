//! Test databases whose run was killed before it could drop them.
//!
//! A test database's name records which process made it and when
//! (`bridge_test_<pid><counter><nanoseconds>`, in hex), so a later run can
//! tell a leftover from a database that another run is still using.

use std::{
    path::Path,
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use diesel::{sql_types::Text, QueryableByName, RunQueryDsl};

use crate::admin;

/// The prefix of every test database name.
const PREFIX: &str = "bridge_test_";

/// How old a database must be before it can count as left behind: a run on
/// another host (whose process this host cannot see) may create a database
/// and connect to it a moment later.
const MIN_AGE: Duration = Duration::from_secs(120);

/// A new test database name, unique to this process, this call and this moment.
pub(crate) fn new_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    name_for(
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        SystemTime::now(),
    )
}

fn name_for(pid: u32, counter: u64, at: SystemTime) -> String {
    let nanos = at
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos() as u64);
    format!("{PREFIX}{pid:08x}{:08x}{nanos:016x}", counter as u32)
}

/// The creating process and creation time a test database name records.
fn origin(name: &str) -> Option<(u32, SystemTime)> {
    let hex = name.strip_prefix(PREFIX)?;
    if hex.len() != 32 {
        return None;
    }
    let pid = u32::from_str_radix(&hex[..8], 16).ok()?;
    let nanos = u64::from_str_radix(&hex[16..], 16).ok()?;
    Some((pid, UNIX_EPOCH + Duration::from_nanos(nanos)))
}

/// Whether the database `name` was left behind: no process of this host that
/// made it is still running, and it is older than [`MIN_AGE`].
fn is_leftover(name: &str, now: SystemTime) -> bool {
    origin(name).is_some_and(|(pid, created)| {
        let age = now.duration_since(created).unwrap_or_default();
        age > MIN_AGE && !Path::new(&format!("/proc/{pid}")).exists()
    })
}

#[derive(QueryableByName)]
struct Database {
    #[diesel(sql_type = Text)]
    datname: String,
}

/// Drops the test databases that killed runs left on the server and that no
/// session uses; returns their names.
///
/// The test kit calls it once per process before its first database. A
/// database that a session connects to meanwhile is left alone (the drop is
/// not forced).
pub fn remove_leftovers() -> Vec<String> {
    admin::with_server(|conn| {
        let unused = diesel::sql_query(
            "SELECT datname FROM pg_database d \
             WHERE datname LIKE 'bridge\\_test\\_%' \
             AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datid = d.oid)",
        )
        .load::<Database>(conn)
        .unwrap_or_default();
        let now = SystemTime::now();
        unused
            .into_iter()
            .map(|db| db.datname)
            .filter(|name| is_leftover(name, now))
            .filter(|name| {
                diesel::sql_query(format!(r#"DROP DATABASE IF EXISTS "{name}""#))
                    .execute(conn)
                    .is_ok()
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_records_its_process_and_time() {
        let at = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let name = name_for(4242, 7, at);
        assert_eq!(name.len(), PREFIX.len() + 32);
        assert_eq!(origin(&name), Some((4242, at)));
        assert_eq!(origin("bridge_test_xyz"), None);
        assert_eq!(origin("bridge_template_0123456789abcdef"), None);
    }

    #[test]
    fn only_old_databases_of_finished_processes_are_leftovers() {
        let now = SystemTime::now();
        let old = now - Duration::from_secs(3600);
        let dead_pid = u32::MAX - 1;
        assert!(is_leftover(&name_for(dead_pid, 0, old), now));
        assert!(!is_leftover(&name_for(dead_pid, 0, now), now));
        assert!(!is_leftover(&name_for(std::process::id(), 0, old), now));
    }
}
