//! Case 9: the models' single-row write p99 while `bridge-admin up` alters a
//! table that a long reader holds, with the bounded lock wait
//! (`--ddl-lock-timeout 2`, the default) and without it (`0`, PostgreSQL's
//! unbounded wait: the behaviour before issue 20).
//!
//! Writers append one transition per call at a steady pace, and each
//! write's latency counts from when it was due, not from when it was sent:
//! a writer stuck behind the migration would otherwise send (and time) one
//! write where dozens fell due, and the p99 would hide the stall.

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use bridge_models::{Db, FsmTransition};
use bridge_testkit::TestDatabase;

use super::{migrations::find_beside, single_append::new_transition};
use crate::{
    direct::Direct,
    measure::quantile,
    report::{Mark, Row, Target, Unit},
    BenchResult, Context,
};

/// The row's name.
const CASE: &str = "9 write p99 while up alters a held table";
/// Writer tasks, and the writes each makes per second.
const WRITERS: usize = 4;
const WRITES_PER_SEC: u32 = 50;
/// The migration waiting for the reader: `ACCESS EXCLUSIVE` on the table the writers append to.
const ALTER: &str = "ALTER TABLE fsm_transitions ADD COLUMN bench_note TEXT;";

/// What one run measured.
struct Run {
    p99_ms: f64,
    worst_ms: f64,
    up_seconds: f64,
}

/// Runs case 9: both runs, each on a fresh migrated database.
pub async fn run(ctx: &Context) -> BenchResult<Vec<Row>> {
    let Some(admin) = find_beside(ctx.args.bridge_admin.as_ref(), "bridge-admin") else {
        let why = "bridge-admin not built (cargo build --release -p bridge-admin)";
        return Ok(vec![Row::failed(CASE, Unit::P99Millis, Mark::Skipped, why)]);
    };
    let dir = migrations_with_alter(ctx)?;
    let hold = if ctx.scale.quick {
        Duration::from_secs(3)
    } else {
        Duration::from_secs(30)
    };
    let bounded = measure(ctx, &admin, &dir, "2", hold).await?;
    let unbounded = measure(ctx, &admin, &dir, "0", hold).await?;
    let note = format!(
        "reader holds the table {:.0} s; {WRITERS}x{WRITES_PER_SEC} writes/s, latency from when \
         due; worst {:.0} ms vs {:.0} ms; up took {:.1} s vs {:.1} s",
        hold.as_secs_f64(),
        bounded.worst_ms,
        unbounded.worst_ms,
        bounded.up_seconds,
        unbounded.up_seconds
    );
    Ok(vec![Row::measured(
        CASE,
        Unit::P99Millis,
        bounded.p99_ms,
        "same, --ddl-lock-timeout 0 (unbounded)",
        unbounded.p99_ms,
        // The bound (2 s) and a margin: the writers never wait for the reader.
        Target::UnderMillis { millis: 3000.0 },
    )
    .with_note(note)])
}

/// The repository's migrations plus one pending `ALTER TABLE`, in the work directory.
fn migrations_with_alter(ctx: &Context) -> BenchResult<PathBuf> {
    let dir = ctx.work_dir.join("live-migration");
    for entry in fs::read_dir(ctx.migrations_dir())? {
        let from = entry?.path();
        let to = dir.join(from.file_name().ok_or("a migration directory")?);
        fs::create_dir_all(&to)?;
        for file in ["up.sql", "down.sql", "metadata.toml"] {
            if from.join(file).is_file() {
                fs::copy(from.join(file), to.join(file))?;
            }
        }
    }
    let alter = dir.join("2099-01-01-000001_bench_add_note");
    fs::create_dir_all(&alter)?;
    fs::write(alter.join("up.sql"), ALTER)?;
    fs::write(
        alter.join("down.sql"),
        "ALTER TABLE fsm_transitions DROP COLUMN bench_note;",
    )?;
    Ok(dir)
}

/// One run: writers, then the reader, then `bridge-admin up` with `ddl_lock_timeout` seconds.
async fn measure(
    ctx: &Context,
    admin: &Path,
    dir: &Path,
    ddl_lock_timeout: &str,
    hold: Duration,
) -> BenchResult<Run> {
    let db = TestDatabase::migrated();
    let pool = ctx.pool(&db).await?;
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..WRITERS)
        .map(|_| tokio::spawn(write_steadily(pool.clone(), Arc::clone(&stop))))
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;

    let reader = Direct::connect(db.url()).await?;
    reader
        .batch("BEGIN; SELECT count(*) FROM fsm_transitions")
        .await?;
    let mut up = Command::new(admin);
    up.args(["--database-url", db.url(), "--migration-dir"])
        .arg(dir)
        .args(["--ddl-lock-timeout", ddl_lock_timeout, "-q", "up"])
        .stdin(Stdio::null());
    let started = Instant::now();
    let up = tokio::task::spawn_blocking(move || up.output());
    tokio::time::sleep(hold).await;
    reader.batch("COMMIT").await?;
    let out = up.await??;
    let up_seconds = started.elapsed().as_secs_f64();
    if !out.status.success() {
        return Err(format!(
            "bridge-admin up (--ddl-lock-timeout {ddl_lock_timeout}) failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    for writer in writers {
        latencies.extend(writer.await??);
    }
    Ok(Run {
        p99_ms: quantile(&latencies, 0.99),
        worst_ms: quantile(&latencies, 1.0),
        up_seconds,
    })
}

/// Appends a transition every 1/`WRITES_PER_SEC` s until `stop`; each
/// latency in ms counts from when the write was due.
async fn write_steadily(pool: Db, stop: Arc<AtomicBool>) -> BenchResult<Vec<f64>> {
    let every = Duration::from_secs(1) / WRITES_PER_SEC;
    let mut due = Instant::now();
    let mut latencies = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        tokio::time::sleep_until(due.into()).await;
        let mut conn = pool.conn().await?;
        FsmTransition::append(&mut conn, &new_transition()).await?;
        latencies.push(due.elapsed().as_secs_f64() * 1000.0);
        due += every;
    }
    Ok(latencies)
}
