//! What a call on a connection came to: a server error that only a
//! terminated session gives is told apart by asking the connection.

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::error::{Error, Result};

/// `result` of work just done on `conn`, with an unclassified server error
/// turned into [`Error::ConnectionLost`] when the connection is gone.
///
/// A session ended by the server (restart, `pg_terminate_backend`) answers
/// the call in flight with an error whose class diesel does not name, and
/// its message text follows the server's `lc_messages`; a one-statement
/// probe tells it apart for sure, and is only sent on that rare path.
pub(crate) async fn settle<T>(conn: &mut AsyncPgConnection, result: Result<T>) -> Result<T> {
    match result {
        Err(err) if err.is_unclassified() && is_gone(conn).await => {
            Err(Error::ConnectionLost(err.to_string()))
        }
        other => other,
    }
}

/// Whether `conn` can no longer reach its server session.
async fn is_gone(conn: &mut AsyncPgConnection) -> bool {
    // Inside a failed transaction the probe is refused with an error the
    // server sends, which proves the session alive.
    matches!(
        diesel::sql_query("SELECT 1").execute(conn).await,
        Err(DieselError::DatabaseError(
            DatabaseErrorKind::UnableToSendCommand | DatabaseErrorKind::ClosedConnection,
            _
        ))
    )
}

/// Runs `$body`, an expression using the connection `$conn`, and settles
/// its result with [`settle`].
macro_rules! on_conn {
    ($conn:ident, $body:expr) => {{
        let result: $crate::error::Result<_> = async { $body }.await;
        $crate::outcome::settle($conn, result).await
    }};
}
pub(crate) use on_conn;
