//! A connection holding the migration lock, and the steps run on it.

use std::time::{Duration, Instant};

use diesel::{
    connection::BoxableConnection,
    migration::{Migration, MigrationMetadata, MigrationName},
    pg::Pg,
    Connection,
};
use diesel_async::AsyncPgConnection;
use diesel_migrations::MigrationHarness;

use crate::{
    checksum,
    error::MigrateError,
    guard, history, lock, lost,
    report::{Direction, Step},
    runtime::SyncPgConnection,
    source::Script,
    status::Status,
    table_rows::TableRows,
    Result,
};

type StepError = Box<dyn std::error::Error + Send + Sync>;

/// A blocking connection on which migrations run; locked by [`Session::lock`].
pub(crate) struct Session {
    conn: SyncPgConnection,
    /// The migrations of the source, in version order.
    pub scripts: Vec<Script>,
}

impl Session {
    /// Wraps `conn` for blocking use, without the lock: for read-only status.
    pub fn unlocked(conn: AsyncPgConnection, scripts: Vec<Script>) -> Self {
        Self {
            conn: SyncPgConnection::from(conn),
            scripts,
        }
    }

    /// Takes the migration lock, waiting at most `timeout`.
    pub fn lock(&mut self, timeout: Duration) -> Result<()> {
        lock::acquire(&mut self.conn, timeout)
    }

    /// `err` as [`MigrateError::ConnectionLost`] when this session's
    /// connection is gone, so that a restart or a terminated session is not
    /// taken for a failed migration.
    pub fn explain(&mut self, err: MigrateError) -> MigrateError {
        lost::explain(err, &mut self.conn, &self.scripts)
    }

    /// The applied versions, ascending.
    pub fn applied(&mut self) -> Result<Vec<String>> {
        let rows = history::applied(&mut self.conn)
            .map_err(MigrateError::database("reading the applied migrations"))?;
        Ok(rows.into_iter().map(|row| row.version).collect())
    }

    /// The known versions, ascending.
    pub fn known(&self) -> Vec<String> {
        self.scripts.iter().map(|s| s.version.clone()).collect()
    }

    /// Applied, pending, unknown and changed migrations.
    pub fn status(&mut self) -> Result<Status> {
        let context = "reading the migration status";
        let applied = history::applied(&mut self.conn).map_err(MigrateError::database(context))?;
        let recorded =
            checksum::recorded(&mut self.conn).map_err(MigrateError::database(context))?;
        Ok(Status::compare(&self.scripts, &applied, &recorded))
    }

    /// The tables that reverting `plan` drops, with their rows.
    pub fn tables_dropped(&mut self, plan: &[usize]) -> Result<Vec<TableRows>> {
        let scripts: Vec<&Script> = plan.iter().map(|&i| &self.scripts[i]).collect();
        guard::tables_dropped(&mut self.conn, &scripts).map_err(MigrateError::database(
            "counting the rows of tables to drop",
        ))
    }

    /// Creates Diesel's bookkeeping table and ours if missing.
    pub fn prepare_bookkeeping(&mut self) -> Result<()> {
        checksum::create_tables(&mut self.conn).map_err(MigrateError::database(
            "creating the migration bookkeeping tables",
        ))
    }

    /// Runs script `index` in `direction`, in its own transaction unless it opts out.
    pub fn run(&mut self, index: usize, direction: Direction) -> Result<Step> {
        let started = Instant::now();
        let script = &self.scripts[index];
        let run_step = |conn: &mut SyncPgConnection| step(conn, script, direction);
        let outcome = match script.runnable().metadata().run_in_transaction() {
            true => self.conn.transaction(run_step),
            false => run_step(&mut self.conn),
        };
        outcome.map_err(|err| failed(script, direction, &*err))?;
        Ok(Step::of(script, direction, Some(started.elapsed())))
    }
}

/// One migration through Diesel's harness plus its checksum bookkeeping.
fn step(
    conn: &mut SyncPgConnection,
    script: &Script,
    direction: Direction,
) -> Result<(), StepError> {
    let migration = InSessionTransaction(script.runnable());
    match direction {
        Direction::Up => {
            conn.run_migration(&migration)?;
            checksum::record(conn, script)?;
        }
        Direction::Down => {
            conn.revert_migration(&migration)?;
            checksum::forget(conn, &script.version)?;
        }
    }
    Ok(())
}

/// A migration that Diesel's harness runs and records without a transaction
/// of its own: [`Session::run`] has already opened the one that also covers
/// the checksum, so the harness's would only be a savepoint, two more round
/// trips per migration.
struct InSessionTransaction<'a>(&'a dyn Migration<Pg>);

/// Metadata saying "no transaction of your own".
struct NoOwnTransaction;

impl MigrationMetadata for NoOwnTransaction {
    fn run_in_transaction(&self) -> bool {
        false
    }
}

impl Migration<Pg> for InSessionTransaction<'_> {
    fn run(&self, conn: &mut dyn BoxableConnection<Pg>) -> diesel::migration::Result<()> {
        self.0.run(conn)
    }

    fn revert(&self, conn: &mut dyn BoxableConnection<Pg>) -> diesel::migration::Result<()> {
        self.0.revert(conn)
    }

    fn metadata(&self) -> &dyn MigrationMetadata {
        &NoOwnTransaction
    }

    fn name(&self) -> &dyn MigrationName {
        self.0.name()
    }
}

fn failed(
    script: &Script,
    direction: Direction,
    err: &(dyn std::error::Error + 'static),
) -> MigrateError {
    MigrateError::MigrationFailed {
        dir_name: script.dir_name.clone(),
        path: script.path.join(direction.file_name()),
        direction,
        message: server_message(err),
    }
}

/// The server's error from a harness error, without Diesel's "Failed to run <name> with:"
/// prefix (the error names the migration already).
fn server_message(err: &(dyn std::error::Error + 'static)) -> String {
    let text = err.to_string();
    match text.split_once(" with: ") {
        Some((prefix, message)) if prefix.starts_with("Failed to run ") => message.to_owned(),
        _ => text,
    }
}
