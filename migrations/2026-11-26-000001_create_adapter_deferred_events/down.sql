DROP TABLE adapter_deferred_events;
