//! Events parked until what they depend on arrives (`adapter_deferred_events`).

use bridge_models::{Error, Result, Uncached};
use bridge_schema::adapter_deferred_events as d;
use chrono::{DateTime, Utc};
use diesel::{
    prelude::*,
    sql_types::{Array, BigInt, Integer, Text},
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::message::Consumed;

/// The query for one parked event by its key (topic, partition, offset).
type ByKey = diesel::dsl::Filter<
    diesel::dsl::Filter<
        diesel::dsl::Filter<d::table, diesel::dsl::Eq<d::topic, String>>,
        diesel::dsl::Eq<d::kafka_partition, i32>,
    >,
    diesel::dsl::Eq<d::kafka_offset, i64>,
>;

/// Most events one parking statement inserts: 12 bind parameters each,
/// well under PostgreSQL's 65 535.
const PARK_CHUNK: usize = 1_000;

/// An event to park: its message, identity and what it waits for.
#[derive(Debug, Clone, Copy)]
pub struct Parking<'a> {
    /// The message as consumed.
    pub message: &'a Consumed,
    /// The envelope's event id.
    pub event_id: Uuid,
    /// The envelope's event type.
    pub event_type: &'a str,
    /// What it waits for.
    pub waits_for: &'a WaitsFor,
}

/// What a parked event waits for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum WaitsFor {
    /// The workflow with this correlation id.
    Workflow(Uuid),
    /// The node with this id.
    Node(String),
}

/// What kind of thing a parked event waits for: the stored `waits_for_kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WaitsForKind {
    /// A workflow, by correlation id.
    Workflow,
    /// A node, by node id.
    Node,
}

impl WaitsForKind {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Workflow => "workflow",
            Self::Node => "node",
        }
    }
}

impl WaitsFor {
    /// What kind of thing it waits for.
    pub fn kind(&self) -> WaitsForKind {
        match self {
            Self::Workflow(_) => WaitsForKind::Workflow,
            Self::Node(_) => WaitsForKind::Node,
        }
    }

    /// The stored `waits_for_key`.
    pub fn key(&self) -> String {
        match self {
            Self::Workflow(id) => id.to_string(),
            Self::Node(id) => id.clone(),
        }
    }

    /// Why the event waits, as the dead-letter message says if it waits too long.
    pub fn reason(&self) -> String {
        match self {
            Self::Workflow(id) => format!("workflow with correlation_id {id} has not arrived"),
            Self::Node(id) => format!("node {id:?} has not registered"),
        }
    }
}

/// One parked event, as stored.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = d, check_for_backend(diesel::pg::Pg))]
pub struct DeferredEvent {
    /// Source topic.
    pub topic: String,
    /// Source partition.
    pub kafka_partition: i32,
    /// Source offset.
    pub kafka_offset: i64,
    /// The envelope's event id.
    pub event_id: Uuid,
    /// The envelope's event type.
    pub event_type: String,
    /// `workflow` or `node`.
    pub waits_for_kind: String,
    /// The correlation id or node id.
    pub waits_for_key: String,
    /// The message key.
    pub message_key: Option<Vec<u8>>,
    /// The original bytes.
    pub payload: Vec<u8>,
    /// Header names.
    pub header_names: Vec<Option<String>>,
    /// Header values.
    pub header_values: Vec<Option<Vec<u8>>>,
    /// Why it waits.
    pub reason: String,
    /// When it was first parked.
    pub first_seen: DateTime<Utc>,
    /// When it was last tried.
    pub last_attempt: DateTime<Utc>,
    /// Tries so far.
    pub attempts: i32,
}

impl DeferredEvent {
    /// The message this event was consumed as.
    pub fn message(&self) -> Consumed {
        Consumed {
            topic: self.topic.clone(),
            partition: self.kafka_partition,
            offset: self.kafka_offset,
            key: self.message_key.clone(),
            payload: self.payload.clone(),
            headers: self
                .header_names
                .iter()
                .map(|name| name.clone().unwrap_or_default())
                .zip(self.header_values.iter().cloned())
                .collect(),
            timestamp_ms: None,
        }
    }

    /// Parks each event until what it waits for arrives, in one statement
    /// per thousand; an event parked before (a redelivery) stays as it is.
    pub async fn park_many(conn: &mut AsyncPgConnection, events: &[Parking<'_>]) -> Result<()> {
        for chunk in events.chunks(PARK_CHUNK) {
            let rows: Vec<_> = chunk
                .iter()
                .map(|event| {
                    let message = event.message;
                    let (names, values): (Vec<&str>, Vec<Option<&[u8]>>) = message
                        .headers
                        .iter()
                        .map(|(name, value)| (name.as_str(), value.as_deref()))
                        .unzip();
                    (
                        d::topic.eq(&message.topic),
                        d::kafka_partition.eq(message.partition),
                        d::kafka_offset.eq(message.offset),
                        d::event_id.eq(event.event_id),
                        d::event_type.eq(event.event_type),
                        d::waits_for_kind.eq(event.waits_for.kind().as_str()),
                        d::waits_for_key.eq(event.waits_for.key()),
                        d::message_key.eq(&message.key),
                        d::payload.eq(&message.payload),
                        d::header_names.eq(names),
                        d::header_values.eq(values),
                        d::reason.eq(event.waits_for.reason()),
                    )
                })
                .collect();
            diesel::insert_into(d::table)
                .values(rows)
                .on_conflict((d::topic, d::kafka_partition, d::kafka_offset))
                .do_nothing()
                .execute(conn)
                .await
                .map_err(Error::from)?;
        }
        Ok(())
    }

    /// Locks and returns the events parked for any of `waiting_for`, oldest
    /// first, skipping those another adapter holds.
    pub async fn take_waiting_for(
        conn: &mut AsyncPgConnection,
        kind: WaitsForKind,
        keys: &[String],
    ) -> Result<Vec<Self>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        // Planned with each batch: the table fills and empties fast, and a
        // plan cached while it was small scans it whole once it is big.
        Uncached(
            d::table
                .filter(d::waits_for_kind.eq(kind.as_str()))
                .filter(d::waits_for_key.eq_any(keys))
                .order((d::first_seen, d::topic, d::kafka_partition, d::kafka_offset))
                .for_update()
                .skip_locked()
                .select(Self::as_select()),
        )
        .load(conn)
        .await
        .map_err(Error::from)
    }

    /// Up to `limit` parked events last tried before `tried_before`, oldest first (not locked).
    pub async fn take_oldest(
        conn: &mut AsyncPgConnection,
        tried_before: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<Self>> {
        d::table
            .filter(d::last_attempt.lt(tried_before))
            .order((d::first_seen, d::topic, d::kafka_partition, d::kafka_offset))
            .limit(limit)
            .select(Self::as_select())
            .load(conn)
            .await
            .map_err(Error::from)
    }

    /// Locks this parked event; false when another adapter holds it or it is gone.
    pub async fn lock(&self, conn: &mut AsyncPgConnection) -> Result<bool> {
        let found: Vec<i64> = self
            .key_filter()
            .for_update()
            .skip_locked()
            .select(d::kafka_offset)
            .load(conn)
            .await
            .map_err(Error::from)?;
        Ok(!found.is_empty())
    }

    /// Removes this parked event (applied or dead-lettered).
    pub async fn remove(&self, conn: &mut AsyncPgConnection) -> Result<()> {
        diesel::delete(self.key_filter())
            .execute(conn)
            .await
            .map_err(Error::from)?;
        Ok(())
    }

    /// Removes these parked events (applied), in one statement.
    pub async fn remove_many(conn: &mut AsyncPgConnection, events: &[&Self]) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let topics: Vec<&str> = events.iter().map(|e| e.topic.as_str()).collect();
        let partitions: Vec<i32> = events.iter().map(|e| e.kafka_partition).collect();
        let offsets: Vec<i64> = events.iter().map(|e| e.kafka_offset).collect();
        diesel::sql_query(
            "DELETE FROM adapter_deferred_events d USING unnest($1::text[], $2::int4[], $3::int8[]) \
             AS k(topic, kafka_partition, kafka_offset) WHERE d.topic = k.topic \
             AND d.kafka_partition = k.kafka_partition AND d.kafka_offset = k.kafka_offset",
        )
        .bind::<Array<Text>, _>(topics)
        .bind::<Array<Integer>, _>(partitions)
        .bind::<Array<BigInt>, _>(offsets)
        .execute(conn)
        .await
        .map_err(Error::from)?;
        Ok(())
    }

    /// Records one more try of this parked event.
    pub async fn tried(&self, conn: &mut AsyncPgConnection) -> Result<()> {
        diesel::update(self.key_filter())
            .set((
                d::attempts.eq(d::attempts + 1),
                d::last_attempt.eq(diesel::dsl::now),
            ))
            .execute(conn)
            .await
            .map_err(Error::from)?;
        Ok(())
    }

    /// Refreshes the planner's statistics of the parking table.
    pub async fn analyze(conn: &mut AsyncPgConnection) -> Result<()> {
        diesel::sql_query("ANALYZE adapter_deferred_events")
            .execute(conn)
            .await
            .map_err(Error::from)?;
        Ok(())
    }

    /// How many events are parked.
    pub async fn count(conn: &mut AsyncPgConnection) -> Result<i64> {
        d::table
            .count()
            .load(conn)
            .await
            .map_err(Error::from)
            .map(|mut counts: Vec<i64>| counts.pop().unwrap_or(0))
    }

    /// When the longest-waiting parked event was first seen; `None` when none is parked.
    pub async fn oldest_first_seen(conn: &mut AsyncPgConnection) -> Result<Option<DateTime<Utc>>> {
        d::table
            .select(diesel::dsl::min(d::first_seen))
            .load(conn)
            .await
            .map_err(Error::from)
            .map(|mut oldest: Vec<Option<DateTime<Utc>>>| oldest.pop().flatten())
    }

    /// This event's row, by its key.
    fn key_filter(&self) -> ByKey {
        d::table
            .filter(d::topic.eq(self.topic.clone()))
            .filter(d::kafka_partition.eq(self.kafka_partition))
            .filter(d::kafka_offset.eq(self.kafka_offset))
    }
}
