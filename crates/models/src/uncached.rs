//! Statements planned with the values bound each time, never from a cached generic plan.

use diesel::{
    pg::Pg,
    query_builder::{AstPass, Query, QueryFragment, QueryId},
    QueryResult,
};

/// `Q`, never kept as a prepared statement: PostgreSQL plans it with the
/// values bound this time. Wrap a query in it and run it as usual:
/// `Uncached(query).load(conn)`.
///
/// For statements whose best plan depends on the size of the batch and of
/// the tables they join: a generic plan cached while the tables were small
/// keeps scanning them whole once they are big (new statistics arrive only
/// with the next ANALYZE), where a fresh plan probes their indexes. Planning
/// costs well under a millisecond per statement.
#[derive(Debug, Clone, Copy)]
pub struct Uncached<Q>(pub Q);

impl<Q> QueryId for Uncached<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q: Query> Query for Uncached<Q> {
    type SqlType = Q::SqlType;
}

impl<Q: QueryFragment<Pg>> QueryFragment<Pg> for Uncached<Q> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.unsafe_to_cache_prepared();
        self.0.walk_ast(out)
    }
}
