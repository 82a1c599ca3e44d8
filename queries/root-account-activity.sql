-- name: root-account-activity
-- description: Everything the root user of any account did. Root should almost never be used;
--   every row is worth an explanation. Read it by source IP and user agent: a console sign-in
--   or API call from an address you do not know is an incident.
-- param: days 0 Look back this many days (0: everything in the store)
SELECT eventTime, recipientAccountId, eventSource, eventName, sourceIPAddress, userAgent, errorCode
FROM {{eds}}
WHERE userIdentity.type = 'Root' AND userIdentity.invokedBy IS NULL
  AND ({{days}} = 0 OR eventTime > date_add('day', -{{days}}, current_timestamp))
ORDER BY eventTime DESC
