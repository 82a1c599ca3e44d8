-- name: console-logins-by-ip
-- description: Console sign-ins per user and address, with MFA use. A user signing in from a
--   new address, or without MFA where they usually use it, stands out.
-- param: days 0 Look back this many days (0: everything in the store)
SELECT userIdentity.arn AS principal, sourceIPAddress, count(*) AS sign_ins,
       count_if(element_at(additionalEventData, 'MFAUsed') = 'No') AS without_mfa,
       count_if(element_at(responseElements, 'ConsoleLogin') = 'Failure') AS failed,
       min(eventTime) AS first_seen, max(eventTime) AS last_seen
FROM {{eds}}
WHERE eventName = 'ConsoleLogin'
  AND ({{days}} = 0 OR eventTime > date_add('day', -{{days}}, current_timestamp))
GROUP BY 1, 2
ORDER BY first_seen DESC
