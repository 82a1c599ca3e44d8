-- name: access-denied-bursts
-- description: Principals with many denied calls within one hour. A burst usually means
--   someone is probing what a credential may do (or a broken deployment).
-- param: min_denied 10 Denied calls in one hour to count as a burst
-- param: days 0 Look back this many days (0: everything in the store)
SELECT userIdentity.arn AS principal, date_trunc('hour', eventTime) AS hour, count(*) AS denied,
       count(DISTINCT eventName) AS apis, arbitrary(sourceIPAddress) AS sample_ip
FROM {{eds}}
WHERE errorCode IN ('AccessDenied', 'Client.UnauthorizedOperation', 'UnauthorizedOperation', 'AccessDeniedException')
  AND ({{days}} = 0 OR eventTime > date_add('day', -{{days}}, current_timestamp))
GROUP BY 1, 2
HAVING count(*) >= {{min_denied}}
ORDER BY denied DESC
