//! Validating the digest chains a trail holds, offline, as `aws cloudtrail validate-logs`
//! does online: for each account and Region, from the newest digest in range back to the
//! start time or the chain's start, check each digest was found where it says it is, its
//! signature, the hash of every log file it names and its link to the previous digest; then
//! report gaps and log files no digest vouches for.
//!
//! Phases: [`Catalogue::load`] lists the sources and reads every digest (small); [`check_digests`]
//! needs no log file; [`check_log_files`] hashes the log files named (the costly part, on
//! every core). `ingest --validate` uses the first two and hashes log files as it decodes them.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use object_store::{Attribute, ObjectStoreExt};
use serde::Serialize;

use super::{layout_tail, signing_string, DigestFile};
use crate::ingest::sources::{self, open_decoded, Fetched, SourceLocation, SourceObject};
use crate::ingest::IngestError;
use crate::keys::{self, PublicKeys};

/// What to validate.
#[derive(Debug, Clone, Default)]
pub struct ValidateOptions {
    /// Digests ending before this are not read (default: from each chain's start).
    pub start: Option<DateTime<Utc>>,
    /// Digests ending after this are not read (default: now).
    pub end: Option<DateTime<Utc>>,
    pub keys: PublicKeys,
    /// Only these accounts (default: every account found).
    pub account_ids: Vec<String>,
    /// Read the signature sidecars of each chain's newest digest only (`ingest --validate`):
    /// older digests are authenticated through the chain, and a month of an organization
    /// trail has thousands of sidecars. `validate-logs` reads every one, to report each.
    pub chain_heads_only: bool,
}

/// Every object of the sources, digests read.
pub struct Catalogue {
    digests: Vec<LoadedDigest>,
    /// Each digest's index by where it was found: `bucket/key` (S3) and layout tail.
    digest_index: HashMap<String, usize>,
    /// Files that are not digests, by `bucket/key` (S3) and by layout tail (any source).
    by_s3_key: HashMap<String, SourceObject>,
    by_tail: HashMap<String, SourceObject>,
    /// CloudTrail log files by their place in the layout, for "no digest names it".
    log_files: Vec<LogInLayout>,
    /// Digest files that could not be read or parsed.
    unreadable: Vec<DigestCheck>,
}

struct LoadedDigest {
    object: SourceObject,
    content_sha256: String,
    digest: DigestFile,
    /// Hex signature from `x-amz-meta-signature` or the `.sig` sidecar.
    signature: Option<String>,
    region: String,
    end: Option<DateTime<Utc>>,
}

/// A candidate digest read: its hash, its content if it is a digest, its signature.
struct ReadDigest {
    content_sha256: String,
    digest: Result<DigestFile, serde_json::Error>,
    signature: Option<String>,
}

impl ReadDigest {
    fn of((bytes, signature): WithSignature) -> Self {
        let content_sha256 = keys::sha256_hex(&bytes);
        let digest = serde_json::from_slice::<DigestFile>(&bytes);
        Self { content_sha256, digest, signature }
    }
}

/// The hex signature in `<path>.sig`, if there is one.
fn read_sidecar(path: &std::path::Path) -> Option<String> {
    std::fs::read_to_string(format!("{}.sig", path.display())).ok().map(|s| s.trim().to_string())
}

/// A local file's uncompressed bytes and its `.sig` sidecar, on the calling thread.
fn read_local(path: &std::path::Path, with_sidecar: bool) -> std::io::Result<WithSignature> {
    let sidecar = with_sidecar.then(|| read_sidecar(path)).flatten();
    let bytes = open_decoded(Fetched::Local(path.to_path_buf()))?.read_whole()?;
    Ok((bytes, sidecar))
}

struct LogInLayout {
    object: SourceObject,
    account: String,
    region: String,
    delivered: Option<DateTime<Utc>>,
}

/// The verdict on one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Valid,
    Invalid,
    Missing,
}

/// What was found about a digest's signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SignatureStatus {
    Valid,
    Invalid,
    /// No `x-amz-meta-signature` (S3) or `.sig` sidecar (local copy).
    NotChecked,
    /// No public key with the digest's fingerprint was given.
    PublicKeyNotAvailable,
}

impl SignatureStatus {
    fn text(self) -> &'static str {
        match self {
            SignatureStatus::Valid => "signature valid",
            SignatureStatus::Invalid => "signature invalid",
            SignatureStatus::NotChecked => "signature not checked (no x-amz-meta-signature or .sig sidecar)",
            SignatureStatus::PublicKeyNotAvailable => "public key not available",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DigestCheck {
    pub file: String,
    pub account: String,
    pub region: String,
    pub digest_start_time: String,
    pub digest_end_time: String,
    pub verdict: Verdict,
    /// None for a digest that is missing or could not be read.
    pub signature: Option<SignatureStatus>,
    pub reasons: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogCheck {
    pub file: String,
    pub verdict: Verdict,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The digest that names it.
    pub digest: String,
}

/// An hour or more with no digest in a chain.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Gap {
    pub account: String,
    pub region: String,
    pub from: String,
    pub to: String,
}

/// The whole answer of `validate-logs`.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ValidationReport {
    pub digests: Vec<DigestCheck>,
    pub log_files: Vec<LogCheck>,
    pub gaps: Vec<Gap>,
    /// Log files in the time the digests cover that no digest names (added, or moved in).
    pub unreferenced_log_files: Vec<String>,
    /// Log files delivered after the newest digest read (not vouched for yet).
    pub not_yet_covered: Vec<String>,
}

impl ValidationReport {
    fn count(items: impl Iterator<Item = Verdict>) -> (usize, usize) {
        let v: Vec<Verdict> = items.collect();
        (v.iter().filter(|x| **x == Verdict::Valid).count(), v.len())
    }

    pub fn digests_valid(&self) -> (usize, usize) {
        Self::count(self.digests.iter().map(|d| d.verdict))
    }

    pub fn log_files_valid(&self) -> (usize, usize) {
        Self::count(self.log_files.iter().map(|l| l.verdict))
    }

    /// Digests read whose signature has status `s` (missing ones have none).
    pub fn signatures(&self, s: SignatureStatus) -> usize {
        self.digests.iter().filter(|d| d.signature == Some(s)).count()
    }

    /// Every check made passed (a signature that could not be checked is reported, not failed,
    /// unless `require_signatures`), and something was checked.
    pub fn all_valid(&self, require_signatures: bool) -> bool {
        let (dv, dn) = self.digests_valid();
        let (lv, ln) = self.log_files_valid();
        let unsigned = self.digests.iter().any(|d| d.signature != Some(SignatureStatus::Valid));
        dn > 0 && dv == dn && lv == ln && self.unreferenced_log_files.is_empty() && !(require_signatures && unsigned)
    }

    /// The report as the AWS CLI words it; `verbose` lists every file, not only the invalid.
    pub fn text(&self, verbose: bool) -> String {
        let mut out = String::new();
        for d in &self.digests {
            if verbose || d.verdict != Verdict::Valid || d.signature == Some(SignatureStatus::Invalid) {
                let verdict = match d.verdict {
                    Verdict::Valid => "valid".to_string(),
                    Verdict::Invalid => format!("INVALID: {}", d.reasons.join("; ")),
                    Verdict::Missing => format!("INVALID: not found ({})", d.reasons.join("; ")),
                };
                let signature = d.signature.map(|s| format!(" [{}]", s.text())).unwrap_or_default();
                out.push_str(&format!("Digest file\t{}\t{verdict}{signature}\n", d.file));
            }
        }
        for l in &self.log_files {
            if verbose || l.verdict != Verdict::Valid {
                let verdict = match (l.verdict, &l.reason) {
                    (Verdict::Valid, _) => "valid".to_string(),
                    (Verdict::Missing, _) => "INVALID: not found".to_string(),
                    (Verdict::Invalid, r) => format!("INVALID: {}", r.as_deref().unwrap_or("hash value doesn't match")),
                };
                out.push_str(&format!("Log file\t{}\t{verdict}\n", l.file));
            }
        }
        for f in &self.unreferenced_log_files {
            out.push_str(&format!("Log file\t{f}\tINVALID: no digest file names it (added or moved in)\n"));
        }
        for g in &self.gaps {
            out.push_str(&format!(
                "No digest files for {} {} between {} and {} (log file validation off, or digests missing)\n",
                g.account, g.region, g.from, g.to
            ));
        }
        if !self.not_yet_covered.is_empty() {
            out.push_str(&format!(
                "{} log files delivered after the newest digest read are not covered yet\n",
                self.not_yet_covered.len()
            ));
        }
        let (dv, dn) = self.digests_valid();
        let (lv, ln) = self.log_files_valid();
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&format!("{dv}/{dn} digest files valid\n{lv}/{ln} log files valid\n"));
        if !self.unreferenced_log_files.is_empty() {
            out.push_str(&format!("{} log files not named by any digest\n", self.unreferenced_log_files.len()));
        }
        for s in [SignatureStatus::Invalid, SignatureStatus::NotChecked, SignatureStatus::PublicKeyNotAvailable] {
            let n = self.signatures(s);
            if n > 0 {
                out.push_str(&format!("{n} digest files: {}\n", s.text()));
            }
        }
        if dn == 0 {
            out.push_str(
                "no digest files found: enable log file validation on the trail, and copy its CloudTrail-Digest/ \
                 prefix along with CloudTrail/\n",
            );
        }
        out
    }
}

/// A CloudTrail log file's account, Region and delivery time from its layout tail
/// (`AWSLogs/[o-org/]<acct>/CloudTrail/<region>/YYYY/MM/DD/<acct>_CloudTrail_<region>_<stamp>_x.json.gz`).
fn log_in_layout(tail: &str) -> Option<(String, String, Option<DateTime<Utc>>)> {
    let parts: Vec<&str> = tail.split('/').collect();
    let at = parts.iter().position(|p| *p == "CloudTrail")?;
    let account = parts.get(at.checked_sub(1)?)?.to_string();
    let region = parts.get(at + 1)?.to_string();
    let name = parts.last()?;
    let delivered = name
        .split('_')
        .find_map(|s| chrono::NaiveDateTime::parse_from_str(s, "%Y%m%dT%H%MZ").ok().map(|t| t.and_utc()));
    Some((account, region, delivered))
}

/// The Region of a digest from its key (`…/CloudTrail-Digest/<region>/…`).
fn digest_region(key: &str) -> Option<String> {
    let mut parts = key.split('/');
    parts.by_ref().find(|p| *p == "CloudTrail-Digest")?;
    parts.next().map(str::to_string)
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&Utc))
}

/// Where an object is, as the checks compare it: `bucket/key` for S3, else the local path.
fn s3_key(o: &SourceObject) -> Option<String> {
    o.display.strip_prefix("s3://").map(str::to_string)
}

fn path_of(o: &SourceObject) -> String {
    match &o.location {
        SourceLocation::Local(p) => p.display().to_string(),
        SourceLocation::S3 { .. } => o.display.clone(),
    }
}

/// Whether an object may be a digest by its name: the `CloudTrail-Digest/` layout, or a JSON
/// file outside the `CloudTrail/` log layout (a digest copied out of its folder).
fn may_be_digest(o: &SourceObject) -> bool {
    let p = path_of(o);
    o.digest_by_path || (!p.contains("/CloudTrail/") && !p.contains("_CloudTrail_") && o.size < 16 * 1024 * 1024)
}

/// An object's uncompressed bytes and the signature found with it.
type WithSignature = (Vec<u8>, Option<String>);

/// The object's bytes, uncompressed, and its `x-amz-meta-signature` (S3) or `.sig` sidecar.
async fn read_whole(o: &SourceObject) -> std::io::Result<WithSignature> {
    match &o.location {
        SourceLocation::Local(p) => {
            let p = p.clone();
            tokio::task::spawn_blocking(move || read_local(&p, true)).await.map_err(std::io::Error::other)?
        }
        SourceLocation::S3 { store, path } => {
            let got = store.get(path).await.map_err(std::io::Error::other)?;
            let signature = got.attributes.get(&Attribute::Metadata("signature".into())).map(|v| v.to_string());
            let fetched = Fetched::Memory(got.bytes().await.map_err(std::io::Error::other)?);
            let bytes = tokio::task::spawn_blocking(move || open_decoded(fetched)?.read_whole())
                .await
                .map_err(std::io::Error::other)??;
            Ok((bytes, signature))
        }
    }
}

impl Catalogue {
    /// Lists `specs` and reads every digest among them.
    pub async fn load(specs: &[String], opts: &ValidateOptions) -> Result<Self, IngestError> {
        let listing = sources::list(specs, false).await?;
        Self::from_objects(listing.objects, opts).await
    }

    pub async fn from_objects(objects: Vec<SourceObject>, opts: &ValidateOptions) -> Result<Self, IngestError> {
        let mut cat = Catalogue {
            digests: Vec::new(),
            digest_index: HashMap::new(),
            by_s3_key: HashMap::new(),
            by_tail: HashMap::new(),
            log_files: Vec::new(),
            unreadable: Vec::new(),
        };
        let (candidates, others): (Vec<SourceObject>, Vec<SourceObject>) = objects.into_iter().partition(may_be_digest);
        // Digests are many and small (a month of an organization trail: thousands): local ones
        // are read, inflated, hashed and parsed in one batch per core, which costs a fraction
        // of a hand-off to another thread per file; S3 ones are fetched a few at a time.
        let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        let (local, remote): (Vec<SourceObject>, Vec<SourceObject>) =
            candidates.into_iter().partition(|o| matches!(o.location, SourceLocation::Local(_)));
        let mut read: Vec<(SourceObject, std::io::Result<ReadDigest>)> = Vec::with_capacity(local.len() + remote.len());
        let chunk = local.len().div_ceil(threads).max(1);
        let mut batches = tokio::task::JoinSet::new();
        let with_sidecar = !opts.chain_heads_only;
        for batch in local.chunks(chunk).map(<[SourceObject]>::to_vec) {
            batches.spawn_blocking(move || {
                batch
                    .into_iter()
                    .map(|o| {
                        let r = match &o.location {
                            SourceLocation::Local(p) => read_local(p, with_sidecar).map(ReadDigest::of),
                            SourceLocation::S3 { .. } => Err(std::io::Error::other("not a local file")),
                        };
                        (o, r)
                    })
                    .collect::<Vec<_>>()
            });
        }
        while let Some(done) = batches.join_next().await {
            read.extend(done.map_err(|e| IngestError::Internal(format!("reading digests failed: {e}")))?);
        }
        let fetched: Vec<(SourceObject, std::io::Result<ReadDigest>)> = futures::stream::iter(remote)
            .map(|o| async move {
                let r = read_whole(&o).await.map(ReadDigest::of);
                (o, r)
            })
            .buffer_unordered(16)
            .collect()
            .await;
        read.extend(fetched);
        let mut not_digests = others;
        for (o, r) in read {
            match r {
                Ok(ReadDigest { content_sha256, digest: Ok(digest), signature }) => {
                    if !opts.account_ids.is_empty() && !opts.account_ids.contains(&digest.aws_account_id) {
                        continue;
                    }
                    let end = parse_time(&digest.digest_end_time);
                    // A digest ending up to an hour after the end time still names files
                    // delivered before it.
                    let in_range = end.is_none_or(|e| {
                        opts.start.is_none_or(|s| e >= s)
                            && opts.end.is_none_or(|to| e <= to + chrono::Duration::hours(1))
                    });
                    if !in_range {
                        continue;
                    }
                    let region = digest_region(&digest.digest_s3_object)
                        .or_else(|| digest_region(&path_of(&o)))
                        .unwrap_or_else(|| "unknown".into());
                    cat.digests.push(LoadedDigest { content_sha256, object: o, digest, signature, region, end });
                }
                r if o.digest_by_path => {
                    let reason = match r {
                        Err(e) => format!("cannot be read: {e}"),
                        Ok(_) => "not a digest file (its JSON lacks the digest fields)".to_string(),
                    };
                    cat.unreadable.push(DigestCheck {
                        file: o.display.clone(),
                        account: String::new(),
                        region: digest_region(&path_of(&o)).unwrap_or_default(),
                        digest_start_time: String::new(),
                        digest_end_time: String::new(),
                        verdict: Verdict::Invalid,
                        signature: None,
                        reasons: vec![reason],
                    });
                }
                _ => not_digests.push(o),
            }
        }
        for o in not_digests {
            if let Some(k) = s3_key(&o) {
                cat.by_s3_key.insert(k, o.clone());
            }
            let p = path_of(&o);
            if let Some(tail) = layout_tail(&p) {
                if let Some((account, region, delivered)) = log_in_layout(tail) {
                    if opts.account_ids.is_empty() || opts.account_ids.contains(&account) {
                        cat.log_files.push(LogInLayout { object: o.clone(), account, region, delivered });
                    }
                }
                cat.by_tail.insert(tail.to_string(), o);
            }
        }
        // Newest first within each chain, as the walk goes.
        cat.digests.sort_by(|a, b| {
            (&a.digest.aws_account_id, &a.region, b.end).cmp(&(&b.digest.aws_account_id, &b.region, a.end))
        });
        for (i, d) in cat.digests.iter().enumerate() {
            if let Some(k) = s3_key(&d.object) {
                cat.digest_index.insert(k, i);
            }
            if let Some(tail) = layout_tail(&path_of(&d.object)) {
                cat.digest_index.insert(format!("tail:{tail}"), i);
            }
        }
        if opts.chain_heads_only {
            // The newest digest of each chain (none names it as previous) needs its signature.
            let named: HashSet<usize> = cat
                .digests
                .iter()
                .filter_map(|d| {
                    cat.find_digest(
                        d.digest.previous_digest_s3_bucket.as_deref()?,
                        d.digest.previous_digest_s3_object.as_deref()?,
                    )
                })
                .collect();
            for (i, d) in cat.digests.iter_mut().enumerate() {
                if let (false, SourceLocation::Local(p)) = (named.contains(&i), &d.object.location) {
                    d.signature = d.signature.take().or_else(|| read_sidecar(p));
                }
            }
        }
        Ok(cat)
    }

    /// The non-digest object a digest names by `bucket/key`: in the same bucket when the
    /// source is S3, else by its `AWSLogs/…` tail.
    fn find(&self, bucket: &str, key: &str) -> Option<&SourceObject> {
        self.by_s3_key.get(&format!("{bucket}/{key}")).or_else(|| self.by_tail.get(layout_tail(key)?))
    }

    fn find_digest(&self, bucket: &str, key: &str) -> Option<usize> {
        let by_tail = || self.digest_index.get(&format!("tail:{}", layout_tail(key)?)).copied();
        self.digest_index.get(&format!("{bucket}/{key}")).copied().or_else(by_tail)
    }
}

/// A log file a valid-or-not digest names, to hash.
#[derive(Clone)]
pub struct Named {
    pub bucket: String,
    pub key: String,
    pub expected_sha256: String,
    pub object: Option<SourceObject>,
    /// The naming digest (for the report) and whether it passed its own checks.
    pub digest: String,
    pub digest_valid: bool,
}

/// Checks every digest (location, signature, links, gaps) and lists the log files they name.
pub fn check_digests(cat: &Catalogue, opts: &ValidateOptions) -> (ValidationReport, Vec<Named>) {
    let mut report = ValidationReport::default();
    let mut checks: Vec<DigestCheck> = cat
        .digests
        .iter()
        .map(|d| DigestCheck {
            file: d.object.display.clone(),
            account: d.digest.aws_account_id.clone(),
            region: d.region.clone(),
            digest_start_time: d.digest.digest_start_time.clone(),
            digest_end_time: d.digest.digest_end_time.clone(),
            verdict: Verdict::Valid,
            signature: None,
            reasons: Vec::new(),
        })
        .collect();
    let signatures = signature_statuses(cat, opts);
    let mut missing: Vec<DigestCheck> = Vec::new();
    for (i, d) in cat.digests.iter().enumerate() {
        let f = &d.digest;
        // Found where it says it is.
        let claimed = format!("{}/{}", f.digest_s3_bucket, f.digest_s3_object);
        let moved = match s3_key(&d.object) {
            Some(found) => found != claimed,
            None => {
                let found = path_of(&d.object);
                match (layout_tail(&found), layout_tail(&f.digest_s3_object)) {
                    (Some(a), Some(b)) => a != b,
                    _ => true,
                }
            }
        };
        if moved {
            checks[i].reasons.push(format!("has been moved from its original location (s3://{claimed})"));
        }
        let signature = signatures[i];
        checks[i].signature = Some(signature);
        if signature == SignatureStatus::Invalid {
            checks[i].reasons.push("signature verification failed".into());
        }
        // The link to the previous digest.
        if let (Some(pb), Some(pk)) = (&f.previous_digest_s3_bucket, &f.previous_digest_s3_object) {
            match cat.find_digest(pb, pk) {
                Some(j) => {
                    let prev = &cat.digests[j];
                    if f.previous_digest_hash_value.as_deref().map(str::to_ascii_lowercase)
                        != Some(prev.content_sha256.clone())
                    {
                        checks[j].reasons.push(format!(
                            "hash value doesn't match the one the next digest recorded ({})",
                            d.object.display
                        ));
                    }
                    if let (Some(recorded), Some(actual)) = (&f.previous_digest_signature, &prev.signature) {
                        if !recorded.eq_ignore_ascii_case(actual) {
                            checks[j].reasons.push(format!(
                                "signature differs from the one the next digest recorded ({})",
                                d.object.display
                            ));
                        }
                    }
                    if prev.digest.digest_end_time != f.digest_start_time {
                        report.gaps.push(Gap {
                            account: f.aws_account_id.clone(),
                            region: d.region.clone(),
                            from: prev.digest.digest_end_time.clone(),
                            to: f.digest_start_time.clone(),
                        });
                    }
                }
                None => {
                    // Before the start time, the previous digest was not asked for.
                    let wanted = opts.start.is_none_or(|s| parse_time(&f.digest_start_time).is_none_or(|t| t > s));
                    if wanted {
                        missing.push(DigestCheck {
                            file: format!("s3://{pb}/{pk}"),
                            account: f.aws_account_id.clone(),
                            region: d.region.clone(),
                            digest_start_time: String::new(),
                            digest_end_time: f.digest_start_time.clone(),
                            verdict: Verdict::Missing,
                            signature: None,
                            reasons: vec![format!("named as the previous digest by {}", d.object.display)],
                        });
                    }
                }
            }
        } else if let Some(older) =
            cat.digests.get(i + 1).filter(|o| o.digest.aws_account_id == f.aws_account_id && o.region == d.region)
        {
            // A chain (re)starts here: validation was turned off for a while before it.
            if older.digest.digest_end_time < f.digest_start_time {
                report.gaps.push(Gap {
                    account: f.aws_account_id.clone(),
                    region: d.region.clone(),
                    from: older.digest.digest_end_time.clone(),
                    to: f.digest_start_time.clone(),
                });
            }
        }
    }
    for c in &mut checks {
        if !c.reasons.is_empty() {
            c.verdict = Verdict::Invalid;
        }
    }
    let named: Vec<Named> = cat
        .digests
        .iter()
        .zip(&checks)
        .flat_map(|(d, c)| {
            d.digest.log_files.iter().map(move |l| Named {
                bucket: l.s3_bucket.clone(),
                key: l.s3_object.clone(),
                expected_sha256: l.hash_value.to_ascii_lowercase(),
                object: cat.find(&l.s3_bucket, &l.s3_object).cloned(),
                digest: d.object.display.clone(),
                digest_valid: c.verdict == Verdict::Valid,
            })
        })
        .collect();
    classify_unnamed(cat, &named, &mut report);
    report.digests = checks;
    report.digests.extend(missing);
    report.digests.extend(cat.unreadable.iter().cloned());
    (report, named)
}

/// Each digest's signature status. A digest is authenticated by its own signature, or — as
/// soundly, and without an RSA operation — through its successor: a digest whose signature is
/// valid vouches, by hash, for the previous digest's content and records its signature. So
/// only each chain's newest digest (and any whose link is broken) is verified with RSA.
fn signature_statuses(cat: &Catalogue, opts: &ValidateOptions) -> Vec<SignatureStatus> {
    let mut successor: HashMap<usize, usize> = HashMap::new();
    for (j, d) in cat.digests.iter().enumerate() {
        if let (Some(pb), Some(pk)) = (&d.digest.previous_digest_s3_bucket, &d.digest.previous_digest_s3_object) {
            if let Some(i) = cat.find_digest(pb, pk) {
                successor.entry(i).or_insert(j);
            }
        }
    }
    let mut out: Vec<SignatureStatus> = Vec::with_capacity(cat.digests.len());
    for (i, d) in cat.digests.iter().enumerate() {
        // Newer digests of a chain come first, so a successor's status is known here.
        let through_chain = successor.get(&i).filter(|&&j| j < i).is_some_and(|&j| {
            let next = &cat.digests[j].digest;
            out[j] == SignatureStatus::Valid
                && next.previous_digest_hash_value.as_deref().is_some_and(|h| h.eq_ignore_ascii_case(&d.content_sha256))
                && match (&d.signature, &next.previous_digest_signature) {
                    (Some(own), Some(recorded)) => own.trim().eq_ignore_ascii_case(recorded),
                    (None, _) => true,
                    (Some(_), None) => false,
                }
        });
        out.push(if through_chain {
            SignatureStatus::Valid
        } else {
            signature_status(&d.digest, &d.content_sha256, d.signature.as_deref(), &opts.keys)
        });
    }
    out
}

fn signature_status(
    f: &DigestFile,
    content_sha256: &str,
    signature: Option<&str>,
    keys: &PublicKeys,
) -> SignatureStatus {
    let end = parse_time(&f.digest_end_time);
    let Some(key) = f.digest_public_key_fingerprint.as_deref().and_then(|fp| keys.get(fp, end)) else {
        return SignatureStatus::PublicKeyNotAvailable;
    };
    let Some(sig) = signature else {
        return SignatureStatus::NotChecked;
    };
    let Ok(sig) = hex::decode(sig.trim()) else {
        return SignatureStatus::Invalid;
    };
    let text = signing_string(
        &f.digest_end_time,
        &f.digest_s3_bucket,
        &f.digest_s3_object,
        content_sha256,
        f.previous_digest_signature.as_deref(),
    );
    if key.verifies(text.as_bytes(), &sig) {
        SignatureStatus::Valid
    } else {
        SignatureStatus::Invalid
    }
}

/// Log files of a chain in scope that no digest names: inside the time the chain's digests
/// cover, an addition; after its newest digest, not covered yet.
fn classify_unnamed(cat: &Catalogue, named: &[Named], report: &mut ValidationReport) {
    let named_paths: HashSet<String> = named.iter().filter_map(|n| n.object.as_ref()).map(path_of).collect();
    type Span = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);
    let mut spans: BTreeMap<(String, String), Span> = BTreeMap::new();
    for d in &cat.digests {
        let start = parse_time(&d.digest.digest_start_time);
        let e = spans.entry((d.digest.aws_account_id.clone(), d.region.clone())).or_insert((start, d.end));
        e.0 = e.0.min(start).or(start);
        e.1 = e.1.max(d.end);
    }
    for l in &cat.log_files {
        let Some((from, to)) = spans.get(&(l.account.clone(), l.region.clone())) else { continue };
        if named_paths.contains(&path_of(&l.object)) {
            continue;
        }
        match (l.delivered, from, to) {
            (Some(t), _, Some(to)) if t >= *to => report.not_yet_covered.push(l.object.display.clone()),
            (Some(t), Some(from), _) if t < *from => {}
            _ => report.unreferenced_log_files.push(l.object.display.clone()),
        }
    }
}

/// Hashes every named log file that exists, on every core, and adds the verdicts.
pub async fn check_log_files(named: Vec<Named>, report: &mut ValidationReport) {
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    let checks: Vec<LogCheck> = futures::stream::iter(named)
        .map(|n| async move {
            let Some(o) = n.object.clone() else {
                return LogCheck {
                    file: format!("s3://{}/{}", n.bucket, n.key),
                    verdict: Verdict::Missing,
                    reason: None,
                    digest: n.digest,
                };
            };
            // Hashing is CPU work: off the runtime's threads, like the inflating before it.
            let hashed = match read_whole(&o).await {
                Ok((bytes, _)) => tokio::task::spawn_blocking(move || keys::sha256_hex(&bytes)).await.ok(),
                Err(e) => {
                    return LogCheck {
                        file: o.display.clone(),
                        verdict: Verdict::Invalid,
                        reason: Some(format!("cannot be read: {e}")),
                        digest: n.digest,
                    }
                }
            };
            let (verdict, reason) = match hashed {
                Some(h) if h == n.expected_sha256 => (Verdict::Valid, None),
                _ => (Verdict::Invalid, Some("hash value doesn't match".to_string())),
            };
            LogCheck { file: o.display.clone(), verdict, reason, digest: n.digest }
        })
        .buffered(threads * 2)
        .collect()
        .await;
    report.log_files = checks;
}

/// `validate-logs`: every check, one report.
pub async fn validate(specs: &[String], opts: &ValidateOptions) -> Result<ValidationReport, IngestError> {
    let cat = Catalogue::load(specs, opts).await?;
    let (mut report, named) = check_digests(&cat, opts);
    check_log_files(named, &mut report).await;
    Ok(report)
}

/// For `ingest --validate`: each source's expected hash and whether the digest naming it is
/// itself valid, by ledger key.
pub fn expectations(named: &[Named]) -> HashMap<String, Expected> {
    named
        .iter()
        .filter_map(|n| {
            let o = n.object.as_ref()?;
            let expected =
                Expected { sha256: n.expected_sha256.clone(), digest_valid: n.digest_valid, digest: n.digest.clone() };
            Some((o.key.clone(), expected))
        })
        .collect()
}

/// What a digest says a source's uncompressed content hashes to.
#[derive(Debug, Clone)]
pub struct Expected {
    pub sha256: String,
    pub digest_valid: bool,
    /// The digest that names the source.
    pub digest: String,
}

/// A source's status under `ingest --validate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceValidation {
    /// Its hash matches a digest that passed its own checks.
    Valid,
    /// No digest in the sources names it.
    NotCovered,
    /// Its hash does not match its digest, or it could not be read to its end.
    Invalid,
    /// Its hash matches, but the digest naming it failed its own checks.
    DigestInvalid,
}

impl SourceValidation {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceValidation::Valid => "valid",
            SourceValidation::NotCovered => "not-covered",
            SourceValidation::Invalid => "invalid",
            SourceValidation::DigestInvalid => "digest-invalid",
        }
    }
}

/// Shared, read-only: the decode threads look sources up in it.
pub type Expectations = Arc<HashMap<String, Expected>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_file_is_placed_by_its_layout() {
        let (a, r, t) = log_in_layout(
            "AWSLogs/o-1/111/CloudTrail/us-east-1/2025/03/06/111_CloudTrail_us-east-1_20250306T0320Z_x.json.gz",
        )
        .expect("layout");
        assert_eq!((a.as_str(), r.as_str()), ("111", "us-east-1"));
        assert_eq!(t.map(|t| t.to_rfc3339()), Some("2025-03-06T03:20:00+00:00".to_string()));
        assert_eq!(digest_region("AWSLogs/1/CloudTrail-Digest/eu-west-1/2025/x").as_deref(), Some("eu-west-1"));
    }
}
