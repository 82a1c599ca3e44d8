-- name: cloudtrail-tampering
-- description: Logging stopped, trails deleted or changed, event selectors narrowed. An
--   attacker covers their tracks here first; every row needs an owner.
-- param: days 0 Look back this many days (0: everything in the store)
SELECT eventTime, eventName, userIdentity.arn AS actor, recipientAccountId,
       coalesce(element_at(requestParameters, 'name'), element_at(requestParameters, 'trailName')) AS trail,
       sourceIPAddress, errorCode
FROM {{eds}}
WHERE eventSource = 'cloudtrail.amazonaws.com'
  AND eventName IN ('StopLogging', 'DeleteTrail', 'UpdateTrail', 'PutEventSelectors', 'PutInsightSelectors',
                    'DeleteEventDataStore', 'StopEventDataStoreIngestion')
  AND ({{days}} = 0 OR eventTime > date_add('day', -{{days}}, current_timestamp))
ORDER BY eventTime DESC
