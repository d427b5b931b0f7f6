//! Helpers shared by the integration tests: catalog read-outs, error probes
//! and error assertions.
//!
//! The tests themselves live in `tests/`, one file per area.

pub use bridge_testkit::execute as exec;
use bridge_testkit::SyncPgConnection;
use diesel::{
    result::{DatabaseErrorKind, Error},
    sql_types::{BigInt, Text},
    QueryableByName, RunQueryDsl,
};
use diesel_async::AsyncPgConnection;

#[derive(QueryableByName)]
struct Line {
    #[diesel(sql_type = Text)]
    line: String,
}

#[derive(QueryableByName)]
struct Number {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Runs `sql`, which selects one BIGINT column named `n` in one row, and returns it.
pub async fn number(conn: &mut AsyncPgConnection, sql: &str) -> i64 {
    diesel_async::RunQueryDsl::load::<Number>(diesel::sql_query(sql), conn)
        .await
        .unwrap_or_else(|err| panic!("{sql}: {err}"))
        .pop()
        .unwrap_or_else(|| panic!("{sql}: no row"))
        .n
}

/// Rows in `table`.
pub async fn count_rows(conn: &mut AsyncPgConnection, table: &str) -> i64 {
    number(conn, &format!("SELECT count(*) AS n FROM {table}")).await
}

/// Runs `sql` on an async connection, which must succeed.
pub async fn exec_async(conn: &mut AsyncPgConnection, sql: &str) {
    diesel_async::RunQueryDsl::execute(diesel::sql_query(sql), conn)
        .await
        .unwrap_or_else(|err| panic!("{sql}: {err}"));
}

/// Runs `sql`, which selects one text column named `line`, and returns its values.
pub fn lines(conn: &mut SyncPgConnection, sql: &str) -> Vec<String> {
    diesel::sql_query(sql)
        .load::<Line>(conn)
        .unwrap_or_else(|err| panic!("{sql}: {err}"))
        .into_iter()
        .map(|row| row.line)
        .collect()
}

/// Columns of the public tables (Diesel's bookkeeping and partitions aside):
/// name, type, nullability, default.
pub const COLUMNS: &str = "
    SELECT c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
        || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END
        || COALESCE(' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid), '') AS line
    FROM pg_attribute a
    JOIN pg_class c ON c.oid = a.attrelid
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
      AND NOT c.relispartition
      AND a.attnum > 0 AND NOT a.attisdropped AND c.relname NOT LIKE '\\_\\_%'
    ORDER BY c.relname, a.attnum";

/// Constraints of the public tables (not of partitions, which inherit their
/// parent's): PK, UNIQUE, FK with its ON DELETE rule, CHECK.
pub const CONSTRAINTS: &str = "
    SELECT k.conrelid::regclass || ' ' || k.conname || ' ' || pg_get_constraintdef(k.oid) AS line
    FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
    WHERE k.connamespace = 'public'::regnamespace AND c.relname NOT LIKE '\\_\\_%'
      AND NOT c.relispartition
    ORDER BY 1";

/// Index definitions of the public tables (a partitioned table's shows
/// `ON ONLY`; its partitions' copies are left out).
pub const INDEXES: &str = "
    SELECT pg_get_indexdef(i.indexrelid) AS line
    FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
    WHERE c.relnamespace = 'public'::regnamespace AND c.relname NOT LIKE '\\_\\_%'
      AND NOT c.relispartition
    ORDER BY 1";

/// Partitions of the public tables: parent, partition and bounds.
pub const PARTITIONS: &str = "
    SELECT p.relname || ' ' || c.relname || ' ' || pg_get_expr(c.relpartbound, c.oid) AS line
    FROM pg_inherits h
    JOIN pg_class c ON c.oid = h.inhrelid
    JOIN pg_class p ON p.oid = h.inhparent
    WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
    ORDER BY 1";

/// User triggers with their definitions.
pub const TRIGGERS: &str = "
    SELECT pg_get_triggerdef(oid) AS line FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1";

/// Functions in the public schema with their full definitions.
pub const FUNCTIONS: &str = "
    SELECT pg_get_functiondef(p.oid) AS line FROM pg_proc p
    WHERE p.pronamespace = 'public'::regnamespace ORDER BY 1";

/// Installed extensions other than the built-in plpgsql.
pub const EXTENSIONS: &str = "
    SELECT extname AS line FROM pg_extension WHERE extname <> 'plpgsql' ORDER BY 1";

/// Comments on tables, columns and indexes of the public schema.
pub const COMMENTS: &str = "
    SELECT c.relname || COALESCE('.' || a.attname, '') || ': ' || d.description AS line
    FROM pg_description d
    JOIN pg_class c ON c.oid = d.objoid AND d.classoid = 'pg_class'::regclass
    LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = d.objsubid AND d.objsubid > 0
    WHERE c.relnamespace = 'public'::regnamespace AND c.relname NOT LIKE '\\_\\_%'
    ORDER BY 1";

/// Everything the migrations define, as comparable lines (Diesel's bookkeeping aside).
pub fn catalog_snapshot(conn: &mut SyncPgConnection) -> Vec<String> {
    [
        ("column", COLUMNS),
        ("constraint", CONSTRAINTS),
        ("index", INDEXES),
        ("partition", PARTITIONS),
        ("trigger", TRIGGERS),
        ("function", FUNCTIONS),
        ("extension", EXTENSIONS),
        ("comment", COMMENTS),
    ]
    .into_iter()
    .flat_map(|(kind, sql)| {
        lines(conn, sql)
            .into_iter()
            .map(move |line| format!("{kind}: {line}"))
    })
    .collect()
}

/// Asserts two catalog snapshots are equal, showing only the lines that differ.
#[track_caller]
pub fn assert_same_catalog(actual: &[String], expected: &[String], context: &str) {
    let only_actual: Vec<_> = actual.iter().filter(|l| !expected.contains(l)).collect();
    let only_expected: Vec<_> = expected.iter().filter(|l| !actual.contains(l)).collect();
    assert!(
        only_actual.is_empty() && only_expected.is_empty() && actual.len() == expected.len(),
        "{context}\nonly in actual: {only_actual:#?}\nonly in expected: {only_expected:#?}"
    );
}

/// What the database said when it refused a statement.
#[derive(Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The class of error.
    pub kind: String,
    /// The constraint named by the server, if any.
    pub constraint: Option<String>,
    /// The column named by the server, if any.
    pub column: Option<String>,
    /// The server's message.
    pub message: String,
}

/// Runs `sql`, which must fail, and returns how the database refused it.
pub fn refusal(conn: &mut SyncPgConnection, sql: &str) -> Refusal {
    match diesel::sql_query(sql).execute(conn) {
        Ok(rows) => panic!("expected the database to refuse, but it wrote {rows} row(s): {sql}"),
        Err(Error::DatabaseError(kind, info)) => Refusal {
            kind: kind_name(&kind).to_owned(),
            constraint: info.constraint_name().map(str::to_owned),
            column: info.column_name().map(str::to_owned),
            message: info.message().to_owned(),
        },
        Err(other) => panic!("expected a database error, got {other}: {sql}"),
    }
}

fn kind_name(kind: &DatabaseErrorKind) -> &'static str {
    match kind {
        DatabaseErrorKind::CheckViolation => "check",
        DatabaseErrorKind::UniqueViolation => "unique",
        DatabaseErrorKind::ForeignKeyViolation => "foreign key",
        DatabaseErrorKind::NotNullViolation => "not null",
        _ => "other",
    }
}

/// Asserts `result` failed on constraint `name` of class `kind`.
pub fn assert_violates<T: std::fmt::Debug>(
    result: bridge_models::Result<T>,
    kind: bridge_models::ConstraintKind,
    name: &str,
) {
    match result {
        Err(bridge_models::Error::ConstraintViolation {
            kind: actual_kind,
            constraint,
            ..
        }) => assert_eq!((actual_kind, constraint.as_str()), (kind, name)),
        other => panic!("expected a violation of {name}, got {other:?}"),
    }
}

/// Rows the model tests write.
pub mod fixtures {
    use bridge_models::{NewFsmTransition, NewWorkflowExecution, Result, WorkflowExecution};
    use diesel_async::AsyncPgConnection;
    use serde_json::json;
    use uuid::Uuid;

    /// A workflow of type `metadata_stamping` in namespace `tenant-a` with a fresh correlation id.
    pub fn new_workflow() -> NewWorkflowExecution {
        NewWorkflowExecution::new(Uuid::new_v4(), "metadata_stamping", "tenant-a")
    }

    /// [`new_workflow`], created.
    pub async fn workflow(conn: &mut AsyncPgConnection) -> Result<WorkflowExecution> {
        WorkflowExecution::create(conn, &new_workflow()).await
    }

    /// The `n`-th transition of `entity_id`: `S{n-1}` to `S{n}`, data `{"n": n}`.
    pub fn new_transition(entity_id: Uuid, n: usize) -> NewFsmTransition {
        NewFsmTransition {
            id: None,
            entity_id,
            entity_type: "bridge_state".into(),
            from_state: (n > 0).then(|| format!("S{}", n - 1)),
            to_state: format!("S{n}"),
            transition_event: format!("event-{n}"),
            transition_data: json!({"n": n}),
        }
    }
}
