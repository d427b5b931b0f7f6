//! Case 2: batched appends of 100 and 1 000 transitions per call, against
//! pgbench running the same multi-row INSERT and against COPY of the same rows.

use std::fmt::Write as _;

use bridge_models::{Db, FsmTransition, NewFsmTransition};
use uuid::Uuid;

use super::single_append::new_transition;
use crate::{
    direct::Direct,
    measure::{median, throughput},
    pgbench::{Pgbench, RunFor},
    report::{Row, Target, Unit},
    BenchResult, Context,
};

/// The multi-row INSERT `FsmTransition::append_many` sends for `rows` rows.
fn pgbench_multi_insert(rows: usize) -> String {
    let mut sql = String::from(
        "INSERT INTO fsm_transitions (id, entity_id, entity_type, from_state, to_state, \
         transition_event, transition_data) VALUES ",
    );
    for i in 0..rows {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(
            "(gen_random_uuid(), gen_random_uuid(), 'workflow', 'PENDING', 'PROCESSING', 'start', '{}')",
        );
    }
    // pgbench reads one statement per line unless told otherwise.
    sql.push_str(" ON CONFLICT (id) DO NOTHING;\n");
    sql
}

/// `rows` transitions in COPY text format: the values our API writes.
fn copy_rows(rows: usize) -> String {
    let mut text = String::with_capacity(rows * 100);
    for _ in 0..rows {
        let _ = writeln!(
            text,
            "{}\t{}\tworkflow\tPENDING\tPROCESSING\tstart\t{{}}",
            Uuid::now_v7(),
            Uuid::new_v4()
        );
    }
    text
}

const COPY_TARGET: &str =
    "fsm_transitions (id, entity_id, entity_type, from_state, to_state, transition_event, transition_data)";

/// Rows of case 2: for each batch size, ours against pgbench and against COPY.
pub async fn run(
    ctx: &Context,
    pool: &Db,
    direct: &Direct,
    pgbench: &Pgbench,
) -> BenchResult<Vec<Row>> {
    let mut rows = Vec::new();
    for size in [100usize, 1_000] {
        let (mut ours, mut multi, mut copy) = (Vec::new(), Vec::new(), Vec::new());
        let script = pgbench_multi_insert(size);
        for _ in 0..ctx.scale.rounds {
            direct.reset_write_tables().await?;
            let pool = pool.clone();
            ours.push(
                throughput(1, ctx.scale.warmup, ctx.scale.duration, move |_, _| {
                    let pool = pool.clone();
                    async move {
                        let batch: Vec<NewFsmTransition> =
                            (0..size).map(|_| new_transition()).collect();
                        let mut conn = pool.conn().await?;
                        FsmTransition::append_many(&mut conn, &batch).await?;
                        Ok(size as u64)
                    }
                })
                .await?,
            );
            direct.reset_write_tables().await?;
            let run = pgbench.run(&script, 1, RunFor::Time(ctx.scale.duration), false)?;
            multi.push(run.tps * size as f64);
            direct.reset_write_tables().await?;
            copy.push(copy_throughput(ctx, direct, size).await?);
        }
        let case = format!("2 batch append, {size} rows/call");
        rows.push(Row::measured(
            &case,
            Unit::RowsPerSec,
            median(&ours),
            format!("pgbench {size}-row INSERT"),
            median(&multi),
            Target::MinRatio { ratio: 0.9 },
        ));
        rows.push(Row::measured(
            &case,
            Unit::RowsPerSec,
            median(&ours),
            format!("COPY {size} rows"),
            median(&copy),
            Target::MinRatio { ratio: 0.8 },
        ));
    }
    Ok(rows)
}

/// Rows per second of back-to-back `COPY … FROM STDIN` of `size` rows on one connection.
async fn copy_throughput(ctx: &Context, direct: &Direct, size: usize) -> BenchResult<f64> {
    let deadline_in = ctx.scale.duration;
    let started = std::time::Instant::now();
    let mut copied = 0u64;
    while started.elapsed() < deadline_in {
        copied += direct.copy_in(COPY_TARGET, copy_rows(size)).await?;
    }
    Ok(copied as f64 / started.elapsed().as_secs_f64())
}
