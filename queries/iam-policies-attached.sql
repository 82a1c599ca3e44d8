-- name: iam-policies-attached
-- description: Policies attached to or written into users, groups and roles. Watch for
--   AdministratorAccess or inline policies with "*" granted to new principals.
-- param: days 0 Look back this many days (0: everything in the store)
SELECT eventTime, eventName, userIdentity.arn AS actor,
       coalesce(element_at(requestParameters, 'userName'), element_at(requestParameters, 'roleName'),
                element_at(requestParameters, 'groupName')) AS target,
       element_at(requestParameters, 'policyArn') AS policy_arn, sourceIPAddress
FROM {{eds}}
WHERE eventSource = 'iam.amazonaws.com'
  AND eventName IN ('AttachUserPolicy', 'AttachRolePolicy', 'AttachGroupPolicy', 'PutUserPolicy',
                    'PutRolePolicy', 'PutGroupPolicy', 'CreatePolicyVersion', 'SetDefaultPolicyVersion')
  AND ({{days}} = 0 OR eventTime > date_add('day', -{{days}}, current_timestamp))
ORDER BY eventTime DESC
