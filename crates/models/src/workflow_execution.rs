//! Orchestrator workflow executions (`workflow_executions`).

use bridge_schema::workflow_executions;
use chrono::{DateTime, SubsecRound, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::{
    error::{Error, Result},
    fsm_transition::{FsmTransition, NewFsmTransition},
    paging::{older_than, Cursor, Keyset, Page, PageRequest},
    state::WorkflowState,
};

/// One workflow execution.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable, Serialize, Deserialize)]
#[diesel(table_name = workflow_executions, check_for_backend(diesel::pg::Pg))]
pub struct WorkflowExecution {
    /// Primary key.
    pub id: Uuid,
    /// Identifies the workflow across services; unique.
    pub correlation_id: Uuid,
    /// Kind of workflow, e.g. `metadata_stamping`.
    pub workflow_type: String,
    /// Where the workflow's state machine stands.
    pub current_state: WorkflowState,
    /// Namespace that owns the workflow.
    pub namespace: String,
    /// When the workflow started.
    pub started_at: DateTime<Utc>,
    /// When it reached a terminal state.
    pub completed_at: Option<DateTime<Utc>>,
    /// From `started_at` to `completed_at`, in milliseconds.
    pub execution_time_ms: Option<i32>,
    /// Why it failed, when it did.
    pub error_message: Option<String>,
    /// Free-form metadata.
    pub metadata: Value,
    /// When the row was inserted.
    pub created_at: DateTime<Utc>,
    /// When the row last changed.
    pub updated_at: DateTime<Utc>,
}

/// A workflow execution to create.
#[derive(Debug, Clone, PartialEq, Insertable, Serialize, Deserialize)]
#[diesel(table_name = workflow_executions, check_for_backend(diesel::pg::Pg))]
pub struct NewWorkflowExecution {
    /// Caller-chosen id, which makes a redelivered create a no-op; `None` gets a UUIDv7.
    #[diesel(skip_insertion)]
    pub id: Option<Uuid>,
    /// Identifies the workflow across services; must be unique.
    pub correlation_id: Uuid,
    /// Kind of workflow, e.g. `metadata_stamping`.
    pub workflow_type: String,
    /// The state to start in, usually [`WorkflowState::Pending`].
    pub current_state: WorkflowState,
    /// Namespace that owns the workflow.
    pub namespace: String,
    /// When the workflow started.
    pub started_at: DateTime<Utc>,
    /// Free-form metadata; `{}` when none.
    pub metadata: Value,
}

impl NewWorkflowExecution {
    /// A `PENDING` workflow started now, with no metadata and a generated id.
    pub fn new(
        correlation_id: Uuid,
        workflow_type: impl Into<String>,
        namespace: impl Into<String>,
    ) -> Self {
        Self {
            id: None,
            correlation_id,
            workflow_type: workflow_type.into(),
            current_state: WorkflowState::Pending,
            namespace: namespace.into(),
            // PostgreSQL keeps microseconds; truncating makes the row read back equal.
            started_at: Utc::now().trunc_subsecs(6),
            metadata: Value::Object(Default::default()),
        }
    }
}

/// Changes to a workflow other than its state, which only [`WorkflowExecution::transition`] moves.
#[derive(Debug, Clone, Default, PartialEq, AsChangeset, Serialize, Deserialize)]
#[diesel(table_name = workflow_executions, check_for_backend(diesel::pg::Pg))]
pub struct WorkflowExecutionChangeset {
    /// New error message; `None` leaves it, `Some(None)` clears it.
    pub error_message: Option<Option<String>>,
    /// New metadata, replacing the old; `None` leaves it.
    pub metadata: Option<Value>,
}

/// A move of a workflow to a new state, with the event that caused it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateChange {
    /// The state to move to.
    pub to: WorkflowState,
    /// The event that caused the move, recorded as `transition_event`.
    pub event: String,
    /// Context recorded as `transition_data`; `{}` when none.
    pub data: Value,
    /// Sets the workflow's `error_message` when given; `None` leaves it.
    pub error_message: Option<String>,
}

impl StateChange {
    /// A move to `to` caused by `event`, with no data and no error message.
    pub fn new(to: WorkflowState, event: impl Into<String>) -> Self {
        Self {
            to,
            event: event.into(),
            data: Value::Object(Default::default()),
            error_message: None,
        }
    }
}

/// The columns a state change writes.
#[derive(AsChangeset)]
#[diesel(table_name = workflow_executions, check_for_backend(diesel::pg::Pg))]
#[diesel(treat_none_as_null = true)]
struct StateColumns<'a> {
    current_state: WorkflowState,
    completed_at: Option<DateTime<Utc>>,
    execution_time_ms: Option<i32>,
    #[diesel(treat_none_as_null = false)]
    error_message: Option<&'a str>,
}

impl<'a> StateColumns<'a> {
    /// Sets completion time and duration on a terminal state and clears them otherwise.
    fn for_change(current: &WorkflowExecution, change: &'a StateChange) -> Self {
        let (completed_at, execution_time_ms) = if change.to.is_terminal() {
            // Never before started_at: the CHECK constraint forbids it, and a
            // caller's clock may run ahead of ours.
            let completed_at = Utc::now().trunc_subsecs(6).max(current.started_at);
            let millis = (completed_at - current.started_at).num_milliseconds();
            (
                Some(completed_at),
                Some(millis.clamp(0, i32::MAX.into()) as i32),
            )
        } else {
            (None, None)
        };
        Self {
            current_state: change.to,
            completed_at,
            execution_time_ms,
            error_message: change.error_message.as_deref(),
        }
    }
}

impl Keyset for WorkflowExecution {
    fn cursor(&self) -> Cursor {
        Cursor {
            created_at: self.created_at,
            id: self.id,
        }
    }
}

impl WorkflowExecution {
    const ENTITY: &'static str = "workflow execution";

    /// The `entity_type` of this table's rows in `fsm_transitions`.
    pub const ENTITY_TYPE: &'static str = "workflow";

    /// Creates a workflow; re-creating an existing id returns the stored row.
    pub async fn create(conn: &mut AsyncPgConnection, new: &NewWorkflowExecution) -> Result<Self> {
        let id = new.id.unwrap_or_else(Uuid::now_v7);
        let inserted = diesel::insert_into(workflow_executions::table)
            .values((workflow_executions::id.eq(id), new))
            .on_conflict(workflow_executions::id)
            .do_nothing()
            .returning(Self::as_returning())
            .get_result(conn)
            .await
            .optional()?;
        match inserted {
            Some(row) => Ok(row),
            None => Self::find(conn, id).await,
        }
    }

    /// The workflow with id `id`.
    pub async fn find(conn: &mut AsyncPgConnection, id: Uuid) -> Result<Self> {
        workflow_executions::table
            .find(id)
            .select(Self::as_select())
            .get_result(conn)
            .await
            .optional()?
            .ok_or_else(|| Error::not_found(Self::ENTITY, id))
    }

    /// The workflow with correlation id `correlation_id`.
    pub async fn find_by_correlation_id(
        conn: &mut AsyncPgConnection,
        correlation_id: Uuid,
    ) -> Result<Self> {
        workflow_executions::table
            .filter(workflow_executions::correlation_id.eq(correlation_id))
            .select(Self::as_select())
            .get_result(conn)
            .await
            .optional()?
            .ok_or_else(|| {
                Error::not_found(Self::ENTITY, format!("correlation id {correlation_id}"))
            })
    }

    /// Moves workflow `id` to a new state and records the transition, in one transaction.
    ///
    /// A terminal state sets `completed_at` and `execution_time_ms`; any other
    /// state clears them. The row is locked first, so concurrent moves queue
    /// and each transition's `from_state` is the state it really left.
    pub async fn transition(
        conn: &mut AsyncPgConnection,
        id: Uuid,
        change: &StateChange,
    ) -> Result<(Self, FsmTransition)> {
        conn.transaction(async |conn| {
            let current: Self = workflow_executions::table
                .find(id)
                .select(Self::as_select())
                .for_update()
                .get_result(conn)
                .await
                .optional()?
                .ok_or_else(|| Error::not_found(Self::ENTITY, id))?;
            let updated = diesel::update(workflow_executions::table.find(id))
                .set(StateColumns::for_change(&current, change))
                .returning(Self::as_returning())
                .get_result(conn)
                .await?;
            let transition = NewFsmTransition {
                id: None,
                entity_id: id,
                entity_type: Self::ENTITY_TYPE.to_owned(),
                from_state: Some(current.current_state.as_str().to_owned()),
                to_state: change.to.as_str().to_owned(),
                transition_event: change.event.clone(),
                transition_data: change.data.clone(),
            };
            let transition = FsmTransition::append(conn, &transition).await?;
            Ok((updated, transition))
        })
        .await
    }

    /// Applies `changes` to workflow `id` and returns the updated row.
    pub async fn update(
        conn: &mut AsyncPgConnection,
        id: Uuid,
        changes: &WorkflowExecutionChangeset,
    ) -> Result<Self> {
        if changes.error_message.is_none() && changes.metadata.is_none() {
            return Self::find(conn, id).await;
        }
        diesel::update(workflow_executions::table.find(id))
            .set(changes)
            .returning(Self::as_returning())
            .get_result(conn)
            .await
            .optional()?
            .ok_or_else(|| Error::not_found(Self::ENTITY, id))
    }

    /// Deletes workflow `id` with its steps; its stamps stay, unlinked. False when absent.
    pub async fn delete(conn: &mut AsyncPgConnection, id: Uuid) -> Result<bool> {
        let deleted = diesel::delete(workflow_executions::table.find(id))
            .execute(conn)
            .await?;
        Ok(deleted > 0)
    }

    /// Workflows of `namespace` in `state`, newest first, keyset-paged.
    pub async fn list_by_namespace_and_state(
        conn: &mut AsyncPgConnection,
        namespace: &str,
        state: WorkflowState,
        page: PageRequest,
    ) -> Result<Page<Self>> {
        let mut query = workflow_executions::table
            .filter(workflow_executions::namespace.eq(namespace))
            .filter(workflow_executions::current_state.eq(state))
            .select(Self::as_select())
            .order((
                workflow_executions::created_at.desc(),
                workflow_executions::id.desc(),
            ))
            .limit(page.fetch_limit()?)
            .into_boxed();
        if let Some(after) = page.after {
            query = query.filter(older_than!(workflow_executions, after));
        }
        Ok(Page::from_rows(query.load(conn).await?, page))
    }
}
