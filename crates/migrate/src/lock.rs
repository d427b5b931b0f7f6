//! The session advisory lock that serialises migrations, and who holds it.

use std::{
    thread,
    time::{Duration, Instant},
};

use diesel::{
    prelude::*,
    sql_types::{BigInt, Bool},
};

use crate::{error::MigrateError, lock_holder::LockHolder, runtime::SyncPgConnection, Result};

/// Key of the session advisory lock every migration run takes first ("brmigrat").
///
/// Advisory locks are per database, so runs on different databases never wait on each other.
pub const MIGRATION_LOCK_KEY: i64 = 0x6272_6d69_6772_6174;

/// How often a waiting session tries the lock again.
const POLL: Duration = Duration::from_millis(100);

#[derive(QueryableByName)]
struct Locked {
    #[diesel(sql_type = Bool)]
    locked: bool,
}

/// Takes the migration lock on `conn`, waiting at most `timeout`.
///
/// The lock is held until the session ends. Polling `pg_try_advisory_lock`
/// (rather than a blocking `pg_advisory_lock` under `lock_timeout`) leaves the
/// session's settings alone for the migrations and lets a zero timeout mean
/// "try once".
pub(crate) fn acquire(conn: &mut SyncPgConnection, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    let mut told = false;
    while !try_lock(conn)? {
        let now = Instant::now();
        if now >= deadline {
            let holder = holder(conn)?;
            return Err(MigrateError::LockTimeout {
                waited: timeout,
                holder,
            });
        }
        if !told {
            told = true;
            if let Some(holder) = holder(conn)? {
                tracing::info!("waiting up to {timeout:?} for the migration lock held by {holder}");
            }
        }
        thread::sleep(POLL.min(deadline - now));
    }
    tracing::debug!("migration lock acquired");
    Ok(())
}

fn try_lock(conn: &mut SyncPgConnection) -> Result<bool> {
    diesel::sql_query("SELECT pg_try_advisory_lock($1) AS locked")
        .bind::<BigInt, _>(MIGRATION_LOCK_KEY)
        .get_result::<Locked>(conn)
        .map(|row| row.locked)
        .map_err(MigrateError::database("taking the migration lock"))
}

#[derive(QueryableByName)]
struct Pid {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pid: i32,
}

/// The backend process id of `conn`'s session.
pub(crate) fn backend_pid(conn: &mut SyncPgConnection) -> QueryResult<i32> {
    diesel::sql_query("SELECT pg_backend_pid() AS pid")
        .get_result::<Pid>(conn)
        .map(|row| row.pid)
}

/// The session holding the migration lock on this database, if any.
fn holder(conn: &mut SyncPgConnection) -> Result<Option<LockHolder>> {
    // A bigint key is stored as classid = high 32 bits, objid = low 32 bits, objsubid = 1.
    diesel::sql_query(
        "SELECT a.pid, a.application_name, host(a.client_addr) AS client_addr, \
                a.backend_start, a.state_change \
         FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
         WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 \
           AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
           AND l.classid::bigint = ($1 >> 32) AND l.objid::bigint = ($1 & 4294967295) \
         LIMIT 1",
    )
    .bind::<BigInt, _>(MIGRATION_LOCK_KEY)
    .get_result(conn)
    .optional()
    .map_err(MigrateError::database(
        "looking up the migration lock holder",
    ))
}
