//! Statements on the server's maintenance database: create and drop databases.

use diesel::RunQueryDsl;

use crate::{sync_connect, SyncPgConnection};

/// URL of the server's `postgres` maintenance database, from the environment.
pub fn server_url() -> String {
    database_url("postgres")
}

/// URL of database `name` on the server named by the environment.
pub(crate) fn database_url(name: &str) -> String {
    let url = bridge_connect::database_url_from_env()
        .expect("DATABASE_URL or the PG* variables name a usable server");
    let mut url = url::Url::parse(&url).expect("the database URL parses");
    url.set_path(name);
    url.into()
}

/// Runs `f` on a connection to the maintenance database, on a thread of its
/// own so that it works from inside an async runtime as well as outside.
pub(crate) fn with_server<T: Send>(f: impl FnOnce(&mut SyncPgConnection) -> T + Send) -> T {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let url = server_url();
                let mut conn = sync_connect(&url)
                    .unwrap_or_else(|err| panic!("test kit cannot reach PostgreSQL: {err}"));
                f(&mut conn)
            })
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// Runs `sql`, which must succeed, and returns the affected row count.
pub fn execute(conn: &mut SyncPgConnection, sql: &str) -> usize {
    diesel::sql_query(sql)
        .execute(conn)
        .unwrap_or_else(|err| panic!("{sql}: {err}"))
}

/// Creates database `name`, cloned from `template` when given.
pub(crate) fn create_database(name: &str, template: Option<&str>) {
    let sql = match template {
        Some(template) => format!(r#"CREATE DATABASE "{name}" TEMPLATE "{template}""#),
        None => format!(r#"CREATE DATABASE "{name}""#),
    };
    with_server(|conn| execute(conn, &sql));
}

/// Drops database `name`, ending any session still connected to it.
pub(crate) fn drop_database(name: &str) {
    let sql = format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#);
    // Never panic in Drop: a failed clean-up must not hide the test's own result.
    if let Err(err) = with_server(|conn| diesel::sql_query(&sql).execute(conn)) {
        eprintln!("test kit: {sql}: {err}");
    }
}
