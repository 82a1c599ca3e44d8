-- name: outside-sign-ins-from-new-addresses
-- description: Sign-ins to systems outside AWS (Okta, GitHub, … sent with PutAuditEvents, in
--   an event data store of kind audit) from an address the principal had not used before the
--   last days of the store, with failures; an intruder with stolen credentials shows up here.
-- param: days 1 Sign-ins in the last DAYS days of the store are judged against those before
WITH s AS (
  SELECT eventData.userIdentity.principalId AS principal, eventData.sourceIPAddress AS ip, eventTime,
         eventData.eventSource AS source, element_at(eventData.responseElements, 'outcome') AS outcome
  FROM {{audit_eds}}
  WHERE regexp_like(eventData.eventName, '(?i)session\.start|login|sign_?in|authenticat')
), cutoff AS (
  SELECT date_add('day', -{{days}}, max(eventTime)) AS t FROM s
), known AS (
  SELECT DISTINCT s.principal, s.ip FROM s CROSS JOIN cutoff WHERE s.eventTime < cutoff.t
)
SELECT s.principal, s.ip, arbitrary(s.source) AS source, min(s.eventTime) AS first_seen, count(*) AS sign_ins,
       count_if(s.outcome = 'FAILURE') AS failures
FROM s CROSS JOIN cutoff
LEFT JOIN known k ON k.principal = s.principal AND k.ip = s.ip
WHERE s.eventTime >= cutoff.t AND k.ip IS NULL
GROUP BY s.principal, s.ip
ORDER BY first_seen
