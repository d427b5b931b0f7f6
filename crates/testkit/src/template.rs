//! The migrated template database that test databases are cloned from.

use std::{
    collections::hash_map::DefaultHasher,
    hash::{Hash, Hasher},
    sync::OnceLock,
};

use bridge_models::DbConfig;
use bridge_schema::MIGRATION_SQL;
use diesel::{sql_types::Bool, QueryableByName, RunQueryDsl};

use crate::{admin, SyncPgConnection};

/// Key of the advisory lock that serialises template creation across processes.
const TEMPLATE_LOCK_KEY: i64 = 0x6272_6964_6765_7400; // "bridget\0"

/// Name of a template migrated with exactly the embedded migrations,
/// creating it on first use.
pub(crate) fn ensure_migrated_template() -> String {
    static TEMPLATE: OnceLock<String> = OnceLock::new();
    TEMPLATE
        .get_or_init(|| {
            let name = format!("bridge_template_{:016x}", migrations_fingerprint());
            admin::with_server(|conn| create_template_once(conn, &name));
            name
        })
        .clone()
}

/// Names how templates are built; change it when [`migrate`] changes what a
/// template holds, so that templates built the old way are not reused.
const RECIPE: &str = "migrate::run_pending, with checksums";

/// Fingerprint of the embedded migrations and the recipe: either changed gets a new template.
fn migrations_fingerprint() -> u64 {
    let mut hasher = DefaultHasher::new();
    MIGRATION_SQL.hash(&mut hasher);
    RECIPE.hash(&mut hasher);
    hasher.finish()
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
    let config = DbConfig::new(admin::database_url(name));
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime for migrating the template")
        .block_on(bridge_models::migrate::run_pending(&config))
        .unwrap_or_else(|err| panic!("migrating template {name}: {err}"));
}
