-- Per site: devices reporting, silent devices, events, windows outside the temperature band, lowest battery
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
    site,
    device_id,
    max(window_start_ms) AS last_ms,
    min(window_end_ms - window_start_ms) AS size_ms,
    sum(events) AS events,
    count_if(temperature_min < :band_low OR temperature_max > :band_high) AS windows_outside_band,
    min(battery_min) AS battery_min
  FROM windows
  GROUP BY site, device_id
)
SELECT
  site,
  count(*) AS devices,
  count_if((newest_ms - last_ms) / size_ms >= :silent_windows) AS silent_devices,
  sum(events) AS events,
  sum(windows_outside_band) AS windows_outside_band,
  min(battery_min) AS battery_min
FROM devices
CROSS JOIN fleet
GROUP BY site
ORDER BY site
