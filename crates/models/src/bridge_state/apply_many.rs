//! Many aggregation deltas in one transaction: [`BridgeState::apply_deltas`].

use std::collections::{BTreeMap, HashSet};

use bridge_schema::bridge_state_deltas;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde_json::Value;
use uuid::Uuid;

use super::{BridgeState, BridgeStateDelta};
use crate::{error::Result, outcome::on_conn, validate};

impl BridgeState {
    /// Applies `deltas` as [`apply_delta`](Self::apply_delta) would, one
    /// after another, in one transaction; returns how many were new (the
    /// others were applied before, or repeat an earlier one of `deltas`).
    ///
    /// One statement records the delta ids; then each bridge's new deltas are
    /// added as their sum, one statement per bridge, bridges in id order.
    /// A delta [`apply_delta`](Self::apply_delta) would refuse refuses the
    /// whole call, naming its row, and nothing is written.
    pub async fn apply_deltas(
        conn: &mut AsyncPgConnection,
        deltas: &[BridgeStateDelta],
    ) -> Result<usize> {
        validate::rows(deltas, BridgeStateDelta::validate)?;
        if deltas.is_empty() {
            return Ok(0);
        }
        on_conn!(conn, {
            conn.transaction(async |conn| {
                let mut recorded = record_deltas(conn, deltas).await?;
                let new: Vec<&BridgeStateDelta> = deltas
                    .iter()
                    .filter(|delta| recorded.remove(&delta.id))
                    .collect();
                for sum in sums(&new) {
                    Self::add(conn, &sum).await?;
                }
                Ok(new.len())
            })
            .await
        })
    }
}

/// Records every delta id in one statement; returns the ids recorded now.
async fn record_deltas(
    conn: &mut AsyncPgConnection,
    deltas: &[BridgeStateDelta],
) -> Result<HashSet<Uuid>> {
    use bridge_state_deltas as d;
    let rows: Vec<_> = deltas
        .iter()
        .map(|delta| {
            (
                d::id.eq(delta.id),
                d::bridge_id.eq(delta.bridge_id),
                d::total_workflows_processed.eq(delta.total_workflows_processed),
                d::total_items_aggregated.eq(delta.total_items_aggregated),
            )
        })
        .collect();
    let ids: Vec<Uuid> = diesel::insert_into(d::table)
        .values(rows)
        .on_conflict(d::id)
        .do_nothing()
        .returning(d::id)
        .get_results(conn)
        .await?;
    Ok(ids.into_iter().collect())
}

/// The deltas to add, bridges in id order, each bridge's folded into as few
/// as give the same result applied in turn: a run of deltas of one
/// namespace whose metadata are objects becomes one.
fn sums(deltas: &[&BridgeStateDelta]) -> Vec<BridgeStateDelta> {
    let mut by_bridge: BTreeMap<Uuid, Vec<BridgeStateDelta>> = BTreeMap::new();
    for &delta in deltas {
        let runs = by_bridge.entry(delta.bridge_id).or_default();
        let folded = runs.last_mut().is_some_and(|sum| fold(sum, delta));
        if !folded {
            runs.push(delta.clone());
        }
    }
    by_bridge.into_values().flatten().collect()
}

/// Adds `next` into `sum` when one statement of the sum does what the two
/// would in turn; false (and `sum` unchanged) when it cannot.
fn fold(sum: &mut BridgeStateDelta, next: &BridgeStateDelta) -> bool {
    if sum.namespace != next.namespace {
        return false;
    }
    let (Some(workflows), Some(items)) = (
        sum.total_workflows_processed
            .checked_add(next.total_workflows_processed),
        sum.total_items_aggregated
            .checked_add(next.total_items_aggregated),
    ) else {
        return false;
    };
    let (Value::Object(into), Value::Object(from)) =
        (&mut sum.aggregation_metadata, &next.aggregation_metadata)
    else {
        return false;
    };
    into.extend(from.iter().map(|(key, value)| (key.clone(), value.clone())));
    sum.total_workflows_processed = workflows;
    sum.total_items_aggregated = items;
    sum.current_fsm_state = next.current_fsm_state.clone();
    sum.last_aggregation_timestamp = sum
        .last_aggregation_timestamp
        .max(next.last_aggregation_timestamp);
    true
}
