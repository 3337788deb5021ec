-- Closed 1m windows of job device_minute
CREATE EXTERNAL TABLE IF NOT EXISTS `window_device_minute` (
  `result_id` string,
  `job` string,
  `window_start_ms` bigint,
  `window_end_ms` bigint,
  `device_id` string,
  `device_type` string,
  `site` string,
  `events` bigint,
  `temperature_avg` double,
  `temperature_min` double,
  `temperature_max` double,
  `humidity_avg` double,
  `battery_min` double,
  `shards` string,
  `version` bigint
)
PARTITIONED BY (`dt` string, `hour` string)
STORED AS PARQUET
LOCATION 's3://kpipe-lake/window_device_minute/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '2020-01-01,NOW',
  'projection.hour.type' = 'integer',
  'projection.hour.range' = '0,23',
  'projection.hour.digits' = '2',
  'storage.location.template' = 's3://kpipe-lake/window_device_minute/dt=${dt}/hour=${hour}/'
);

CREATE OR REPLACE VIEW v_window_device_minute AS
SELECT result_id, job, window_start_ms, window_end_ms, device_id, device_type, site, events, temperature_avg, temperature_min, temperature_max, humidity_avg, battery_min, shards, version, dt, hour FROM (
  SELECT *, row_number() OVER (PARTITION BY result_id ORDER BY version DESC, dt, hour) AS copy_number
  FROM window_device_minute
) WHERE copy_number = 1;
