-- name: new-principals
-- description: Principals whose first call is recent compared with the store's history:
--   new users, roles and sessions. Attackers' identities appear here first.
-- param: quiet_days 1 A principal counts as new if first seen this many days after the store's first event
SELECT userIdentity.arn AS principal, userIdentity.type AS type, min(eventTime) AS first_seen,
       count(*) AS calls, arbitrary(sourceIPAddress) AS sample_ip
FROM {{eds}}
WHERE userIdentity.arn IS NOT NULL
GROUP BY 1, 2
HAVING min(eventTime) > date_add('day', {{quiet_days}}, (SELECT min(eventTime) FROM {{eds}}))
ORDER BY first_seen
