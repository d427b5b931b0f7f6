-- Orchestrator workflow executions: one row per workflow, keyed across
-- services by correlation_id. Parent of workflow_steps and metadata_stamps.
CREATE EXTENSION IF NOT EXISTS "uuid-ossp";

CREATE TABLE workflow_executions (
    id                UUID         NOT NULL DEFAULT gen_random_uuid(),
    correlation_id    UUID         NOT NULL,
    workflow_type     VARCHAR(100) NOT NULL,
    current_state     VARCHAR(50)  NOT NULL,
    namespace         VARCHAR(255) NOT NULL,
    started_at        TIMESTAMPTZ  NOT NULL,
    completed_at      TIMESTAMPTZ,
    execution_time_ms INTEGER,
    error_message     TEXT,
    metadata          JSONB        NOT NULL DEFAULT '{}',
    created_at        TIMESTAMPTZ  NOT NULL DEFAULT now(),
    updated_at        TIMESTAMPTZ  NOT NULL DEFAULT now(),
    CONSTRAINT workflow_executions_pkey PRIMARY KEY (id),
    -- Serves: WorkflowExecution::find_by_correlation_id.
    CONSTRAINT workflow_executions_correlation_id_key UNIQUE (correlation_id),
    CONSTRAINT workflow_executions_current_state_check
        CHECK (current_state IN ('PENDING', 'PROCESSING', 'COMPLETED', 'FAILED')),
    CONSTRAINT workflow_executions_completed_at_check
        CHECK (completed_at >= started_at),
    CONSTRAINT workflow_executions_execution_time_ms_check
        CHECK (execution_time_ms >= 0)
);

-- Serves: WorkflowExecution::list_by_namespace_and_state, newest first,
-- keyset-paged on (created_at, id).
CREATE INDEX workflow_executions_namespace_state_created_idx
    ON workflow_executions (namespace, current_state, created_at DESC, id DESC);

SELECT diesel_manage_updated_at('workflow_executions');

COMMENT ON TABLE workflow_executions IS 'Orchestrator workflow execution state: one row per workflow.';
COMMENT ON COLUMN workflow_executions.id IS 'Primary key of the execution.';
COMMENT ON COLUMN workflow_executions.correlation_id IS 'Identifies the workflow across services; unique.';
COMMENT ON COLUMN workflow_executions.workflow_type IS 'Kind of workflow, e.g. metadata_stamping.';
COMMENT ON COLUMN workflow_executions.current_state IS 'FSM state: PENDING, PROCESSING, COMPLETED or FAILED.';
COMMENT ON COLUMN workflow_executions.namespace IS 'Multi-tenant namespace that owns the workflow.';
COMMENT ON COLUMN workflow_executions.started_at IS 'When the workflow started.';
COMMENT ON COLUMN workflow_executions.completed_at IS 'When the workflow reached a terminal state; never before started_at.';
COMMENT ON COLUMN workflow_executions.execution_time_ms IS 'Wall-clock duration in milliseconds; never negative.';
COMMENT ON COLUMN workflow_executions.error_message IS 'Why the workflow failed, when it did.';
COMMENT ON COLUMN workflow_executions.metadata IS 'Free-form workflow metadata; empty object when none.';
COMMENT ON COLUMN workflow_executions.created_at IS 'When the row was inserted.';
COMMENT ON COLUMN workflow_executions.updated_at IS 'When the row last changed; kept by trigger.';
COMMENT ON INDEX workflow_executions_namespace_state_created_idx IS 'Workflows of a namespace by state, newest first (keyset paging).';
