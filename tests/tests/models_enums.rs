//! State and status enums: every variant is stored as its documented text and read back, and unknown text read back is a clear error.

use bridge_models::{
    Error, HealthStatus, NewNodeRegistration, NewWorkflowStep, NodeHeartbeat, NodeRegistration,
    Result, StepStatus, WorkflowExecution, WorkflowState, WorkflowStep,
};
use bridge_schema::{node_registrations, workflow_executions, workflow_steps};
use bridge_testkit::TestDatabase;
use bridge_tests::fixtures::new_workflow;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

async fn sql(conn: &mut AsyncPgConnection, statement: &str) {
    diesel::sql_query(statement)
        .execute(conn)
        .await
        .unwrap_or_else(|err| panic!("{statement}: {err}"));
}

#[tokio::test]
async fn every_workflow_state_is_stored_as_its_text_and_read_back() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    for (state, text) in
        WorkflowState::ALL
            .iter()
            .zip(["PENDING", "PROCESSING", "COMPLETED", "FAILED"])
    {
        let mut new = new_workflow();
        new.current_state = *state;
        let created = WorkflowExecution::create(conn, &new).await?;

        let stored: String = workflow_executions::table
            .find(created.id)
            .select(workflow_executions::current_state)
            .load(conn)
            .await?
            .remove(0);
        assert_eq!(stored, text);
        assert_eq!(
            WorkflowExecution::find(conn, created.id)
                .await?
                .current_state,
            *state
        );
    }
    Ok(())
}

#[tokio::test]
async fn every_step_status_is_stored_as_its_text_and_read_back() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let new = new_workflow();
    let workflow = WorkflowExecution::create(conn, &new).await?;
    for (order, (status, text)) in StepStatus::ALL
        .iter()
        .zip(["PENDING", "RUNNING", "COMPLETED", "FAILED"])
        .enumerate()
    {
        let mut new = NewWorkflowStep::new(workflow.id, "validation", order as i32);
        new.status = *status;
        let step = WorkflowStep::append(conn, &new).await?;

        let stored: String = workflow_steps::table
            .find(step.id)
            .select(workflow_steps::status)
            .load(conn)
            .await?
            .remove(0);
        assert_eq!(stored, text);
        assert_eq!(WorkflowStep::find(conn, step.id).await?.status, *status);
    }
    Ok(())
}

#[tokio::test]
async fn every_health_status_is_stored_as_its_text_and_read_back() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    NodeRegistration::register(conn, &NewNodeRegistration::new("n1", "reducer", "v1")).await?;
    for (health, text) in
        HealthStatus::ALL
            .iter()
            .zip(["HEALTHY", "DEGRADED", "UNHEALTHY", "UNKNOWN"])
    {
        NodeRegistration::heartbeat(conn, "n1", &NodeHeartbeat::now(*health)).await?;

        let stored: String = node_registrations::table
            .find("n1")
            .select(node_registrations::health_status)
            .load(conn)
            .await?
            .remove(0);
        assert_eq!(stored, text);
        assert_eq!(
            NodeRegistration::find(conn, "n1").await?.health_status,
            *health
        );
    }
    Ok(())
}

#[tokio::test]
async fn an_unknown_workflow_state_read_back_is_an_error_naming_it() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let new = new_workflow();
    let workflow = WorkflowExecution::create(conn, &new).await?;
    // Only a database changed behind this crate's back holds such a value.
    sql(
        conn,
        "ALTER TABLE workflow_executions DROP CONSTRAINT workflow_executions_current_state_check",
    )
    .await;
    sql(
        conn,
        "UPDATE workflow_executions SET current_state = 'PAUSED'",
    )
    .await;

    let err = WorkflowExecution::find(conn, workflow.id)
        .await
        .unwrap_err();

    assert!(
        matches!(&err, Error::UnexpectedValue { what: "workflow state", value } if value == "PAUSED"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        r#"unexpected workflow state "PAUSED" read from the database"#
    );
    Ok(())
}

#[tokio::test]
async fn unknown_step_and_health_statuses_read_back_are_errors_naming_them() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let new = new_workflow();
    let workflow = WorkflowExecution::create(conn, &new).await?;
    let step =
        WorkflowStep::append(conn, &NewWorkflowStep::new(workflow.id, "validation", 0)).await?;
    NodeRegistration::register(conn, &NewNodeRegistration::new("n1", "reducer", "v1")).await?;
    sql(
        conn,
        "ALTER TABLE workflow_steps DROP CONSTRAINT workflow_steps_status_check",
    )
    .await;
    sql(conn, "UPDATE workflow_steps SET status = 'skipped'").await;
    sql(
        conn,
        "ALTER TABLE node_registrations DROP CONSTRAINT node_registrations_health_status_check",
    )
    .await;
    sql(conn, "UPDATE node_registrations SET health_status = 'OK'").await;

    let step_err = WorkflowStep::list_for_workflow(conn, step.workflow_id)
        .await
        .unwrap_err();
    let node_err = NodeRegistration::find(conn, "n1").await.unwrap_err();

    assert!(
        matches!(&step_err, Error::UnexpectedValue { what: "step status", value } if value == "skipped"),
        "{step_err:?}"
    );
    assert!(
        matches!(&node_err, Error::UnexpectedValue { what: "health status", value } if value == "OK"),
        "{node_err:?}"
    );
    Ok(())
}
