-- name: activity-from-ip
-- description: Everything one source address did, by API, with failures. One view of an
--   incident once you know the attacker's address.
-- param: ip '203.0.113.50' The source IP address
-- param: days 0 Look back this many days (0: everything in the store)
SELECT eventSource, eventName, count(*) AS calls, count_if(errorCode IS NOT NULL) AS failed,
       count(DISTINCT userIdentity.arn) AS principals, min(eventTime) AS first_seen, max(eventTime) AS last_seen
FROM {{eds}}
WHERE sourceIPAddress = {{ip}}
  AND ({{days}} = 0 OR eventTime > date_add('day', -{{days}}, current_timestamp))
GROUP BY 1, 2
ORDER BY first_seen
