-- name: secrets-and-parameters-read
-- description: Secrets Manager values and decrypted SSM parameters read, by principal. A
--   human or an unusual address reading production secrets is credential harvesting.
-- param: days 0 Look back this many days (0: everything in the store)
SELECT userIdentity.arn AS principal, sourceIPAddress, eventName,
       coalesce(element_at(requestParameters, 'secretId'), element_at(requestParameters, 'name')) AS secret,
       count(*) AS reads, max(eventTime) AS last_read
FROM {{eds}}
WHERE (eventSource = 'secretsmanager.amazonaws.com' AND eventName IN ('GetSecretValue', 'BatchGetSecretValue'))
   OR (eventSource = 'ssm.amazonaws.com' AND eventName IN ('GetParameter', 'GetParameters', 'GetParametersByPath')
       AND element_at(requestParameters, 'withDecryption') = 'true')
  AND ({{days}} = 0 OR eventTime > date_add('day', -{{days}}, current_timestamp))
GROUP BY 1, 2, 3, 4
ORDER BY last_read DESC
