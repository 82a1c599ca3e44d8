-- name: large-s3-downloads
-- description: Bytes read from S3 per principal, address and bucket (data events). The top rows
--   show who moved the most data out; compare with what each principal normally reads.
-- param: min_mb 10 Only totals of at least this many MB
-- param: days 0 Look back this many days (0: everything in the store)
SELECT userIdentity.arn AS principal, sourceIPAddress, element_at(requestParameters, 'bucketName') AS bucket,
       count(*) AS objects,
       round(sum(try_cast(element_at(additionalEventData, 'bytesTransferredOut') AS DOUBLE)) / 1048576, 1) AS mb_out
FROM {{eds}}
WHERE eventSource = 's3.amazonaws.com' AND eventName = 'GetObject'
  AND ({{days}} = 0 OR eventTime > date_add('day', -{{days}}, current_timestamp))
GROUP BY 1, 2, 3
HAVING sum(try_cast(element_at(additionalEventData, 'bytesTransferredOut') AS DOUBLE)) >= {{min_mb}} * 1048576
ORDER BY mb_out DESC
