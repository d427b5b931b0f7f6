//! Steps within a workflow execution (`workflow_steps`).

use bridge_schema::workflow_steps;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::{
    batch::{batch_calls, batch_insert},
    error::{Error, Result},
    insert::{insert_one, keyed, Keyed},
    json::StoredJson,
    outcome::on_conn,
    state::StepStatus,
    validate,
    workflow_execution::WorkflowExecution,
};

/// One step of a workflow.
#[derive(
    Debug,
    Clone,
    PartialEq,
    Queryable,
    Selectable,
    Identifiable,
    Associations,
    Serialize,
    Deserialize,
)]
#[diesel(table_name = workflow_steps, check_for_backend(diesel::pg::Pg))]
#[diesel(belongs_to(WorkflowExecution, foreign_key = workflow_id))]
pub struct WorkflowStep {
    /// Primary key.
    pub id: Uuid,
    /// The workflow it belongs to.
    pub workflow_id: Uuid,
    /// Name, e.g. `hash_generation`.
    pub step_name: String,
    /// Position in the workflow, from 0.
    pub step_order: i32,
    /// Where the step stands.
    pub status: StepStatus,
    /// Duration in milliseconds.
    pub execution_time_ms: Option<i32>,
    /// Free-form input and output.
    #[diesel(deserialize_as = StoredJson)]
    pub step_data: Value,
    /// Why it failed, when it did.
    pub error_message: Option<String>,
    /// When the row was inserted.
    pub created_at: DateTime<Utc>,
}

/// A step to append to a workflow.
#[derive(Debug, Clone, PartialEq, Insertable, Serialize, Deserialize)]
#[diesel(
    table_name = workflow_steps,
    check_for_backend(diesel::pg::Pg),
    // NULL, not DEFAULT, for `None` (the columns default to NULL anyway): the
    // SQL text then never varies and the connection caches the prepared INSERT.
    treat_none_as_default_value = false
)]
pub struct NewWorkflowStep {
    /// Caller-chosen id, which makes a redelivered append a no-op; `None` gets a UUIDv7.
    #[diesel(skip_insertion)]
    pub id: Option<Uuid>,
    /// The workflow it belongs to; must exist.
    pub workflow_id: Uuid,
    /// Name, e.g. `hash_generation`.
    pub step_name: String,
    /// Position in the workflow, from 0.
    pub step_order: i32,
    /// Where the step stands.
    pub status: StepStatus,
    /// Duration in milliseconds, when known.
    pub execution_time_ms: Option<i32>,
    /// Free-form input and output; `{}` when none.
    pub step_data: Value,
    /// Why it failed, when it did.
    pub error_message: Option<String>,
}

keyed!(WorkflowStep, workflow_steps, "workflow step");

batch_insert!(
    WorkflowStep,
    NewWorkflowStep,
    workflow_steps,
    columns: {
        workflow_id: |row| row.workflow_id,
        step_name: |row| row.step_name.as_str(),
        step_order: |row| row.step_order,
        status: |row| row.status,
        execution_time_ms: |row| row.execution_time_ms,
        step_data: |row| &row.step_data,
        error_message: |row| row.error_message.as_deref(),
    }
);
batch_calls!(WorkflowStep, NewWorkflowStep, append_many, "steps");

impl NewWorkflowStep {
    /// Refuses what the table cannot hold, naming the field.
    fn validate(&self) -> Result<()> {
        const TABLE: &str = "workflow_steps";
        validate::text(TABLE, "step_name", &self.step_name)?;
        validate::non_negative(TABLE, "step_order", self.step_order.into())?;
        validate::json(TABLE, "step_data", &self.step_data)?;
        validate_result(self.execution_time_ms, self.error_message.as_deref())
    }

    /// A `PENDING` step `step_name` at `step_order` of `workflow_id`, with no data.
    pub fn new(workflow_id: Uuid, step_name: impl Into<String>, step_order: i32) -> Self {
        Self {
            id: None,
            workflow_id,
            step_name: step_name.into(),
            step_order,
            status: StepStatus::Pending,
            execution_time_ms: None,
            step_data: Value::Object(Default::default()),
            error_message: None,
        }
    }
}

/// Refuses a step result the table cannot hold (a new step's or a change's), naming the field.
fn validate_result(execution_time_ms: Option<i32>, error_message: Option<&str>) -> Result<()> {
    const TABLE: &str = "workflow_steps";
    if let Some(ms) = execution_time_ms {
        validate::non_negative(TABLE, "execution_time_ms", ms.into())?;
    }
    validate::opt_text(TABLE, "error_message", error_message)
}

/// Changes to a step as it runs; `None` fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq, AsChangeset, Serialize, Deserialize)]
#[diesel(table_name = workflow_steps, check_for_backend(diesel::pg::Pg))]
pub struct WorkflowStepChangeset {
    /// New status.
    pub status: Option<StepStatus>,
    /// Duration in milliseconds.
    pub execution_time_ms: Option<i32>,
    /// New step data, replacing the old.
    pub step_data: Option<Value>,
    /// Why it failed.
    pub error_message: Option<String>,
}

impl WorkflowStepChangeset {
    /// Refuses what the table cannot hold, naming the field.
    fn validate(&self) -> Result<()> {
        if let Some(data) = &self.step_data {
            validate::json("workflow_steps", "step_data", data)?;
        }
        validate_result(self.execution_time_ms, self.error_message.as_deref())
    }

    fn is_empty(&self) -> bool {
        self.status.is_none()
            && self.execution_time_ms.is_none()
            && self.step_data.is_none()
            && self.error_message.is_none()
    }
}

impl WorkflowStep {
    /// The step with id `id`.
    pub async fn find(conn: &mut AsyncPgConnection, id: Uuid) -> Result<Self> {
        on_conn!(conn, <Self as Keyed>::find(conn, id).await)
    }

    /// Appends one step; re-appending an existing id returns the stored row.
    pub async fn append(conn: &mut AsyncPgConnection, new: &NewWorkflowStep) -> Result<Self> {
        new.validate()?;
        on_conn!(conn, insert_one!(conn, workflow_steps, new.id, new))
    }

    /// Applies `changes` to step `id` and returns the updated row.
    pub async fn update(
        conn: &mut AsyncPgConnection,
        id: Uuid,
        changes: &WorkflowStepChangeset,
    ) -> Result<Self> {
        if changes.is_empty() {
            return Self::find(conn, id).await;
        }
        changes.validate()?;
        on_conn!(conn, {
            diesel::update(workflow_steps::table.find(id))
                .set(changes)
                .returning(Self::as_returning())
                .load(conn)
                .await?
                .pop()
                .ok_or_else(|| Error::not_found(Self::ENTITY, id))
        })
    }

    /// The steps of workflow `workflow_id` in `step_order`.
    pub async fn list_for_workflow(
        conn: &mut AsyncPgConnection,
        workflow_id: Uuid,
    ) -> Result<Vec<Self>> {
        on_conn!(conn, {
            Ok(workflow_steps::table
                .filter(workflow_steps::workflow_id.eq(workflow_id))
                .order((workflow_steps::step_order, workflow_steps::id))
                .select(Self::as_select())
                .load(conn)
                .await?)
        })
    }
}
