-- Service discovery and health of bridge nodes.
CREATE TABLE node_registrations (
    node_id        VARCHAR(255) NOT NULL,
    node_type      VARCHAR(100) NOT NULL,
    node_version   VARCHAR(50)  NOT NULL,
    capabilities   JSONB        NOT NULL DEFAULT '{}',
    endpoints      JSONB        NOT NULL DEFAULT '{}',
    metadata       JSONB        NOT NULL DEFAULT '{}',
    health_status  VARCHAR(50)  NOT NULL DEFAULT 'UNKNOWN',
    last_heartbeat TIMESTAMPTZ,
    registered_at  TIMESTAMPTZ  NOT NULL DEFAULT now(),
    updated_at     TIMESTAMPTZ  NOT NULL DEFAULT now(),
    CONSTRAINT node_registrations_pkey PRIMARY KEY (node_id),
    CONSTRAINT node_registrations_health_status_check
        CHECK (health_status IN ('HEALTHY', 'DEGRADED', 'UNHEALTHY', 'UNKNOWN'))
);

-- Serves: NodeRegistration::list_by_type_and_health.
CREATE INDEX node_registrations_type_health_idx ON node_registrations (node_type, health_status);
-- Serves: NodeRegistration::list_stale (last_heartbeat older than a cut-off).
CREATE INDEX node_registrations_last_heartbeat_idx ON node_registrations (last_heartbeat);

SELECT diesel_manage_updated_at('node_registrations');

COMMENT ON TABLE node_registrations IS 'Service discovery and health of bridge nodes.';
COMMENT ON COLUMN node_registrations.node_id IS 'Identifies the node, e.g. orchestrator-v1.0.0-3f2a; primary key.';
COMMENT ON COLUMN node_registrations.node_type IS 'Kind of node: orchestrator, reducer, registry, ...';
COMMENT ON COLUMN node_registrations.node_version IS 'Version the node runs, e.g. v1.0.0.';
COMMENT ON COLUMN node_registrations.capabilities IS 'What the node can do; empty object when none.';
COMMENT ON COLUMN node_registrations.endpoints IS 'Where the node is reached; empty object when none.';
COMMENT ON COLUMN node_registrations.metadata IS 'Free-form node metadata; empty object when none.';
COMMENT ON COLUMN node_registrations.health_status IS 'Health: HEALTHY, DEGRADED, UNHEALTHY or UNKNOWN.';
COMMENT ON COLUMN node_registrations.last_heartbeat IS 'When the node last reported; NULL before its first heartbeat.';
COMMENT ON COLUMN node_registrations.registered_at IS 'When the node first registered.';
COMMENT ON COLUMN node_registrations.updated_at IS 'When the row last changed; kept by trigger.';
COMMENT ON INDEX node_registrations_type_health_idx IS 'Nodes of a type and health.';
COMMENT ON INDEX node_registrations_last_heartbeat_idx IS 'Stale nodes: heartbeat older than a cut-off.';
