//! The session advisory lock that lets one retention run at a time per database.
//!
//! The same idea as the migration engine's lock (`bridge_migrate`), with a
//! key of its own: retention and migrations do not wait for each other.

use std::time::Duration;

use diesel::{
    sql_types::{BigInt, Bool, Integer, Nullable, Text},
    QueryableByName,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use tokio::time::{sleep, Instant};

use super::RetentionError;

/// Key of the session advisory lock every retention run takes first ("brretain").
pub const RETENTION_LOCK_KEY: i64 = 0x6272_7265_7461_696e;

/// How often a waiting run tries the lock again.
const POLL: Duration = Duration::from_millis(100);

#[derive(QueryableByName)]
struct Locked {
    #[diesel(sql_type = Bool)]
    locked: bool,
}

/// Takes the retention lock on `conn`, waiting at most `timeout`; zero tries once.
pub(crate) async fn acquire(
    conn: &mut AsyncPgConnection,
    timeout: Duration,
) -> Result<(), RetentionError> {
    let deadline = Instant::now() + timeout;
    loop {
        let locked: Locked = diesel::sql_query("SELECT pg_try_advisory_lock($1) AS locked")
            .bind::<BigInt, _>(RETENTION_LOCK_KEY)
            .load(conn)
            .await
            .map_err(crate::Error::from)?
            .remove(0);
        if locked.locked {
            return Ok(());
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(RetentionError::LockTimeout {
                waited: timeout,
                holder: holder(conn).await?,
            });
        }
        sleep(POLL.min(deadline - now)).await;
    }
}

/// Releases the retention lock taken on `conn`.
pub(crate) async fn release(conn: &mut AsyncPgConnection) -> Result<(), RetentionError> {
    diesel::sql_query("SELECT pg_advisory_unlock($1) AS locked")
        .bind::<BigInt, _>(RETENTION_LOCK_KEY)
        .load::<Locked>(conn)
        .await
        .map_err(crate::Error::from)?;
    Ok(())
}

#[derive(QueryableByName)]
struct Holder {
    #[diesel(sql_type = Integer)]
    pid: i32,
    #[diesel(sql_type = Nullable<Text>)]
    application_name: Option<String>,
}

/// The session holding the retention lock, as `pid N (application_name …)`.
async fn holder(conn: &mut AsyncPgConnection) -> Result<Option<String>, RetentionError> {
    // A bigint key is stored as classid = high 32 bits, objid = low 32 bits, objsubid = 1.
    let holder: Option<Holder> = diesel::sql_query(
        "SELECT a.pid, a.application_name \
         FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
         WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 \
           AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
           AND l.classid::bigint = ($1 >> 32) AND l.objid::bigint = ($1 & 4294967295) \
         LIMIT 1",
    )
    .bind::<BigInt, _>(RETENTION_LOCK_KEY)
    .load(conn)
    .await
    .map_err(crate::Error::from)?
    .pop();
    Ok(holder.map(|h| {
        format!(
            "pid {} (application_name {:?})",
            h.pid,
            h.application_name.as_deref().unwrap_or("?")
        )
    }))
}
