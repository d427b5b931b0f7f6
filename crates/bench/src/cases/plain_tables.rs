//! A database with the audit tables as they were before partitioning: the
//! limit's side of cases 6 and 7.

use bridge_schema::MIGRATION_SQL;
use bridge_testkit::TestDatabase;

use crate::{direct::Direct, BenchResult};

/// Migrations from the one that partitions the audit tables on.
const PARTITIONING: &str = "partition_audit_tables";

/// A migrated database whose audit tables are plain again: the `down.sql` of
/// every migration from the partitioning one on, newest first, exactly as
/// `bridge-admin down` would run them.
pub async fn database() -> BenchResult<TestDatabase> {
    let db = TestDatabase::migrated();
    let direct = Direct::connect(db.url()).await?;
    let from = MIGRATION_SQL
        .iter()
        .position(|m| m.dir_name.ends_with(PARTITIONING))
        .ok_or("no partitioning migration")?;
    for migration in MIGRATION_SQL[from..].iter().rev() {
        direct
            .batch(migration.down.ok_or("a migration without down.sql")?)
            .await?;
    }
    let kind = direct
        .column("SELECT relkind::text FROM pg_class WHERE relname = 'fsm_transitions'")
        .await?;
    if kind != ["r"] {
        return Err(
            format!("fsm_transitions is {kind:?} after reverting, not a plain table").into(),
        );
    }
    Ok(db)
}
