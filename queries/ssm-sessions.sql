-- name: ssm-sessions
-- description: Session Manager shells opened on instances: who got a shell where, from which
--   address. Interactive access to production outside change windows deserves a question.
-- param: days 0 Look back this many days (0: everything in the store)
SELECT eventTime, eventName, userIdentity.arn AS actor, element_at(requestParameters, 'target') AS target,
       element_at(responseElements, 'sessionId') AS session_id, sourceIPAddress
FROM {{eds}}
WHERE eventSource = 'ssm.amazonaws.com' AND eventName IN ('StartSession', 'ResumeSession', 'SendCommand')
  AND ({{days}} = 0 OR eventTime > date_add('day', -{{days}}, current_timestamp))
ORDER BY eventTime DESC
