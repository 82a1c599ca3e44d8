-- name: activity-of-access-key
-- description: Everything one access key did, newest first. Start here when a key leaks: the
--   addresses and APIs show what the holder did with it.
-- param: key 'AKIAEXAMPLEBACKUPKEY' The access key id
-- param: days 0 Look back this many days (0: everything in the store)
SELECT eventTime, eventSource, eventName, awsRegion, sourceIPAddress, userAgent, errorCode
FROM {{eds}}
WHERE userIdentity.accessKeyId = {{key}}
  AND ({{days}} = 0 OR eventTime > date_add('day', -{{days}}, current_timestamp))
ORDER BY eventTime DESC
