//! Shared by the CLI tests: run the built `bridge-admin`, build migration directories.
// Each test file is its own crate and uses a different part of this module.
#![allow(dead_code)]

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Command, Output},
};

use bridge_testkit::TestDatabase;
use diesel::{sql_types::BigInt, QueryableByName, RunQueryDsl};

/// Documented exit codes, repeated here so a change to them fails a test.
pub mod code {
    /// Success.
    pub const OK: i32 = 0;
    /// Usage or configuration error.
    pub const USAGE: i32 = 2;
    /// `status --check` found something to do.
    pub const CHECK_FAILED: i32 = 3;
    /// Database unreachable.
    pub const UNREACHABLE: i32 = 4;
    /// Migration lock timeout.
    pub const LOCK_TIMEOUT: i32 = 5;
    /// A migration failed.
    pub const MIGRATION_FAILED: i32 = 6;
    /// Refused by the data guard.
    pub const DATA_GUARD: i32 = 7;
    /// Authentication or authorisation refused.
    pub const AUTHENTICATION: i32 = 8;
    /// No connection slot free on the server.
    pub const SERVER_BUSY: i32 = 9;
    /// TLS failed.
    pub const TLS: i32 = 10;
    /// A migration's table locks not acquired within `--ddl-lock-timeout`, on every attempt.
    pub const DDL_LOCK_TIMEOUT: i32 = 11;
    /// What `inspect` was asked for does not exist.
    pub const NOT_FOUND: i32 = 12;
}

/// The migrations the binary embeds.
pub const EMBEDDED_COUNT: usize = bridge_schema::MIGRATION_SQL.len();

/// `bridge-admin` with none of the connection or logging variables of this process.
pub fn bridge_admin() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_bridge-admin"));
    for var in [
        "DATABASE_URL",
        "PGHOST",
        "PGPORT",
        "PGDATABASE",
        "PGUSER",
        "PGPASSWORD",
        "RUST_LOG",
        "CLICOLOR_FORCE",
        "CLICOLOR",
        "NO_COLOR",
    ] {
        command.env_remove(var);
    }
    command
}

/// What a finished `bridge-admin` said.
#[derive(Debug)]
pub struct Outcome {
    /// Its exit code.
    pub code: i32,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
}

impl Outcome {
    /// Panics, showing both streams, unless the exit code is `code`.
    #[track_caller]
    pub fn expect(self, code: i32) -> Self {
        assert_eq!(self.code, code, "unexpected exit code; {self:#?}");
        self
    }
}

impl From<Output> for Outcome {
    fn from(output: Output) -> Self {
        Self {
            code: output
                .status
                .code()
                .expect("bridge-admin exited, not killed"),
            stdout: String::from_utf8(output.stdout).expect("UTF-8 stdout"),
            stderr: String::from_utf8(output.stderr).expect("UTF-8 stderr"),
        }
    }
}

/// Runs `bridge-admin --database-url URL ARGS…` to completion.
pub fn run(url: &str, args: &[&str]) -> Outcome {
    run_command(bridge_admin().arg("--database-url").arg(url).args(args))
}

/// Runs `command` to completion.
pub fn run_command(command: &mut Command) -> Outcome {
    command.output().expect("bridge-admin starts").into()
}

/// Runs `bridge-admin up` on `db` and checks that it succeeded.
pub fn migrate(db: &TestDatabase) {
    run(db.url(), &["up"]).expect(code::OK);
}

/// Applies the migrations up to the six tables' last one (`metadata_stamps`),
/// whatever migrations follow it; returns how many are applied.
pub fn migrate_six_tables(db: &TestDatabase) -> i64 {
    run(db.url(), &["up", "--to", "2025-10-07-000006"]).expect(code::OK);
    applied_count(db)
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// The number of rows `sql` (a `SELECT count(*) AS n …`) counts in `db`.
pub fn count(db: &TestDatabase, sql: &str) -> i64 {
    diesel::sql_query(sql)
        .get_result::<Count>(&mut db.sync_conn())
        .unwrap_or_else(|err| panic!("{sql}: {err}"))
        .n
}

/// Whether `table` exists in `db`.
pub fn table_exists(db: &TestDatabase, table: &str) -> bool {
    count(
        db,
        &format!("SELECT count(*) AS n FROM pg_tables WHERE tablename = '{table}'"),
    ) == 1
}

/// The versions recorded in `__diesel_schema_migrations`.
pub fn applied_count(db: &TestDatabase) -> i64 {
    count(db, "SELECT count(*) AS n FROM __diesel_schema_migrations")
}

/// Runs `sql` on `db`.
pub fn execute(db: &TestDatabase, sql: &str) {
    diesel::sql_query(sql)
        .execute(&mut db.sync_conn())
        .unwrap_or_else(|err| panic!("{sql}: {err}"));
}

/// The product's `migrations/` directory.
pub fn product_migrations() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations")
}

/// A migrations directory of the test's own, deleted when dropped.
pub struct MigrationDir {
    dir: tempfile::TempDir,
}

impl MigrationDir {
    /// An empty migrations directory.
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("a temporary directory"),
        }
    }

    /// A copy of the product's migrations.
    pub fn copy_of_product() -> Self {
        let copy = Self::new();
        for entry in fs::read_dir(product_migrations()).expect("migrations/ is readable") {
            let from = entry.expect("a directory entry").path();
            let to = copy.path().join(from.file_name().unwrap());
            fs::create_dir(&to).unwrap();
            for file in ["up.sql", "down.sql"] {
                fs::copy(from.join(file), to.join(file)).unwrap();
            }
        }
        copy
    }

    /// Adds migration `dir_name` with the given SQL.
    pub fn add(&self, dir_name: &str, up: &str, down: &str) -> &Self {
        let dir = self.path().join(dir_name);
        fs::create_dir(&dir).unwrap();
        fs::write(dir.join("up.sql"), up).unwrap();
        fs::write(dir.join("down.sql"), down).unwrap();
        self
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The directory as a string, for `--migration-dir`.
    pub fn arg(&self) -> &str {
        self.path().to_str().expect("a UTF-8 temporary path")
    }
}

/// `pg_dump --schema-only` of `db`, without the random `\restrict` keys of newer pg_dump.
pub fn schema_dump(db: &TestDatabase) -> String {
    let output = Command::new("pg_dump")
        .args(["--schema-only", "--no-owner", "--dbname", db.url()])
        .output()
        .expect("pg_dump is installed");
    assert!(
        output.status.success(),
        "pg_dump failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .filter(|line| !line.starts_with("\\restrict") && !line.starts_with("\\unrestrict"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Sessions writing one row at a time at a steady pace, noting their slowest write.
pub struct SteadyWriters {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    threads: Vec<std::thread::JoinHandle<(u64, std::time::Duration)>>,
}

impl SteadyWriters {
    /// `sessions` sessions on `url`, each running `sql` every `every`; each
    /// connects before this returns.
    pub fn start(url: &str, sql: &str, sessions: usize, every: std::time::Duration) -> Self {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (ready, connected) = std::sync::mpsc::channel();
        let threads = (0..sessions)
            .map(|_| {
                let (url, sql, stop, ready) =
                    (url.to_owned(), sql.to_owned(), stop.clone(), ready.clone());
                std::thread::spawn(move || {
                    let mut conn = bridge_testkit::sync_connect(&url).expect("a writer connects");
                    ready.send(()).unwrap();
                    let (mut writes, mut worst) = (0, std::time::Duration::ZERO);
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        let started = std::time::Instant::now();
                        diesel::sql_query(&sql)
                            .execute(&mut conn)
                            .unwrap_or_else(|err| panic!("{sql}: {err}"));
                        worst = worst.max(started.elapsed());
                        writes += 1;
                        std::thread::sleep(every);
                    }
                    (writes, worst)
                })
            })
            .collect();
        for _ in 0..sessions {
            connected.recv().expect("a writer connects");
        }
        Self { stop, threads }
    }

    /// Stops them; returns how many rows they wrote and the slowest write.
    pub fn stop(self) -> (u64, std::time::Duration) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.threads
            .into_iter()
            .map(|thread| thread.join().expect("a writer ends without panicking"))
            .fold(
                (0, std::time::Duration::ZERO),
                |(n, worst), (writes, slowest)| (n + writes, worst.max(slowest)),
            )
    }
}

/// A session of the test with a transaction open on a table, holding its lock until dropped.
pub struct LongTransaction {
    /// The session's connection.
    pub conn: bridge_testkit::SyncPgConnection,
    /// Its backend pid.
    pub pid: i32,
}

#[derive(QueryableByName)]
struct Pid {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pid: i32,
}

impl LongTransaction {
    /// Opens a transaction on `db` named `application_name` and runs `sql` in it (e.g. a read).
    pub fn begin(db: &TestDatabase, application_name: &str, sql: &str) -> Self {
        let mut conn = db.sync_conn();
        let setup = format!("SET application_name = '{application_name}'");
        for statement in [setup.as_str(), "BEGIN", sql] {
            diesel::sql_query(statement)
                .execute(&mut conn)
                .unwrap_or_else(|err| panic!("{statement}: {err}"));
        }
        let pid = diesel::sql_query("SELECT pg_backend_pid() AS pid")
            .get_result::<Pid>(&mut conn)
            .unwrap()
            .pid;
        Self { conn, pid }
    }

    /// Ends the transaction, releasing its locks.
    pub fn commit(mut self) {
        diesel::sql_query("COMMIT").execute(&mut self.conn).unwrap();
    }
}
