-- What the consumer did with the input: valid events, late events and dead letters by reason
SELECT 'events' AS output, 'valid' AS reason, count(*) AS records FROM v_events_iot
UNION ALL
SELECT 'late_events' AS output, job AS reason, count(*) AS records FROM v_late_events GROUP BY job
UNION ALL
SELECT 'dead_letters' AS output, split_part(reason, ':', 1) AS reason, count(*) AS records
FROM v_dead_letters GROUP BY split_part(reason, ':', 1)
ORDER BY output, reason
