-- name: mfa-and-password-changes
-- description: MFA devices deactivated or deleted and passwords changed by someone other than
--   the user: account takeover or weakening another user's protection.
-- param: days 0 Look back this many days (0: everything in the store)
SELECT eventTime, eventName, userIdentity.arn AS actor, element_at(requestParameters, 'userName') AS target_user,
       sourceIPAddress, errorCode
FROM {{eds}}
WHERE eventSource = 'iam.amazonaws.com'
  AND eventName IN ('DeactivateMFADevice', 'DeleteVirtualMFADevice', 'UpdateLoginProfile', 'ChangePassword',
                    'DeleteLoginProfile')
  AND ({{days}} = 0 OR eventTime > date_add('day', -{{days}}, current_timestamp))
ORDER BY eventTime DESC
