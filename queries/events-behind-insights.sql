-- name: events-behind-insights
-- description: The calls behind each Insight: the events of its API, account and Region while
--   it lasted (failed calls only for an error-rate Insight), by caller and address.
-- param: open_minutes 60 Minutes after the start to look at when an Insight has not ended yet
SELECT s.insightType, s.insightEventName, t.userIdentity.arn AS caller, t.sourceIPAddress, t.errorCode,
       count(*) AS calls, min(t.eventTime) AS first_call, max(t.eventTime) AS last_call
FROM {{insights_eds}} s
LEFT JOIN {{insights_eds}} e ON e.sharedEventID = s.sharedEventID AND e.insightState = 'End'
JOIN {{eds}} t ON t.eventSource = s.insightEventSource AND t.eventName = s.insightEventName
  AND t.awsRegion = s.awsRegion AND t.recipientAccountId = s.recipientAccountId
  AND t.eventTime >= s.eventTime
  AND t.eventTime < coalesce(e.eventTime, date_add('minute', {{open_minutes}}, s.eventTime))
WHERE s.insightState = 'Start' AND (s.insightType = 'ApiCallRateInsight' OR t.errorCode IS NOT NULL)
GROUP BY 1, 2, 3, 4, 5
ORDER BY calls DESC
