//! Many heartbeats in one statement: [`NodeRegistration::heartbeat_many`].

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use diesel::{
    sql_types::{Array, Text, Timestamptz},
    QueryableByName,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::{NodeHeartbeat, NodeRegistration};
use crate::{
    error::{Error, Result},
    outcome::on_conn,
    validate,
};

/// A node a heartbeat statement found.
#[derive(QueryableByName)]
struct Beaten {
    #[diesel(sql_type = Text)]
    node_id: String,
}

/// Sets each node's last heartbeat; returns the nodes it found.
const HEARTBEATS: &str = "UPDATE node_registrations AS n \
     SET health_status = b.health_status, last_heartbeat = b.last_heartbeat \
     FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS b(node_id, health_status, last_heartbeat) \
     WHERE n.node_id = b.node_id \
     RETURNING n.node_id";

impl NodeRegistration {
    /// Records many heartbeats (`(node_id, heartbeat)`) in one statement,
    /// with the result [`heartbeat`](Self::heartbeat) would give one after
    /// another: each node keeps the last of its heartbeats. Per heartbeat,
    /// `Ok`, or [`Error::NotFound`] when its node is not registered; the
    /// outer `Err` is for the call (a refused timestamp, naming its row;
    /// the connection), and then nothing is written.
    pub async fn heartbeat_many(
        conn: &mut AsyncPgConnection,
        beats: &[(&str, NodeHeartbeat)],
    ) -> Result<Vec<Result<()>>> {
        validate::rows(beats, |(_, beat)| beat.validate())?;
        if beats.is_empty() {
            return Ok(Vec::new());
        }
        let last: BTreeMap<&str, &NodeHeartbeat> =
            beats.iter().map(|(node, beat)| (*node, beat)).collect();
        let nodes: Vec<&str> = last.keys().copied().collect();
        let health: Vec<&str> = last
            .values()
            .map(|beat| beat.health_status.as_str())
            .collect();
        let at: Vec<DateTime<Utc>> = last.values().map(|beat| beat.last_heartbeat).collect();
        on_conn!(conn, {
            let found: Vec<Beaten> = diesel::sql_query(HEARTBEATS)
                .bind::<Array<Text>, _>(&nodes)
                .bind::<Array<Text>, _>(&health)
                .bind::<Array<Timestamptz>, _>(&at)
                .load(conn)
                .await?;
            let found: HashSet<String> = found.into_iter().map(|row| row.node_id).collect();
            Ok(beats
                .iter()
                .map(|(node, _)| {
                    if found.contains(*node) {
                        Ok(())
                    } else {
                        Err(Error::not_found(Self::ENTITY, node))
                    }
                })
                .collect())
        })
    }
}
