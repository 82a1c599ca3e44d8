//! `traillake demo`: generate a realistic sample trail, ingest it, and walk through a few
//! investigations — offline and deterministic.

pub mod generate;

pub use generate::{generate, GenerateOptions, GenerateReport};

/// The guided tour: saved investigations (`queries/`) in the order a responder would run them
/// on the planted incident, each with what it shows in this trail.
pub const TOUR: &[(&str, &str)] = &[
    ("failed-console-logins-by-ip", "Someone guessed a password from 203.0.113.50 ..."),
    ("console-logins-without-mfa", "... and got in as mallory, without MFA."),
    ("access-denied-bursts", "The intruder probed what mallory may do."),
    ("iam-users-and-keys-created", "Persistence: a new user, backup-svc, with an access key."),
    ("cloudtrail-tampering", "Defence evasion: logging narrowed, then stopped."),
    ("security-services-disabled", "GuardDuty, Config and Security Hub switched off too."),
    ("large-s3-downloads", "Exfiltration: the new key pulled the customer bucket."),
    ("cross-account-activity", "Lateral movement into the dev account ..."),
    ("unusual-instance-types", "... to launch GPU instances in a Region nobody uses."),
];
