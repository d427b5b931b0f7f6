//! Case 3: the workflow life cycle (create, 5 steps, 2 state changes each
//! with its transition, one stamp) at 8 tasks, against pgbench running the
//! same statements.

use bridge_models::{
    Db, MetadataStamp, NewMetadataStamp, NewWorkflowExecution, NewWorkflowStep, StateChange,
    WorkflowExecution, WorkflowState, WorkflowStep,
};
use uuid::Uuid;

use super::writes::Writes;
use crate::{
    measure::median,
    report::{Row, Target, Unit},
    BenchResult,
};

/// Concurrent tasks (and pgbench clients).
const TASKS: usize = 8;

/// The moves of every workflow through its state machine: start, complete.
const MOVES: [(WorkflowState, &str); 2] = [
    (WorkflowState::Processing, "start"),
    (WorkflowState::Completed, "done"),
];

/// One life cycle through the models crate, one pool check-out per operation.
async fn life_cycle(pool: &Db) -> BenchResult<()> {
    let new = NewWorkflowExecution::new(Uuid::new_v4(), "metadata_stamping", "bench");
    let workflow = WorkflowExecution::create(&mut *pool.conn().await?, &new).await?;
    for order in 0..5 {
        let step = NewWorkflowStep::new(workflow.id, format!("step_{order}"), order);
        WorkflowStep::append(&mut *pool.conn().await?, &step).await?;
    }
    for (to, event) in MOVES {
        let change = StateChange::new(to, event);
        WorkflowExecution::transition(&mut *pool.conn().await?, workflow.id, &change).await?;
    }
    let stamp = NewMetadataStamp {
        id: None,
        workflow_id: Some(workflow.id),
        file_hash: format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple()),
        stamp_data: serde_json::json!({"stamp": "bench"}),
        namespace: "bench".to_owned(),
    };
    MetadataStamp::append(&mut *pool.conn().await?, &stamp).await?;
    Ok(())
}

const WORKFLOW_COLUMNS: &str = "id, correlation_id, workflow_type, current_state, namespace, \
    started_at, completed_at, execution_time_ms, error_message, metadata, created_at, updated_at";

/// The column lists of `WorkflowExecution::as_select()` and `FsmTransition::as_select()`.
const QUALIFIED_WORKFLOW_COLUMNS: &str = "workflow_executions.id, \
    workflow_executions.correlation_id, workflow_executions.workflow_type, \
    workflow_executions.current_state, workflow_executions.namespace, \
    workflow_executions.started_at, workflow_executions.completed_at, \
    workflow_executions.execution_time_ms, workflow_executions.error_message, \
    workflow_executions.metadata, workflow_executions.created_at, workflow_executions.updated_at";
const QUALIFIED_TRANSITION_COLUMNS: &str = "fsm_transitions.id, fsm_transitions.entity_id, \
    fsm_transitions.entity_type, fsm_transitions.from_state, fsm_transitions.to_state, \
    fsm_transitions.transition_event, fsm_transitions.transition_data, fsm_transitions.created_at";

/// The statements `life_cycle` sends, as a pgbench script (one transaction = one workflow).
fn pgbench_script() -> String {
    let mut sql = format!(
        "INSERT INTO workflow_executions (id, correlation_id, workflow_type, current_state, \
         namespace, started_at, metadata) VALUES (gen_random_uuid(), gen_random_uuid(), \
         'metadata_stamping', 'PENDING', 'bench', now(), '{{}}') ON CONFLICT (id) DO NOTHING \
         RETURNING {WORKFLOW_COLUMNS} \\gset w_\n"
    );
    for order in 0..5 {
        sql.push_str(&format!(
            "INSERT INTO workflow_steps (id, workflow_id, step_name, step_order, status, \
             execution_time_ms, step_data, error_message) VALUES (gen_random_uuid(), :w_id, \
             'step_{order}', {order}, 'PENDING', NULL, '{{}}', NULL) ON CONFLICT (id) DO NOTHING \
             RETURNING id, workflow_id, step_name, step_order, status, execution_time_ms, \
             step_data, error_message, created_at;\n"
        ));
    }
    for (to, event) in MOVES {
        let allowed_from: Vec<String> = to
            .allowed_from()
            .iter()
            .map(|from| format!("'{from}'"))
            .collect();
        let allowed_from = allowed_from.join(", ");
        let (to, terminal) = (to.as_str(), to.is_terminal());
        // The change's id is new, so its probe finds nothing, as ours does.
        let change_id = Uuid::new_v4();
        sql.push_str(&format!(
            "WITH old AS (SELECT id, current_state, started_at, CASE WHEN {terminal} THEN \
             GREATEST(now(), started_at) END AS completed_at FROM workflow_executions \
             WHERE id = :w_id AND current_state = ANY(ARRAY[{allowed_from}]::text[]) \
             AND NOT EXISTS (SELECT 1 FROM fsm_transitions WHERE id = '{change_id}') \
             FOR UPDATE), moved AS (UPDATE workflow_executions SET \
             current_state = '{to}', completed_at = old.completed_at, execution_time_ms = \
             CASE WHEN old.completed_at IS NOT NULL THEN LEAST(floor(extract(epoch FROM \
             old.completed_at - old.started_at) * 1000), 2147483647) END, error_message = \
             COALESCE(NULL, workflow_executions.error_message) FROM old WHERE \
             workflow_executions.id = old.id RETURNING workflow_executions.*, \
             old.current_state AS from_state), recorded AS (INSERT INTO fsm_transitions (id, \
             entity_id, entity_type, from_state, to_state, transition_event, transition_data, \
             created_at) SELECT gen_random_uuid(), id, 'workflow', from_state, current_state, \
             '{event}', '{{}}', clock_timestamp() FROM moved RETURNING *) SELECT \
             {QUALIFIED_WORKFLOW_COLUMNS}, {QUALIFIED_TRANSITION_COLUMNS} FROM moved AS \
             workflow_executions, recorded AS fsm_transitions;\n"
        ));
    }
    sql.push_str(
        "INSERT INTO metadata_stamps (id, workflow_id, file_hash, stamp_data, namespace) VALUES \
         (gen_random_uuid(), :w_id, md5(random()::text) || md5(random()::text), \
         '{\"stamp\": \"bench\"}', 'bench') ON CONFLICT (id) DO NOTHING RETURNING id, \
         workflow_id, file_hash, stamp_data, namespace, created_at;\n",
    );
    sql
}

/// The row of case 3.
pub async fn run(writes: &Writes<'_>) -> BenchResult<Vec<Row>> {
    let script = pgbench_script();
    let (mut ours, mut limit) = (Vec::new(), Vec::new());
    for _ in 0..writes.ctx.scale.rounds {
        ours.push(
            writes
                .ours(TASKS, |pool| async move {
                    life_cycle(&pool).await?;
                    Ok(1)
                })
                .await?,
        );
        limit.push(writes.pgbench_tps(&script, TASKS).await?);
    }
    Ok(vec![Row::measured(
        "3 workflow life cycle, 8 tasks",
        Unit::WorkflowsPerSec,
        median(&ours),
        "pgbench same statements -c 8",
        median(&limit),
        Target::None,
    )
    .with_note("9 statements per workflow; no target set")])
}
