//! SHA-256 checksums of each applied `up.sql`, kept in a table of our own.
//!
//! Diesel's `__diesel_schema_migrations` is left exactly as Diesel keeps it,
//! so `diesel migration run` goes on working; the checksums live beside it.

use std::collections::HashMap;

use crate::{history::table_exists, runtime::SyncPgConnection, source::Script};
use chrono::{DateTime, Utc};
use diesel::{
    migration::CREATE_MIGRATIONS_TABLE,
    pg::Pg,
    prelude::*,
    query_builder::{AstPass, QueryFragment, QueryId},
    sql_types::Text,
};

/// Name of the table that records the checksum of each applied migration.
pub const CHECKSUM_TABLE: &str = "__bridge_migration_checksums";

diesel::table! {
    /// One row per migration applied by this engine.
    __bridge_migration_checksums (version) {
        /// Diesel's version of the migration.
        version -> Varchar,
        /// Directory name of the migration when it was applied.
        dir_name -> Text,
        /// SHA-256 of its `up.sql`, lower-case hex.
        sha256 -> Text,
        /// When it was applied.
        applied_at -> Timestamptz,
    }
}

use __bridge_migration_checksums as checksums;

const CREATE_TABLE: &str = r#"
CREATE TABLE IF NOT EXISTS __bridge_migration_checksums (
    version    VARCHAR(50) PRIMARY KEY,
    dir_name   TEXT        NOT NULL,
    sha256     TEXT        NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
COMMENT ON TABLE __bridge_migration_checksums IS
    'SHA-256 of up.sql of each migration applied by bridge-admin; beside __diesel_schema_migrations.';
"#;

/// A checksum as recorded when its migration was applied.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = __bridge_migration_checksums, check_for_backend(diesel::pg::Pg))]
pub(crate) struct Recorded {
    pub dir_name: String,
    pub sha256: String,
    pub applied_at: DateTime<Utc>,
}

/// Creates Diesel's bookkeeping table and ours if missing, in one round
/// trip; call only under the migration lock.
pub(crate) fn create_tables(conn: &mut SyncPgConnection) -> QueryResult<()> {
    let both = format!("{CREATE_MIGRATIONS_TABLE};\n{CREATE_TABLE}");
    diesel::connection::SimpleConnection::batch_execute(conn, &both)
}

/// Records `script`'s checksum, replacing one left by an earlier application.
pub(crate) fn record(conn: &mut SyncPgConnection, script: &Script) -> QueryResult<()> {
    Record(script).execute(conn).map(drop)
}

/// `INSERT … ON CONFLICT (version) DO UPDATE` of one checksum, written out
/// because Diesel never caches an upsert's `DO UPDATE SET`; this one is
/// prepared once per run, not once per migration.
struct Record<'a>(&'a Script);

impl QueryId for Record<'_> {
    type QueryId = Record<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<Conn> RunQueryDsl<Conn> for Record<'_> {}

impl QueryFragment<Pg> for Record<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(
            "INSERT INTO __bridge_migration_checksums (version, dir_name, sha256, applied_at) \
             VALUES (",
        );
        out.push_bind_param::<Text, _>(&self.0.version)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&self.0.dir_name)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&self.0.checksum)?;
        out.push_sql(
            ", now()) ON CONFLICT (version) DO UPDATE SET dir_name = excluded.dir_name, \
             sha256 = excluded.sha256, applied_at = excluded.applied_at",
        );
        Ok(())
    }
}

/// Forgets the checksum of a reverted migration.
pub(crate) fn forget(conn: &mut SyncPgConnection, version: &str) -> QueryResult<()> {
    diesel::delete(checksums::table.find(version))
        .execute(conn)
        .map(drop)
}

/// Every recorded checksum by version; none when the table does not exist yet.
pub(crate) fn recorded(conn: &mut SyncPgConnection) -> QueryResult<HashMap<String, Recorded>> {
    if !table_exists(conn, CHECKSUM_TABLE)? {
        return Ok(HashMap::new());
    }
    checksums::table
        .select((checksums::version, Recorded::as_select()))
        .load(conn)
        .map(|rows| rows.into_iter().collect())
}
