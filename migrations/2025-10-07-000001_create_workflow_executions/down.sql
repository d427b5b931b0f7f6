-- Drops the table with its constraints, index and updated_at trigger.
DROP TABLE workflow_executions;
DROP EXTENSION IF EXISTS "uuid-ossp";
