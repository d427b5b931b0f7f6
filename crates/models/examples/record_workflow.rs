//! Records a workflow with its steps and state transitions, then prints it back.
//!
//! Connects to the database named by `DATABASE_URL` (or the `PG*` variables,
//! or the default `postgres://postgres@localhost:5432/omninode_bridge`),
//! which must exist (`bridge-admin setup` creates it); pending migrations are
//! applied first, as a service would at start-up.
//!
//! ```text
//! cargo run -p bridge-models --example record_workflow
//! ```

use bridge_models::{
    Db, DbConfig, FsmTransition, NewWorkflowExecution, NewWorkflowStep, StateChange, StepStatus,
    WorkflowExecution, WorkflowState, WorkflowStep, WorkflowStepChangeset,
};
use serde_json::json;
use uuid::Uuid;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = DbConfig::from_env()?;
    println!("connecting to {}", config.redacted_url());
    let applied = bridge_migrate::run_pending(&config.database_url).await?;
    println!("applied {} pending migration(s)", applied.len());
    let db = Db::connect(config).await?;
    let mut conn = db.conn().await?;

    let mut new = NewWorkflowExecution::new(Uuid::new_v4(), "metadata_stamping", "example");
    new.metadata = json!({"file": "report.pdf"});
    let workflow = WorkflowExecution::create(&mut conn, &new).await?;

    let steps = WorkflowStep::append_many(
        &mut conn,
        &[
            NewWorkflowStep::new(workflow.id, "validation", 0),
            NewWorkflowStep::new(workflow.id, "hash_generation", 1),
            NewWorkflowStep::new(workflow.id, "stamp_creation", 2),
        ],
    )
    .await?;

    let start = StateChange::new(WorkflowState::Processing, "start");
    WorkflowExecution::transition(&mut conn, workflow.id, &start).await?;
    let done = WorkflowStepChangeset {
        status: Some(StepStatus::Completed),
        execution_time_ms: Some(3),
        ..Default::default()
    };
    for step in &steps {
        WorkflowStep::update(&mut conn, step.id, &done).await?;
    }
    let mut finish = StateChange::new(WorkflowState::Completed, "all_steps_done");
    finish.data = json!({"steps": steps.len()});
    WorkflowExecution::transition(&mut conn, workflow.id, &finish).await?;

    let workflow = WorkflowExecution::find(&mut conn, workflow.id).await?;
    let steps = WorkflowStep::list_for_workflow(&mut conn, workflow.id).await?;
    let history = FsmTransition::history(&mut conn, workflow.id).await?;
    println!("{}", serde_json::to_string_pretty(&workflow)?);
    for step in &steps {
        println!(
            "step {} {:<16} {}",
            step.step_order, step.step_name, step.status
        );
    }
    for transition in &history {
        let from = transition.from_state.as_deref().unwrap_or("-");
        println!(
            "{} {from} -> {} on {}",
            transition.created_at, transition.to_state, transition.transition_event
        );
    }
    Ok(())
}
