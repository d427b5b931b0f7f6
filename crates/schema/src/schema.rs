// @generated automatically by Diesel CLI.

diesel::table! {
    /// Events bridge-adapter consumed before the workflow or node they need existed; re-applied when it arrives, dead-lettered after a bounded wait.
    adapter_deferred_events (topic, kafka_partition, kafka_offset) {
        /// Kafka topic the event was consumed from.
        #[max_length = 249]
        topic -> Varchar,
        /// Kafka partition it was consumed from.
        kafka_partition -> Int4,
        /// Its offset in that partition; with topic and partition the key, so a redelivery parks nothing twice.
        kafka_offset -> Int8,
        /// The envelope event_id, which makes its eventual write idempotent.
        event_id -> Uuid,
        /// The envelope event_type, e.g. step-completed.
        #[max_length = 100]
        event_type -> Varchar,
        /// What it waits for: workflow (by correlation id) or node (by node id).
        #[max_length = 20]
        waits_for_kind -> Varchar,
        /// The correlation id or node id it waits for.
        #[max_length = 255]
        waits_for_key -> Varchar,
        /// The Kafka message key, as consumed; NULL when it had none.
        message_key -> Nullable<Bytea>,
        /// The original message bytes, as consumed.
        payload -> Bytea,
        /// The Kafka header names, in order.
        header_names -> Array<Nullable<Text>>,
        /// The Kafka header values, in the order of header_names; NULL for a header without value.
        header_values -> Array<Nullable<Bytea>>,
        /// Why it waits, as the dead-letter message will say if it waits too long.
        reason -> Text,
        /// When it was first parked; the wait is bounded from here.
        first_seen -> Timestamptz,
        /// When it was last tried.
        last_attempt -> Timestamptz,
        /// How often it was tried, counting the first.
        attempts -> Int4,
    }
}

diesel::table! {
    /// Aggregation deltas applied to bridge_states, one row per delta id; makes a redelivered delta a no-op.
    bridge_state_deltas (id) {
        /// The delta id the reducer gave (e.g. its event id); primary key.
        id -> Uuid,
        /// The bridge the delta was applied to (no FK: kept when the bridge state goes).
        bridge_id -> Uuid,
        /// Workflows the delta added; never negative.
        total_workflows_processed -> Int8,
        /// Items the delta added; never negative.
        total_items_aggregated -> Int8,
        /// When the delta was applied.
        created_at -> Timestamptz,
    }
}

diesel::table! {
    /// Reducer aggregation state, one row per bridge.
    bridge_states (bridge_id) {
        /// Identifies the bridge; primary key.
        bridge_id -> Uuid,
        /// Multi-tenant namespace of the bridge.
        #[max_length = 255]
        namespace -> Varchar,
        /// Workflows processed so far; only grows, never negative.
        total_workflows_processed -> Int8,
        /// Items aggregated so far; only grows, never negative.
        total_items_aggregated -> Int8,
        /// Free-form aggregation state; empty object when none.
        aggregation_metadata -> Jsonb,
        /// Current state of the bridge state machine.
        #[max_length = 50]
        current_fsm_state -> Varchar,
        /// When the reducer last aggregated into this row.
        last_aggregation_timestamp -> Nullable<Timestamptz>,
        /// When the row was inserted.
        created_at -> Timestamptz,
        /// When the row last changed; kept by trigger.
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    /// Append-only audit of state-machine transitions; one partition per month of id time.
    fsm_transitions (id) {
        /// Primary key of the transition; a UUIDv7, whose time picks the monthly partition.
        id -> Uuid,
        /// The workflow, bridge or other entity that moved; no foreign key.
        entity_id -> Uuid,
        /// Kind of entity, e.g. workflow or bridge_state.
        #[max_length = 100]
        entity_type -> Varchar,
        /// State before the transition; NULL for the initial state.
        #[max_length = 50]
        from_state -> Nullable<Varchar>,
        /// State after the transition.
        #[max_length = 50]
        to_state -> Varchar,
        /// Event that caused the transition.
        #[max_length = 100]
        transition_event -> Varchar,
        /// Free-form transition context; empty object when none.
        transition_data -> Jsonb,
        /// When the transition was recorded.
        created_at -> Timestamptz,
    }
}

diesel::table! {
    /// Audit trail of metadata stamp operations; one partition per month of id time.
    metadata_stamps (id) {
        /// Primary key of the stamp record; a UUIDv7, whose time picks the monthly partition.
        id -> Uuid,
        /// Workflow that stamped; set to NULL when the workflow is deleted.
        workflow_id -> Nullable<Uuid>,
        /// BLAKE3 hash of the stamped content.
        #[max_length = 128]
        file_hash -> Varchar,
        /// The complete stamp.
        stamp_data -> Jsonb,
        /// Multi-tenant namespace of the stamp.
        #[max_length = 255]
        namespace -> Varchar,
        /// When the stamp was recorded.
        created_at -> Timestamptz,
    }
}

diesel::table! {
    /// Service discovery and health of bridge nodes.
    node_registrations (node_id) {
        /// Identifies the node, e.g. orchestrator-v1.0.0-3f2a; primary key.
        #[max_length = 255]
        node_id -> Varchar,
        /// Kind of node: orchestrator, reducer, registry, ...
        #[max_length = 100]
        node_type -> Varchar,
        /// Version the node runs, e.g. v1.0.0.
        #[max_length = 50]
        node_version -> Varchar,
        /// What the node can do; empty object when none.
        capabilities -> Jsonb,
        /// Where the node is reached; empty object when none.
        endpoints -> Jsonb,
        /// Free-form node metadata; empty object when none.
        metadata -> Jsonb,
        /// Health: HEALTHY, DEGRADED, UNHEALTHY or UNKNOWN.
        #[max_length = 50]
        health_status -> Varchar,
        /// When the node last reported; NULL before its first heartbeat.
        last_heartbeat -> Nullable<Timestamptz>,
        /// When the node first registered.
        registered_at -> Timestamptz,
        /// When the row last changed; kept by trigger.
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    /// Orchestrator workflow execution state: one row per workflow.
    workflow_executions (id) {
        /// Primary key of the execution.
        id -> Uuid,
        /// Identifies the workflow across services; unique.
        correlation_id -> Uuid,
        /// Kind of workflow, e.g. metadata_stamping.
        #[max_length = 100]
        workflow_type -> Varchar,
        /// FSM state: PENDING, PROCESSING, COMPLETED or FAILED.
        #[max_length = 50]
        current_state -> Varchar,
        /// Multi-tenant namespace that owns the workflow.
        #[max_length = 255]
        namespace -> Varchar,
        /// When the workflow started.
        started_at -> Timestamptz,
        /// When the workflow reached a terminal state; never before started_at.
        completed_at -> Nullable<Timestamptz>,
        /// Wall-clock duration in milliseconds; never negative.
        execution_time_ms -> Nullable<Int4>,
        /// Why the workflow failed, when it did.
        error_message -> Nullable<Text>,
        /// Free-form workflow metadata; empty object when none.
        metadata -> Jsonb,
        /// When the row was inserted.
        created_at -> Timestamptz,
        /// When the row last changed; kept by trigger.
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    /// Steps within a workflow execution.
    workflow_steps (id) {
        /// Primary key of the step.
        id -> Uuid,
        /// Workflow the step belongs to; the step is deleted with it.
        workflow_id -> Uuid,
        /// Name of the step, e.g. hash_generation.
        #[max_length = 100]
        step_name -> Varchar,
        /// Position of the step in its workflow, from 0.
        step_order -> Int4,
        /// Step status: PENDING, RUNNING, COMPLETED or FAILED.
        #[max_length = 50]
        status -> Varchar,
        /// Duration of the step in milliseconds; never negative.
        execution_time_ms -> Nullable<Int4>,
        /// Free-form step input and output; empty object when none.
        step_data -> Jsonb,
        /// Why the step failed, when it did.
        error_message -> Nullable<Text>,
        /// When the row was inserted.
        created_at -> Timestamptz,
    }
}

diesel::joinable!(metadata_stamps -> workflow_executions (workflow_id));
diesel::joinable!(workflow_steps -> workflow_executions (workflow_id));

diesel::allow_tables_to_appear_in_same_query!(
    adapter_deferred_events,
    bridge_state_deltas,
    bridge_states,
    fsm_transitions,
    metadata_stamps,
    node_registrations,
    workflow_executions,
    workflow_steps,
);
