//! Case 5: `bridge-admin up` and `redo --all` against diesel_cli on an empty database.

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Instant,
};

use bridge_schema::MIGRATION_SQL;
use bridge_testkit::TestDatabase;

use crate::{
    direct::Direct,
    measure::median,
    report::{Mark, Row, Target, Unit},
    BenchResult, Context,
};

/// A migration command-line tool: how to run its `up` and its `redo --all`.
struct Tool {
    name: &'static str,
    program: PathBuf,
    up: Vec<String>,
    redo_all: Vec<String>,
}

impl Tool {
    fn bridge_admin(program: PathBuf) -> Self {
        Self {
            name: "bridge-admin",
            program,
            up: vec!["up".into()],
            redo_all: vec!["redo".into(), "--all".into()],
        }
    }

    fn diesel(program: PathBuf, migrations: &Path, config: &Path) -> Self {
        // An empty config file keeps diesel from regenerating the repo's schema.rs.
        let common = vec![
            "--migration-dir".to_owned(),
            migrations.display().to_string(),
            "--config-file".to_owned(),
            config.display().to_string(),
        ];
        Self {
            name: "diesel_cli",
            program,
            up: [vec!["migration".into(), "run".into()], common.clone()].concat(),
            redo_all: [
                vec!["migration".into(), "redo".into(), "--all".into()],
                common,
            ]
            .concat(),
        }
    }

    /// Runs one command against `url` and returns its wall-clock seconds.
    async fn time(&self, args: &[String], url: &str, cwd: &Path) -> BenchResult<f64> {
        let mut cmd = Command::new(&self.program);
        cmd.args(args)
            .args(["--database-url", url])
            .current_dir(cwd)
            .stdin(Stdio::null());
        let name = self.name;
        tokio::task::spawn_blocking(move || {
            let started = Instant::now();
            let out = cmd.output()?;
            let seconds = started.elapsed().as_secs_f64();
            if !out.status.success() {
                return Err(format!(
                    "{name} failed ({}): {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr)
                )
                .into());
            }
            Ok(seconds)
        })
        .await?
    }
}

/// Seconds of `up` and of `redo --all`, each on a fresh empty database.
async fn time_tool(tool: &Tool, cwd: &Path) -> BenchResult<(f64, f64)> {
    let db = TestDatabase::empty();
    let up = tool.time(&tool.up, db.url(), cwd).await?;
    expect_migrated(db.url(), tool.name, "up").await?;
    let redo = tool.time(&tool.redo_all, db.url(), cwd).await?;
    expect_migrated(db.url(), tool.name, "redo --all").await?;
    Ok((up, redo))
}

/// Fails unless every embedded migration is recorded and all six tables exist.
async fn expect_migrated(url: &str, tool: &str, command: &str) -> BenchResult<()> {
    let direct = Direct::connect(url).await?;
    let applied = direct
        .column(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' \
             AND tablename = '__diesel_schema_migrations'",
        )
        .await?;
    let versions = if applied == ["1"] {
        direct
            .column("SELECT count(*) FROM __diesel_schema_migrations")
            .await?
    } else {
        vec!["0".to_owned()]
    };
    let tables = direct
        .column(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename IN \
             ('workflow_executions', 'workflow_steps', 'fsm_transitions', 'bridge_states', \
              'node_registrations', 'metadata_stamps')",
        )
        .await?;
    let expected = MIGRATION_SQL.len().to_string();
    if versions != [expected.clone()] || tables != ["6"] {
        return Err(format!(
            "after `{tool} {command}`: {versions:?} migrations recorded (want {expected}), \
             {tables:?} of 6 tables"
        )
        .into());
    }
    Ok(())
}

/// The `diesel` binary: the flag, else on PATH, else in ~/.cargo/bin.
fn find_diesel(flag: Option<&PathBuf>) -> Option<PathBuf> {
    if let Some(path) = flag {
        return Some(path.clone());
    }
    let runs = |path: &Path| {
        Command::new(path)
            .arg("--version")
            .output()
            .is_ok_and(|out| out.status.success())
    };
    let on_path = PathBuf::from("diesel");
    if runs(&on_path) {
        return Some(on_path);
    }
    let home = std::env::var_os("HOME").map(PathBuf::from)?;
    let in_cargo = home.join(".cargo/bin/diesel");
    runs(&in_cargo).then_some(in_cargo)
}

/// Our binary `name`: the flag, else beside this binary (same cargo profile).
pub(super) fn find_beside(flag: Option<&PathBuf>, name: &str) -> Option<PathBuf> {
    if let Some(path) = flag {
        return Some(path.clone());
    }
    let exe = std::env::current_exe().ok()?;
    let beside = exe.parent()?.join(name);
    beside.is_file().then_some(beside)
}

/// Runs case 5 and returns its two rows.
pub async fn run(ctx: &Context) -> Vec<Row> {
    const UP: &str = "5 migrations: up (empty db)";
    const REDO: &str = "5 migrations: redo --all";
    let Some(diesel) = find_diesel(ctx.args.diesel.as_ref()) else {
        let why = "diesel_cli not found (cargo install diesel_cli --no-default-features --features postgres)";
        return vec![
            Row::failed(UP, Unit::Seconds, Mark::Skipped, why),
            Row::failed(REDO, Unit::Seconds, Mark::Skipped, why),
        ];
    };
    let Some(admin) = find_beside(ctx.args.bridge_admin.as_ref(), "bridge-admin") else {
        let why = "bridge-admin not built (cargo build --release -p bridge-admin)";
        return vec![
            Row::failed(UP, Unit::Seconds, Mark::Skipped, why),
            Row::failed(REDO, Unit::Seconds, Mark::Skipped, why),
        ];
    };
    match measure(ctx, diesel, admin).await {
        Ok(rows) => rows,
        Err(err) => vec![
            Row::failed(UP, Unit::Seconds, Mark::Error, err.to_string()),
            Row::failed(REDO, Unit::Seconds, Mark::Error, err.to_string()),
        ],
    }
}

async fn measure(ctx: &Context, diesel: PathBuf, admin: PathBuf) -> BenchResult<Vec<Row>> {
    let config = ctx.work_dir.join("diesel-empty.toml");
    std::fs::write(&config, "")?;
    let migrations = ctx.migrations_dir();
    let theirs = Tool::diesel(diesel, &migrations, &config);
    let ours = Tool::bridge_admin(admin);
    let (mut our_up, mut our_redo, mut their_up, mut their_redo) = (vec![], vec![], vec![], vec![]);
    for round in 0..ctx.scale.migration_runs {
        // Alternate who goes first, so neither always meets a colder cache.
        let order = if round % 2 == 0 {
            [&ours, &theirs]
        } else {
            [&theirs, &ours]
        };
        for tool in order {
            let (up, redo) = time_tool(tool, &ctx.work_dir).await?;
            if std::ptr::eq(tool, &ours) {
                our_up.push(up);
                our_redo.push(redo);
            } else {
                their_up.push(up);
                their_redo.push(redo);
            }
        }
    }
    let runs = ctx.scale.migration_runs;
    let note = format!("median of {runs}, whole process");
    let target = Target::MinRatio { ratio: 1.0 };
    Ok(vec![
        Row::measured(
            "5 migrations: up (empty db)",
            Unit::Seconds,
            median(&our_up),
            "diesel migration run",
            median(&their_up),
            target,
        )
        .with_note(&note),
        Row::measured(
            "5 migrations: redo --all",
            Unit::Seconds,
            median(&our_redo),
            "diesel migration redo --all",
            median(&their_redo),
            target,
        )
        .with_note(&note),
    ])
}
