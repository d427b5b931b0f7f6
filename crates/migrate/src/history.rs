//! What Diesel's `__diesel_schema_migrations` says is applied, read without creating it.

use chrono::{DateTime, Utc};
use diesel::{
    prelude::*,
    sql_types::{Bool, Text, Timestamptz},
};

use crate::runtime::SyncPgConnection;

/// Diesel's bookkeeping table.
const DIESEL_TABLE: &str = "__diesel_schema_migrations";

/// One row of `__diesel_schema_migrations`.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub(crate) struct AppliedRow {
    /// Diesel's version of the migration.
    #[diesel(sql_type = Text)]
    pub version: String,
    /// When it was applied. Diesel stores a time without zone in the writing
    /// session's zone, and every Diesel connection (diesel_cli's, an
    /// application's, ours) sets its session to UTC whatever the server's
    /// default: this reads it as UTC.
    #[diesel(sql_type = Timestamptz)]
    pub run_on: DateTime<Utc>,
}

/// Every applied migration in version order; none when Diesel's table does not exist yet.
pub(crate) fn applied(conn: &mut SyncPgConnection) -> QueryResult<Vec<AppliedRow>> {
    if !table_exists(conn, DIESEL_TABLE)? {
        return Ok(Vec::new());
    }
    diesel::sql_query(
        "SELECT version, run_on AT TIME ZONE 'UTC' AS run_on \
         FROM __diesel_schema_migrations ORDER BY version",
    )
    .load(conn)
}

#[derive(QueryableByName)]
struct Exists {
    #[diesel(sql_type = Bool)]
    exists: bool,
}

/// Whether a table or view called `name` is visible on the search path.
pub(crate) fn table_exists(conn: &mut SyncPgConnection, name: &str) -> QueryResult<bool> {
    diesel::sql_query("SELECT to_regclass($1) IS NOT NULL AS exists")
        .bind::<Text, _>(name)
        .get_result::<Exists>(conn)
        .map(|row| row.exists)
}
