-- name: errors-by-principal
-- description: Principals by failed calls, with their most common error. A principal that
--   suddenly fails a lot is misconfigured or misused.
-- param: limit 20 How many principals
-- param: days 0 Look back this many days (0: everything in the store)
SELECT userIdentity.arn AS principal, count(*) AS errors, count(DISTINCT eventName) AS apis,
       approx_distinct(sourceIPAddress) AS addresses, arbitrary(errorCode) AS sample_error
FROM {{eds}}
WHERE errorCode IS NOT NULL AND userIdentity.arn IS NOT NULL
  AND ({{days}} = 0 OR eventTime > date_add('day', -{{days}}, current_timestamp))
GROUP BY 1
ORDER BY errors DESC
LIMIT {{limit}}
