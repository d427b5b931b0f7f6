//! Batch appends and ingests: a whole batch in one statement whose text never varies.
//!
//! `INSERT … SELECT unnest($1), …, unnest($n)` binds one array per column,
//! not one parameter per value: the text is the same for 1 row or 100 000,
//! so the connection prepares it once and caches it, the server plans it
//! once, and PostgreSQL's 65 535 bind-parameter limit never applies.

use std::{collections::HashMap, marker::PhantomData};

use diesel::{
    dsl::AsSelect,
    pg::Pg,
    query_builder::{AstPass, Query, QueryFragment, QueryId},
    QueryResult, SelectableHelper,
};
use diesel_async::{
    methods::{ExecuteDsl, LoadQuery},
    AsyncPgConnection, RunQueryDsl,
};
use futures_util::{future::BoxFuture, FutureExt};
use uuid::Uuid;

use crate::{
    error::{Error, Result},
    insert::Keyed,
};

/// Most bind parameters PostgreSQL accepts in one statement (a 16-bit count).
///
/// Batch appends bind one array per column and are not bounded by it.
pub const MAX_BIND_PARAMS: usize = 65_535;

/// A row type whose table takes batch appends through `unnest`.
pub(crate) trait UnnestInsert: Keyed + diesel::Selectable<Pg> + Clone + 'static {
    /// The statement up to and including `SELECT `; one `unnest($n)` per
    /// column follows.
    ///
    /// Expressions before the arrays (e.g. `clock_timestamp(), `) are
    /// evaluated per row.
    const INSERT_SELECT: &'static str;
}

// `unnest` in the select list, one per array, walks the arrays in lockstep
// and streams the rows; `SELECT * FROM unnest($1, …)` is a function scan,
// which first copies every row into a tuplestore (the change and its case-2
// figures are in crates/bench/README.md).
mod sql {
    diesel::define_sql_function! {
        /// PostgreSQL's `unnest(anyarray)`: one row per element, in order.
        fn unnest<T: diesel::sql_types::SingleValue>(array: diesel::sql_types::Array<T>) -> T;
    }
}
pub(crate) use sql::unnest;

/// The columns of a batch, each one `unnest` of an array bind, in the order
/// of [`UnnestInsert::INSERT_SELECT`].
pub(crate) trait Arrays: QueryFragment<Pg> + QueryId + Send {}

impl<T: QueryFragment<Pg> + QueryId + Send> Arrays for T {}

/// How a batch treats ids that may already be stored.
pub(crate) trait Ids: 'static {
    /// What follows the arrays.
    const CONFLICT: &'static str;
}

/// Every id is a UUIDv7 made for this batch: none can be stored yet, so the
/// statement skips the conflict check (a collision would be an error, never
/// a silent no-op returning someone else's row).
pub(crate) enum Generated {}

impl Ids for Generated {
    const CONFLICT: &'static str = "";
}

/// Some ids came from the caller and may be redelivered: those are skipped
/// and read back.
pub(crate) enum Supplied {}

impl Ids for Supplied {
    const CONFLICT: &'static str = " ON CONFLICT (id) DO NOTHING";
}

/// `INSERT INTO … SELECT unnest($1), … [ON CONFLICT (id) DO NOTHING]`, cached
/// by row type and [`Ids`]: a batch ingest, which returns no rows.
pub(crate) struct IngestBatch<R, I, A> {
    arrays: A,
    types: PhantomData<(R, I)>,
}

impl<R, I, A> IngestBatch<R, I, A> {
    fn new(arrays: A) -> Self {
        Self {
            arrays,
            types: PhantomData,
        }
    }
}

/// The statement-cache key of an [`IngestBatch`]: one statement per row type and [`Ids`].
pub(crate) struct IngestBatchId<R, I, A>(PhantomData<(R, I, A)>);

impl<R: UnnestInsert, I: Ids, A: QueryId> QueryId for IngestBatch<R, I, A> {
    type QueryId = IngestBatchId<R, I, A::QueryId>;
    const HAS_STATIC_QUERY_ID: bool = A::HAS_STATIC_QUERY_ID;
}

impl<R: UnnestInsert, I: Ids, A: QueryFragment<Pg>> QueryFragment<Pg> for IngestBatch<R, I, A> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(R::INSERT_SELECT);
        self.arrays.walk_ast(out.reborrow())?;
        out.push_sql(I::CONFLICT);
        Ok(())
    }
}

/// An [`IngestBatch`] followed by `RETURNING` every column of `R`: a batch
/// append, which returns the stored rows.
pub(crate) struct AppendBatch<R: UnnestInsert, I, A> {
    insert: IngestBatch<R, I, A>,
    returning: AsSelect<R, Pg>,
}

impl<R: UnnestInsert, I, A> AppendBatch<R, I, A> {
    fn new(arrays: A) -> Self {
        Self {
            insert: IngestBatch::new(arrays),
            returning: R::as_select(),
        }
    }
}

/// The statement-cache key of an [`AppendBatch`]: one statement per row type and [`Ids`].
pub(crate) struct AppendBatchId<R, I, A>(PhantomData<(R, I, A)>);

impl<R: UnnestInsert, I: Ids, A: QueryId> QueryId for AppendBatch<R, I, A> {
    type QueryId = AppendBatchId<R, I, A::QueryId>;
    const HAS_STATIC_QUERY_ID: bool = A::HAS_STATIC_QUERY_ID;
}

impl<R, I, A> QueryFragment<Pg> for AppendBatch<R, I, A>
where
    R: UnnestInsert,
    I: Ids,
    AsSelect<R, Pg>: QueryFragment<Pg>,
    A: QueryFragment<Pg>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.insert.walk_ast(out.reborrow())?;
        out.push_sql(" RETURNING ");
        self.returning.walk_ast(out.reborrow())
    }
}

impl<R, I, A> Query for AppendBatch<R, I, A>
where
    R: UnnestInsert,
    AsSelect<R, Pg>: diesel::Expression,
{
    type SqlType = <AsSelect<R, Pg> as diesel::Expression>::SqlType;
}

/// The id of every row, the caller's or else a new UUIDv7, and whether all are new.
pub(crate) fn ids<T>(rows: &[T], id: impl Fn(&T) -> Option<Uuid>) -> (Vec<Uuid>, bool) {
    let all_generated = rows.iter().all(|row| id(row).is_none());
    let ids = rows
        .iter()
        .map(|row| id(row).unwrap_or_else(Uuid::now_v7))
        .collect();
    (ids, all_generated)
}

/// One field of every row, in row order: a column to bind as an array.
pub(crate) fn column<'a, T, F>(rows: &'a [T], field: impl Fn(&'a T) -> F) -> Vec<F> {
    rows.iter().map(field).collect()
}

/// Appends the rows whose columns are `arrays` and ids `ids` in one
/// statement; the stored rows in the order of `ids`.
///
/// `all_generated` says no id came from the caller. Otherwise ids that
/// already existed (a redelivery) are read back as stored; repeated ids
/// repeat the row.
pub(crate) fn append<'a, R, A>(
    conn: &'a mut AsyncPgConnection,
    ids: &'a [Uuid],
    all_generated: bool,
    arrays: A,
) -> BoxFuture<'a, Result<Vec<R>>>
where
    R: UnnestInsert,
    A: Send + 'a,
    AppendBatch<R, Generated, A>: LoadQuery<'a, AsyncPgConnection, R>,
    AppendBatch<R, Supplied, A>: LoadQuery<'a, AsyncPgConnection, R>,
{
    // Boxed: the compiler cannot prove a generic `load` future `Send` for
    // every lifetime its callers' futures are spawned with.
    async move {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        if all_generated {
            let stored = AppendBatch::<R, Generated, A>::new(arrays)
                .load(conn)
                .await?;
            // PostgreSQL returns an INSERT … SELECT's rows in the order it
            // inserted them, but does not promise it: check, as below.
            if stored.iter().map(R::id).eq(ids.iter().copied()) {
                return Ok(stored);
            }
            return in_order(ids, stored);
        }
        let mut stored = AppendBatch::<R, Supplied, A>::new(arrays)
            .load(conn)
            .await?;
        if stored.iter().map(R::id).eq(ids.iter().copied()) {
            return Ok(stored);
        }
        // Redelivered ids: ON CONFLICT DO NOTHING returned nothing for them.
        let returned: std::collections::HashSet<Uuid> = stored.iter().map(R::id).collect();
        let existing = ids
            .iter()
            .filter(|id| !returned.contains(id))
            .copied()
            .collect();
        stored.extend(R::find_many(conn, existing).await?);
        in_order(ids, stored)
    }
    .boxed()
}

/// Stores the rows whose columns are `arrays` in one statement; how many
/// were new.
///
/// `all_generated` says no id came from the caller. Otherwise rows whose id
/// already existed (a redelivery) are skipped and not counted.
pub(crate) fn ingest<'a, R, A>(
    conn: &'a mut AsyncPgConnection,
    rows: usize,
    all_generated: bool,
    arrays: A,
) -> BoxFuture<'a, Result<usize>>
where
    R: UnnestInsert,
    A: Send + 'a,
    IngestBatch<R, Generated, A>: ExecuteDsl<AsyncPgConnection>,
    IngestBatch<R, Supplied, A>: ExecuteDsl<AsyncPgConnection>,
{
    async move {
        if rows == 0 {
            return Ok(0);
        }
        Ok(if all_generated {
            IngestBatch::<R, Generated, A>::new(arrays)
                .execute(conn)
                .await?
        } else {
            IngestBatch::<R, Supplied, A>::new(arrays)
                .execute(conn)
                .await?
        })
    }
    .boxed()
}

/// `rows` arranged in the order of `ids`, one per id (repeated ids repeat the row).
fn in_order<R: UnnestInsert>(ids: &[Uuid], rows: Vec<R>) -> Result<Vec<R>> {
    let by_id: HashMap<Uuid, R> = rows.into_iter().map(|row| (row.id(), row)).collect();
    ids.iter()
        .map(|id| {
            by_id
                .get(id)
                .cloned()
                .ok_or_else(|| Error::not_found(R::ENTITY, id))
        })
        .collect()
}
