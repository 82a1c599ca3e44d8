-- name: console-logins-without-mfa
-- description: Successful console sign-ins that did not use MFA. A password alone is what a
--   phished or leaked credential gives an attacker; check each user and address.
-- param: days 0 Look back this many days (0: everything in the store)
SELECT eventTime, userIdentity.arn AS principal, sourceIPAddress, userAgent
FROM {{eds}}
WHERE eventName = 'ConsoleLogin'
  AND element_at(additionalEventData, 'MFAUsed') = 'No'
  AND element_at(responseElements, 'ConsoleLogin') = 'Success'
  AND ({{days}} = 0 OR eventTime > date_add('day', -{{days}}, current_timestamp))
ORDER BY eventTime DESC
