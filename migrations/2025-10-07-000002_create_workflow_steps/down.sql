DROP TABLE workflow_steps;
