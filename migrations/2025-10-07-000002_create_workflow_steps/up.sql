-- Steps within a workflow execution, deleted with their workflow.
CREATE TABLE workflow_steps (
    id                UUID         NOT NULL DEFAULT gen_random_uuid(),
    workflow_id       UUID         NOT NULL,
    step_name         VARCHAR(100) NOT NULL,
    step_order        INTEGER      NOT NULL,
    status            VARCHAR(50)  NOT NULL,
    execution_time_ms INTEGER,
    step_data         JSONB        NOT NULL DEFAULT '{}',
    error_message     TEXT,
    created_at        TIMESTAMPTZ  NOT NULL DEFAULT now(),
    CONSTRAINT workflow_steps_pkey PRIMARY KEY (id),
    CONSTRAINT workflow_steps_workflow_id_fkey FOREIGN KEY (workflow_id)
        REFERENCES workflow_executions (id) ON DELETE CASCADE,
    CONSTRAINT workflow_steps_step_order_check CHECK (step_order >= 0),
    CONSTRAINT workflow_steps_status_check
        CHECK (status IN ('PENDING', 'RUNNING', 'COMPLETED', 'FAILED')),
    CONSTRAINT workflow_steps_execution_time_ms_check CHECK (execution_time_ms >= 0)
);

-- Serves: WorkflowStep::list_for_workflow (ordered by step_order), and the
-- ON DELETE CASCADE lookup from workflow_executions.
CREATE INDEX workflow_steps_workflow_order_idx ON workflow_steps (workflow_id, step_order);

COMMENT ON TABLE workflow_steps IS 'Steps within a workflow execution.';
COMMENT ON COLUMN workflow_steps.id IS 'Primary key of the step.';
COMMENT ON COLUMN workflow_steps.workflow_id IS 'Workflow the step belongs to; the step is deleted with it.';
COMMENT ON COLUMN workflow_steps.step_name IS 'Name of the step, e.g. hash_generation.';
COMMENT ON COLUMN workflow_steps.step_order IS 'Position of the step in its workflow, from 0.';
COMMENT ON COLUMN workflow_steps.status IS 'Step status: PENDING, RUNNING, COMPLETED or FAILED.';
COMMENT ON COLUMN workflow_steps.execution_time_ms IS 'Duration of the step in milliseconds; never negative.';
COMMENT ON COLUMN workflow_steps.step_data IS 'Free-form step input and output; empty object when none.';
COMMENT ON COLUMN workflow_steps.error_message IS 'Why the step failed, when it did.';
COMMENT ON COLUMN workflow_steps.created_at IS 'When the row was inserted.';
COMMENT ON INDEX workflow_steps_workflow_order_idx IS 'Steps of a workflow in step_order; cascade deletes.';
