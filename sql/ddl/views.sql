-- Views shared by every event type
CREATE OR REPLACE VIEW v_events AS
SELECT event_id AS event_id, ts AS event_time_ms, shard_id, sequence_number, sub_sequence_number, dt, hour FROM v_events_iot;

CREATE OR REPLACE VIEW v_window_results AS
SELECT result_id, job, window_start_ms, window_end_ms, shards, version, dt, hour FROM v_window_device_minute;
