//! Applying decoded events to the database, in one transaction per batch.
//!
//! A batch is applied kind by kind in [`EventType::ALL`] order: workflows and
//! nodes first, then what refers to them, state changes last. Each topic
//! carries one event type, so every partition's events are one kind and
//! keep their offset order; only events of different partitions are
//! reordered, which the contract allows.

use std::collections::{HashMap, HashSet};

use bridge_models::{
    BridgeState, Error, FsmTransition, MetadataStamp, NewMetadataStamp, NewWorkflowStep,
    NodeHeartbeat, NodeRegistration, Result, WorkflowExecution, WorkflowStep,
};
use std::{future::Future, pin::Pin};

use diesel_async::{AsyncConnection, AsyncPgConnection};
use uuid::Uuid;

use crate::{
    deferred::{DeferredEvent, Parking, WaitsFor},
    envelope::EventType,
    event::{decode, DecodeError, Event, Write},
    message::Consumed,
};

/// What became of one event.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Written (or found written before: a redelivery).
    Persisted,
    /// Deliberately not written, e.g. a late state change on a finished workflow.
    Ignored(&'static str),
    /// Parked until what it waits for arrives.
    Deferred(WaitsFor),
    /// Kept in memory until what it waits for arrives (or it is parked):
    /// nothing written, its offset not committed.
    Held(WaitsFor),
    /// Refused: goes to the dead-letter topic.
    Poison {
        /// Short stable name, e.g. `invalid_payload`.
        reason: &'static str,
        /// The full error.
        error: String,
    },
}

/// A message with its decoded event (or why it is not one).
#[derive(Debug, Clone)]
pub struct Item {
    /// The message as consumed (or as parked).
    pub message: Consumed,
    /// Its event, or why it is none.
    pub event: std::result::Result<Event, DecodeError>,
    /// Whether, if it must wait, it may wait in memory rather than be parked.
    pub may_hold: bool,
}

impl Item {
    /// Decodes `message`, expecting the event type its topic names under `prefix`.
    pub fn decode(message: Consumed, prefix: &str) -> Self {
        let expected = EventType::from_topic(prefix, &message.topic);
        let event = decode(&message.payload, expected, &message.topic);
        Self {
            message,
            event,
            may_hold: false,
        }
    }

    /// A parked event, decoded again.
    pub fn parked(row: &DeferredEvent) -> Self {
        Self {
            message: row.message(),
            event: decode(&row.payload, None, &row.topic),
            may_hold: false,
        }
    }

    /// The event type, when the message decoded.
    pub fn kind(&self) -> Option<EventType> {
        self.event.as_ref().ok().map(|event| event.kind)
    }
}

/// Whether the items are fresh from Kafka (park what must wait) or already parked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Consumed now: events that must wait are parked.
    Kafka,
    /// Re-applied from the parking table: they stay parked.
    Parked,
}

/// Applies `items` in one transaction and returns each item's outcome, in input order.
///
/// Fails as a whole (writing nothing) when the database refuses any write:
/// the caller then applies the items one by one to find the poison.
pub async fn apply_batch(
    conn: &mut AsyncPgConnection,
    items: &[Item],
    source: Source,
) -> Result<Vec<Outcome>> {
    conn.transaction(async |conn| apply_in(conn, items, source).await)
        .await
}

/// Applies `items` one transaction each; a refused write makes that item
/// poison, a retryable failure stops and is returned.
pub async fn apply_one_by_one(
    conn: &mut AsyncPgConnection,
    items: &[Item],
    source: Source,
) -> Result<Vec<Outcome>> {
    let mut outcomes = Vec::with_capacity(items.len());
    for item in items {
        match apply_batch(conn, std::slice::from_ref(item), source).await {
            Ok(mut one) => outcomes.append(&mut one),
            Err(err) if err.is_retryable() => return Err(err),
            Err(err) => outcomes.push(Outcome::Poison {
                reason: poison_reason(&err),
                error: err.to_string(),
            }),
        }
    }
    Ok(outcomes)
}

/// The `dlq.reason` of a write the database (or the models crate) refused.
pub fn poison_reason(err: &Error) -> &'static str {
    match err {
        Error::ConstraintViolation { .. } => "constraint_violation",
        Error::InvalidValue { .. } => "invalid_value",
        Error::NotFound { .. } => "not_found",
        _ => "database_refused",
    }
}

/// The body of [`apply_batch`], inside its transaction.
pub(crate) async fn apply_in(
    conn: &mut AsyncPgConnection,
    items: &[Item],
    source: Source,
) -> Result<Vec<Outcome>> {
    let mut outcomes: Vec<Option<Outcome>> = items
        .iter()
        .map(|item| match &item.event {
            Ok(_) => None,
            Err(err) => Some(Outcome::Poison {
                reason: err.reason(),
                error: err.to_string(),
            }),
        })
        .collect();
    let by_kind = |kind: EventType| {
        items
            .iter()
            .enumerate()
            .filter_map(move |(index, item)| match &item.event {
                Ok(event) if event.kind == kind => Some((index, event)),
                _ => None,
            })
    };
    let mut arrived_workflows = Vec::new();
    let mut arrived_nodes = Vec::new();

    let mut workflows_new = Vec::new();
    for (index, event) in by_kind(EventType::WorkflowStarted) {
        let Write::CreateWorkflow(new) = &event.write else {
            unreachable!()
        };
        workflows_new.push(new.clone());
        arrived_workflows.push(new.correlation_id.to_string());
        outcomes[index] = Some(Outcome::Persisted);
    }
    if !workflows_new.is_empty() {
        WorkflowExecution::ingest_many(conn, &workflows_new).await?;
    }
    for (index, event) in by_kind(EventType::NodeRegistered) {
        let Write::RegisterNode(node) = &event.write else {
            unreachable!()
        };
        NodeRegistration::register(conn, node).await?;
        arrived_nodes.push(node.node_id.clone());
        outcomes[index] = Some(Outcome::Persisted);
    }

    let workflows = resolve_workflows(conn, items).await?;
    let waits = |correlation_id: &Uuid| {
        (!workflows.contains_key(correlation_id))
            .then_some(Outcome::Deferred(WaitsFor::Workflow(*correlation_id)))
    };

    let mut steps = Vec::new();
    for (index, event) in by_kind(EventType::StepCompleted) {
        let Write::AppendStep {
            correlation_id,
            id,
            step,
        } = &event.write
        else {
            unreachable!()
        };
        outcomes[index] = Some(waits(correlation_id).unwrap_or_else(|| {
            steps.push(NewWorkflowStep {
                id: Some(*id),
                workflow_id: workflows[correlation_id],
                step_name: step.step_name.clone(),
                step_order: step.step_order,
                status: step.status,
                execution_time_ms: step.execution_time_ms,
                step_data: step.step_data.clone(),
                error_message: step.error_message.clone(),
            });
            Outcome::Persisted
        }));
    }
    if !steps.is_empty() {
        WorkflowStep::ingest_many(conn, &steps).await?;
    }

    let transitions: Vec<_> = by_kind(EventType::StateTransition)
        .map(|(index, event)| {
            let Write::RecordTransition(new) = &event.write else {
                unreachable!()
            };
            outcomes[index] = Some(Outcome::Persisted);
            new.clone()
        })
        .collect();
    if !transitions.is_empty() {
        FsmTransition::ingest_many(conn, &transitions).await?;
    }

    let deltas: Vec<_> = by_kind(EventType::StateAggregationCompleted)
        .map(|(index, event)| {
            let Write::ApplyDelta(delta) = &event.write else {
                unreachable!()
            };
            outcomes[index] = Some(Outcome::Persisted);
            delta.clone()
        })
        .collect();
    BridgeState::apply_deltas(conn, &deltas).await?;

    let (beaten, beats): (Vec<usize>, Vec<(&str, NodeHeartbeat)>) =
        by_kind(EventType::NodeHeartbeat)
            .map(|(index, event)| {
                let Write::Heartbeat { node_id, beat } = &event.write else {
                    unreachable!()
                };
                (index, (node_id.as_str(), *beat))
            })
            .unzip();
    let beat_results = NodeRegistration::heartbeat_many(conn, &beats).await?;
    for ((index, (node_id, _)), result) in beaten.into_iter().zip(&beats).zip(beat_results) {
        outcomes[index] = Some(match result {
            Ok(()) => Outcome::Persisted,
            Err(Error::NotFound { .. }) => Outcome::Deferred(WaitsFor::Node((*node_id).to_owned())),
            Err(err) => return Err(err),
        });
    }

    let mut stamps = Vec::new();
    for (index, event) in by_kind(EventType::StampCreated) {
        let Write::RecordStamp {
            correlation_id,
            id,
            stamp,
        } = &event.write
        else {
            unreachable!()
        };
        if let Some(wait) = correlation_id.as_ref().and_then(waits) {
            outcomes[index] = Some(wait);
            continue;
        }
        stamps.push(NewMetadataStamp {
            id: Some(*id),
            workflow_id: correlation_id.map(|c| workflows[&c]),
            file_hash: stamp.file_hash.clone(),
            stamp_data: stamp.stamp_data.clone(),
            namespace: stamp.namespace.clone(),
        });
        outcomes[index] = Some(Outcome::Persisted);
    }
    if !stamps.is_empty() {
        MetadataStamp::ingest_many(conn, &stamps).await?;
    }

    let mut changes = Vec::new();
    let mut changed = Vec::new();
    for kind in [EventType::WorkflowCompleted, EventType::WorkflowFailed] {
        for (index, event) in by_kind(kind) {
            let Write::ChangeState {
                correlation_id,
                change,
            } = &event.write
            else {
                unreachable!()
            };
            match waits(correlation_id) {
                Some(wait) => outcomes[index] = Some(wait),
                None => {
                    changes.push((*correlation_id, change.clone()));
                    changed.push(index);
                }
            }
        }
    }
    if !changes.is_empty() {
        let moved = WorkflowExecution::transition_many_by_correlation_id(conn, &changes).await?;
        for ((index, (correlation_id, _)), moved) in changed.into_iter().zip(&changes).zip(moved) {
            outcomes[index] = Some(match moved {
                Ok(()) => Outcome::Persisted,
                Err(Error::IllegalTransition { .. }) => Outcome::Ignored("late_state_change"),
                Err(Error::NotFound { .. }) => {
                    Outcome::Deferred(WaitsFor::Workflow(*correlation_id))
                }
                Err(err) => return Err(err),
            });
        }
    }

    let outcomes: Vec<Outcome> = outcomes
        .into_iter()
        .zip(items)
        .map(
            |(outcome, item)| match outcome.expect("every event kind is applied") {
                Outcome::Deferred(waits_for) if item.may_hold && source == Source::Kafka => {
                    Outcome::Held(waits_for)
                }
                outcome => outcome,
            },
        )
        .collect();
    if source == Source::Kafka {
        let parking: Vec<Parking<'_>> = items
            .iter()
            .zip(&outcomes)
            .filter_map(|(item, outcome)| match (outcome, &item.event) {
                (Outcome::Deferred(waits_for), Ok(event)) => Some(Parking {
                    message: &item.message,
                    event_id: event.id,
                    event_type: event.kind.as_str(),
                    waits_for,
                }),
                _ => None,
            })
            .collect();
        DeferredEvent::park_many(conn, &parking).await?;
        reapply_unblocked(conn, "workflow", &arrived_workflows).await?;
        reapply_unblocked(conn, "node", &arrived_nodes).await?;
    }
    Ok(outcomes)
}

/// The workflow id of every correlation id the items refer to (one query).
async fn resolve_workflows(
    conn: &mut AsyncPgConnection,
    items: &[Item],
) -> Result<HashMap<Uuid, Uuid>> {
    let wanted: HashSet<Uuid> = items
        .iter()
        .filter_map(|item| match &item.event.as_ref().ok()?.write {
            Write::AppendStep { correlation_id, .. }
            | Write::ChangeState { correlation_id, .. } => Some(*correlation_id),
            Write::RecordStamp { correlation_id, .. } => *correlation_id,
            _ => None,
        })
        .collect();
    let wanted: Vec<Uuid> = wanted.into_iter().collect();
    Ok(WorkflowExecution::ids_by_correlation_ids(conn, &wanted)
        .await?
        .into_iter()
        .collect())
}

/// Re-applies, inside the batch's transaction, the parked events waiting
/// for the workflows or nodes (`kind`) this batch brought; those applied
/// leave the parking table. A savepoint isolates them: if one is refused,
/// they all stay parked for the timed sweep to sort out.
async fn reapply_unblocked(
    conn: &mut AsyncPgConnection,
    kind: &'static str,
    keys: &[String],
) -> Result<()> {
    if keys.is_empty() {
        return Ok(());
    }
    let attempt = conn
        .transaction(async |conn| -> Result<u64> {
            let parked = DeferredEvent::take_waiting_for(conn, kind, keys).await?;
            if parked.is_empty() {
                return Ok(0);
            }
            let items: Vec<Item> = parked.iter().map(Item::parked).collect();
            let outcomes = apply_parked(conn, &items).await?;
            let applied: Vec<&DeferredEvent> = parked
                .iter()
                .zip(&outcomes)
                .filter(|(_, outcome)| matches!(outcome, Outcome::Persisted | Outcome::Ignored(_)))
                .map(|(row, _)| row)
                .collect();
            DeferredEvent::remove_many(conn, &applied).await?;
            Ok(applied.len() as u64)
        })
        .await;
    match attempt {
        Ok(applied) => {
            metrics::counter!(crate::metrics::DEFERRED_APPLIED).increment(applied);
            Ok(())
        }
        Err(err) if err.is_retryable() => Err(err),
        Err(err) => {
            tracing::warn!(%err, kind, "re-applying parked events failed; the sweep retries them");
            Ok(())
        }
    }
}

/// [`apply_in`] for parked items, boxed: it is called from within `apply_in`.
fn apply_parked<'a>(
    conn: &'a mut AsyncPgConnection,
    items: &'a [Item],
) -> Pin<Box<dyn Future<Output = Result<Vec<Outcome>>> + Send + 'a>> {
    Box::pin(apply_in(conn, items, Source::Parked))
}
