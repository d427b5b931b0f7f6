//! A connection holding the migration lock, and the steps run on it.

use std::{
    thread,
    time::{Duration, Instant},
};

use diesel::{
    connection::{BoxableConnection, SimpleConnection},
    migration::{Migration, MigrationMetadata, MigrationName},
    pg::Pg,
    Connection,
};
use diesel_async::AsyncPgConnection;
use diesel_migrations::MigrationHarness;

use crate::{
    checksum,
    connect::connect,
    error::MigrateError,
    guard, history, invalid_index, lock, lock_wait, lost,
    observer::Observer,
    options::Options,
    report::{Direction, Step},
    runtime::SyncPgConnection,
    source::Script,
    status::Status,
    table_rows::TableRows,
    timeout_setting, Result,
};

type StepError = Box<dyn std::error::Error + Send + Sync>;

/// A blocking connection on which migrations run; locked by [`Session::lock`].
pub(crate) struct Session {
    conn: SyncPgConnection,
    /// The migrations of the source, in version order.
    pub scripts: Vec<Script>,
    /// The options of the run, once locked: the bounds of each migration.
    options: Option<Options>,
    /// Notes who blocks this session's lock waits; started before the first migration.
    observer: Option<Observer>,
}

impl Session {
    /// Wraps `conn` for blocking use, without the lock: for read-only status.
    pub fn unlocked(conn: AsyncPgConnection, scripts: Vec<Script>) -> Self {
        Self {
            conn: SyncPgConnection::from(conn),
            scripts,
            options: None,
            observer: None,
        }
    }

    /// Takes the migration lock, waiting at most `options.lock_wait()`;
    /// migrations then run under the bounds of `options`.
    pub fn lock(&mut self, options: &Options) -> Result<()> {
        lock::acquire(&mut self.conn, options.lock_wait())?;
        self.options = Some(options.clone());
        Ok(())
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
        let invalid =
            invalid_index::all(&mut self.conn).map_err(MigrateError::database(context))?;
        Ok(Status::compare(&self.scripts, &applied, &recorded, invalid))
    }

    /// The tables that reverting `plan` drops, with their rows.
    pub fn tables_dropped(&mut self, plan: &[usize]) -> Result<Vec<TableRows>> {
        let scripts: Vec<&Script> = plan.iter().map(|&i| &self.scripts[i]).collect();
        guard::tables_dropped(&mut self.conn, &scripts).map_err(MigrateError::database(
            "counting the rows of tables to drop",
        ))
    }

    /// Creates Diesel's bookkeeping table and ours if missing, and gets
    /// ready to tell and report lock timeouts.
    pub fn prepare_bookkeeping(&mut self) -> Result<()> {
        checksum::create_tables(&mut self.conn).map_err(MigrateError::database(
            "creating the migration bookkeeping tables",
        ))?;
        if self.observer.is_none() {
            lock_wait::untranslated_messages(&mut self.conn);
            self.observer = self.start_observer();
        }
        Ok(())
    }

    /// An observer of this session's lock waits on a connection of its own;
    /// none without a bound. Should that connection fail (e.g. no slot
    /// free), the migrations run all the same, only their blockers go unnamed.
    fn start_observer(&mut self) -> Option<Observer> {
        let options = self.options.as_ref()?;
        if options.ddl_lock_timeout.is_zero() {
            return None;
        }
        let pid = lock::backend_pid(&mut self.conn).ok()?;
        let observer_options = Options {
            wait: None,
            application_name: format!("{} (lock observer)", options.application_name),
            ..options.clone()
        };
        let every = (options.ddl_lock_timeout / 4)
            .clamp(Duration::from_millis(20), Duration::from_millis(500));
        let connect = async move { connect(&observer_options).await };
        Some(Observer::start(connect, pid, every))
    }

    /// Runs script `index` in `direction`, in its own transaction unless it
    /// opts out, under `ddl_lock_timeout` and its own `statement_timeout`;
    /// an attempt whose lock wait timed out is rolled back and retried as
    /// `lock_retry` says.
    pub fn run(&mut self, index: usize, direction: Direction) -> Result<Step> {
        let started = Instant::now();
        let options = self
            .options
            .clone()
            .expect("migrations run only under the lock");
        let script = &self.scripts[index];
        set_timeouts(
            &mut self.conn,
            options.ddl_lock_timeout,
            script.statement_timeout(direction),
        )
        .map_err(|err| failed(script, direction, &err))?;
        let attempts = options.lock_retry.attempts.max(1);
        let mut attempt = 1;
        loop {
            if let Some(observer) = &self.observer {
                observer.clear();
            }
            let err = match try_once(&mut self.conn, script, direction) {
                Ok(()) => return Ok(Step::of(script, direction, Some(started.elapsed()))),
                Err(err) if lock_wait::is_lock_timeout(&*err) => err,
                Err(err) => return Err(failed(script, direction, &*err)),
            };
            let blockers = self
                .observer
                .as_ref()
                .map(Observer::blockers)
                .unwrap_or_default();
            if attempt >= attempts {
                let left_invalid = match script.in_transaction() {
                    true => Vec::new(),
                    false => clean_up_last_attempt(&mut self.conn, script, direction),
                };
                return Err(MigrateError::DdlLockTimeout {
                    dir_name: script.dir_name.clone(),
                    direction,
                    attempts,
                    lock_timeout: options.ddl_lock_timeout,
                    elapsed: started.elapsed(),
                    blockers,
                    in_transaction: script.in_transaction(),
                    left_invalid,
                });
            }
            let wait = options.lock_retry.wait_after(attempt);
            tracing::warn!(
                attempt,
                attempts,
                "{} {}: {}; lock_timeout {:?}; {}; retrying in {wait:.1?}",
                direction.verb(),
                script.dir_name,
                server_message(&*err),
                options.ddl_lock_timeout,
                crate::blocker::blockers_text(&blockers),
            );
            thread::sleep(wait);
            attempt += 1;
        }
    }
}

/// One attempt at `script`: in a transaction unless it opts out; one that
/// opts out first drops what an earlier attempt (or an earlier run) left
/// invalid, so that its builds can start again.
fn try_once(
    conn: &mut SyncPgConnection,
    script: &Script,
    direction: Direction,
) -> Result<(), StepError> {
    let run_step = |conn: &mut SyncPgConnection| step(conn, script, direction);
    match script.in_transaction() {
        true => conn.transaction(run_step),
        false => {
            drop_left_invalid(conn, script, direction)?;
            run_step(conn)
        }
    }
}

/// The indexes the non-transactional `script` builds with `CREATE INDEX CONCURRENTLY`.
fn concurrent_builds(script: &Script, direction: Direction) -> Vec<String> {
    let sql = match direction {
        Direction::Up => script.up_sql.as_str(),
        Direction::Down => script.down_sql.as_deref().unwrap_or_default(),
    };
    invalid_index::built_concurrently(sql)
}

/// Drops the indexes that a failed attempt of the non-transactional
/// `script` left invalid (its `CREATE INDEX CONCURRENTLY` statements), so
/// that the next attempt can build them again; the drop waits for locks
/// too, under the same `lock_timeout`. The migration is pending, and the
/// migration lock keeps other runs out, so no build of them is under way.
fn drop_left_invalid(
    conn: &mut SyncPgConnection,
    script: &Script,
    direction: Direction,
) -> diesel::QueryResult<()> {
    let dropped = invalid_index::drop_invalid(conn, &concurrent_builds(script, direction))?;
    if !dropped.is_empty() {
        tracing::warn!(
            "{}: dropped the invalid index(es) {} a failed attempt left, to build them again",
            script.dir_name,
            dropped.join(", ")
        );
    }
    Ok(())
}

/// After the last timed-out attempt of the non-transactional `script`:
/// drops what its builds left invalid, under the same bound, and returns
/// the indexes still invalid. The bound stays: `DROP INDEX CONCURRENTLY`
/// takes only `SHARE UPDATE EXCLUSIVE` on the table, so waiting longer would
/// stall no read or write, but it waits for the very sessions that defeated
/// every attempt, for as long as they last, and the run (a service's
/// start-up, holding the migration lock) would no longer end within its
/// retry window. What stays, `status` reports and the next run drops first.
fn clean_up_last_attempt(
    conn: &mut SyncPgConnection,
    script: &Script,
    direction: Direction,
) -> Vec<String> {
    if let Err(err) = drop_left_invalid(conn, script, direction) {
        tracing::debug!("{}: dropping invalid indexes: {err}", script.dir_name);
    }
    invalid_index::still_invalid(conn, &concurrent_builds(script, direction)).unwrap_or_else(
        |err| {
            tracing::warn!("{}: looking for invalid indexes: {err}", script.dir_name);
            Vec::new()
        },
    )
}

/// Sets the session's `lock_timeout` and `statement_timeout` (the server's
/// default when `statement` is `None`) for the next migration; outside its
/// transaction, so a rollback keeps them.
fn set_timeouts(
    conn: &mut SyncPgConnection,
    lock: Duration,
    statement: Option<Duration>,
) -> diesel::QueryResult<()> {
    let statement = statement.map_or_else(|| "DEFAULT".to_owned(), timeout_setting::millis);
    conn.batch_execute(&format!(
        "SET lock_timeout = {}; SET statement_timeout = {statement}",
        timeout_setting::millis(lock)
    ))
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
