-- name: failed-console-logins-by-ip
-- description: Failed console sign-ins grouped by source address. Many failures from one
--   address, especially followed by a success, is password guessing.
-- param: min_failures 3 Only addresses with at least this many failures
-- param: days 0 Look back this many days (0: everything in the store)
SELECT sourceIPAddress, count(*) AS failures, count(DISTINCT userIdentity.arn) AS users,
       min(eventTime) AS first_seen, max(eventTime) AS last_seen
FROM {{eds}}
WHERE eventName = 'ConsoleLogin' AND element_at(responseElements, 'ConsoleLogin') = 'Failure'
  AND ({{days}} = 0 OR eventTime > date_add('day', -{{days}}, current_timestamp))
GROUP BY sourceIPAddress
HAVING count(*) >= {{min_failures}}
ORDER BY failures DESC
