-- Late events by job and dead letters by reason (every known reason, zero included); late events' largest distance behind the watermark
WITH known AS (
  SELECT output, reason
  FROM (
    VALUES
      ('dead_letters', 'duplicate key'),
      ('dead_letters', 'invalid JSON'),
      ('dead_letters', 'invalid UTF-8'),
      ('dead_letters', 'oversized payload'),
      ('dead_letters', 'schema violation'),
      ('dead_letters', 'unknown control record')
  ) AS reasons (output, reason)
), counted AS (
  SELECT
    'dead_letters' AS output,
    reason,
    count(*) AS records,
    CAST(NULL AS bigint) AS max_behind_watermark_ms
  FROM (
    SELECT
      CASE
        WHEN reason LIKE 'duplicate key%' THEN 'duplicate key'
        ELSE split_part(reason, ':', 1)
      END AS reason
    FROM v_dead_letters
    WHERE approximate_arrival_ms >= :since_ms AND approximate_arrival_ms < :until_ms
  ) AS dead
  GROUP BY reason
  UNION ALL
  SELECT
    'late_events' AS output,
    job AS reason,
    count(*) AS records,
    max(watermark_ms - event_time_ms) AS max_behind_watermark_ms
  FROM v_late_events
  WHERE event_time_ms >= :since_ms AND event_time_ms < :until_ms
  GROUP BY job
)
SELECT
  coalesce(c.output, k.output) AS output,
  coalesce(c.reason, k.reason) AS reason,
  coalesce(c.records, 0) AS records,
  c.max_behind_watermark_ms
FROM known AS k
FULL OUTER JOIN counted AS c ON c.output = k.output AND c.reason = k.reason
ORDER BY output, reason
