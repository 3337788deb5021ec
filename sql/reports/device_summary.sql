-- Per device: windows, events, temperature range, lowest battery, anomalies (windows outside the temperature band, missing windows) and whether it is silent
WITH windows AS (
  SELECT *
  FROM v_window_device_minute
  WHERE window_start_ms >= :since_ms AND window_start_ms < :until_ms
    AND (:site = '' OR site = :site)
    AND (:device = '' OR device_id = :device)
), fleet AS (
  SELECT max(window_start_ms) AS newest_ms FROM windows
), devices AS (
  SELECT
    device_id,
    device_type,
    site,
    count(*) AS windows,
    sum(events) AS events,
    -- summed as exact decimals: the same mean, rounded the same way, whatever the row order
    CAST(round(CAST(CAST(sum(CAST(temperature_avg * events AS DECIMAL(38, 6))) AS double) / sum(events) AS DECIMAL(38, 6)), 2) AS double) AS temperature_avg,
    min(temperature_min) AS temperature_min,
    max(temperature_max) AS temperature_max,
    min(battery_min) AS battery_min,
    count_if(temperature_min < :band_low OR temperature_max > :band_high) AS windows_outside_band,
    min(window_start_ms) AS first_ms,
    max(window_start_ms) AS last_ms,
    min(window_end_ms - window_start_ms) AS size_ms
  FROM windows
  GROUP BY device_id, device_type, site
)
SELECT
  device_id,
  device_type,
  site,
  windows,
  events,
  temperature_avg,
  temperature_min,
  temperature_max,
  battery_min,
  windows_outside_band,
  (last_ms - first_ms) / size_ms + 1 - windows AS missing_windows,
  CAST(from_unixtime(last_ms / 1000e0) AS timestamp) AS last_window_start,
  (newest_ms - last_ms) / size_ms AS windows_since_seen,
  (newest_ms - last_ms) / size_ms >= :silent_windows AS silent
FROM devices
CROSS JOIN fleet
ORDER BY device_id
