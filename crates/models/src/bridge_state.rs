//! Reducer aggregation state, one row per bridge (`bridge_states`).

use bridge_schema::bridge_states;
use chrono::{DateTime, Utc};
use diesel::{
    prelude::*,
    sql_types::{Nullable, Timestamptz},
    upsert::excluded,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::error::{Error, Result};

diesel::define_sql_function! {
    /// SQL `GREATEST`: the later of two timestamps, ignoring NULL.
    fn greatest(a: Nullable<Timestamptz>, b: Nullable<Timestamptz>) -> Nullable<Timestamptz>;
}

/// The aggregation state of one bridge.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable, Serialize, Deserialize)]
#[diesel(table_name = bridge_states, primary_key(bridge_id))]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct BridgeState {
    /// Identifies the bridge; primary key.
    pub bridge_id: Uuid,
    /// Namespace of the bridge.
    pub namespace: String,
    /// Workflows processed so far.
    pub total_workflows_processed: i64,
    /// Items aggregated so far.
    pub total_items_aggregated: i64,
    /// Free-form aggregation state.
    pub aggregation_metadata: Value,
    /// Current state of the bridge state machine.
    pub current_fsm_state: String,
    /// When the reducer last aggregated into the row.
    pub last_aggregation_timestamp: Option<DateTime<Utc>>,
    /// When the row was inserted.
    pub created_at: DateTime<Utc>,
    /// When the row last changed.
    pub updated_at: DateTime<Utc>,
}

/// What one aggregation adds to a bridge's state; see [`BridgeState::upsert`].
#[derive(Debug, Clone, PartialEq, Insertable, Serialize, Deserialize)]
#[diesel(table_name = bridge_states, check_for_backend(diesel::pg::Pg))]
pub struct NewBridgeState {
    /// The bridge.
    pub bridge_id: Uuid,
    /// Namespace of the bridge; an upsert never moves a bridge between namespaces.
    pub namespace: String,
    /// Workflows processed since the last upsert: added to the total, never negative.
    pub total_workflows_processed: i64,
    /// Items aggregated since the last upsert: added to the total, never negative.
    pub total_items_aggregated: i64,
    /// Keys merged over the stored metadata (top level; `{}` changes nothing).
    pub aggregation_metadata: Value,
    /// The bridge's state machine state now.
    pub current_fsm_state: String,
    /// When this aggregation happened; the stored time only moves forward.
    pub last_aggregation_timestamp: Option<DateTime<Utc>>,
}

impl NewBridgeState {
    /// An upsert for `bridge_id` adding nothing, in state `current_fsm_state`.
    pub fn new(
        bridge_id: Uuid,
        namespace: impl Into<String>,
        current_fsm_state: impl Into<String>,
    ) -> Self {
        Self {
            bridge_id,
            namespace: namespace.into(),
            total_workflows_processed: 0,
            total_items_aggregated: 0,
            aggregation_metadata: Value::Object(Default::default()),
            current_fsm_state: current_fsm_state.into(),
            last_aggregation_timestamp: None,
        }
    }

    /// Refuses negative deltas: counters only move forward.
    fn validate(&self) -> Result<()> {
        for (column, delta) in [
            ("total_workflows_processed", self.total_workflows_processed),
            ("total_items_aggregated", self.total_items_aggregated),
        ] {
            if delta < 0 {
                return Err(Error::InvalidValue(format!(
                    "{column} delta {delta} for bridge {} is negative; counters only move forward",
                    self.bridge_id
                )));
            }
        }
        Ok(())
    }
}

impl BridgeState {
    const ENTITY: &'static str = "bridge state";

    /// Inserts the bridge's row or adds `delta` to it, in one atomic statement.
    ///
    /// Counters grow by the deltas (concurrent upserts all count), metadata
    /// keys are merged, `current_fsm_state` is replaced, and the aggregation
    /// time keeps the later value. Negative deltas and a `namespace` other
    /// than the stored one are refused with [`Error::InvalidValue`].
    pub async fn upsert(conn: &mut AsyncPgConnection, delta: &NewBridgeState) -> Result<Self> {
        use bridge_states as bs;
        // `ON CONFLICT … DO UPDATE … WHERE` is this trait's `filter`, not `QueryDsl`'s.
        use diesel::query_dsl::methods::FilterDsl as _;
        delta.validate()?;
        diesel::insert_into(bs::table)
            .values(delta)
            .on_conflict(bs::bridge_id)
            .do_update()
            .set((
                bs::total_workflows_processed
                    .eq(bs::total_workflows_processed + excluded(bs::total_workflows_processed)),
                bs::total_items_aggregated
                    .eq(bs::total_items_aggregated + excluded(bs::total_items_aggregated)),
                bs::aggregation_metadata
                    .eq(bs::aggregation_metadata.concat(excluded(bs::aggregation_metadata))),
                bs::current_fsm_state.eq(excluded(bs::current_fsm_state)),
                bs::last_aggregation_timestamp.eq(greatest(
                    bs::last_aggregation_timestamp,
                    excluded(bs::last_aggregation_timestamp),
                )),
            ))
            .filter(bs::namespace.eq(excluded(bs::namespace)))
            .returning(Self::as_returning())
            .get_result(conn)
            .await
            .optional()?
            .ok_or_else(|| {
                Error::InvalidValue(format!(
                    "bridge {} belongs to another namespace than {:?}; refusing to update it",
                    delta.bridge_id, delta.namespace
                ))
            })
    }

    /// The state of bridge `bridge_id`.
    pub async fn find(conn: &mut AsyncPgConnection, bridge_id: Uuid) -> Result<Self> {
        bridge_states::table
            .find(bridge_id)
            .select(Self::as_select())
            .get_result(conn)
            .await
            .optional()?
            .ok_or_else(|| Error::not_found(Self::ENTITY, bridge_id))
    }

    /// The states of every bridge in `namespace`, by `bridge_id`.
    pub async fn list_by_namespace(
        conn: &mut AsyncPgConnection,
        namespace: &str,
    ) -> Result<Vec<Self>> {
        Ok(bridge_states::table
            .filter(bridge_states::namespace.eq(namespace))
            .order(bridge_states::bridge_id)
            .select(Self::as_select())
            .load(conn)
            .await?)
    }
}
