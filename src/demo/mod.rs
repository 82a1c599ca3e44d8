//! `traillake demo`: generate a realistic sample trail, ingest it, and walk through a few
//! investigations — offline and deterministic.

pub mod generate;

pub use generate::{generate, GenerateOptions, GenerateReport};

/// The demo's investigations: (title, what to look for, SQL with `{eds}` for the store id).
pub const INVESTIGATIONS: &[(&str, &str, &str)] = &[
    (
        "Console sign-ins without MFA",
        "Who signed in with a password alone, and from where?",
        "SELECT eventTime, userIdentity.arn, sourceIPAddress, additionalEventData['MFAUsed'] AS mfa \
         FROM {eds} WHERE eventName = 'ConsoleLogin' AND additionalEventData['MFAUsed'] = 'No' ORDER BY eventTime",
    ),
    (
        "AccessDenied bursts by principal",
        "Many denied calls in a short time usually mean someone is probing permissions.",
        "SELECT userIdentity.arn, count(*) AS denied, min(eventTime) AS first_seen, max(eventTime) AS last_seen \
         FROM {eds} WHERE errorCode = 'AccessDenied' GROUP BY userIdentity.arn HAVING count(*) >= 5 ORDER BY denied DESC",
    ),
    (
        "IAM and CloudTrail changes",
        "Persistence (new users, keys, admin policies) and defence evasion (logging turned down).",
        "SELECT eventTime, eventName, userIdentity.arn, requestParameters['userName'] AS target_user, sourceIPAddress \
         FROM {eds} WHERE eventSource IN ('iam.amazonaws.com', 'cloudtrail.amazonaws.com') AND readOnly = false \
         AND eventTime > '2026-11-14 00:00:00' ORDER BY eventTime",
    ),
    (
        "Reads of the customer-data bucket by address",
        "Data events show who read what; a new address reading many objects is exfiltration.",
        "SELECT sourceIPAddress, userIdentity.arn, count(*) AS objects_read \
         FROM {eds} WHERE eventSource = 's3.amazonaws.com' AND eventName = 'GetObject' \
         AND requestParameters['bucketName'] = 'prod-customer-data' GROUP BY 1, 2 ORDER BY objects_read DESC LIMIT 5",
    ),
    (
        "Everything the attacker's address did",
        "One view of the incident: every call from 203.0.113.50, by API.",
        "SELECT eventSource, eventName, count(*) AS calls, sum(CASE WHEN errorCode IS NOT NULL THEN 1 ELSE 0 END) AS failed \
         FROM {eds} WHERE sourceIPAddress = '203.0.113.50' GROUP BY 1, 2 ORDER BY calls DESC",
    ),
];
