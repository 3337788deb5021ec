-- What the consumer did with the input: valid events, late events by job, dead letters by reason, window results by job
SELECT 'events' AS output, 'valid' AS reason, count(*) AS records
FROM v_events
WHERE event_time_ms >= :since_ms AND event_time_ms < :until_ms
UNION ALL
SELECT 'late_events' AS output, job AS reason, count(*) AS records
FROM v_late_events
WHERE event_time_ms >= :since_ms AND event_time_ms < :until_ms
GROUP BY job
UNION ALL
SELECT 'dead_letters' AS output, split_part(reason, ':', 1) AS reason, count(*) AS records
FROM v_dead_letters
WHERE approximate_arrival_ms >= :since_ms AND approximate_arrival_ms < :until_ms
GROUP BY split_part(reason, ':', 1)
UNION ALL
SELECT 'window_results' AS output, job AS reason, count(*) AS records
FROM v_window_results
WHERE window_start_ms >= :since_ms AND window_start_ms < :until_ms
GROUP BY job
ORDER BY output, reason
