//! The public operations: setup, up, down, redo and status.

use diesel_async::async_connection_wrapper::BlockOn;

use crate::{
    connect::{connect, create_database},
    error::MigrateError,
    options::{Mode, Options, Target},
    plan,
    report::{Direction, Reporter, Step},
    runtime::{on_own_runtime, ThisThread},
    session::Session,
    status::Status,
    Result,
};

/// Runs migration commands against the database of its [`Options`].
///
/// Each call opens its own connection, takes the migration lock (except
/// [`status`](Self::status)), and releases both when it returns.
#[derive(Debug, Clone)]
pub struct Migrator {
    options: Options,
}

impl Migrator {
    /// A migrator for `options`.
    pub fn new(options: Options) -> Self {
        Self { options }
    }

    /// The options this migrator was built with.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// Creates the database if it does not exist, then applies every pending migration.
    pub async fn setup(&self, mut reporter: impl Reporter) -> Result<Vec<Step>> {
        match connect(&self.options).await {
            Err(MigrateError::DatabaseMissing { name, .. }) => {
                if create_database(&self.options).await? {
                    reporter.created_database(&name);
                }
            }
            Err(other) => return Err(other),
            Ok(_) => {}
        }
        self.up(None, Mode::default(), reporter).await
    }

    /// Applies the pending migrations in order, up to and including version `to`.
    pub async fn up(
        &self,
        to: Option<&str>,
        mode: Mode,
        reporter: impl Reporter,
    ) -> Result<Vec<Step>> {
        let to = to.map(str::to_owned);
        self.locked(reporter, move |session, reporter| {
            let plan = plan::to_apply(&session.known(), &session.applied()?, to.as_deref())?;
            run_plan(session, reporter, &plan, Direction::Up, mode)
        })
        .await
    }

    /// Reverts the applied migrations `target` names, latest first, behind the data guard.
    pub async fn down(
        &self,
        target: Target,
        mode: Mode,
        reporter: impl Reporter,
    ) -> Result<Vec<Step>> {
        self.locked(reporter, move |session, reporter| {
            let plan = plan::to_revert(&session.known(), &session.applied()?, &target)?;
            guard(session, reporter, &plan, mode)?;
            run_plan(session, reporter, &plan, Direction::Down, mode)
        })
        .await
    }

    /// Reverts the migrations `target` names, then applies them again: the rollback test.
    pub async fn redo(
        &self,
        target: Target,
        mode: Mode,
        reporter: impl Reporter,
    ) -> Result<Vec<Step>> {
        self.locked(reporter, move |session, reporter| {
            let mut plan = plan::to_revert(&session.known(), &session.applied()?, &target)?;
            guard(session, reporter, &plan, mode)?;
            let mut steps = run_plan(session, reporter, &plan, Direction::Down, mode)?;
            plan.reverse();
            steps.extend(run_plan(session, reporter, &plan, Direction::Up, mode)?);
            Ok(steps)
        })
        .await
    }

    /// Every migration of the source and the database, with its state; takes no lock.
    pub async fn status(&self) -> Result<Status> {
        let options = self.options.clone();
        on_own_runtime(move || {
            let conn = ThisThread.block_on(connect(&options))?;
            let mut session = Session::unlocked(conn, options.source.load()?);
            session.status().map_err(|err| session.explain(err))
        })
        .await
    }

    /// Connects and runs `work` on a blocking thread with the migration lock held.
    async fn locked<R, T, F>(&self, mut reporter: R, work: F) -> Result<T>
    where
        R: Reporter,
        T: Send + 'static,
        F: FnOnce(&mut Session, &mut R) -> Result<T> + Send + 'static,
    {
        let options = self.options.clone();
        on_own_runtime(move || {
            let conn = ThisThread.block_on(connect(&options))?;
            let mut session = Session::unlocked(conn, options.source.load()?);
            session
                .lock(&options)
                .and_then(|()| work(&mut session, &mut reporter))
                .map_err(|err| session.explain(err))
        })
        .await
    }
}

/// Refuses to drop tables holding rows unless forced, confirmed, or only a dry run.
fn guard(
    session: &mut Session,
    reporter: &mut impl Reporter,
    plan: &[usize],
    mode: Mode,
) -> Result<()> {
    let tables = session.tables_dropped(plan)?;
    if tables.is_empty() {
        return Ok(());
    }
    reporter.tables_to_drop(&tables);
    let at_risk = tables.iter().any(|table| table.rows > 0);
    if !at_risk || mode.dry_run || mode.force || reporter.confirm_data_loss(&tables) {
        return Ok(());
    }
    Err(MigrateError::DataGuard { tables })
}

/// Runs `plan` in `direction`, or only reports its SQL in a dry run.
fn run_plan(
    session: &mut Session,
    reporter: &mut impl Reporter,
    plan: &[usize],
    direction: Direction,
    mode: Mode,
) -> Result<Vec<Step>> {
    if mode.dry_run {
        return Ok(plan
            .iter()
            .map(|&index| {
                let script = &session.scripts[index];
                let sql = match direction {
                    Direction::Up => Some(script.up_sql.as_str()),
                    Direction::Down => script.down_sql.as_deref(),
                };
                reporter.would_run(direction, script, sql.unwrap_or_default());
                Step::of(script, direction, None)
            })
            .collect());
    }
    if !plan.is_empty() {
        session.prepare_bookkeeping()?;
    }
    plan.iter()
        .map(|&index| {
            let step = session.run(index, direction)?;
            reporter.ran(&step);
            Ok(step)
        })
        .collect()
}
