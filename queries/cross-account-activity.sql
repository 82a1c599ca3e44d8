-- name: cross-account-activity
-- description: Calls made into an account by a principal of another account (role
--   assumptions, shared resources). Unknown source accounts are the finding.
-- param: days 0 Look back this many days (0: everything in the store)
SELECT userIdentity.accountId AS from_account, recipientAccountId AS to_account, eventName,
       userIdentity.arn AS principal, count(*) AS calls, min(eventTime) AS first_seen
FROM {{eds}}
WHERE userIdentity.accountId IS NOT NULL AND userIdentity.accountId <> recipientAccountId
  AND ({{days}} = 0 OR eventTime > date_add('day', -{{days}}, current_timestamp))
GROUP BY 1, 2, 3, 4
ORDER BY first_seen DESC
