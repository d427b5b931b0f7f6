//! The database URL comes from DATABASE_URL, else the PG* variables, else the default.
//!
//! One test only: it changes this process's environment, which other tests
//! running in parallel threads would see.

use bridge_connect::{database_url_from_env, DEFAULT_DATABASE_URL};

const VARS: [&str; 6] = [
    "DATABASE_URL",
    "PGHOST",
    "PGPORT",
    "PGDATABASE",
    "PGUSER",
    "PGPASSWORD",
];

fn set(pairs: &[(&str, &str)]) {
    for var in VARS {
        std::env::remove_var(var);
    }
    for (var, value) in pairs {
        std::env::set_var(var, value);
    }
}

#[test]
fn database_url_precedence_is_database_url_then_pg_variables_then_default() {
    set(&[]);
    assert_eq!(database_url_from_env().unwrap(), DEFAULT_DATABASE_URL);

    set(&[
        ("PGHOST", "db.internal"),
        ("PGUSER", "bridge"),
        ("PGPASSWORD", "s3 cret"),
    ]);
    assert_eq!(
        database_url_from_env().unwrap(),
        "postgres://bridge:s3%20cret@db.internal:5432/omninode_bridge"
    );

    set(&[("PGPORT", "6432"), ("PGDATABASE", "other")]);
    assert_eq!(
        database_url_from_env().unwrap(),
        "postgres://postgres@localhost:6432/other"
    );

    set(&[("DATABASE_URL", "postgres://x@y/z"), ("PGHOST", "ignored")]);
    assert_eq!(database_url_from_env().unwrap(), "postgres://x@y/z");

    set(&[("PGPORT", "not-a-port")]);
    let err = database_url_from_env().expect_err("a bad PGPORT");
    assert!(err.to_string().contains("PGPORT"), "{err}");
    set(&[]);
}
