//! Single-row inserts of rows whose id is made for them: no conflict check.
//!
//! A UUIDv7 made for this insert cannot be stored yet, so the statement skips
//! `ON CONFLICT (id) DO NOTHING`, as batch appends of generated ids do
//! (`batch::Generated`). On the partitioned audit tables the clause costs
//! every insert the set-up of the partition's arbiter index, about a fifth of
//! a single-row insert's server time (bench case 7). A collision would be an
//! error, never a silent no-op returning someone else's row. Ids a caller
//! supplies still go through `insert::insert_or_stored`.

/// Inserts `$values` into `$table` with a new UUIDv7 id and returns the
/// stored row, read to the end (so `Ok` means committed, as in
/// `insert::insert_or_stored`); used inside the `impl` of a row type of `$table`.
macro_rules! insert_fresh {
    ($conn:expr, $table:ident, $values:expr) => {{
        let conn: &mut ::diesel_async::AsyncPgConnection = $conn;
        let id = ::uuid::Uuid::now_v7();
        ::diesel::insert_into($table::table)
            .values(($table::id.eq(id), $values))
            .returning(Self::as_returning())
            .load(conn)
            .await?
            .pop()
            .ok_or_else(|| $crate::error::Error::not_found("inserted row", id))
    }};
}
pub(crate) use insert_fresh;
