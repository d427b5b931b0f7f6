//! `inspect workflow`: one workflow with its steps, transitions and stamps, as text or JSON.

use bridge_connect::redact_url;
use bridge_migrate::Options;
use bridge_models::{
    Error, FsmTransition, MetadataStamp, WorkflowExecution, WorkflowState, WorkflowStep,
};
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::{
    cli::{Format, InspectArgs, InspectTarget, InspectWorkflowArgs},
    connection,
    exit::Exit,
    output::{BAD, DIM, GOOD, WARN},
};

/// The JSON document of `inspect workflow --format json`; its fields are stable.
#[derive(Serialize)]
struct Document<'a> {
    database: String,
    workflow: &'a WorkflowExecution,
    steps: &'a [WorkflowStep],
    transitions: &'a [FsmTransition],
    stamps: &'a [MetadataStamp],
}

/// Runs `inspect` on the database of `options`.
pub async fn run(options: &Options, args: InspectArgs) -> Result<Exit, Error> {
    match args.target {
        InspectTarget::Workflow(args) => workflow(options, args).await,
    }
}

async fn workflow(options: &Options, args: InspectWorkflowArgs) -> Result<Exit, Error> {
    let mut conn = connection::connect(options).await?;
    let workflow = WorkflowExecution::find_by_id_or_correlation_id(&mut conn, args.id).await?;
    let steps = WorkflowStep::list_for_workflow(&mut conn, workflow.id).await?;
    let transitions = FsmTransition::history(&mut conn, workflow.id).await?;
    let stamps = MetadataStamp::list_all_for_workflow(&mut conn, workflow.id).await?;
    let document = Document {
        database: redact_url(&options.database_url),
        workflow: &workflow,
        steps: &steps,
        transitions: &transitions,
        stamps: &stamps,
    };
    match args.format {
        Format::Json => {
            let json = serde_json::to_string_pretty(&document).expect("the workflow serialises");
            anstream::println!("{json}");
        }
        Format::Text => print_text(&document),
    }
    Ok(Exit::Success)
}

fn at(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S%.3f UTC").to_string()
}

fn ms(ms: Option<i32>) -> String {
    ms.map_or_else(|| "-".to_owned(), |ms| format!("{ms} ms"))
}

fn print_text(document: &Document<'_>) {
    let workflow = document.workflow;
    let style = match workflow.current_state {
        WorkflowState::Completed => GOOD,
        WorkflowState::Failed => BAD,
        WorkflowState::Pending | WorkflowState::Processing => WARN,
    };
    anstream::println!("Database: {}", document.database);
    anstream::println!("Workflow {}", workflow.id);
    anstream::println!("  correlation id  {}", workflow.correlation_id);
    anstream::println!("  type            {}", workflow.workflow_type);
    anstream::println!("  namespace       {}", workflow.namespace);
    anstream::println!(
        "  state           {style}{}{style:#}",
        workflow.current_state
    );
    anstream::println!("  started         {}", at(workflow.started_at));
    anstream::println!(
        "  completed       {} {DIM}({}){DIM:#}",
        workflow.completed_at.map_or_else(|| "-".to_owned(), at),
        ms(workflow.execution_time_ms)
    );
    if let Some(error) = &workflow.error_message {
        anstream::println!("  error           {BAD}{error}{BAD:#}");
    }
    anstream::println!("  metadata        {}", workflow.metadata);
    print_steps(document.steps);
    print_transitions(document.transitions);
    print_stamps(document.stamps);
}

fn print_steps(steps: &[WorkflowStep]) {
    anstream::println!("Steps ({}):", steps.len());
    if steps.is_empty() {
        return;
    }
    anstream::println!(
        "  {:>5}  {:<32} {:<10} {:>10}  CREATED",
        "ORDER",
        "NAME",
        "STATUS",
        "TIME"
    );
    for step in steps {
        anstream::println!(
            "  {:>5}  {:<32} {:<10} {:>10}  {}",
            step.step_order,
            step.step_name,
            step.status.as_str(),
            ms(step.execution_time_ms),
            at(step.created_at)
        );
        if let Some(error) = &step.error_message {
            anstream::println!("         {BAD}error:{BAD:#} {error}");
        }
    }
}

fn print_transitions(transitions: &[FsmTransition]) {
    anstream::println!("Transitions ({}):", transitions.len());
    for transition in transitions {
        anstream::println!(
            "  {}  {} -> {}  {DIM}({}){DIM:#}",
            at(transition.created_at),
            transition.from_state.as_deref().unwrap_or("(start)"),
            transition.to_state,
            transition.transition_event
        );
    }
}

fn print_stamps(stamps: &[MetadataStamp]) {
    anstream::println!("Stamps ({}):", stamps.len());
    for stamp in stamps {
        anstream::println!(
            "  {}  {}  namespace {}  file hash {}",
            at(stamp.created_at),
            stamp.id,
            stamp.namespace,
            stamp.file_hash
        );
    }
}
