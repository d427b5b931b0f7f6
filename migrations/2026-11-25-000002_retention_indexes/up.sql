-- Retention of finished workflows: `bridge-admin retention` deletes, in
-- bounded batches, the COMPLETED and FAILED workflows that finished before a
-- cut-off (their steps go with them by cascade).
--
-- Serves: WorkflowExecution::delete_finished_before (finished workflows by
-- completed_at, oldest first). Partial: only finished workflows are in it,
-- so workflows in progress cost it nothing.
CREATE INDEX workflow_executions_finished_idx ON workflow_executions (completed_at)
    WHERE current_state IN ('COMPLETED', 'FAILED');

COMMENT ON INDEX workflow_executions_finished_idx IS 'WorkflowExecution::delete_finished_before: finished workflows by completed_at.';
