-- name: role-trust-policy-changes
-- description: Role trust policies changed. A trust policy naming an outside account or "*"
--   is a back door that survives password and key rotation.
-- param: days 0 Look back this many days (0: everything in the store)
SELECT eventTime, userIdentity.arn AS actor, element_at(requestParameters, 'roleName') AS role,
       element_at(requestParameters, 'policyDocument') AS trust_policy, sourceIPAddress
FROM {{eds}}
WHERE eventSource = 'iam.amazonaws.com' AND eventName = 'UpdateAssumeRolePolicy'
  AND ({{days}} = 0 OR eventTime > date_add('day', -{{days}}, current_timestamp))
ORDER BY eventTime DESC
