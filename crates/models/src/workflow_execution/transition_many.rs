//! Many state changes in one statement per round (`transition_many_by_correlation_id`).

use std::collections::HashMap;

use bridge_schema::{fsm_transitions, workflow_executions};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::{
    pg::Pg,
    query_builder::{AstPass, Query, QueryFragment, QueryId},
    sql_types::{self, Array, Bool, Integer, Jsonb, Nullable, Text, Timestamptz},
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::Value;
use uuid::Uuid;

use super::{is_redelivery, no_such_correlation_id, refusal, StateChange, WorkflowExecution};
use crate::{
    error::{Error, Result},
    outcome::on_conn,
    state::WorkflowState,
    validate,
};

/// Moves one round of changes, each naming its workflow by correlation id,
/// in one statement of fixed text (cached, one round trip); returns the
/// `ord` of every change that moved:
///
/// ```sql
/// WITH input AS (SELECT unnest($ord) AS ord, unnest($correlation_id) AS correlation_id,
///                       unnest($transition_id) AS transition_id, unnest($to) AS to_state, …),
///      old AS MATERIALIZED (SELECT w.id, w.current_state, w.started_at, input.…,
///                                  CASE WHEN input.terminal THEN GREATEST($now, w.started_at) END
///                                    AS completed_at
///                           FROM input JOIN workflow_executions w
///                             ON w.correlation_id = input.correlation_id
///                           ORDER BY w.id FOR UPDATE OF w),
///      moved AS (UPDATE workflow_executions SET current_state = old.to_state, … FROM old
///                WHERE workflow_executions.id = old.id
///                  AND (old.current_state, old.to_state) IN (SELECT * FROM unnest($edge_from, $edge_to))
///                  AND NOT EXISTS (SELECT 1 FROM fsm_transitions WHERE id = old.transition_id)
///                RETURNING …),
///      recorded AS (INSERT INTO fsm_transitions (…) SELECT …, clock_timestamp() FROM moved ORDER BY ord)
/// SELECT ord FROM moved
/// ```
///
/// As [`MoveState`](super::MoveState) for one change, with two differences.
/// Every workflow the round names is locked, in id order, before any check
/// (also one whose change is then refused): two callers lock the workflows
/// they share in the same order, so they queue rather than deadlock, and a
/// workflow named again in a later round is already locked. A waiting lock
/// returns the row as the previous holder left it, so the checks see the
/// state it really left. The state machine is bound as its list of allowed
/// moves (`$edge_from[i]` to `$edge_to[i]`, from
/// [`WorkflowState::can_move_to`]), so one statement serves every target
/// state.
struct MoveMany<'a> {
    ords: Vec<i32>,
    correlation_ids: Vec<Uuid>,
    transition_ids: Vec<Uuid>,
    to: Vec<WorkflowState>,
    terminal: Vec<bool>,
    error_messages: Vec<Option<&'a str>>,
    events: Vec<&'a str>,
    data: Vec<&'a Value>,
    now: DateTime<Utc>,
    edge_from: Vec<WorkflowState>,
    edge_to: Vec<WorkflowState>,
    entity_type: &'static str,
}

impl<'a> MoveMany<'a> {
    /// The statement for the changes at positions `ords` of `changes`, whose
    /// transitions get ids `transition_ids` (indexed like `changes`).
    fn new(
        changes: &'a [(Uuid, StateChange)],
        transition_ids: &[Uuid],
        ords: &[usize],
    ) -> Result<Self> {
        let change = |i: usize| &changes[i].1;
        let (edge_from, edge_to) = WorkflowState::ALL
            .iter()
            .flat_map(|from| {
                WorkflowState::ALL
                    .iter()
                    .filter(|to| from.can_move_to(**to))
                    .map(|to| (*from, *to))
            })
            .unzip();
        Ok(Self {
            ords: ords
                .iter()
                .map(|&i| i32::try_from(i))
                .collect::<Result<_, _>>()
                .map_err(|_| Error::invalid("state changes", "more than 2^31 in one call"))?,
            correlation_ids: ords.iter().map(|&i| changes[i].0).collect(),
            transition_ids: ords.iter().map(|&i| transition_ids[i]).collect(),
            to: ords.iter().map(|&i| change(i).to).collect(),
            terminal: ords.iter().map(|&i| change(i).to.is_terminal()).collect(),
            error_messages: ords
                .iter()
                .map(|&i| change(i).error_message.as_deref())
                .collect(),
            events: ords.iter().map(|&i| change(i).event.as_str()).collect(),
            data: ords.iter().map(|&i| &change(i).data).collect(),
            now: Utc::now(),
            edge_from,
            edge_to,
            entity_type: WorkflowExecution::ENTITY_TYPE,
        })
    }
}

impl QueryId for MoveMany<'_> {
    type QueryId = MoveMany<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl Query for MoveMany<'_> {
    type SqlType = Integer;
}

impl QueryFragment<Pg> for MoveMany<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        // Planned afresh each time, as `Uncached` explains: a generic plan
        // made while the tables were small scans `fsm_transitions` whole.
        out.unsafe_to_cache_prepared();
        out.push_sql("WITH input AS (SELECT unnest(");
        out.push_bind_param::<Array<Integer>, _>(&self.ords)?;
        out.push_sql(") AS ord, unnest(");
        out.push_bind_param::<Array<sql_types::Uuid>, _>(&self.correlation_ids)?;
        out.push_sql(") AS correlation_id, unnest(");
        out.push_bind_param::<Array<sql_types::Uuid>, _>(&self.transition_ids)?;
        out.push_sql(") AS transition_id, unnest(");
        out.push_bind_param::<Array<Text>, _>(&self.to)?;
        out.push_sql(") AS to_state, unnest(");
        out.push_bind_param::<Array<Bool>, _>(&self.terminal)?;
        out.push_sql(") AS terminal, unnest(");
        out.push_bind_param::<Array<Nullable<Text>>, _>(&self.error_messages)?;
        out.push_sql(") AS error_message, unnest(");
        out.push_bind_param::<Array<Text>, _>(&self.events)?;
        out.push_sql(") AS event, unnest(");
        out.push_bind_param::<Array<Jsonb>, _>(&self.data)?;
        out.push_sql(
            ") AS data), old AS MATERIALIZED (SELECT w.id, w.current_state, w.started_at, \
             input.ord, input.transition_id, input.to_state, input.error_message, input.event, \
             input.data, CASE WHEN input.terminal THEN GREATEST(",
        );
        out.push_bind_param::<Timestamptz, _>(&self.now)?;
        out.push_sql(
            ", w.started_at) END AS completed_at FROM input JOIN workflow_executions w \
             ON w.correlation_id = input.correlation_id ORDER BY w.id FOR UPDATE OF w), \
             moved AS (UPDATE workflow_executions SET current_state = old.to_state, \
             completed_at = old.completed_at, execution_time_ms = CASE WHEN \
             old.completed_at IS NOT NULL THEN LEAST(floor(extract(epoch FROM \
             old.completed_at - old.started_at) * 1000), 2147483647) END, \
             error_message = COALESCE(old.error_message, workflow_executions.error_message) \
             FROM old WHERE workflow_executions.id = old.id \
             AND (old.current_state, old.to_state) IN (SELECT * FROM unnest(",
        );
        out.push_bind_param::<Array<Text>, _>(&self.edge_from)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.edge_to)?;
        out.push_sql(
            ")) AND NOT EXISTS (SELECT 1 FROM fsm_transitions \
             WHERE fsm_transitions.id = old.transition_id) \
             RETURNING workflow_executions.id, old.current_state AS from_state, \
             workflow_executions.current_state AS to_state, old.ord, old.transition_id, \
             old.event, old.data), \
             recorded AS (INSERT INTO fsm_transitions (id, entity_id, entity_type, from_state, \
             to_state, transition_event, transition_data, created_at) \
             SELECT transition_id, id, ",
        );
        out.push_bind_param::<Text, _>(&self.entity_type)?;
        out.push_sql(
            ", from_state, to_state, event, data, clock_timestamp() FROM moved ORDER BY ord) \
             SELECT ord FROM moved",
        );
        Ok(())
    }
}

impl WorkflowExecution {
    /// Applies many state changes, each to the workflow with the given
    /// correlation id; the outcome of each, in input order.
    ///
    /// Each change has exactly the semantics of
    /// [`transition_by_correlation_id`](Self::transition_by_correlation_id),
    /// as if the changes were made one after another in input order: `Ok`
    /// when it moved the workflow or was already applied (a redelivery),
    /// [`Error::IllegalTransition`], [`Error::NotFound`] or
    /// [`Error::InvalidValue`] (its id records another transition) when it
    /// wrote nothing. The outer `Err` is for the call itself (input refused
    /// before anything is sent, naming the row; connection lost; …).
    ///
    /// The changes are split into rounds that name each workflow and each
    /// change id at most once (a workflow's second change goes to the next
    /// round): one statement per round, usually one in all, and, when some
    /// change of a round did not move, one query of their workflows and one
    /// of their ids' transitions. A round locks every workflow it names
    /// (`FOR UPDATE`, in id order, also those whose change is refused) until
    /// the transaction ends. Run it in the caller's transaction for the
    /// batch to be atomic: outside one, each round commits on its own.
    pub async fn transition_many_by_correlation_id(
        conn: &mut AsyncPgConnection,
        changes: &[(Uuid, StateChange)],
    ) -> Result<Vec<Result<()>>> {
        validate::rows(changes, |(_, change)| change.validate())?;
        let transition_ids: Vec<Uuid> = changes
            .iter()
            .map(|(_, change)| change.id.unwrap_or_else(Uuid::now_v7))
            .collect();
        let rounds = rounds(changes, &transition_ids);
        on_conn!(conn, {
            let mut outcomes: Vec<Option<Result<()>>> = changes.iter().map(|_| None).collect();
            for round in rounds {
                let moved: Vec<i32> = MoveMany::new(changes, &transition_ids, &round)?
                    .load(conn)
                    .await?;
                for ord in moved {
                    outcomes[ord as usize] = Some(Ok(()));
                }
                let unmoved: Vec<usize> = round
                    .into_iter()
                    .filter(|&i| outcomes[i].is_none())
                    .collect();
                for (i, outcome) in why_not_moved(conn, changes, &transition_ids, &unmoved).await? {
                    outcomes[i] = Some(outcome);
                }
            }
            Ok(outcomes
                .into_iter()
                .map(|outcome| outcome.expect("every change belongs to a round"))
                .collect())
        })
    }
}

/// The positions of `changes` (with transition ids `transition_ids`) split
/// into rounds: a change goes to the round after the last one that names its
/// workflow or its id, so no round names either twice and each workflow's
/// changes apply in input order.
fn rounds(changes: &[(Uuid, StateChange)], transition_ids: &[Uuid]) -> Vec<Vec<usize>> {
    let mut last_of_workflow = HashMap::new();
    let mut last_of_id = HashMap::new();
    let mut rounds: Vec<Vec<usize>> = Vec::new();
    for (i, ((correlation_id, _), transition_id)) in changes.iter().zip(transition_ids).enumerate()
    {
        let after = |last: &HashMap<Uuid, usize>, key| last.get(key).map(|round| round + 1);
        let round = after(&last_of_workflow, correlation_id)
            .max(after(&last_of_id, transition_id))
            .unwrap_or(0);
        last_of_workflow.insert(*correlation_id, round);
        last_of_id.insert(*transition_id, round);
        if round == rounds.len() {
            rounds.push(Vec::new());
        }
        rounds[round].push(i);
    }
    rounds
}

/// Why each change at positions `unmoved` of `changes` moved nothing, as
/// [`WorkflowExecution::transition_by_correlation_id`] tells it: two
/// queries for them all.
async fn why_not_moved(
    conn: &mut AsyncPgConnection,
    changes: &[(Uuid, StateChange)],
    transition_ids: &[Uuid],
    unmoved: &[usize],
) -> Result<Vec<(usize, Result<()>)>> {
    if unmoved.is_empty() {
        return Ok(Vec::new());
    }
    let workflows: HashMap<Uuid, (Uuid, WorkflowState)> = workflow_executions::table
        .filter(workflow_executions::correlation_id.eq_any(unmoved.iter().map(|&i| changes[i].0)))
        .select((
            workflow_executions::correlation_id,
            (workflow_executions::id, workflow_executions::current_state),
        ))
        .load(conn)
        .await?
        .into_iter()
        .collect();
    let recorded: HashMap<Uuid, (String, Uuid, String)> = fsm_transitions::table
        .filter(fsm_transitions::id.eq_any(unmoved.iter().map(|&i| transition_ids[i])))
        .select((
            fsm_transitions::id,
            (
                fsm_transitions::entity_type,
                fsm_transitions::entity_id,
                fsm_transitions::to_state,
            ),
        ))
        .load(conn)
        .await?
        .into_iter()
        .collect();
    Ok(unmoved
        .iter()
        .map(|&i| {
            let ((correlation_id, change), transition_id) = (&changes[i], transition_ids[i]);
            let outcome = match workflows.get(correlation_id) {
                None => Err(no_such_correlation_id(*correlation_id)),
                Some(&(workflow_id, from)) => {
                    let recorded = recorded.get(&transition_id);
                    match recorded {
                        Some((_, entity_id, to_state))
                            if is_redelivery(workflow_id, change.to, *entity_id, to_state) =>
                        {
                            Ok(())
                        }
                        other => Err(refusal(
                            workflow_id,
                            from,
                            transition_id,
                            change.to,
                            other.map(|(entity_type, entity_id, to_state)| {
                                (entity_type.as_str(), *entity_id, to_state.as_str())
                            }),
                        )),
                    }
                }
            };
            (i, outcome)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_round_names_each_workflow_and_change_id_at_most_once_in_input_order() {
        let (a, b, c) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let ids: Vec<Uuid> = (0..4).map(|_| Uuid::now_v7()).collect();
        let change = || StateChange::new(WorkflowState::Completed, "done");
        let changes = [
            (a, change()),
            (b, change()),
            (a, change()),
            (c, change()),
            (a, change()),
        ];
        let transition_ids = [ids[0], ids[1], ids[2], ids[0], ids[3]];

        let rounds = rounds(&changes, &transition_ids);

        assert_eq!(rounds, [vec![0, 1], vec![2, 3], vec![4]]);
    }
}
