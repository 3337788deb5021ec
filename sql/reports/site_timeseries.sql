-- Per window, site and device type: devices reporting, events and average temperature (a time series)
SELECT
  CAST(from_unixtime(window_start_ms / 1000e0) AS timestamp) AS window_start,
  window_start_ms,
  site,
  device_type,
  count(*) AS devices,
  sum(events) AS events,
  -- summed as exact decimals: the same mean, rounded the same way, whatever the row order
  CAST(round(CAST(CAST(sum(CAST(temperature_avg * events AS DECIMAL(38, 6))) AS double) / sum(events) AS DECIMAL(38, 6)), 2) AS double) AS temperature_avg
FROM v_window_device_minute
WHERE window_start_ms >= :since_ms AND window_start_ms < :until_ms
  AND (:site = '' OR site = :site)
  AND (:device = '' OR device_id = :device)
GROUP BY window_start_ms, site, device_type
ORDER BY window_start_ms, site, device_type
