//! The case 4 data set: deterministic rows loaded server-side with
//! `INSERT … SELECT generate_series`, so any row's keys follow from its number.
//!
//! Transitions and stamps are spread evenly over [`SPAN_DAYS`] days from the
//! epoch, with UUIDv7 ids made from their `created_at`, so that they fill
//! the monthly partitions of those days (created before loading), as a live
//! database holds them.

use chrono::{DateTime, Duration, TimeZone, Utc};
use uuid::Uuid;

use crate::{direct::Direct, scale::DataSize, BenchResult};

/// Key families: the first UUID group says which table a key belongs to.
#[derive(Debug, Clone, Copy)]
pub enum Key {
    /// `workflow_executions.id`.
    Workflow = 1,
    /// `workflow_executions.correlation_id`.
    Correlation = 2,
    /// `workflow_steps.id`.
    Step = 3,
    /// `fsm_transitions.id`; see [`transition_id`] for the UUIDv7 stored.
    Transition = 4,
    /// `metadata_stamps.id`; see [`stamp_id`] for the UUIDv7 stored.
    Stamp = 5,
    /// `bridge_states.bridge_id`.
    Bridge = 6,
}

impl Key {
    /// The key of row number `i` (from 1).
    pub fn of(self, i: u64) -> Uuid {
        let tag = self as u32;
        Uuid::parse_str(&format!("{tag:08x}-0000-4000-8000-{i:012x}")).expect("a valid uuid")
    }
}

/// Namespaces of workflows and stamps: row `i` is in `ns-{i % 10}`.
pub const NAMESPACES: u64 = 10;

/// The time the data set starts; row timestamps count up from it.
pub fn epoch() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap()
}

/// `created_at` of workflow (and stamp) number `i`: one a second.
pub fn workflow_created_at(i: u64) -> DateTime<Utc> {
    epoch() + Duration::seconds(i as i64)
}

/// Days the transitions and the stamps span, from the epoch.
pub const SPAN_DAYS: i64 = 90;

/// Milliseconds between two consecutive of `rows` rows spread over [`SPAN_DAYS`].
fn spacing_ms(rows: u64) -> i64 {
    SPAN_DAYS * 86_400_000 / rows.max(1) as i64
}

/// `created_at` of transition number `j` of `size`.
pub fn transition_created_at(size: DataSize, j: u64) -> DateTime<Utc> {
    epoch() + Duration::milliseconds(spacing_ms(size.transitions) * j as i64)
}

/// `created_at` of stamp number `j` of `size`.
pub fn stamp_created_at(size: DataSize, j: u64) -> DateTime<Utc> {
    epoch() + Duration::milliseconds(spacing_ms(size.stamps) * j as i64)
}

/// The UUIDv7 of a row made at `at`, number `j`, of key family `key`.
fn uuid_v7(key: Key, at: DateTime<Utc>, j: u64) -> Uuid {
    let (ms, tag) = (at.timestamp_millis(), key as u32);
    Uuid::parse_str(&format!("{ms:012x}70008{tag:03x}{j:012x}")).expect("a valid uuid")
}

/// The id of transition number `j` of `size`: a UUIDv7 of its `created_at`.
pub fn transition_id(size: DataSize, j: u64) -> Uuid {
    uuid_v7(Key::Transition, transition_created_at(size, j), j)
}

/// The id of stamp number `j` of `size`: a UUIDv7 of its `created_at`.
pub fn stamp_id(size: DataSize, j: u64) -> Uuid {
    uuid_v7(Key::Stamp, stamp_created_at(size, j), j)
}

/// The `file_hash` of stamp number `j` (64 hex digits, like BLAKE3).
pub fn file_hash(j: u64) -> String {
    format!("{:032x}{:032x}", (j * 2_654_435_761) % (1 << 32), j)
}

/// Node types; node `j` has type `NODE_TYPES[j % 5]`.
pub const NODE_TYPES: [&str; 5] = ["orchestrator", "reducer", "registry", "stamper", "gateway"];

/// Creates the monthly partitions of both audit tables for the [`SPAN_DAYS`]
/// days of the data, as `bridge-admin retention` keeps them on a live database.
pub async fn partitions(pool: &bridge_models::Db) -> BenchResult<()> {
    use bridge_models::retention::{ensure_partitions, Month, PartitionedTable};
    let mut conn = pool.conn().await?;
    let (first, last) = (
        Month::of(epoch()),
        Month::of(epoch() + Duration::days(SPAN_DAYS)),
    );
    for table in PartitionedTable::ALL {
        ensure_partitions(
            &mut conn,
            table,
            first,
            last,
            std::time::Duration::from_secs(5),
        )
        .await?;
    }
    Ok(())
}

/// Loads `size` rows into the (empty, migrated) database, then ANALYZEs.
pub async fn load(direct: &Direct, size: DataSize) -> BenchResult<()> {
    let DataSize {
        workflows,
        steps,
        transitions,
        stamps,
        bridge_states,
        nodes,
    } = size;
    let (transition_ms, stamp_ms) = (spacing_ms(transitions), spacing_ms(stamps));
    let sql = format!(
        r#"
CREATE FUNCTION pg_temp.k(tag int, i bigint) RETURNS uuid LANGUAGE sql IMMUTABLE AS
  $$ SELECT (lpad(to_hex(tag), 8, '0') || '-0000-4000-8000-' || lpad(to_hex(i), 12, '0'))::uuid $$;
CREATE FUNCTION pg_temp.v7(tag int, at timestamptz, i bigint) RETURNS uuid LANGUAGE sql IMMUTABLE AS
  $$ SELECT (lpad(to_hex((extract(epoch FROM at) * 1000)::bigint), 12, '0') || '7000' || '8'
             || lpad(to_hex(tag), 3, '0') || lpad(to_hex(i), 12, '0'))::uuid $$;
INSERT INTO workflow_executions (id, correlation_id, workflow_type, current_state, namespace,
    started_at, completed_at, execution_time_ms, metadata, created_at, updated_at)
SELECT pg_temp.k(1, i), pg_temp.k(2, i), 'metadata_stamping', s.state, 'ns-' || (i % {NAMESPACES}),
    t, CASE WHEN s.state IN ('COMPLETED', 'FAILED') THEN t + interval '1 second' END,
    CASE WHEN s.state IN ('COMPLETED', 'FAILED') THEN 1000 END, '{{}}', t, t
FROM generate_series(1, {workflows}) AS i,
    LATERAL (SELECT '2025-01-01T00:00:00Z'::timestamptz + i * interval '1 second' AS t) AS ts,
    LATERAL (SELECT (ARRAY['PENDING', 'PROCESSING', 'COMPLETED', 'FAILED'])[1 + (i / 10) % 4] AS state) AS s;
INSERT INTO workflow_steps (id, workflow_id, step_name, step_order, status, execution_time_ms, step_data)
SELECT pg_temp.k(3, j), pg_temp.k(1, (j - 1) / 5 + 1), 'step_' || ((j - 1) % 5), (j - 1) % 5,
    'COMPLETED', 10, '{{}}'
FROM generate_series(1, {steps}) AS j;
INSERT INTO fsm_transitions (id, entity_id, entity_type, from_state, to_state, transition_event,
    transition_data, created_at)
SELECT pg_temp.v7(4, t, j), pg_temp.k(1, (j - 1) % {workflows} + 1), 'workflow', 'PENDING', 'PROCESSING',
    'start', '{{}}', t
FROM generate_series(1::bigint, {transitions}) AS j,
    LATERAL (SELECT '2025-01-01T00:00:00Z'::timestamptz + j * {transition_ms} * interval '1 millisecond' AS t) AS ts;
INSERT INTO metadata_stamps (id, workflow_id, file_hash, stamp_data, namespace, created_at)
SELECT pg_temp.v7(5, t, j), pg_temp.k(1, (j - 1) % {workflows} + 1),
    lpad(to_hex(j * 2654435761 % 4294967296), 32, '0') || lpad(to_hex(j), 32, '0'),
    jsonb_build_object('size', j), 'ns-' || (((j - 1) % {workflows} + 1) % {NAMESPACES}), t
FROM generate_series(1::bigint, {stamps}) AS j,
    LATERAL (SELECT '2025-01-01T00:00:00Z'::timestamptz + j * {stamp_ms} * interval '1 millisecond' AS t) AS ts;
INSERT INTO bridge_states (bridge_id, namespace, total_workflows_processed, total_items_aggregated,
    current_fsm_state, last_aggregation_timestamp)
SELECT pg_temp.k(6, j), 'ns-' || (j % 100), j, 10 * j, 'ACTIVE', now()
FROM generate_series(1, {bridge_states}) AS j;
INSERT INTO node_registrations (node_id, node_type, node_version, health_status, last_heartbeat)
SELECT 'node-' || j, (ARRAY['orchestrator', 'reducer', 'registry', 'stamper', 'gateway'])[1 + j % 5],
    'v1.0.0', (ARRAY['HEALTHY', 'DEGRADED', 'UNHEALTHY', 'UNKNOWN'])[1 + (j / 5) % 4],
    now() - j * interval '1 second'
FROM generate_series(1, {nodes}) AS j;
ANALYZE;
"#
    );
    direct.batch(&sql).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_v7_ids_carry_their_rows_time() {
        let size = DataSize {
            workflows: 100,
            steps: 500,
            transitions: 1_000,
            stamps: 100,
            bridge_states: 10,
            nodes: 10,
        };
        let id = transition_id(size, 1_000);
        assert_eq!(id.get_version_num(), 7);
        let ms = (id.as_u128() >> 80) as i64;
        assert_eq!(ms, transition_created_at(size, 1_000).timestamp_millis());
        assert_eq!(
            transition_created_at(size, 1_000),
            epoch() + Duration::days(SPAN_DAYS)
        );
        assert_ne!(stamp_id(size, 1), transition_id(size, 1));
    }

    #[test]
    fn keys_and_hashes_match_the_sql() {
        assert_eq!(
            Key::Workflow.of(255).to_string(),
            "00000001-0000-4000-8000-0000000000ff"
        );
        assert_eq!(file_hash(1).len(), 64);
        assert_eq!(&file_hash(1)[32..], "00000000000000000000000000000001");
    }
}
