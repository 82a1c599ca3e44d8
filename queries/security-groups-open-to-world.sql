-- name: security-groups-open-to-world
-- description: Security group rules opened to 0.0.0.0/0 or ::/0. Read the ports in
--   ip_permissions: SSH (22), RDP (3389) or databases open to the internet are urgent.
-- param: days 0 Look back this many days (0: everything in the store)
SELECT eventTime, eventName, userIdentity.arn AS actor, element_at(requestParameters, 'groupId') AS group_id,
       element_at(requestParameters, 'ipPermissions') AS ip_permissions, sourceIPAddress
FROM {{eds}}
WHERE eventSource = 'ec2.amazonaws.com'
  AND eventName IN ('AuthorizeSecurityGroupIngress', 'ModifySecurityGroupRules')
  AND (element_at(requestParameters, 'ipPermissions') LIKE '%0.0.0.0/0%'
       OR element_at(requestParameters, 'ipPermissions') LIKE '%::/0%')
  AND errorCode IS NULL
  AND ({{days}} = 0 OR eventTime > date_add('day', -{{days}}, current_timestamp))
ORDER BY eventTime DESC
