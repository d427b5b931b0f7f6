//! Reducer aggregation state, one row per bridge (`bridge_states`).

use bridge_schema::{bridge_state_deltas, bridge_states};
use chrono::{DateTime, Utc};
use diesel::{
    prelude::*,
    sql_types::{Nullable, Timestamptz},
    upsert::excluded,
};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

mod apply_many;

use crate::{
    error::{Error, Result},
    json::StoredJson,
    outcome::on_conn,
    validate,
};

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
    #[diesel(deserialize_as = StoredJson)]
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

/// What one aggregation adds to a bridge's state; see [`BridgeState::apply_delta`].
///
/// Its `id` makes the delta idempotent: one applied already (a redelivery)
/// changes nothing.
#[derive(Debug, Clone, PartialEq, Insertable, Serialize, Deserialize)]
#[diesel(table_name = bridge_states, check_for_backend(diesel::pg::Pg))]
pub struct BridgeStateDelta {
    /// The delta's id, e.g. the id of the event that carries it.
    #[diesel(skip_insertion)]
    pub id: Uuid,
    /// The bridge.
    pub bridge_id: Uuid,
    /// Namespace of the bridge; a delta never moves a bridge between namespaces.
    pub namespace: String,
    /// Workflows processed since the last delta: added to the total, never negative.
    pub total_workflows_processed: i64,
    /// Items aggregated since the last delta: added to the total, never negative.
    pub total_items_aggregated: i64,
    /// Keys merged over the stored metadata (top level; `{}` changes nothing).
    pub aggregation_metadata: Value,
    /// The bridge's state machine state now.
    pub current_fsm_state: String,
    /// When this aggregation happened; the stored time only moves forward.
    pub last_aggregation_timestamp: Option<DateTime<Utc>>,
}

impl BridgeStateDelta {
    /// Delta `id` for `bridge_id` adding nothing, in state `current_fsm_state`.
    pub fn new(
        id: Uuid,
        bridge_id: Uuid,
        namespace: impl Into<String>,
        current_fsm_state: impl Into<String>,
    ) -> Self {
        Self {
            id,
            bridge_id,
            namespace: namespace.into(),
            total_workflows_processed: 0,
            total_items_aggregated: 0,
            aggregation_metadata: Value::Object(Default::default()),
            current_fsm_state: current_fsm_state.into(),
            last_aggregation_timestamp: None,
        }
    }

    /// Refuses what the table cannot hold and negative deltas (counters only
    /// move forward), naming the field.
    fn validate(&self) -> Result<()> {
        const TABLE: &str = "bridge_states";
        validate::text(TABLE, "namespace", &self.namespace)?;
        validate::text(TABLE, "current_fsm_state", &self.current_fsm_state)?;
        validate::json(TABLE, "aggregation_metadata", &self.aggregation_metadata)?;
        if let Some(at) = self.last_aggregation_timestamp {
            validate::timestamp(TABLE, "last_aggregation_timestamp", at)?;
        }
        validate::non_negative(
            TABLE,
            "total_workflows_processed",
            self.total_workflows_processed,
        )?;
        validate::non_negative(TABLE, "total_items_aggregated", self.total_items_aggregated)
    }
}

/// A delta recorded as applied (`bridge_state_deltas`).
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Serialize, Deserialize)]
#[diesel(table_name = bridge_state_deltas, check_for_backend(diesel::pg::Pg))]
pub struct AppliedDelta {
    /// The delta's id.
    pub id: Uuid,
    /// The bridge it was applied to.
    pub bridge_id: Uuid,
    /// Workflows it added.
    pub total_workflows_processed: i64,
    /// Items it added.
    pub total_items_aggregated: i64,
    /// When it was applied.
    pub created_at: DateTime<Utc>,
}

impl AppliedDelta {
    /// The applied delta with id `id`.
    pub async fn find(conn: &mut AsyncPgConnection, id: Uuid) -> Result<Self> {
        on_conn!(conn, {
            bridge_state_deltas::table
                .find(id)
                .select(Self::as_select())
                .load(conn)
                .await?
                .pop()
                .ok_or_else(|| Error::not_found("bridge state delta", id))
        })
    }
}

impl BridgeState {
    const ENTITY: &'static str = "bridge state";

    /// Applies `delta` to the bridge's row, inserting the row if it is new,
    /// in one transaction; a delta whose id was applied before (a
    /// redelivery) changes nothing and returns the row as stored.
    ///
    /// Counters grow by the deltas (concurrent deltas all count), metadata
    /// keys are merged, `current_fsm_state` is replaced, and the aggregation
    /// time keeps the later value. Negative deltas and a `namespace` other
    /// than the stored one are refused with [`Error::InvalidValue`], and
    /// nothing is written.
    pub async fn apply_delta(
        conn: &mut AsyncPgConnection,
        delta: &BridgeStateDelta,
    ) -> Result<Self> {
        delta.validate()?;
        on_conn!(conn, {
            conn.transaction(async |conn| {
                if Self::record_delta(conn, delta).await? {
                    Self::add(conn, delta).await
                } else {
                    Self::find(conn, delta.bridge_id).await
                }
            })
            .await
        })
    }

    /// Records `delta` as applied; false when its id was recorded before.
    ///
    /// A concurrent delivery of the same id waits here for the first one's
    /// transaction and then finds the id taken.
    async fn record_delta(conn: &mut AsyncPgConnection, delta: &BridgeStateDelta) -> Result<bool> {
        use bridge_state_deltas as d;
        let recorded = diesel::insert_into(d::table)
            .values((
                d::id.eq(delta.id),
                d::bridge_id.eq(delta.bridge_id),
                d::total_workflows_processed.eq(delta.total_workflows_processed),
                d::total_items_aggregated.eq(delta.total_items_aggregated),
            ))
            .on_conflict(d::id)
            .do_nothing()
            .execute(conn)
            .await?;
        Ok(recorded == 1)
    }

    /// Adds `delta` to the bridge's row (inserting it if new), in one statement.
    async fn add(conn: &mut AsyncPgConnection, delta: &BridgeStateDelta) -> Result<Self> {
        use bridge_states as bs;
        // `ON CONFLICT … DO UPDATE … WHERE` is this trait's `filter`, not `QueryDsl`'s.
        use diesel::query_dsl::methods::FilterDsl as _;
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
            .load(conn)
            .await?
            .pop()
            .ok_or_else(|| {
                Error::invalid(
                    "bridge_states.namespace",
                    format!(
                        "bridge {} belongs to another namespace than {:?}; refusing to update it",
                        delta.bridge_id, delta.namespace
                    ),
                )
            })
    }

    /// The state of bridge `bridge_id`.
    pub async fn find(conn: &mut AsyncPgConnection, bridge_id: Uuid) -> Result<Self> {
        on_conn!(conn, {
            bridge_states::table
                .find(bridge_id)
                .select(Self::as_select())
                .load(conn)
                .await?
                .pop()
                .ok_or_else(|| Error::not_found(Self::ENTITY, bridge_id))
        })
    }

    /// The states of every bridge in `namespace`, by `bridge_id`.
    pub async fn list_by_namespace(
        conn: &mut AsyncPgConnection,
        namespace: &str,
    ) -> Result<Vec<Self>> {
        on_conn!(conn, {
            Ok(bridge_states::table
                .filter(bridge_states::namespace.eq(namespace))
                .order(bridge_states::bridge_id)
                .select(Self::as_select())
                .load(conn)
                .await?)
        })
    }
}
