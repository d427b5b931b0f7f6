//! Telling a lost connection from a failed statement.
//!
//! diesel-async hands on a server error without its SQLSTATE, and a
//! terminated session shows as one more error (57P01 "terminating
//! connection", or "connection closed" from tokio-postgres, or an I/O
//! error), so the connection itself is asked: a live one answers a probe,
//! a lost one never does.

use diesel::connection::SimpleConnection;

use crate::{
    error::{InFlight, MigrateError},
    runtime::SyncPgConnection,
    source::Script,
};

/// `err` as [`MigrateError::ConnectionLost`] when `conn` is gone, else unchanged.
///
/// Only errors of statements on `conn` are looked at; `scripts` tells
/// whether the migration in flight ran in a transaction.
pub(crate) fn explain(
    err: MigrateError,
    conn: &mut SyncPgConnection,
    scripts: &[Script],
) -> MigrateError {
    let (during, in_flight, reason) = match &err {
        MigrateError::Database { context, source } => {
            (context.to_string(), None, source.to_string())
        }
        MigrateError::MigrationFailed {
            dir_name,
            direction,
            message,
            ..
        } => (
            format!("{} {dir_name}", direction.verb()),
            Some(InFlight {
                dir_name: dir_name.clone(),
                direction: *direction,
                in_transaction: scripts
                    .iter()
                    .find(|script| &script.dir_name == dir_name)
                    .is_none_or(|script| script.runnable().metadata().run_in_transaction()),
            }),
            message.clone(),
        ),
        _ => return err,
    };
    if is_alive(conn) {
        return err;
    }
    tracing::debug!("connection lost: {err}");
    MigrateError::ConnectionLost {
        during,
        in_flight,
        reason,
    }
}

/// Whether `conn` still reaches its server: a closed connection fails the
/// probe at once, without a round trip.
fn is_alive(conn: &mut SyncPgConnection) -> bool {
    conn.batch_execute("SELECT 1").is_ok()
}
