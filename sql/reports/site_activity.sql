-- Per site and device type: devices reporting, events and average temperature
SELECT
  site,
  device_type,
  count(DISTINCT device_id) AS devices,
  count(*) AS events,
  -- summed as exact decimals: the same mean, rounded the same way, whatever the row order
  CAST(round(CAST(avg(CAST(temperature AS DECIMAL(38, 6))) AS DECIMAL(38, 6)), 2) AS double) AS temperature_avg
FROM v_events_iot
WHERE ts >= :since_ms AND ts < :until_ms
  AND (:site = '' OR site = :site)
  AND (:device = '' OR device_id = :device)
GROUP BY site, device_type
ORDER BY site, device_type
