//! Running a batch's [`Plan`] in one transaction.
//!
//! The calls run in the contract's order: workflows and nodes first, then
//! what refers to them, state changes last. Each topic carries one event
//! type, so every partition's events are one kind and keep their offset
//! order; only events of different partitions are reordered, which the
//! contract allows.

use std::{collections::HashMap, future::Future, pin::Pin};

use bridge_models::{
    BridgeState, FsmTransition, MetadataStamp, NodeRegistration, Result, WorkflowExecution,
    WorkflowStep,
};
use diesel_async::{AsyncConnection, AsyncPgConnection};

use crate::{
    deferred::{DeferredEvent, Parking, WaitsFor, WaitsForKind},
    item::{Item, Source},
    outcome::{Outcome, Refusal},
    plan::Plan,
};

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
            Err(err) => outcomes.push(Outcome::Poison(Refusal::write(err))),
        }
    }
    Ok(outcomes)
}

/// The body of [`apply_batch`], inside its transaction.
pub(crate) async fn apply_in(
    conn: &mut AsyncPgConnection,
    items: &[Item],
    source: Source,
) -> Result<Vec<Outcome>> {
    let mut plan = Plan::new(items);
    if !plan.workflows.is_empty() {
        WorkflowExecution::ingest_many(conn, &plan.workflows).await?;
    }
    for node in &plan.nodes {
        NodeRegistration::register(conn, node).await?;
    }
    let stored: HashMap<_, _> =
        WorkflowExecution::ids_by_correlation_ids(conn, &plan.correlation_ids())
            .await?
            .into_iter()
            .collect();
    let bound = plan.bind(&stored);
    if !bound.steps.is_empty() {
        WorkflowStep::ingest_many(conn, &bound.steps).await?;
    }
    if !plan.transitions.is_empty() {
        FsmTransition::ingest_many(conn, &plan.transitions).await?;
    }
    BridgeState::apply_deltas(conn, &plan.deltas).await?;
    let beats = NodeRegistration::heartbeat_many(conn, &plan.heartbeats()).await?;
    plan.heartbeats_done(beats)?;
    if !bound.stamps.is_empty() {
        MetadataStamp::ingest_many(conn, &bound.stamps).await?;
    }
    if !bound.changes.is_empty() {
        let moved =
            WorkflowExecution::transition_many_by_correlation_id(conn, &bound.changes).await?;
        plan.changes_done(&bound, moved)?;
    }
    let arrivals = plan.arrivals();
    let outcomes = plan.finish(items, source);
    if source == Source::Kafka {
        park(conn, items, &outcomes).await?;
        reapply_unblocked(conn, &arrivals).await?;
    }
    Ok(outcomes)
}

/// Parks the items whose outcome is `Deferred`, in the batch's transaction.
async fn park(conn: &mut AsyncPgConnection, items: &[Item], outcomes: &[Outcome]) -> Result<()> {
    let parking: Vec<Parking<'_>> = items
        .iter()
        .zip(outcomes)
        .filter_map(|(item, outcome)| match (outcome, &item.event) {
            (Outcome::Deferred(waits_for), Ok(event)) => Some(Parking {
                message: &item.message,
                event_id: event.event_id,
                event_type: event.kind().as_str(),
                waits_for,
            }),
            _ => None,
        })
        .collect();
    DeferredEvent::park_many(conn, &parking).await
}

/// Re-applies, in a transaction of its own, the parked events waiting for
/// `arrivals`, workflows or nodes another transaction wrote; those applied
/// leave the parking table.
pub(crate) async fn reapply_arrivals(
    conn: &mut AsyncPgConnection,
    arrivals: &[WaitsFor],
) -> Result<()> {
    conn.transaction(async |conn| reapply_unblocked(conn, arrivals).await)
        .await
}

/// Re-applies, inside the batch's transaction, the parked events waiting
/// for the workflows or nodes this batch brought; those applied leave the
/// parking table. A savepoint isolates them: if one is refused, they all
/// stay parked for the timed sweep to sort out.
async fn reapply_unblocked(conn: &mut AsyncPgConnection, arrivals: &[WaitsFor]) -> Result<()> {
    for kind in [WaitsForKind::Workflow, WaitsForKind::Node] {
        let keys: Vec<String> = arrivals
            .iter()
            .filter(|arrival| arrival.kind() == kind)
            .map(WaitsFor::key)
            .collect();
        if keys.is_empty() {
            continue;
        }
        let attempt = conn
            .transaction(async |conn| -> Result<Vec<&'static str>> {
                let parked = DeferredEvent::take_waiting_for(conn, kind, &keys).await?;
                if parked.is_empty() {
                    return Ok(Vec::new());
                }
                let items: Vec<Item> = parked.iter().map(Item::parked).collect();
                let outcomes = apply_parked(conn, &items).await?;
                let (applied, types): (Vec<&DeferredEvent>, Vec<&'static str>) = parked
                    .iter()
                    .zip(&items)
                    .zip(&outcomes)
                    .filter(|(_, outcome)| {
                        matches!(outcome, Outcome::Persisted | Outcome::Ignored(_))
                    })
                    .map(|((row, item), _)| (row, item.event_type_label()))
                    .unzip();
                DeferredEvent::remove_many(conn, &applied).await?;
                Ok(types)
            })
            .await;
        match attempt {
            Ok(types) => crate::metrics::parked_applied(&types),
            Err(err) if err.is_retryable() => return Err(err),
            Err(err) => {
                tracing::warn!(%err, kind = kind.as_str(), "re-applying parked events failed; the sweep retries them");
            }
        }
    }
    Ok(())
}

/// [`apply_in`] for parked items, boxed: it is called from within `apply_in`.
fn apply_parked<'a>(
    conn: &'a mut AsyncPgConnection,
    items: &'a [Item],
) -> Pin<Box<dyn Future<Output = Result<Vec<Outcome>>> + Send + 'a>> {
    Box::pin(apply_in(conn, items, Source::Parked))
}
