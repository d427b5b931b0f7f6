//! Idempotent inserts for at-least-once delivery: a row whose id the caller
//! supplied and that already exists is returned as stored, never duplicated
//! and never an error.

use std::future::Future;

use diesel_async::AsyncPgConnection;
use uuid::Uuid;

use crate::error::Result;

/// A row type keyed by a UUID `id`.
pub(crate) trait Keyed: Sized + Send {
    /// What a missing row is called in [`Error::NotFound`](crate::Error::NotFound).
    const ENTITY: &'static str;

    /// This row's id.
    fn id(&self) -> Uuid;

    /// The stored row with id `id`.
    fn find(conn: &mut AsyncPgConnection, id: Uuid) -> impl Future<Output = Result<Self>> + Send;

    /// The stored rows with these ids, in any order.
    fn find_many(
        conn: &mut AsyncPgConnection,
        ids: Vec<Uuid>,
    ) -> impl Future<Output = Result<Vec<Self>>> + Send;
}

/// Implements [`Keyed`] for `$row`, the rows of table `$table`, called
/// `$entity` in errors.
macro_rules! keyed {
    ($row:ty, $table:ident, $entity:literal) => {
        impl $crate::insert::Keyed for $row {
            const ENTITY: &'static str = $entity;

            fn id(&self) -> ::uuid::Uuid {
                self.id
            }

            async fn find(
                conn: &mut ::diesel_async::AsyncPgConnection,
                id: ::uuid::Uuid,
            ) -> $crate::error::Result<Self> {
                $table::table
                    .find(id)
                    .select(Self::as_select())
                    .load(conn)
                    .await?
                    .pop()
                    .ok_or_else(|| $crate::error::Error::not_found($entity, id))
            }

            async fn find_many(
                conn: &mut ::diesel_async::AsyncPgConnection,
                ids: Vec<::uuid::Uuid>,
            ) -> $crate::error::Result<Vec<Self>> {
                Ok($table::table
                    .filter($table::id.eq_any(ids))
                    .select(Self::as_select())
                    .load(conn)
                    .await?)
            }
        }
    };
}
pub(crate) use keyed;

/// Inserts `$values` with id `$id` into `$table` and returns the row as
/// stored: the new row, or the one already there with that id (a redelivery).
///
/// One statement, `INSERT … ON CONFLICT (id) DO NOTHING RETURNING`; only a
/// redelivery reads the stored row back. The result is read to the end (the
/// server's ReadyForQuery), so `Ok` means committed: the first row arrives
/// before the implicit transaction commits, and a commit can still fail
/// (a deferred constraint, a lost connection). Used inside the `impl` of a
/// [`Keyed`] row type of `$table`.
macro_rules! insert_or_stored {
    ($conn:expr, $table:ident, $id:expr, $values:expr) => {{
        let (conn, id): (&mut ::diesel_async::AsyncPgConnection, ::uuid::Uuid) = ($conn, $id);
        let inserted = ::diesel::insert_into($table::table)
            .values(($table::id.eq(id), $values))
            .on_conflict($table::id)
            .do_nothing()
            .returning(Self::as_returning())
            .load(&mut *conn)
            .await?
            .pop();
        match inserted {
            Some(row) => Ok(row),
            None => <Self as $crate::insert::Keyed>::find(conn, id).await,
        }
    }};
}
pub(crate) use insert_or_stored;

/// Inserts `$values` into `$table` with id `$id` (an `Option<Uuid>`) and
/// returns the row as stored: with the caller's id through
/// [`insert_or_stored!`] (a redelivery returns the stored row), without one
/// through `insert_fresh!` with a new UUIDv7 and no conflict check. The one
/// single-row insert of every append-style call (`create`, `append`).
macro_rules! insert_one {
    ($conn:expr, $table:ident, $id:expr, $values:expr) => {{
        let id: Option<::uuid::Uuid> = $id;
        match id {
            Some(id) => $crate::insert::insert_or_stored!($conn, $table, id, $values),
            None => $crate::fresh_insert::insert_fresh!($conn, $table, $values),
        }
    }};
}
pub(crate) use insert_one;
