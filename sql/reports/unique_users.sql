-- Per second: clicks and unique users overall, by OS and by screen quadrant (the seed's Kinesis Analytics rollup)
SELECT
  CAST(from_unixtime(window_start_ms / 1000e0) AS timestamp) AS second,
  window_start_ms,
  events,
  unique_users,
  android_users,
  ios_users,
  windows_phone_users,
  other_os_users,
  quadrant_a_users,
  quadrant_b_users,
  quadrant_c_users,
  quadrant_d_users
FROM v_window_web_second
WHERE window_start_ms >= :since_ms AND window_start_ms < :until_ms
ORDER BY window_start_ms
