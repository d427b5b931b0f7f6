-- Events the database adapter (bridge-adapter) consumed before what they
-- depend on (their workflow or node) had arrived on another topic. They are
-- parked here in the same transaction as the batch whose offsets then get
-- committed, so a crash loses none of them; the adapter re-applies them when
-- what they wait for arrives and dead-letters them after a bounded wait.
CREATE TABLE adapter_deferred_events (
    topic           VARCHAR(249) NOT NULL,
    kafka_partition INTEGER      NOT NULL,
    kafka_offset    BIGINT       NOT NULL,
    event_id        UUID         NOT NULL,
    event_type      VARCHAR(100) NOT NULL,
    waits_for_kind  VARCHAR(20)  NOT NULL,
    waits_for_key   VARCHAR(255) NOT NULL,
    message_key     BYTEA,
    payload         BYTEA        NOT NULL,
    header_names    TEXT[]       NOT NULL DEFAULT '{}',
    header_values   BYTEA[]      NOT NULL DEFAULT '{}',
    reason          TEXT         NOT NULL,
    first_seen      TIMESTAMPTZ  NOT NULL DEFAULT now(),
    last_attempt    TIMESTAMPTZ  NOT NULL DEFAULT now(),
    attempts        INTEGER      NOT NULL DEFAULT 1,
    CONSTRAINT adapter_deferred_events_pkey PRIMARY KEY (topic, kafka_partition, kafka_offset),
    CONSTRAINT adapter_deferred_events_kafka_partition_check CHECK (kafka_partition >= 0),
    CONSTRAINT adapter_deferred_events_kafka_offset_check CHECK (kafka_offset >= 0),
    CONSTRAINT adapter_deferred_events_waits_for_kind_check CHECK (waits_for_kind IN ('workflow', 'node')),
    CONSTRAINT adapter_deferred_events_attempts_check CHECK (attempts >= 1)
);

-- Serves: DeferredEvent::take_waiting_for (re-apply the events a batch's new workflows and nodes unblock).
CREATE INDEX adapter_deferred_events_waits_for_idx ON adapter_deferred_events (waits_for_kind, waits_for_key);

-- Serves: DeferredEvent::take_oldest (the timed sweep: oldest first, expired ones dead-lettered).
CREATE INDEX adapter_deferred_events_first_seen_idx ON adapter_deferred_events (first_seen);

COMMENT ON TABLE adapter_deferred_events IS 'Events bridge-adapter consumed before the workflow or node they need existed; re-applied when it arrives, dead-lettered after a bounded wait.';
COMMENT ON COLUMN adapter_deferred_events.topic IS 'Kafka topic the event was consumed from.';
COMMENT ON COLUMN adapter_deferred_events.kafka_partition IS 'Kafka partition it was consumed from.';
COMMENT ON COLUMN adapter_deferred_events.kafka_offset IS 'Its offset in that partition; with topic and partition the key, so a redelivery parks nothing twice.';
COMMENT ON COLUMN adapter_deferred_events.event_id IS 'The envelope event_id, which makes its eventual write idempotent.';
COMMENT ON COLUMN adapter_deferred_events.event_type IS 'The envelope event_type, e.g. step-completed.';
COMMENT ON COLUMN adapter_deferred_events.waits_for_kind IS 'What it waits for: workflow (by correlation id) or node (by node id).';
COMMENT ON COLUMN adapter_deferred_events.waits_for_key IS 'The correlation id or node id it waits for.';
COMMENT ON COLUMN adapter_deferred_events.message_key IS 'The Kafka message key, as consumed; NULL when it had none.';
COMMENT ON COLUMN adapter_deferred_events.payload IS 'The original message bytes, as consumed.';
COMMENT ON COLUMN adapter_deferred_events.header_names IS 'The Kafka header names, in order.';
COMMENT ON COLUMN adapter_deferred_events.header_values IS 'The Kafka header values, in the order of header_names; NULL for a header without value.';
COMMENT ON COLUMN adapter_deferred_events.reason IS 'Why it waits, as the dead-letter message will say if it waits too long.';
COMMENT ON COLUMN adapter_deferred_events.first_seen IS 'When it was first parked; the wait is bounded from here.';
COMMENT ON COLUMN adapter_deferred_events.last_attempt IS 'When it was last tried.';
COMMENT ON COLUMN adapter_deferred_events.attempts IS 'How often it was tried, counting the first.';
COMMENT ON INDEX adapter_deferred_events_waits_for_idx IS 'Parked events waiting for given workflows or nodes (re-applied in the batch that brings them).';
COMMENT ON INDEX adapter_deferred_events_first_seen_idx IS 'Parked events oldest first (the timed sweep and its expiry).';
