-- name: iam-users-and-keys-created
-- description: IAM users, access keys and login profiles created. New long-lived
--   credentials are the classic persistence step; match each to a ticket.
-- param: days 0 Look back this many days (0: everything in the store)
SELECT eventTime, eventName, userIdentity.arn AS actor, element_at(requestParameters, 'userName') AS target_user,
       sourceIPAddress, errorCode
FROM {{eds}}
WHERE eventSource = 'iam.amazonaws.com'
  AND eventName IN ('CreateUser', 'CreateAccessKey', 'CreateLoginProfile', 'UpdateLoginProfile')
  AND ({{days}} = 0 OR eventTime > date_add('day', -{{days}}, current_timestamp))
ORDER BY eventTime DESC
