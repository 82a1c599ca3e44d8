-- name: kms-key-deletion
-- description: KMS keys disabled or scheduled for deletion. Destroying keys makes data
--   unreadable (ransom, sabotage); a scheduled deletion can be cancelled within its window.
-- param: days 0 Look back this many days (0: everything in the store)
SELECT eventTime, eventName, userIdentity.arn AS actor, element_at(requestParameters, 'keyId') AS key_id,
       element_at(requestParameters, 'pendingWindowInDays') AS pending_days, sourceIPAddress
FROM {{eds}}
WHERE eventSource = 'kms.amazonaws.com'
  AND eventName IN ('ScheduleKeyDeletion', 'DisableKey', 'DeleteImportedKeyMaterial')
  AND ({{days}} = 0 OR eventTime > date_add('day', -{{days}}, current_timestamp))
ORDER BY eventTime DESC
