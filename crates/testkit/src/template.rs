//! The migrated template database that test databases are cloned from.

use std::{fmt::Write, sync::OnceLock};

use bridge_schema::MIGRATION_SQL;
use diesel::{sql_types::Bool, QueryableByName, RunQueryDsl};
use sha2::{Digest, Sha256};

use crate::{admin, SyncPgConnection};

/// Key of the advisory lock that serialises template creation across processes.
const TEMPLATE_LOCK_KEY: i64 = 0x6272_6964_6765_7400; // "bridget\0"

/// Name of a template migrated with exactly the embedded migrations,
/// creating it on first use.
pub(crate) fn ensure_migrated_template() -> String {
    static TEMPLATE: OnceLock<String> = OnceLock::new();
    TEMPLATE
        .get_or_init(|| {
            let name = format!("bridge_template_{}", migrations_fingerprint());
            admin::with_server(|conn| create_template_once(conn, &name));
            name
        })
        .clone()
}

/// Names how templates are built; change it when [`migrate`] changes what a
/// template holds, so that templates built the old way are not reused.
const RECIPE: &str = "migrate::run_pending, with checksums";

/// Fingerprint of the embedded migrations, the recipe and the UTC month,
/// 16 hex digits: any of them changed gets a new template.
///
/// The month, because migrating creates the audit tables' partitions of this
/// month and the next: a template from an earlier month would lack them.
///
/// SHA-256 rather than std's `DefaultHasher`, whose output may change between
/// Rust releases and would then orphan every template on the server.
fn migrations_fingerprint() -> String {
    let mut hasher = Sha256::new();
    for migration in MIGRATION_SQL {
        for part in [
            migration.dir_name,
            migration.up,
            migration.down.unwrap_or(""),
        ] {
            // Length-prefixed, so that moving text between parts changes the hash.
            hasher.update((part.len() as u64).to_le_bytes());
            hasher.update(part.as_bytes());
        }
    }
    hasher.update(RECIPE.as_bytes());
    hasher.update(chrono::Utc::now().format("%Y-%m").to_string().as_bytes());
    hasher.finalize()[..8]
        .iter()
        .fold(String::with_capacity(16), |mut hex, byte| {
            let _ = write!(hex, "{byte:02x}");
            hex
        })
}

#[derive(QueryableByName)]
struct IsTemplate {
    #[diesel(sql_type = Bool)]
    is_template: bool,
}

/// Creates and migrates `name` unless a finished template exists; test
/// processes running in parallel wait on an advisory lock for the first one.
fn create_template_once(conn: &mut SyncPgConnection, name: &str) {
    admin::execute(
        conn,
        &format!("SELECT pg_advisory_lock({TEMPLATE_LOCK_KEY})"),
    );
    let finished = diesel::sql_query(format!(
        "SELECT datistemplate AS is_template FROM pg_database WHERE datname = '{name}'"
    ))
    .get_result::<IsTemplate>(conn)
    .ok()
    .is_some_and(|row| row.is_template);
    if !finished {
        // A template left half-made by a crashed run is rebuilt from scratch.
        admin::execute(
            conn,
            &format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#),
        );
        admin::execute(conn, &format!(r#"CREATE DATABASE "{name}""#));
        migrate(name);
        admin::execute(
            conn,
            &format!(r#"ALTER DATABASE "{name}" IS_TEMPLATE true"#),
        );
    }
    admin::execute(
        conn,
        &format!("SELECT pg_advisory_unlock({TEMPLATE_LOCK_KEY})"),
    );
}

/// Applies every embedded migration to database `name` with the machinery
/// services and `bridge-admin` use, checksums included.
fn migrate(name: &str) {
    let url = admin::database_url(name);
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime for migrating the template")
        .block_on(bridge_migrate::run_pending(&url))
        .unwrap_or_else(|err| panic!("migrating template {name}: {err}"));
}
