-- Records that are not valid events: raw bytes (base64), position and reason
CREATE EXTERNAL TABLE IF NOT EXISTS `dead_letters` (
  `record_id` string,
  `reason` string,
  `shard_id` string,
  `sequence_number` string,
  `sub_sequence_number` bigint,
  `partition_key` string,
  `data_base64` string,
  `data_size` bigint,
  `data_uri` string,
  `approximate_arrival_ms` bigint
)
PARTITIONED BY (`dt` string, `hour` string)
STORED AS PARQUET
LOCATION 's3://kpipe-lake/dead_letters/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '2020-01-01,NOW',
  'projection.hour.type' = 'integer',
  'projection.hour.range' = '0,23',
  'projection.hour.digits' = '2',
  'storage.location.template' = 's3://kpipe-lake/dead_letters/dt=${dt}/hour=${hour}/'
);

CREATE OR REPLACE VIEW v_dead_letters AS
SELECT record_id, reason, shard_id, sequence_number, sub_sequence_number, partition_key, data_base64, data_size, data_uri, approximate_arrival_ms, dt, hour FROM (
  SELECT *, row_number() OVER (PARTITION BY record_id ORDER BY dt, hour) AS copy_number
  FROM dead_letters
) WHERE copy_number = 1;
