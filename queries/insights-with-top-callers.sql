-- name: insights-with-top-callers
-- description: CloudTrail Insights: unusual API call and error rates, each with when it began
--   and ended, its rate against the week before, and the caller behind most of it (from the
--   Insights event data store; `traillake insights list` shows the same).
SELECT min(eventTime) AS started, max(CASE WHEN insightState = 'End' THEN eventTime END) AS ended,
       arbitrary(insightType) AS insight_type, arbitrary(insightEventSource) AS event_source,
       arbitrary(insightEventName) AS event_name, arbitrary(insightErrorCode) AS error_code,
       arbitrary(awsRegion) AS region, arbitrary(recipientAccountId) AS account,
       round(max_by(insightContext.baselineAverage, eventTime), 3) AS baseline_per_minute,
       round(max_by(insightContext.insightAverage, eventTime), 2) AS insight_per_minute,
       max_by(top_caller, eventTime) AS top_caller
FROM (
  SELECT *, element_at(filter(insightContext.attributions, x -> x.attribute = 'userIdentityArn'), 1).insightValue AS top_caller
  FROM {{insights_eds}}
)
GROUP BY sharedEventID
ORDER BY started
