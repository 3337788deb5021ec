-- Per job: windows closed and the lag from a window's end (event time) to its result's arrival in the lake, bounded by the arrival hour (Firehose's dt/hour partition)
WITH arrivals AS (
  SELECT
    job,
    window_end_ms,
    date_diff('day', DATE '1970-01-01', CAST(dt AS date)) * 86400000 + CAST(hour AS bigint) * 3600000 AS arrival_hour_ms
  FROM v_window_results
  WHERE window_start_ms >= :since_ms AND window_start_ms < :until_ms
)
SELECT
  job,
  count(*) AS windows,
  CAST(from_unixtime(min(window_end_ms) / 1000e0) AS timestamp) AS first_window_end,
  CAST(from_unixtime(max(window_end_ms) / 1000e0) AS timestamp) AS last_window_end,
  min(greatest(arrival_hour_ms - window_end_ms, 0)) / 1000 AS min_lag_s,
  max(arrival_hour_ms + 3600000 - window_end_ms) / 1000 AS max_lag_s
FROM arrivals
GROUP BY job
ORDER BY job
