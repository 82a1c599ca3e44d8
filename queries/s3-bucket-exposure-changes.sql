-- name: s3-bucket-exposure-changes
-- description: Bucket policies, ACLs and public access blocks changed or removed: how data
--   gets made public. A policy with "Principal":"*" or a deleted public access block is urgent.
-- param: days 0 Look back this many days (0: everything in the store)
SELECT eventTime, eventName, userIdentity.arn AS actor, element_at(requestParameters, 'bucketName') AS bucket,
       sourceIPAddress, errorCode
FROM {{eds}}
WHERE eventSource = 's3.amazonaws.com'
  AND eventName IN ('PutBucketPolicy', 'DeleteBucketPolicy', 'PutBucketAcl', 'PutPublicAccessBlock',
                    'DeleteBucketPublicAccessBlock', 'PutBucketPublicAccessBlock', 'DeletePublicAccessBlock')
  AND ({{days}} = 0 OR eventTime > date_add('day', -{{days}}, current_timestamp))
ORDER BY eventTime DESC
