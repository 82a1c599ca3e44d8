-- name: first-use-of-region
-- description: Regions (per account) whose first event is recent compared with the rest of the
--   store: attackers launch resources where nobody looks. first_seen is when the Region
--   appeared; baseline_start is when the store's history begins.
-- param: quiet_days 1 A Region counts as new if its first event is this many days after the store's first
SELECT recipientAccountId, awsRegion, min(eventTime) AS first_seen, count(*) AS events,
       arbitrary(userIdentity.arn) AS sample_principal,
       (SELECT min(eventTime) FROM {{eds}}) AS baseline_start
FROM {{eds}}
GROUP BY 1, 2
HAVING min(eventTime) > date_add('day', {{quiet_days}}, (SELECT min(eventTime) FROM {{eds}}))
ORDER BY first_seen DESC
