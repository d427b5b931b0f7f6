//! Case 1: one transition per call through the pool, against pgbench's
//! single-row INSERT, at 1 and 8 concurrent tasks.

use bridge_models::{FsmTransition, NewFsmTransition};
use uuid::Uuid;

use super::writes::Writes;
use crate::{
    measure::median,
    report::{Row, Target, Unit},
    BenchResult,
};

/// The statement `FsmTransition::append` sends, with server-made ids.
pub(super) const PGBENCH_SINGLE_INSERT: &str = "\
INSERT INTO fsm_transitions (id, entity_id, entity_type, from_state, to_state, transition_event, transition_data) \
VALUES (gen_random_uuid(), gen_random_uuid(), 'workflow', 'PENDING', 'PROCESSING', 'start', '{}') \
ON CONFLICT (id) DO NOTHING \
RETURNING id, entity_id, entity_type, from_state, to_state, transition_event, transition_data, created_at;\n";

/// The transition every write case appends: the same values pgbench writes.
pub(super) fn new_transition() -> NewFsmTransition {
    NewFsmTransition {
        id: None,
        entity_id: Uuid::new_v4(),
        entity_type: "workflow".to_owned(),
        from_state: Some("PENDING".to_owned()),
        to_state: "PROCESSING".to_owned(),
        transition_event: "start".to_owned(),
        transition_data: serde_json::json!({}),
    }
}

/// Rows of case 1, one per concurrency.
pub async fn run(writes: &Writes<'_>) -> BenchResult<Vec<Row>> {
    let mut rows = Vec::new();
    for tasks in [1, 8] {
        let (mut ours, mut limit) = (Vec::new(), Vec::new());
        for _ in 0..writes.ctx.scale.rounds {
            ours.push(
                writes
                    .ours(tasks, |pool| async move {
                        let mut conn = pool.conn().await?;
                        FsmTransition::append(&mut conn, &new_transition()).await?;
                        Ok(1)
                    })
                    .await?,
            );
            limit.push(writes.pgbench_tps(PGBENCH_SINGLE_INSERT, tasks).await?);
        }
        rows.push(Row::measured(
            format!(
                "1 single append, {tasks} task{}",
                if tasks == 1 { "" } else { "s" }
            ),
            Unit::RowsPerSec,
            median(&ours),
            format!("pgbench -M prepared -c {tasks}"),
            median(&limit),
            Target::MinRatio { ratio: 0.9 },
        ));
    }
    Ok(rows)
}
