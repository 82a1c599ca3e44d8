-- name: security-services-disabled
-- description: GuardDuty, AWS Config, Security Hub, Access Analyzer or Macie turned off or
--   weakened. Defence evasion: nothing legitimate does this without a change ticket.
-- param: days 0 Look back this many days (0: everything in the store)
SELECT eventTime, eventSource, eventName, userIdentity.arn AS actor, recipientAccountId, awsRegion, sourceIPAddress
FROM {{eds}}
WHERE eventName IN ('DeleteDetector', 'DisassociateFromMasterAccount', 'UpdateDetector', 'DeleteMembers',
                    'StopConfigurationRecorder', 'DeleteConfigurationRecorder', 'DeleteDeliveryChannel',
                    'DisableSecurityHub', 'BatchDisableStandards', 'DeleteAnalyzer', 'DisableMacie')
  AND ({{days}} = 0 OR eventTime > date_add('day', -{{days}}, current_timestamp))
ORDER BY eventTime DESC
