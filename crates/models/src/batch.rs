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
    outcome::on_conn,
    validate,
};

/// Most bind parameters PostgreSQL accepts in one statement (a 16-bit count).
///
/// Batch appends bind one array per column and are not bounded by it.
pub const MAX_BIND_PARAMS: usize = 65_535;

/// The arrays of a batch: one `unnest` of an array bind per column, in the
/// order of [`BatchInsert::INSERT_SELECT`].
pub(crate) type Arrays<'a> = Box<dyn QueryFragment<Pg> + Send + 'a>;

/// A row type whose table takes batches through `unnest`: the one
/// implementation of every `append_many`, `create_many` and `ingest_many`.
///
/// Implemented only through [`batch_insert!`], which makes the statement's
/// column list and its arrays from one list of columns.
pub(crate) trait BatchInsert: Keyed + diesel::Selectable<Pg> + Clone + 'static {
    /// The row to insert, e.g. `NewWorkflowStep`.
    type New: Sync;

    /// The statement up to and including `SELECT `; one `unnest($n)` per
    /// column follows.
    ///
    /// Expressions before the arrays (e.g. `clock_timestamp(), `) are
    /// evaluated per row.
    const INSERT_SELECT: &'static str;

    /// Refuses what the table cannot hold, naming the field.
    fn validate(new: &Self::New) -> Result<()>;

    /// The caller's id of `new`, if it has one.
    fn new_id(new: &Self::New) -> Option<Uuid>;

    /// The columns of `new`, ids `ids`, as one array bind each.
    fn arrays<'a>(ids: &'a [Uuid], new: &'a [Self::New]) -> Arrays<'a>;

    /// Inserts `new` in one statement and returns the stored rows in input
    /// order; a row whose id is stored already (a redelivery) is read back.
    fn append_many<'a>(
        conn: &'a mut AsyncPgConnection,
        new: &'a [Self::New],
    ) -> BoxFuture<'a, Result<Vec<Self>>>
    where
        for<'b> AppendBatch<Self, Generated, Arrays<'b>>: LoadQuery<'b, AsyncPgConnection, Self>,
        for<'b> AppendBatch<Self, Supplied, Arrays<'b>>: LoadQuery<'b, AsyncPgConnection, Self>,
    {
        async move {
            validate::rows(new, Self::validate)?;
            let (ids, all_generated) = ids(new, Self::new_id);
            on_conn!(
                conn,
                append::<Self, _>(conn, &ids, all_generated, Self::arrays(&ids, new)).await
            )
        }
        .boxed()
    }

    /// Inserts `new` in one statement without reading it back; how many
    /// rows were new (a row whose id is stored already is skipped).
    fn ingest_many<'a>(
        conn: &'a mut AsyncPgConnection,
        new: &'a [Self::New],
    ) -> BoxFuture<'a, Result<usize>>
    where
        for<'b> IngestBatch<Self, Generated, Arrays<'b>>: ExecuteDsl<AsyncPgConnection>,
        for<'b> IngestBatch<Self, Supplied, Arrays<'b>>: ExecuteDsl<AsyncPgConnection>,
    {
        async move {
            validate::rows(new, Self::validate)?;
            let (ids, all_generated) = ids(new, Self::new_id);
            on_conn!(
                conn,
                ingest::<Self, _>(conn, new.len(), all_generated, Self::arrays(&ids, new)).await
            )
        }
        .boxed()
    }
}

/// Implements [`BatchInsert`] for `$row`, inserted as `$new` into `$table`,
/// from one list of the columns a batch writes after `id`, each with the
/// field of `$new` it takes. The statement's column list and the arrays
/// both come from that list, and each array's SQL type is its column's, so
/// neither can drift from the other or from the table.
///
/// `before: column = "SQL"` writes `column` first as an expression
/// evaluated per row (e.g. `created_at = "clock_timestamp()"`).
macro_rules! batch_insert {
    (
        $row:ty, $new:ty, $table:ident,
        $(before: $before:ident = $expr:literal,)?
        columns: { $($column:ident: |$r:ident| $field:expr),+ $(,)? }
    ) => {
        impl $crate::batch::BatchInsert for $row {
            type New = $new;

            const INSERT_SELECT: &'static str = concat!(
                "INSERT INTO ", stringify!($table), " (",
                $(stringify!($before), ", ",)?
                "id" $(, ", ", stringify!($column))+,
                ") SELECT ",
                $($expr, ", ",)?
            );

            fn validate(new: &$new) -> $crate::error::Result<()> {
                new.validate()
            }

            fn new_id(new: &$new) -> Option<::uuid::Uuid> {
                new.id
            }

            fn arrays<'a>(
                ids: &'a [::uuid::Uuid],
                new: &'a [$new],
            ) -> $crate::batch::Arrays<'a> {
                use ::diesel::{sql_types::Array, Expression, IntoSql};
                use $crate::batch::{column, unnest};
                $(let _ = $table::$before;)?
                Box::new((
                    unnest(ids.into_sql::<Array<<$table::id as Expression>::SqlType>>()),
                    $(unnest(
                        column(new, |$r| $field)
                            .into_sql::<Array<<$table::$column as Expression>::SqlType>>(),
                    ),)+
                ))
            }
        }
    };
}
pub(crate) use batch_insert;

/// Declares `$append` (`append_many` or `create_many`) and `ingest_many` on
/// `$row`, taking `$new` rows, as [`BatchInsert`]'s calls; `$what` names
/// the rows in their documentation.
macro_rules! batch_calls {
    ($row:ty, $new:ty, $append:ident, $what:literal) => {
        impl $row {
            #[doc = concat!("Writes many ", $what, " in one statement; returns the stored rows in input order.")]
            ///
            /// The batch is atomic: a row the database refuses fails it whole,
            /// and a row of bad input (named in the error) fails it before
            /// anything is sent. Rows come back through `RETURNING`; only ids
            /// that already existed (a redelivery) are read back.
            pub async fn $append(
                conn: &mut ::diesel_async::AsyncPgConnection,
                new: &[$new],
            ) -> $crate::error::Result<Vec<Self>> {
                <Self as $crate::batch::BatchInsert>::append_many(conn, new).await
            }

            #[doc = concat!("Writes many ", $what, " in one statement without reading them back; how many were new.")]
            ///
            #[doc = concat!("For bulk writers that do not need the stored rows: it is [`", stringify!($append), "`](Self::", stringify!($append), ")")]
            /// without `RETURNING`, atomic the same way. Rows whose id already
            /// existed (a redelivery) are skipped and not counted.
            pub async fn ingest_many(
                conn: &mut ::diesel_async::AsyncPgConnection,
                new: &[$new],
            ) -> $crate::error::Result<usize> {
                <Self as $crate::batch::BatchInsert>::ingest_many(conn, new).await
            }
        }
    };
}
pub(crate) use batch_calls;

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
///
/// The arrays are not part of the key: a row type's batches always bind the
/// same columns ([`batch_insert!`]), so its statement text never varies.
pub(crate) struct IngestBatchId<R, I>(PhantomData<(R, I)>);

impl<R: BatchInsert, I: Ids, A> QueryId for IngestBatch<R, I, A> {
    type QueryId = IngestBatchId<R, I>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<R: BatchInsert, I: Ids, A: QueryFragment<Pg>> QueryFragment<Pg> for IngestBatch<R, I, A> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(R::INSERT_SELECT);
        self.arrays.walk_ast(out.reborrow())?;
        out.push_sql(I::CONFLICT);
        Ok(())
    }
}

/// An [`IngestBatch`] followed by `RETURNING` every column of `R`: a batch
/// append, which returns the stored rows.
pub(crate) struct AppendBatch<R: BatchInsert, I, A> {
    insert: IngestBatch<R, I, A>,
    returning: AsSelect<R, Pg>,
}

impl<R: BatchInsert, I, A> AppendBatch<R, I, A> {
    fn new(arrays: A) -> Self {
        Self {
            insert: IngestBatch::new(arrays),
            returning: R::as_select(),
        }
    }
}

/// The statement-cache key of an [`AppendBatch`]: one statement per row type and [`Ids`].
pub(crate) struct AppendBatchId<R, I>(PhantomData<(R, I)>);

impl<R: BatchInsert, I: Ids, A> QueryId for AppendBatch<R, I, A> {
    type QueryId = AppendBatchId<R, I>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<R, I, A> QueryFragment<Pg> for AppendBatch<R, I, A>
where
    R: BatchInsert,
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
    R: BatchInsert,
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
    R: BatchInsert,
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
    R: BatchInsert,
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
fn in_order<R: BatchInsert>(ids: &[Uuid], rows: Vec<R>) -> Result<Vec<R>> {
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

#[cfg(test)]
mod tests {
    use diesel::debug_query;

    use super::*;
    use crate::{
        FsmTransition, MetadataStamp, NewFsmTransition, NewMetadataStamp, NewWorkflowExecution,
        NewWorkflowStep, WorkflowExecution, WorkflowStep,
    };

    /// The ingest statement of `R` for `new`, as PostgreSQL receives it.
    fn statement<R: BatchInsert>(new: &[R::New]) -> String {
        let ids: Vec<Uuid> = new.iter().map(|_| Uuid::now_v7()).collect();
        let query = IngestBatch::<R, Supplied, _>::new(R::arrays(&ids, new));
        debug_query::<Pg, _>(&query).to_string()
    }

    /// The columns a statement names, and the values its SELECT lists.
    fn columns_and_values(sql: &str) -> (Vec<&str>, Vec<&str>) {
        let (head, select) = sql.split_once(") SELECT ").expect("INSERT … SELECT");
        let columns = head.split_once(" (").expect("a column list").1;
        let values = select.split(" ON CONFLICT").next().unwrap_or_default();
        (columns.split(", ").collect(), values.split(", ").collect())
    }

    #[test]
    fn every_batch_statement_names_one_column_per_value_it_selects() {
        let workflow = NewWorkflowExecution::new(Uuid::now_v7(), "t", "ns");
        let step = NewWorkflowStep::new(Uuid::now_v7(), "s", 0);
        let transition = NewFsmTransition {
            id: None,
            entity_id: Uuid::now_v7(),
            entity_type: "workflow".into(),
            from_state: None,
            to_state: "PENDING".into(),
            transition_event: "e".into(),
            transition_data: serde_json::json!({}),
        };
        let stamp = NewMetadataStamp {
            id: None,
            workflow_id: None,
            file_hash: "h".into(),
            stamp_data: serde_json::json!({}),
            namespace: "ns".into(),
        };
        let statements = [
            (statement::<WorkflowExecution>(&[workflow]), 7),
            (statement::<WorkflowStep>(&[step]), 8),
            (statement::<FsmTransition>(&[transition]), 8),
            (statement::<MetadataStamp>(&[stamp]), 5),
        ];
        for (sql, expected) in statements {
            let (columns, values) = columns_and_values(&sql);
            assert_eq!(columns.len(), expected, "{sql}");
            assert_eq!(columns.len(), values.len(), "{sql}");
            let id = columns
                .iter()
                .position(|c| *c == "id")
                .expect("an id column");
            assert_eq!(values[id], "unnest($1)", "{sql}");
            let arrays = values.iter().filter(|v| v.starts_with("unnest(")).count();
            assert_eq!(arrays, sql.matches("unnest(").count(), "{sql}");
        }
    }
}
