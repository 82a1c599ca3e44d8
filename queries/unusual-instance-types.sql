-- name: unusual-instance-types
-- description: Instances launched of a type outside the families you normally run (GPU and
--   large instances in unfamiliar Regions are the crypto-mining signature).
-- param: usual_prefix 't3.' Instance types starting with this are normal here
-- param: usual_prefix2 'm5.' Another normal family
-- param: days 0 Look back this many days (0: everything in the store)
SELECT eventTime, recipientAccountId, awsRegion, userIdentity.arn AS actor,
       element_at(requestParameters, 'instanceType') AS instance_type, sourceIPAddress, errorCode
FROM {{eds}}
WHERE eventSource = 'ec2.amazonaws.com' AND eventName = 'RunInstances'
  AND NOT starts_with(element_at(requestParameters, 'instanceType'), {{usual_prefix}})
  AND NOT starts_with(element_at(requestParameters, 'instanceType'), {{usual_prefix2}})
  AND ({{days}} = 0 OR eventTime > date_add('day', -{{days}}, current_timestamp))
ORDER BY eventTime DESC
