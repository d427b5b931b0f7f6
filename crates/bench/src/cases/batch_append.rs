//! Case 2: batches of 100 and 1 000 transitions per call, through
//! `append_many` (rows returned) and `ingest_many` (a count returned), against
//! pgbench running the same multi-row INSERT and against COPY of the same rows.

use std::fmt::Write as _;

use bridge_models::{FsmTransition, NewFsmTransition};
use uuid::Uuid;

use super::{single_append::new_transition, writes::Writes};
use crate::{
    measure::median,
    report::{Row, Target, Unit},
    BenchResult,
};

/// The multi-row INSERT `FsmTransition::ingest_many` sends for `rows` rows
/// (`append_many` adds `RETURNING`).
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
    // No ON CONFLICT: ours has none when every id is generated, as here.
    // pgbench reads one statement per line unless told otherwise.
    sql.push_str(";\n");
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

/// Which models-crate call case 2 times.
#[derive(Clone, Copy)]
enum BatchCall {
    /// `FsmTransition::append_many`: the stored rows come back.
    Append,
    /// `FsmTransition::ingest_many`: only the count comes back.
    Ingest,
}

impl BatchCall {
    fn name(self) -> &'static str {
        match self {
            Self::Append => "append_many",
            Self::Ingest => "ingest_many",
        }
    }
}

/// Rows per second of `call` with `size` rows per call, one task.
async fn ours(writes: &Writes<'_>, call: BatchCall, size: usize) -> BenchResult<f64> {
    writes
        .ours(1, move |pool| async move {
            let batch: Vec<NewFsmTransition> = (0..size).map(|_| new_transition()).collect();
            let mut conn = pool.conn().await?;
            match call {
                BatchCall::Append => {
                    FsmTransition::append_many(&mut conn, &batch).await?;
                }
                BatchCall::Ingest => {
                    FsmTransition::ingest_many(&mut conn, &batch).await?;
                }
            }
            Ok(size as u64)
        })
        .await
}

/// Rows of case 2: for each batch size and each batch call, ours against
/// pgbench and against COPY.
pub async fn run(writes: &Writes<'_>) -> BenchResult<Vec<Row>> {
    let calls = [BatchCall::Append, BatchCall::Ingest];
    let mut rows = Vec::new();
    for size in [100usize, 1_000] {
        let mut figures = [Vec::new(), Vec::new()];
        let (mut multi, mut copy) = (Vec::new(), Vec::new());
        let script = pgbench_multi_insert(size);
        for _ in 0..writes.ctx.scale.rounds {
            for (call, figures) in calls.iter().zip(&mut figures) {
                figures.push(ours(writes, *call, size).await?);
            }
            multi.push(writes.pgbench_tps(&script, 1).await? * size as f64);
            copy.push(copy_throughput(writes, size).await?);
        }
        for (call, figures) in calls.iter().zip(&figures) {
            let case = format!("2 batch {}, {size} rows/call", call.name());
            rows.push(Row::measured(
                &case,
                Unit::RowsPerSec,
                median(figures),
                format!("pgbench {size}-row INSERT"),
                median(&multi),
                Target::MinRatio { ratio: 0.9 },
            ));
            rows.push(Row::measured(
                &case,
                Unit::RowsPerSec,
                median(figures),
                format!("COPY {size} rows"),
                median(&copy),
                Target::MinRatio { ratio: 0.8 },
            ));
        }
    }
    Ok(rows)
}

/// Rows per second of back-to-back `COPY … FROM STDIN` of `size` rows on
/// one connection, from empty tables.
async fn copy_throughput(writes: &Writes<'_>, size: usize) -> BenchResult<f64> {
    writes.direct.reset_write_tables().await?;
    let duration = writes.ctx.scale.duration;
    let started = std::time::Instant::now();
    let mut copied = 0u64;
    while started.elapsed() < duration {
        copied += writes.direct.copy_in(COPY_TARGET, copy_rows(size)).await?;
    }
    Ok(copied as f64 / started.elapsed().as_secs_f64())
}
