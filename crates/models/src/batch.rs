//! Batch appends: a whole batch in one statement whose text never varies.
//!
//! `INSERT … SELECT * FROM unnest($1, …, $n)` binds one array per column,
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
use uuid::Uuid;

use crate::error::{Error, Result};

/// Most bind parameters PostgreSQL accepts in one statement (a 16-bit count).
///
/// Batch appends bind one array per column and are not bounded by it.
pub const MAX_BIND_PARAMS: usize = 65_535;

/// A row type whose table takes batch appends through `unnest`.
pub(crate) trait UnnestInsert: diesel::Selectable<Pg> + 'static {
    /// The statement up to `unnest(`: the arrays, then `)`, follow.
    ///
    /// `SELECT *` takes the arrays' elements in bind order; volatile
    /// expressions after it (e.g. `clock_timestamp()`) are evaluated per row.
    const INSERT_SELECT: &'static str;
}

/// `INSERT INTO … SELECT * FROM unnest(arrays) ON CONFLICT (id) DO NOTHING
/// RETURNING` every column of `R`, cached by type.
pub(crate) struct AppendBatch<R: UnnestInsert, A> {
    arrays: A,
    returning: AsSelect<R, Pg>,
}

impl<R: UnnestInsert, A> AppendBatch<R, A> {
    /// The batch whose columns are `arrays`, a tuple of array binds.
    pub(crate) fn new(arrays: A) -> Self {
        Self {
            arrays,
            returning: R::as_select(),
        }
    }
}

/// The statement-cache key of an [`AppendBatch`]: one statement per row type.
pub(crate) struct AppendBatchId<R, A>(PhantomData<(R, A)>);

impl<R: UnnestInsert, A: QueryId> QueryId for AppendBatch<R, A> {
    type QueryId = AppendBatchId<R, A::QueryId>;
    const HAS_STATIC_QUERY_ID: bool = A::HAS_STATIC_QUERY_ID;
}

impl<R, A> QueryFragment<Pg> for AppendBatch<R, A>
where
    R: UnnestInsert,
    AsSelect<R, Pg>: QueryFragment<Pg>,
    A: QueryFragment<Pg>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(R::INSERT_SELECT);
        self.arrays.walk_ast(out.reborrow())?;
        out.push_sql(") ON CONFLICT (id) DO NOTHING RETURNING ");
        self.returning.walk_ast(out.reborrow())
    }
}

impl<R, A> Query for AppendBatch<R, A>
where
    R: UnnestInsert,
    AsSelect<R, Pg>: diesel::Expression,
{
    type SqlType = <AsSelect<R, Pg> as diesel::Expression>::SqlType;
}

/// One field of every row, in row order: a column to bind as an array.
pub(crate) fn column<'a, R, T>(rows: &'a [R], field: impl Fn(&'a R) -> T) -> Vec<T> {
    rows.iter().map(field).collect()
}

/// `rows` arranged in the order of `ids`, one per id (repeated ids repeat the row).
pub(crate) fn in_order<T: Clone>(
    ids: &[Uuid],
    rows: Vec<T>,
    id_of: impl Fn(&T) -> Uuid,
    entity: &'static str,
) -> Result<Vec<T>> {
    let by_id: HashMap<Uuid, T> = rows.into_iter().map(|row| (id_of(&row), row)).collect();
    ids.iter()
        .map(|id| {
            by_id
                .get(id)
                .cloned()
                .ok_or_else(|| Error::not_found(entity, id))
        })
        .collect()
}
