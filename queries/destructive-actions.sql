-- name: destructive-actions
-- description: Deletions of buckets, databases, backups, snapshots and instances. Sabotage
--   and ransom look like this; so do clean-ups, which is why the actor column matters.
-- param: days 0 Look back this many days (0: everything in the store)
SELECT eventTime, eventSource, eventName, userIdentity.arn AS actor,
       coalesce(element_at(requestParameters, 'bucketName'), element_at(requestParameters, 'dBInstanceIdentifier'),
                element_at(requestParameters, 'snapshotId'), element_at(requestParameters, 'backupVaultName'),
                element_at(requestParameters, 'instancesSet')) AS target,
       sourceIPAddress, errorCode
FROM {{eds}}
WHERE eventName IN ('DeleteBucket', 'DeleteDBInstance', 'DeleteDBCluster', 'DeleteSnapshot', 'DeleteDBSnapshot',
                    'DeleteBackupVault', 'DeleteRecoveryPoint', 'TerminateInstances', 'DeleteVolume')
  AND ({{days}} = 0 OR eventTime > date_add('day', -{{days}}, current_timestamp))
ORDER BY eventTime DESC
