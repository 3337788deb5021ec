-- Per device: closed one-minute windows, events, temperature range and lowest battery
SELECT
  device_id,
  device_type,
  site,
  count(*) AS windows,
  sum(events) AS events,
  round(sum(temperature_avg * events) / sum(events), 2) AS temperature_avg,
  min(temperature_min) AS temperature_min,
  max(temperature_max) AS temperature_max,
  min(battery_min) AS battery_min
FROM v_window_device_minute
GROUP BY device_id, device_type, site
ORDER BY device_id
