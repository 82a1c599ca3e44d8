-- name: api-volume-by-user-agent
-- description: Calls per user agent, with how many principals and addresses use each. New or
--   rare agents (scripts, pentest tools, old SDKs) at the bottom are the interesting ones.
-- param: limit 50 How many agents
-- param: days 0 Look back this many days (0: everything in the store)
SELECT userAgent, count(*) AS calls, count(DISTINCT userIdentity.arn) AS principals,
       count(DISTINCT sourceIPAddress) AS addresses, min(eventTime) AS first_seen
FROM {{eds}}
WHERE userAgent IS NOT NULL
  AND ({{days}} = 0 OR eventTime > date_add('day', -{{days}}, current_timestamp))
GROUP BY userAgent
ORDER BY calls DESC
LIMIT {{limit}}
