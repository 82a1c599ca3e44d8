-- name: s3-reads-from-unexpected-networks
-- description: Object reads from addresses outside your networks, by address and principal.
--   Set the three prefixes to your office, VPN and VPC ranges; what remains is worth a look,
--   and a large count from one address is exfiltration.
-- param: network1 '10.' An address prefix you trust
-- param: network2 '192.0.2.' Another trusted prefix
-- param: network3 '198.51.100.' Another trusted prefix
-- param: days 0 Look back this many days (0: everything in the store)
SELECT sourceIPAddress, userIdentity.arn AS principal, element_at(requestParameters, 'bucketName') AS bucket,
       count(*) AS objects_read, min(eventTime) AS first_seen, max(eventTime) AS last_seen
FROM {{eds}}
WHERE eventSource = 's3.amazonaws.com' AND eventName = 'GetObject'
  AND NOT starts_with(sourceIPAddress, {{network1}})
  AND NOT starts_with(sourceIPAddress, {{network2}})
  AND NOT starts_with(sourceIPAddress, {{network3}})
  AND sourceIPAddress NOT LIKE '%.amazonaws.com'
  AND ({{days}} = 0 OR eventTime > date_add('day', -{{days}}, current_timestamp))
GROUP BY 1, 2, 3
ORDER BY objects_read DESC
