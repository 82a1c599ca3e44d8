-- name: config-changes-with-calls
-- description: Resources whose configuration changed, with the API call that changed them: AWS
--   Config items (from the Config event data store) joined to the CloudTrail events their
--   relatedEvents name — who changed what, from where, and what the resource became.
SELECT c.eventTime AS captured, c.eventData.resourceType AS resource_type, c.eventData.resourceId AS resource,
       t.eventName AS call, t.userIdentity.arn AS caller, t.sourceIPAddress AS source_ip,
       c.eventData.configurationItemStatus AS status,
       coalesce(element_at(c.eventData.configuration, 'ipPermissions'), element_at(c.eventData.configuration, 'instanceType'),
                element_at(c.eventData.supplementaryConfiguration, 'BucketPolicy')) AS became
FROM {{config_eds}} c
JOIN {{eds}} t ON json_array_contains(c.eventData.relatedEvents, t.eventID)
ORDER BY captured, resource
