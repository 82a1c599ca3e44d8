//! CloudTrail digest files: what they say, how CloudTrail signs them, writing signed chains
//! (the generator's), and validating the chains a trail holds (`validate-logs`,
//! `ingest --validate`).
//!
//! A trail with log file validation delivers, per account and Region, one digest an hour
//! under `AWSLogs/<acct>/CloudTrail-Digest/<region>/YYYY/MM/DD/`. Each names the log files
//! delivered in its hour with the SHA-256 of their uncompressed content, and the previous
//! digest with the SHA-256 of *its* uncompressed content and its signature: a chain that
//! ends (or rather starts, read backwards) at the newest digest. Each digest is signed
//! (SHA256withRSA) over [`signing_string`]; the signature travels outside the file, in the
//! S3 object's `x-amz-meta-signature` — lost on download, so a local copy may carry it in a
//! `<digest file>.sig` sidecar holding the hex signature.

pub mod validate;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::keys::{self, KeyError, SigningKey};

/// A digest file's content (field names as CloudTrail writes them).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DigestFile {
    pub aws_account_id: String,
    pub digest_start_time: String,
    pub digest_end_time: String,
    pub digest_s3_bucket: String,
    pub digest_s3_object: String,
    #[serde(default)]
    pub digest_public_key_fingerprint: Option<String>,
    #[serde(default)]
    pub digest_signature_algorithm: Option<String>,
    #[serde(default)]
    pub newest_event_time: Option<String>,
    #[serde(default)]
    pub oldest_event_time: Option<String>,
    #[serde(default)]
    pub previous_digest_s3_bucket: Option<String>,
    #[serde(default)]
    pub previous_digest_s3_object: Option<String>,
    #[serde(default)]
    pub previous_digest_hash_value: Option<String>,
    #[serde(default)]
    pub previous_digest_hash_algorithm: Option<String>,
    #[serde(default)]
    pub previous_digest_signature: Option<String>,
    #[serde(default)]
    pub log_files: Vec<LogFileRef>,
}

/// One log file a digest vouches for.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LogFileRef {
    pub s3_bucket: String,
    pub s3_object: String,
    pub hash_value: String,
    #[serde(default)]
    pub hash_algorithm: Option<String>,
    #[serde(default)]
    pub newest_event_time: Option<String>,
    #[serde(default)]
    pub oldest_event_time: Option<String>,
}

/// The text a digest's signature covers: its end time, its own `bucket/key`, the hex SHA-256
/// of its uncompressed content and the previous digest's signature — the literal `null` for
/// the first digest of a chain (as the AWS CLI does "to match the Java implementation").
pub fn signing_string(end_time: &str, bucket: &str, key: &str, content_sha256: &str, previous: Option<&str>) -> String {
    format!("{end_time}\n{bucket}/{key}\n{content_sha256}\n{}", previous.unwrap_or("null"))
}

/// CloudTrail's time format in digests: `2015-05-08T07:19:37Z`.
pub fn digest_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The part of an object key from `AWSLogs/` on: how a local copy and the digest that
/// names its S3 original find each other (the bucket and any prefix above are the copy's).
pub fn layout_tail(key: &str) -> Option<&str> {
    key.find("AWSLogs/").map(|i| &key[i..])
}

/// A log file for [`ChainWriter::digest`]: where it is and the SHA-256 of its uncompressed content.
#[derive(Debug, Clone)]
pub struct LogFileWritten {
    pub key: String,
    pub sha256: String,
    pub oldest_event_time: Option<String>,
    pub newest_event_time: Option<String>,
}

/// A digest ready to store: its key, its (uncompressed) JSON, and its hex signature.
pub struct DigestWritten {
    pub key: String,
    pub json: Vec<u8>,
    pub signature: String,
}

/// Writes one account's and Region's chain of digests, signed, as CloudTrail does.
pub struct ChainWriter<'k> {
    key: &'k SigningKey,
    bucket: String,
    /// `AWSLogs/[o-org/]<acct>`.
    account_root: String,
    account: String,
    region: String,
    trail: String,
    home_region: String,
    previous: Option<(String, String, String)>,
}

impl<'k> ChainWriter<'k> {
    pub fn new(
        key: &'k SigningKey,
        bucket: &str,
        account_root: &str,
        account: &str,
        region: &str,
        trail: &str,
        home_region: &str,
    ) -> Self {
        Self {
            key,
            bucket: bucket.to_string(),
            account_root: account_root.to_string(),
            account: account.to_string(),
            region: region.to_string(),
            trail: trail.to_string(),
            home_region: home_region.to_string(),
            previous: None,
        }
    }

    /// The digest of the hour `[start, end)` naming `logs`, chained to the previous one.
    pub fn digest(
        &mut self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        logs: &[LogFileWritten],
    ) -> Result<DigestWritten, KeyError> {
        let key = format!(
            "{}/CloudTrail-Digest/{}/{}/{}_CloudTrail-Digest_{}_{}_{}_{}.json.gz",
            self.account_root,
            self.region,
            end.format("%Y/%m/%d"),
            self.account,
            self.region,
            self.trail,
            self.home_region,
            end.format("%Y%m%dT%H%M%SZ"),
        );
        let times = |f: fn(&LogFileWritten) -> &Option<String>| logs.iter().filter_map(move |l| f(l).clone());
        let digest = DigestFile {
            aws_account_id: self.account.clone(),
            digest_start_time: digest_time(start),
            digest_end_time: digest_time(end),
            digest_s3_bucket: self.bucket.clone(),
            digest_s3_object: key.clone(),
            digest_public_key_fingerprint: Some(self.key.fingerprint().to_string()),
            digest_signature_algorithm: Some(keys::SIGNATURE_ALGORITHM.to_string()),
            newest_event_time: times(|l| &l.newest_event_time).max(),
            oldest_event_time: times(|l| &l.oldest_event_time).min(),
            previous_digest_s3_bucket: self.previous.as_ref().map(|_| self.bucket.clone()),
            previous_digest_s3_object: self.previous.as_ref().map(|p| p.0.clone()),
            previous_digest_hash_value: self.previous.as_ref().map(|p| p.1.clone()),
            previous_digest_hash_algorithm: self.previous.as_ref().map(|_| keys::HASH_ALGORITHM.to_string()),
            previous_digest_signature: self.previous.as_ref().map(|p| p.2.clone()),
            log_files: logs
                .iter()
                .map(|l| LogFileRef {
                    s3_bucket: self.bucket.clone(),
                    s3_object: l.key.clone(),
                    hash_value: l.sha256.clone(),
                    hash_algorithm: Some(keys::HASH_ALGORITHM.to_string()),
                    newest_event_time: l.newest_event_time.clone(),
                    oldest_event_time: l.oldest_event_time.clone(),
                })
                .collect(),
        };
        let json = serde_json::to_vec(&digest).map_err(|e| KeyError::Crypto(e.to_string()))?;
        let hash = keys::sha256_hex(&json);
        let text = signing_string(
            &digest.digest_end_time,
            &self.bucket,
            &key,
            &hash,
            self.previous.as_ref().map(|p| p.2.as_str()),
        );
        let signature = hex::encode(self.key.sign(text.as_bytes())?);
        self.previous = Some((key.clone(), hash, signature.clone()));
        Ok(DigestWritten { key, json, signature })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signing_string_is_four_lines_and_null_starts_a_chain() {
        assert_eq!(
            signing_string("2015-05-08T07:19:37Z", "b", "AWSLogs/k", "ab", None),
            "2015-05-08T07:19:37Z\nb/AWSLogs/k\nab\nnull"
        );
        assert!(signing_string("t", "b", "k", "h", Some("5f")).ends_with("\nh\n5f"));
    }

    #[test]
    fn an_empty_hour_parses_with_null_times_and_no_previous() {
        let d: DigestFile = serde_json::from_str(
            r#"{"awsAccountId":"1","digestStartTime":"a","digestEndTime":"b","digestS3Bucket":"c","digestS3Object":"d",
            "newestEventTime":null,"oldestEventTime":null,"previousDigestSignature":null,"logFiles":[]}"#,
        )
        .expect("parse");
        assert!(d.log_files.is_empty() && d.previous_digest_signature.is_none());
    }
}
