-- Valid, deduplicated iot events
CREATE EXTERNAL TABLE IF NOT EXISTS `events_iot` (
  `event_id` string,
  `device_id` string,
  `device_type` string,
  `site` string,
  `ts` bigint,
  `temperature` double,
  `humidity` double,
  `battery` double,
  `shard_id` string,
  `sequence_number` string,
  `sub_sequence_number` bigint
)
PARTITIONED BY (`dt` string, `hour` string)
STORED AS PARQUET
LOCATION 's3://kpipe-lake/events_iot/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '2020-01-01,NOW',
  'projection.hour.type' = 'integer',
  'projection.hour.range' = '0,23',
  'projection.hour.digits' = '2',
  'storage.location.template' = 's3://kpipe-lake/events_iot/dt=${dt}/hour=${hour}/'
);

CREATE OR REPLACE VIEW v_events_iot AS
SELECT event_id, device_id, device_type, site, ts, temperature, humidity, battery, shard_id, sequence_number, sub_sequence_number, dt, hour FROM (
  SELECT *, row_number() OVER (PARTITION BY event_id ORDER BY dt, hour) AS copy_number
  FROM events_iot
) WHERE copy_number = 1;
