-- name: activity-of-role-session
-- description: Everything one assumed-role session did (by session name across roles, or a
--   full session ARN). Use it to follow a pivot into another account.
-- param: session 'mallory-pivot' The role session name (last part of the assumed-role ARN)
-- param: days 0 Look back this many days (0: everything in the store)
SELECT eventTime, recipientAccountId, awsRegion, eventSource, eventName, sourceIPAddress, errorCode,
       userIdentity.arn AS session_arn
FROM {{eds}}
WHERE userIdentity.type = 'AssumedRole'
  AND (userIdentity.arn = {{session}} OR split_part(userIdentity.arn, '/', 3) = {{session}})
  AND ({{days}} = 0 OR eventTime > date_add('day', -{{days}}, current_timestamp))
ORDER BY eventTime DESC
