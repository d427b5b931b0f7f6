//! Orchestrator workflow executions (`workflow_executions`).

use std::marker::PhantomData;

use bridge_schema::{fsm_transitions, workflow_executions};
use chrono::{DateTime, SubsecRound, Utc};
use diesel::prelude::*;
use diesel::{
    dsl::AsSelect,
    pg::Pg,
    query_builder::{AstPass, Query, QueryFragment, QueryId},
    sql_types::{self, Array, Bool, Jsonb, Nullable, Text, Timestamptz},
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::{
    batch::{batch_calls, batch_insert},
    error::{Error, Result},
    fsm_transition::FsmTransition,
    insert::{insert_one, keyed, Keyed},
    json::StoredJson,
    outcome::on_conn,
    paging::{keyset, load_page, Page, PageRequest},
    partition_key,
    state::WorkflowState,
    uncached::Uncached,
    validate,
};

mod transition_many;

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
    #[diesel(deserialize_as = StoredJson)]
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

    /// Refuses what the table cannot hold, naming the field.
    fn validate(&self) -> Result<()> {
        const TABLE: &str = "workflow_executions";
        validate::text(TABLE, "workflow_type", &self.workflow_type)?;
        validate::text(TABLE, "namespace", &self.namespace)?;
        validate::timestamp(TABLE, "started_at", self.started_at)?;
        validate::json(TABLE, "metadata", &self.metadata)
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
///
/// Its id becomes the id of the transition it records: a change delivered
/// again with the same id changes nothing and returns what is stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateChange {
    /// Caller-chosen id, which makes a redelivered change a no-op; `None` gets a UUIDv7.
    pub id: Option<Uuid>,
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
            id: None,
            to,
            event: event.into(),
            data: Value::Object(Default::default()),
            error_message: None,
        }
    }

    /// The same change with caller-chosen id `id`, e.g. the id of the event that carries it.
    pub fn with_id(self, id: Uuid) -> Self {
        Self {
            id: Some(id),
            ..self
        }
    }

    /// Refuses what the transition record cannot hold, naming the field.
    fn validate(&self) -> Result<()> {
        const TABLE: &str = "fsm_transitions";
        // The change's id becomes the id of its transition.
        partition_key::check("state change id", self.id)?;
        validate::text(TABLE, "transition_event", &self.event)?;
        validate::json(TABLE, "transition_data", &self.data)?;
        validate::opt_text(
            "workflow_executions",
            "error_message",
            self.error_message.as_deref(),
        )
    }
}

impl WorkflowExecutionChangeset {
    /// Refuses what the table cannot hold, naming the field.
    fn validate(&self) -> Result<()> {
        const TABLE: &str = "workflow_executions";
        validate::opt_text(
            TABLE,
            "error_message",
            self.error_message.as_ref().and_then(Option::as_deref),
        )?;
        self.metadata.as_ref().map_or(Ok(()), |metadata| {
            validate::json(TABLE, "metadata", metadata)
        })
    }
}

/// Which column names the workflow a [`MoveState`] moves.
trait WorkflowKey: 'static {
    /// The column, as the statement names it.
    const COLUMN: &'static str;
    /// The same column, for the lookups that follow a refused move.
    const LOOKUP: Lookup;
}

/// A workflow looked up by its `id` or by its `correlation_id`.
#[derive(Debug, Clone, Copy)]
enum Lookup {
    /// By `id`.
    Id,
    /// By `correlation_id`.
    CorrelationId,
}

/// The workflow's `id`.
enum ById {}

impl WorkflowKey for ById {
    const COLUMN: &'static str = "id";
    const LOOKUP: Lookup = Lookup::Id;
}

/// The workflow's `correlation_id`.
enum ByCorrelationId {}

impl WorkflowKey for ByCorrelationId {
    const COLUMN: &'static str = "correlation_id";
    const LOOKUP: Lookup = Lookup::CorrelationId;
}

/// Locks workflow `id`, moves it to a new state and records the transition,
/// in one statement of fixed text (cached by type, one round trip):
///
/// ```sql
/// WITH old AS (SELECT id, current_state, started_at,
///                     CASE WHEN $terminal THEN GREATEST($now, started_at) END AS completed_at
///              FROM workflow_executions
///              WHERE <key> = $key AND current_state = ANY($allowed_from)
///                AND NOT EXISTS (SELECT 1 FROM fsm_transitions WHERE id = $transition_id)
///              FOR UPDATE),
///      moved AS (UPDATE workflow_executions SET current_state = $to, completed_at = …,
///                execution_time_ms = …, error_message = COALESCE($error, error_message)
///                FROM old WHERE workflow_executions.id = old.id
///                RETURNING workflow_executions.*, old.current_state AS from_state),
///      recorded AS (INSERT INTO fsm_transitions (…) SELECT $transition_id, id, …,
///                   clock_timestamp() FROM moved RETURNING *)
/// SELECT <workflow columns>, <transition columns>
/// FROM moved AS workflow_executions, recorded AS fsm_transitions
/// ```
///
/// `FOR UPDATE` makes concurrent moves queue: a waiting move re-checks its
/// `current_state` condition against the state the previous one left, so
/// two deliveries of one change never both apply (no state moves to
/// itself). The INSERT consumes the UPDATE's row, so its
/// `clock_timestamp()` is taken after the lock, and a missing workflow, an
/// illegal move or a change already recorded updates and records nothing.
struct MoveState<'a, K> {
    key: Uuid,
    allowed_from: Vec<WorkflowState>,
    terminal: bool,
    now: DateTime<Utc>,
    to: WorkflowState,
    error_message: Option<&'a str>,
    transition_id: Uuid,
    entity_type: &'static str,
    event: &'a str,
    data: &'a Value,
    workflow: AsSelect<WorkflowExecution, Pg>,
    transition: AsSelect<FsmTransition, Pg>,
    by: PhantomData<fn() -> K>,
}

impl<K: WorkflowKey> QueryId for MoveState<'_, K> {
    type QueryId = MoveState<'static, K>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<K> Query for MoveState<'_, K> {
    type SqlType = (AsSelect<WorkflowExecution, Pg>, AsSelect<FsmTransition, Pg>);
}

impl<K: WorkflowKey> QueryFragment<Pg> for MoveState<'_, K> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("WITH old AS (SELECT id, current_state, started_at, CASE WHEN ");
        out.push_bind_param::<Bool, _>(&self.terminal)?;
        out.push_sql(" THEN GREATEST(");
        out.push_bind_param::<Timestamptz, _>(&self.now)?;
        out.push_sql(", started_at) END AS completed_at FROM workflow_executions WHERE ");
        out.push_sql(K::COLUMN);
        out.push_sql(" = ");
        out.push_bind_param::<sql_types::Uuid, _>(&self.key)?;
        out.push_sql(" AND current_state = ANY(");
        out.push_bind_param::<Array<Text>, _>(&self.allowed_from)?;
        out.push_sql(") AND NOT EXISTS (SELECT 1 FROM fsm_transitions WHERE id = ");
        out.push_bind_param::<sql_types::Uuid, _>(&self.transition_id)?;
        out.push_sql(") FOR UPDATE), moved AS (UPDATE workflow_executions SET current_state = ");
        out.push_bind_param::<Text, _>(&self.to)?;
        // Whole milliseconds (as chrono's num_milliseconds), clamped to INTEGER.
        out.push_sql(
            ", completed_at = old.completed_at, execution_time_ms = CASE WHEN \
             old.completed_at IS NOT NULL THEN LEAST(floor(extract(epoch FROM \
             old.completed_at - old.started_at) * 1000), 2147483647) END, \
             error_message = COALESCE(",
        );
        out.push_bind_param::<Nullable<Text>, _>(&self.error_message)?;
        out.push_sql(
            ", workflow_executions.error_message) FROM old WHERE workflow_executions.id = old.id \
             RETURNING workflow_executions.*, old.current_state AS from_state), \
             recorded AS (INSERT INTO fsm_transitions (id, entity_id, entity_type, from_state, \
             to_state, transition_event, transition_data, created_at) SELECT ",
        );
        out.push_bind_param::<sql_types::Uuid, _>(&self.transition_id)?;
        out.push_sql(", id, ");
        out.push_bind_param::<Text, _>(&self.entity_type)?;
        out.push_sql(", from_state, current_state, ");
        out.push_bind_param::<Text, _>(&self.event)?;
        out.push_sql(", ");
        out.push_bind_param::<Jsonb, _>(self.data)?;
        out.push_sql(", clock_timestamp() FROM moved RETURNING *) SELECT ");
        // The CTEs carry their tables' names, so the row types' column lists apply.
        self.workflow.walk_ast(out.reborrow())?;
        out.push_sql(", ");
        self.transition.walk_ast(out.reborrow())?;
        out.push_sql(" FROM moved AS workflow_executions, recorded AS fsm_transitions");
        Ok(())
    }
}

keyed!(WorkflowExecution, workflow_executions, "workflow execution");

batch_insert!(
    WorkflowExecution,
    NewWorkflowExecution,
    workflow_executions,
    columns: {
        correlation_id: |row| row.correlation_id,
        workflow_type: |row| row.workflow_type.as_str(),
        current_state: |row| row.current_state,
        namespace: |row| row.namespace.as_str(),
        started_at: |row| row.started_at,
        metadata: |row| &row.metadata,
    }
);
batch_calls!(
    WorkflowExecution,
    NewWorkflowExecution,
    create_many,
    "workflows"
);

keyset!(WorkflowExecution);

impl WorkflowExecution {
    /// The `entity_type` of this table's rows in `fsm_transitions`.
    pub const ENTITY_TYPE: &'static str = "workflow";

    /// Creates a workflow; re-creating an existing id returns the stored row.
    pub async fn create(conn: &mut AsyncPgConnection, new: &NewWorkflowExecution) -> Result<Self> {
        new.validate()?;
        on_conn!(conn, insert_one!(conn, workflow_executions, new.id, new))
    }

    /// The workflow with id `id`.
    pub async fn find(conn: &mut AsyncPgConnection, id: Uuid) -> Result<Self> {
        on_conn!(conn, <Self as Keyed>::find(conn, id).await)
    }

    /// The workflow with correlation id `correlation_id`.
    pub async fn find_by_correlation_id(
        conn: &mut AsyncPgConnection,
        correlation_id: Uuid,
    ) -> Result<Self> {
        on_conn!(conn, {
            workflow_executions::table
                .filter(workflow_executions::correlation_id.eq(correlation_id))
                .select(Self::as_select())
                .load(conn)
                .await?
                .pop()
                .ok_or_else(|| no_such_correlation_id(correlation_id))
        })
    }

    /// The workflow whose id, or else whose correlation id, is `key`, in one
    /// query: for callers given either, such as an operator's command line.
    pub async fn find_by_id_or_correlation_id(
        conn: &mut AsyncPgConnection,
        key: Uuid,
    ) -> Result<Self> {
        use workflow_executions as we;
        on_conn!(conn, {
            we::table
                .filter(we::id.eq(key).or(we::correlation_id.eq(key)))
                // Should one workflow's id be another's correlation id, the id wins.
                .order(we::id.eq(key).desc())
                .limit(1)
                .select(Self::as_select())
                .load(conn)
                .await?
                .pop()
                .ok_or_else(|| {
                    Error::not_found(Self::ENTITY, format!("id or correlation id {key}"))
                })
        })
    }

    /// The `(correlation_id, id)` of every stored workflow among `correlation_ids`,
    /// in one query; correlation ids with no workflow are left out.
    ///
    /// For consumers of events that name workflows by correlation id and
    /// write rows keyed by workflow id (steps, stamps), a batch at a time.
    pub async fn ids_by_correlation_ids(
        conn: &mut AsyncPgConnection,
        correlation_ids: &[Uuid],
    ) -> Result<Vec<(Uuid, Uuid)>> {
        if correlation_ids.is_empty() {
            return Ok(Vec::new());
        }
        on_conn!(conn, {
            Ok(Uncached(
                workflow_executions::table
                    .filter(workflow_executions::correlation_id.eq_any(correlation_ids))
                    .select((workflow_executions::correlation_id, workflow_executions::id)),
            )
            .load(conn)
            .await?)
        })
    }

    /// Moves workflow `id` to a new state and records the transition, in one statement.
    ///
    /// Only the moves of the state machine are made
    /// ([`WorkflowState::can_move_to`]); any other is refused with
    /// [`Error::IllegalTransition`] and nothing is written, so a late event
    /// never moves a finished workflow back. A terminal state sets
    /// `completed_at` and `execution_time_ms`. The row is locked first, so
    /// concurrent moves queue and each transition's `from_state` is the state
    /// it really left. A change whose id is already recorded for this
    /// workflow (a redelivery) changes nothing and returns the workflow as it
    /// is with the stored transition.
    pub async fn transition(
        conn: &mut AsyncPgConnection,
        id: Uuid,
        change: &StateChange,
    ) -> Result<(Self, FsmTransition)> {
        Self::move_state::<ById>(conn, id, change).await
    }

    /// [`transition`](Self::transition) for the workflow with correlation id
    /// `correlation_id`, as events that carry no row id name it.
    pub async fn transition_by_correlation_id(
        conn: &mut AsyncPgConnection,
        correlation_id: Uuid,
        change: &StateChange,
    ) -> Result<(Self, FsmTransition)> {
        Self::move_state::<ByCorrelationId>(conn, correlation_id, change).await
    }

    async fn move_state<K: WorkflowKey>(
        conn: &mut AsyncPgConnection,
        key: Uuid,
        change: &StateChange,
    ) -> Result<(Self, FsmTransition)> {
        change.validate()?;
        let transition_id = change.id.unwrap_or_else(Uuid::now_v7);
        on_conn!(conn, {
            let moved = MoveState::<K> {
                key,
                allowed_from: change.to.allowed_from(),
                terminal: change.to.is_terminal(),
                now: Utc::now(),
                to: change.to,
                error_message: change.error_message.as_deref(),
                transition_id,
                entity_type: Self::ENTITY_TYPE,
                event: &change.event,
                data: &change.data,
                workflow: Self::as_select(),
                transition: FsmTransition::as_select(),
                by: PhantomData,
            }
            .load(conn)
            .await?
            .pop();
            match moved {
                Some(moved) => Ok(moved),
                None => Self::why_not_moved::<K>(conn, key, transition_id, change.to).await,
            }
        })
    }

    /// Why a move made nothing: the stored result of a redelivery, or the
    /// error that names what refused it.
    async fn why_not_moved<K: WorkflowKey>(
        conn: &mut AsyncPgConnection,
        key: Uuid,
        transition_id: Uuid,
        to: WorkflowState,
    ) -> Result<(Self, FsmTransition)> {
        let workflow = match K::LOOKUP {
            Lookup::Id => Self::find(conn, key).await?,
            Lookup::CorrelationId => Self::find_by_correlation_id(conn, key).await?,
        };
        let recorded = fsm_transitions::table
            .find(transition_id)
            .select(FsmTransition::as_select())
            .load(conn)
            .await?
            .pop();
        match recorded {
            Some(recorded)
                if is_redelivery(workflow.id, to, recorded.entity_id, &recorded.to_state) =>
            {
                Ok((workflow, recorded))
            }
            other => Err(refusal(
                workflow.id,
                workflow.current_state,
                transition_id,
                to,
                other
                    .as_ref()
                    .map(|r| (r.entity_type.as_str(), r.entity_id, r.to_state.as_str())),
            )),
        }
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
        changes.validate()?;
        on_conn!(conn, {
            diesel::update(workflow_executions::table.find(id))
                .set(changes)
                .returning(Self::as_returning())
                .load(conn)
                .await?
                .pop()
                .ok_or_else(|| Error::not_found(Self::ENTITY, id))
        })
    }

    /// Deletes workflow `id` with its steps; its stamps stay, unlinked. False when absent.
    pub async fn delete(conn: &mut AsyncPgConnection, id: Uuid) -> Result<bool> {
        on_conn!(conn, {
            let deleted = diesel::delete(workflow_executions::table.find(id))
                .execute(conn)
                .await?;
            Ok(deleted > 0)
        })
    }

    /// Workflows of `namespace` in `state`, newest first, keyset-paged.
    pub async fn list_by_namespace_and_state(
        conn: &mut AsyncPgConnection,
        namespace: &str,
        state: WorkflowState,
        page: PageRequest,
    ) -> Result<Page<Self>> {
        on_conn!(
            conn,
            load_page!(
                conn,
                workflow_executions,
                workflow_executions::table
                    .filter(workflow_executions::namespace.eq(namespace))
                    .filter(workflow_executions::current_state.eq(state))
                    .select(Self::as_select()),
                page
            )
        )
    }
}

/// The error for a correlation id no workflow has.
fn no_such_correlation_id(correlation_id: Uuid) -> Error {
    Error::not_found(
        WorkflowExecution::ENTITY,
        format!("correlation id {correlation_id}"),
    )
}

/// Whether a change to `to` that moved nothing was already applied to
/// workflow `workflow_id`: its id records a transition of that workflow to `to`.
fn is_redelivery(
    workflow_id: Uuid,
    to: WorkflowState,
    recorded_entity_id: Uuid,
    recorded_to_state: &str,
) -> bool {
    recorded_entity_id == workflow_id && recorded_to_state == to.as_str()
}

/// Why a change to `to` moved nothing when it is no redelivery: its id
/// records another transition (`recorded`, as entity type, entity id and
/// to-state), or the state machine refused the move from `from`.
fn refusal(
    workflow_id: Uuid,
    from: WorkflowState,
    transition_id: Uuid,
    to: WorkflowState,
    recorded: Option<(&str, Uuid, &str)>,
) -> Error {
    match recorded {
        Some((entity_type, entity_id, to_state)) => Error::invalid(
            "state change id",
            format!(
                "{transition_id} already records another transition (of {entity_type} {entity_id} to {to_state})"
            ),
        ),
        None => Error::IllegalTransition {
            workflow_id,
            from,
            to,
        },
    }
}
