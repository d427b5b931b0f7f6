//! Service discovery and health of bridge nodes (`node_registrations`).

use bridge_schema::node_registrations;
use chrono::{DateTime, SubsecRound, Utc};
use diesel::{prelude::*, upsert::excluded};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};
use serde_json::Value;

mod heartbeat_many;

use crate::{
    error::{Error, Result},
    json::StoredJson,
    outcome::on_conn,
    state::HealthStatus,
    validate,
};

/// One registered node.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable, Serialize, Deserialize)]
#[diesel(table_name = node_registrations, primary_key(node_id))]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct NodeRegistration {
    /// Identifies the node, e.g. `orchestrator-v1.0.0-3f2a`; primary key.
    pub node_id: String,
    /// Kind of node: `orchestrator`, `reducer`, `registry`, …
    pub node_type: String,
    /// Version the node runs, e.g. `v1.0.0`.
    pub node_version: String,
    /// What the node can do.
    #[diesel(deserialize_as = StoredJson)]
    pub capabilities: Value,
    /// Where the node is reached.
    #[diesel(deserialize_as = StoredJson)]
    pub endpoints: Value,
    /// Free-form metadata.
    #[diesel(deserialize_as = StoredJson)]
    pub metadata: Value,
    /// Health the node last reported.
    pub health_status: HealthStatus,
    /// When the node last reported; `None` before its first heartbeat.
    pub last_heartbeat: Option<DateTime<Utc>>,
    /// When the node first registered.
    pub registered_at: DateTime<Utc>,
    /// When the row last changed.
    pub updated_at: DateTime<Utc>,
}

/// A node announcing itself; see [`NodeRegistration::register`].
#[derive(Debug, Clone, PartialEq, Insertable, Serialize, Deserialize)]
#[diesel(table_name = node_registrations, check_for_backend(diesel::pg::Pg))]
pub struct NewNodeRegistration {
    /// Identifies the node.
    pub node_id: String,
    /// Kind of node.
    pub node_type: String,
    /// Version the node runs.
    pub node_version: String,
    /// What the node can do; `{}` when nothing.
    pub capabilities: Value,
    /// Where the node is reached; `{}` when nowhere yet.
    pub endpoints: Value,
    /// Free-form metadata; `{}` when none.
    pub metadata: Value,
    /// Health at registration, usually [`HealthStatus::Unknown`].
    pub health_status: HealthStatus,
}

impl NewNodeRegistration {
    /// A node of `node_type` at `node_version`, health unknown, with empty JSON fields.
    pub fn new(
        node_id: impl Into<String>,
        node_type: impl Into<String>,
        node_version: impl Into<String>,
    ) -> Self {
        let empty = || Value::Object(Default::default());
        Self {
            node_id: node_id.into(),
            node_type: node_type.into(),
            node_version: node_version.into(),
            capabilities: empty(),
            endpoints: empty(),
            metadata: empty(),
            health_status: HealthStatus::Unknown,
        }
    }

    /// Refuses what the table cannot hold, naming the field.
    fn validate(&self) -> Result<()> {
        const TABLE: &str = "node_registrations";
        validate::text(TABLE, "node_id", &self.node_id)?;
        validate::text(TABLE, "node_type", &self.node_type)?;
        validate::text(TABLE, "node_version", &self.node_version)?;
        validate::json(TABLE, "capabilities", &self.capabilities)?;
        validate::json(TABLE, "endpoints", &self.endpoints)?;
        validate::json(TABLE, "metadata", &self.metadata)
    }
}

/// A heartbeat: the health a node reports and when.
#[derive(Debug, Clone, Copy, PartialEq, AsChangeset, Serialize, Deserialize)]
#[diesel(table_name = node_registrations, check_for_backend(diesel::pg::Pg))]
pub struct NodeHeartbeat {
    /// The health reported.
    pub health_status: HealthStatus,
    /// When it was reported.
    pub last_heartbeat: DateTime<Utc>,
}

impl NodeHeartbeat {
    /// A heartbeat reporting `health` now.
    pub fn now(health: HealthStatus) -> Self {
        Self {
            health_status: health,
            last_heartbeat: Utc::now().trunc_subsecs(6),
        }
    }

    /// Refuses a time the table cannot hold, naming the column.
    fn validate(&self) -> Result<()> {
        validate::timestamp("node_registrations", "last_heartbeat", self.last_heartbeat)
    }
}

impl NodeRegistration {
    const ENTITY: &'static str = "node registration";

    /// Registers a node, or re-registers it: a known `node_id` gets the new
    /// type, version, capabilities, endpoints, metadata and health, and keeps
    /// `registered_at` and `last_heartbeat`.
    pub async fn register(
        conn: &mut AsyncPgConnection,
        node: &NewNodeRegistration,
    ) -> Result<Self> {
        use node_registrations as nr;
        node.validate()?;
        on_conn!(conn, {
            diesel::insert_into(nr::table)
                .values(node)
                .on_conflict(nr::node_id)
                .do_update()
                .set((
                    nr::node_type.eq(excluded(nr::node_type)),
                    nr::node_version.eq(excluded(nr::node_version)),
                    nr::capabilities.eq(excluded(nr::capabilities)),
                    nr::endpoints.eq(excluded(nr::endpoints)),
                    nr::metadata.eq(excluded(nr::metadata)),
                    nr::health_status.eq(excluded(nr::health_status)),
                ))
                .returning(Self::as_returning())
                .load(conn)
                .await?
                .pop()
                .ok_or_else(|| Error::not_found(Self::ENTITY, &node.node_id))
        })
    }

    /// The node `node_id`.
    pub async fn find(conn: &mut AsyncPgConnection, node_id: &str) -> Result<Self> {
        on_conn!(conn, {
            node_registrations::table
                .find(node_id)
                .select(Self::as_select())
                .load(conn)
                .await?
                .pop()
                .ok_or_else(|| Error::not_found(Self::ENTITY, node_id))
        })
    }

    /// Records a heartbeat of node `node_id` and returns the updated row.
    pub async fn heartbeat(
        conn: &mut AsyncPgConnection,
        node_id: &str,
        beat: &NodeHeartbeat,
    ) -> Result<Self> {
        beat.validate()?;
        on_conn!(conn, {
            diesel::update(node_registrations::table.find(node_id))
                .set(beat)
                .returning(Self::as_returning())
                .load(conn)
                .await?
                .pop()
                .ok_or_else(|| Error::not_found(Self::ENTITY, node_id))
        })
    }

    /// Nodes of `node_type` reporting `health`, by `node_id`.
    pub async fn list_by_type_and_health(
        conn: &mut AsyncPgConnection,
        node_type: &str,
        health: HealthStatus,
    ) -> Result<Vec<Self>> {
        on_conn!(conn, {
            Ok(node_registrations::table
                .filter(node_registrations::node_type.eq(node_type))
                .filter(node_registrations::health_status.eq(health))
                .order(node_registrations::node_id)
                .select(Self::as_select())
                .load(conn)
                .await?)
        })
    }

    /// Every registered node, by `node_id`.
    pub async fn list_all(conn: &mut AsyncPgConnection) -> Result<Vec<Self>> {
        on_conn!(conn, {
            Ok(node_registrations::table
                .order(node_registrations::node_id)
                .select(Self::as_select())
                .load(conn)
                .await?)
        })
    }

    /// Since when the node has been silent: its last heartbeat, or before
    /// any, its registration (the time [`Self::list_stale`] compares).
    pub fn silent_since(&self) -> DateTime<Utc> {
        self.last_heartbeat.unwrap_or(self.registered_at)
    }

    /// Nodes silent since before `cutoff`, longest silent first: their last
    /// heartbeat is older, or they never sent one and registered before it.
    pub async fn list_stale(
        conn: &mut AsyncPgConnection,
        cutoff: DateTime<Utc>,
    ) -> Result<Vec<Self>> {
        use node_registrations as nr;
        on_conn!(conn, {
            Ok(nr::table
                .filter(
                    nr::last_heartbeat.lt(cutoff).or(nr::last_heartbeat
                        .is_null()
                        .and(nr::registered_at.lt(cutoff))),
                )
                .order((nr::last_heartbeat.asc().nulls_first(), nr::node_id))
                .select(Self::as_select())
                .load(conn)
                .await?)
        })
    }

    /// Removes node `node_id`; false when it was not registered.
    pub async fn deregister(conn: &mut AsyncPgConnection, node_id: &str) -> Result<bool> {
        on_conn!(conn, {
            let deleted = diesel::delete(node_registrations::table.find(node_id))
                .execute(conn)
                .await?;
            Ok(deleted > 0)
        })
    }
}
