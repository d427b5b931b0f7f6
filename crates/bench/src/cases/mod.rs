//! The five cases of issue 5, the two of issue 12 (retention), the adapter's (issue 10),
//! the live migration's (issue 20) and the rolling deploy's, each in its own file.

mod adapter_drain;
mod adapter_events;
mod adapter_latency;
mod batch_append;
mod dataset;
mod lifecycle;
mod live_migration;
mod migrations;
mod partitioned_writes;
mod plain_tables;
mod read_queries;
mod reads_at_scale;
mod retention_shed;
mod rolling_deploy;
mod single_append;
mod writes;

use bridge_testkit::TestDatabase;

use crate::{
    direct::Direct,
    report::{Mark, Report, Row, Unit},
    BenchResult, Context,
};

/// Runs the selected cases and collects their rows and plans.
pub async fn run_all(ctx: &Context) -> Report {
    let mut report = Report {
        quick: ctx.scale.quick,
        machine: machine_description().await,
        pool: ctx.pool_summary(),
        rows: Vec::new(),
        plans: Vec::new(),
    };
    if ctx.args.runs_case(1) || ctx.args.runs_case(2) || ctx.args.runs_case(3) {
        let db = TestDatabase::migrated();
        match writes(ctx, &db, &mut report).await {
            Ok(()) => {}
            Err(err) => report.rows.push(Row::failed(
                "1-3 writes",
                Unit::RowsPerSec,
                Mark::Error,
                err.to_string(),
            )),
        }
    }
    if ctx.args.runs_case(4) {
        match reads_at_scale::run(ctx).await {
            Ok((rows, plans)) => {
                report.rows.extend(rows);
                report.plans.extend(plans);
            }
            Err(err) => report.rows.push(Row::failed(
                "4 reads at scale",
                Unit::P99Millis,
                Mark::Error,
                err.to_string(),
            )),
        }
    }
    if ctx.args.runs_case(5) {
        report.rows.extend(migrations::run(ctx).await);
    }
    if ctx.args.runs_case(6) {
        match retention_shed::run(ctx).await {
            Ok(rows) => report.rows.extend(rows),
            Err(err) => report.rows.push(Row::failed(
                "6 shed 30 of 90 days",
                Unit::Seconds,
                Mark::Error,
                err.to_string(),
            )),
        }
    }
    if ctx.args.runs_case(7) {
        match partitioned_writes::run(ctx).await {
            Ok(rows) => report.rows.extend(rows),
            Err(err) => report.rows.push(Row::failed(
                "7 partitioned writes",
                Unit::RowsPerSec,
                Mark::Error,
                err.to_string(),
            )),
        }
    }
    if ctx.args.runs_case(8) {
        match adapter_drain::run(ctx).await {
            Ok(rows) => report.rows.extend(rows),
            Err(err) => report.rows.push(Row::failed(
                "8 adapter",
                Unit::EventsPerSec,
                Mark::Error,
                err.to_string(),
            )),
        }
    }
    if ctx.args.runs_case(9) {
        match live_migration::run(ctx).await {
            Ok(rows) => report.rows.extend(rows),
            Err(err) => report.rows.push(Row::failed(
                "9 live migration",
                Unit::P99Millis,
                Mark::Error,
                err.to_string(),
            )),
        }
    }
    if ctx.args.runs_case(10) {
        report.rows.extend(rolling_deploy::run(ctx).await);
    }
    report
}

/// Cases 1-3 on one database, emptied before every measurement.
async fn writes(ctx: &Context, db: &TestDatabase, report: &mut Report) -> BenchResult<()> {
    let direct = Direct::connect(db.url()).await?;
    let pool = ctx.pool(db).await?;
    let pgbench = ctx.pgbench(db);
    if !pgbench.available() {
        return Err(format!("pgbench not runnable as {}", ctx.args.pgbench.display()).into());
    }
    let writes = writes::Writes {
        ctx,
        pool: &pool,
        direct: &direct,
        pgbench: &pgbench,
    };
    if ctx.args.runs_case(1) {
        report.rows.extend(single_append::run(&writes).await?);
    }
    if ctx.args.runs_case(2) {
        report.rows.extend(batch_append::run(&writes).await?);
    }
    if ctx.args.runs_case(3) {
        report.rows.extend(lifecycle::run(&writes).await?);
    }
    Ok(())
}

/// Cores, memory and server version, for the report header.
async fn machine_description() -> String {
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("MemTotal:"))
                .and_then(|line| line.split_whitespace().nth(1))
                .and_then(|kib| kib.parse::<f64>().ok())
        })
        .map_or("?".to_owned(), |kib| {
            format!("{:.0}", kib / 1024.0 / 1024.0)
        });
    let server = async {
        let direct = Direct::connect(&bridge_testkit::server_url()).await.ok()?;
        direct.column("SHOW server_version").await.ok()?.pop()
    }
    .await
    .unwrap_or_else(|| "?".to_owned());
    format!("{cores} cores, {mem_gib} GiB, PostgreSQL {server}")
}
