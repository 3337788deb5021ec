-- Valid events that arrived after their window had closed, with the reason
CREATE EXTERNAL TABLE IF NOT EXISTS `late_events` (
  `record_id` string,
  `job` string,
  `event_id` string,
  `event_time_ms` bigint,
  `window_start_ms` bigint,
  `watermark_ms` bigint,
  `reason` string,
  `shard_id` string,
  `sequence_number` string,
  `sub_sequence_number` bigint,
  `payload` string
)
PARTITIONED BY (`dt` string, `hour` string)
STORED AS PARQUET
LOCATION 's3://kpipe-lake/late_events/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '2020-01-01,NOW',
  'projection.hour.type' = 'integer',
  'projection.hour.range' = '0,23',
  'projection.hour.digits' = '2',
  'storage.location.template' = 's3://kpipe-lake/late_events/dt=${dt}/hour=${hour}/'
);

CREATE OR REPLACE VIEW v_late_events AS
SELECT record_id, job, event_id, event_time_ms, window_start_ms, watermark_ms, reason, shard_id, sequence_number, sub_sequence_number, payload, dt, hour FROM (
  SELECT *, row_number() OVER (PARTITION BY record_id ORDER BY dt, hour) AS copy_number
  FROM late_events
) WHERE copy_number = 1;
