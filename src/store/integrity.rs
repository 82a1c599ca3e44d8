//! Tamper evidence for an event data store. We cannot stop anyone with write access from
//! changing files, so every change is made detectable: each commit traillake writes carries an
//! integrity record in its `commitInfo` (key [`RECORD_KEY`]) with
//! - the SHA-256 of every data file the commit adds,
//! - the SHA-256 of the raw bytes of every earlier commit since the previous record (that
//!   record's own commit included, so an edit of it — a changed statistic, a dropped action —
//!   shows), with the files those commits added and removed (maintenance: retention deletes,
//!   compaction, vacuum, which delta-rs commits itself and a *seal* commit then records),
//! - a chain hash: SHA-256 of the previous record's chain hash and this record's content,
//! - optionally an RSA signature of the chain hash with a key kept outside the store, so that
//!   rewriting the whole log is detectable too.
//!
//! [`verify`] re-hashes every live file and walks the chain. What it cannot see: the newest
//! commits removed all together leave a shorter valid chain — compare the head hash it prints
//! with one kept elsewhere.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::DeltaTable;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};
use serde::{Deserialize, Serialize};

use super::StoreError;
use crate::keys::{sha256_hex, PublicKeys, SigningKey};

/// Key of the integrity record in a commit's `commitInfo`.
pub const RECORD_KEY: &str = "traillakeIntegrity";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    pub format: u32,
    /// The version of the commit that holds this record.
    pub version: i64,
    /// `ingest` (data added in this commit) or `seal` (records commits delta-rs wrote).
    pub kind: String,
    pub commits: Vec<CoveredCommit>,
    pub added: Vec<FileHash>,
    pub previous_chain: Option<String>,
    #[serde(default)]
    pub chain: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CoveredCommit {
    pub version: i64,
    pub operation: String,
    /// SHA-256 of the commit file's bytes.
    pub sha256: String,
    pub added: Vec<FileHash>,
    pub removed: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FileHash {
    pub path: String,
    pub size: i64,
    /// None when the file was already gone when the commit was recorded.
    pub sha256: Option<String>,
}

impl Record {
    /// The chain hash: over the previous chain hash and this record without chain and signature.
    fn compute_chain(&self) -> Result<String, StoreError> {
        let bare = Record { chain: String::new(), signature: None, fingerprint: None, ..self.clone() };
        let content = sha256_hex(&serde_json::to_vec(&bare)?);
        Ok(sha256_hex(format!("{}\n{content}", self.previous_chain.as_deref().unwrap_or("null")).as_bytes()))
    }
}

/// One commit file of the log, parsed as far as integrity needs.
struct Commit {
    bytes_sha256: String,
    operation: String,
    adds: Vec<(String, i64)>,
    removes: Vec<String>,
    record: Option<Record>,
}

/// Every commit file of the table, by version, parsed.
async fn read_log(table: &DeltaTable) -> Result<BTreeMap<i64, Commit>, StoreError> {
    Ok(super::table::commit_files(table).await?.into_iter().map(|(v, bytes)| (v, parse_commit(&bytes))).collect())
}

fn parse_commit(bytes: &[u8]) -> Commit {
    let mut c = Commit {
        bytes_sha256: sha256_hex(bytes),
        operation: String::new(),
        adds: Vec::new(),
        removes: Vec::new(),
        record: None,
    };
    for line in bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(line) else { continue };
        if let Some(a) = v.get("add") {
            c.adds.push((str_of(a, "path"), a.get("size").and_then(|s| s.as_i64()).unwrap_or(-1)));
        } else if let Some(r) = v.get("remove") {
            c.removes.push(str_of(r, "path"));
        } else if let Some(ci) = v.get("commitInfo") {
            c.operation = str_of(ci, "operation");
            c.record = ci.get(RECORD_KEY).and_then(|r| serde_json::from_value(r.clone()).ok());
        }
    }
    c
}

fn str_of(v: &serde_json::Value, k: &str) -> String {
    v.get(k).and_then(|s| s.as_str()).unwrap_or_default().to_string()
}

/// SHA-256 of a data file (its path as the log writes it: relative, percent-encoded), read as
/// a stream: compacted files are large and several are hashed at once.
async fn hash_file(store: &Arc<dyn ObjectStore>, path: &str) -> Option<String> {
    let p = ObjectPath::from_url_path(path).ok()?;
    let mut chunks = store.get(&p).await.ok()?.into_stream();
    let mut hasher = crate::keys::Sha256Stream::default();
    while let Some(chunk) = chunks.next().await {
        hasher.update(&chunk.ok()?);
    }
    Some(hasher.finish())
}

async fn hash_files(store: &Arc<dyn ObjectStore>, files: &[(String, i64)]) -> Vec<FileHash> {
    futures::stream::iter(files.iter().cloned())
        .map(|(path, size)| async move {
            let sha256 = hash_file(store, &path).await;
            FileHash { path, size, sha256 }
        })
        .buffered(4)
        .collect()
        .await
}

/// The record for the commit about to be written at `version` adding `adds`: the commits
/// since the last record, this commit's files, the chain, the signature.
pub async fn record_for(
    table: &DeltaTable,
    version: i64,
    kind: &str,
    adds: &[(String, i64)],
    signer: Option<&SigningKey>,
) -> Result<Record, StoreError> {
    let store = table.log_store().object_store(None);
    let log = read_log(table).await?;
    let last = log.iter().rev().find_map(|(v, c)| c.record.as_ref().map(|r| (*v, r.chain.clone())));
    let from = last.as_ref().map(|(v, _)| *v).unwrap_or(0);
    let mut commits = Vec::new();
    for (v, c) in log.range(from..version) {
        // The previous record's own files are in it already.
        let recorded = last.as_ref().is_some_and(|(lv, _)| lv == v);
        let added = if recorded { Vec::new() } else { hash_files(&store, &c.adds).await };
        commits.push(CoveredCommit {
            version: *v,
            operation: c.operation.clone(),
            sha256: c.bytes_sha256.clone(),
            added,
            removed: c.removes.clone(),
        });
    }
    let mut record = Record {
        format: 1,
        version,
        kind: kind.to_string(),
        commits,
        added: hash_files(&store, adds).await,
        previous_chain: last.map(|(_, c)| c),
        chain: String::new(),
        signature: None,
        fingerprint: None,
    };
    record.chain = record.compute_chain()?;
    if let Some(k) = signer {
        let sig = k.sign(record.chain.as_bytes()).map_err(|e| StoreError::Invalid(e.to_string()))?;
        record.signature = Some(hex::encode(sig));
        record.fingerprint = Some(k.fingerprint().to_string());
    }
    Ok(record)
}

/// Records the commits written since the last record (retention deletes, compaction, vacuum)
/// in a commit of its own holding no data. Nothing to do when the newest commit has a record.
pub async fn seal(table: &mut DeltaTable, signer: Option<&SigningKey>) -> Result<bool, StoreError> {
    let log = read_log(table).await?;
    if log.last_key_value().is_none_or(|(_, c)| c.record.is_some()) {
        return Ok(false);
    }
    let version = log.last_key_value().map(|(v, _)| v + 1).unwrap_or(0);
    let record = record_for(table, version, "seal", &[], signer).await?;
    let props = CommitProperties::default()
        .with_metadata([(RECORD_KEY.to_string(), serde_json::to_value(&record)?)])
        .with_cleanup_expired_logs(Some(false))
        .with_max_retries(0);
    let operation = DeltaOperation::Write { mode: SaveMode::Append, partition_by: None, predicate: None };
    CommitBuilder::from(props)
        .with_actions(Vec::new())
        .build(Some(table.snapshot()?), table.log_store(), operation)
        .await?;
    table.update_state().await?;
    Ok(true)
}

/// What `eds verify` found.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Verification {
    pub commits: usize,
    pub records: usize,
    pub live_files: usize,
    pub files_verified: usize,
    /// The newest record's chain hash: keep it elsewhere to detect the newest commits removed.
    pub head: Option<String>,
    /// `valid`, `not signed`, `not checked (no --public-key)`, or what is wrong.
    pub signature: String,
    pub changed_files: Vec<String>,
    pub missing_files: Vec<String>,
    /// Data files in the table's folder that no commit ever added.
    pub unknown_files: Vec<String>,
    /// Live files no record vouches for.
    pub unrecorded_files: Vec<String>,
    /// Commits altered, removed or out of the chain, with the reason.
    pub commit_problems: Vec<String>,
    /// Commits after the newest record (written by another tool, or interrupted before sealing).
    pub unsealed_commits: Vec<i64>,
}

impl Verification {
    pub fn intact(&self) -> bool {
        self.changed_files.is_empty()
            && self.missing_files.is_empty()
            && self.unknown_files.is_empty()
            && self.unrecorded_files.is_empty()
            && self.commit_problems.is_empty()
            && self.unsealed_commits.is_empty()
            && !self.signature.starts_with("INVALID")
    }

    pub fn text(&self) -> String {
        let mut out = String::new();
        for (what, list) in [
            ("changed", &self.changed_files),
            ("missing", &self.missing_files),
            ("present but not in the log", &self.unknown_files),
            ("in the table but in no integrity record", &self.unrecorded_files),
        ] {
            for f in list {
                out.push_str(&format!("file {f}: {what}\n"));
            }
        }
        for p in &self.commit_problems {
            out.push_str(&format!("{p}\n"));
        }
        if !self.unsealed_commits.is_empty() {
            out.push_str(&format!(
                "commits {:?} are not recorded yet (written by another tool, or interrupted): `traillake eds maintain` \
                 records them as they are now\n",
                self.unsealed_commits
            ));
        }
        out.push_str(&format!(
            "{}/{} live files verified; {} commits, {} integrity records; signature: {}\nhead {}\n{}\n",
            self.files_verified,
            self.live_files,
            self.commits,
            self.records,
            self.signature,
            self.head.as_deref().unwrap_or("none"),
            if self.intact() { "INTACT" } else { "TAMPERED or unverifiable: see above" }
        ));
        out
    }
}

/// Re-hashes every live file of the table and walks the chain of records.
pub async fn verify(table: &DeltaTable, keys: Option<&PublicKeys>) -> Result<Verification, StoreError> {
    let store = table.log_store().object_store(None);
    let log = read_log(table).await?;
    let mut v = Verification { commits: log.len(), ..Default::default() };
    // Versions run 0..=newest without a hole.
    if let Some((&newest, _)) = log.last_key_value() {
        for missing in (0..newest).filter(|n| !log.contains_key(n)) {
            v.commit_problems.push(format!("commit {missing} is missing (removed from _delta_log)"));
        }
    }
    // Replay: live files, and every path any commit added.
    let mut live: BTreeMap<String, i64> = BTreeMap::new();
    let mut ever_added: HashSet<String> = HashSet::new();
    for c in log.values() {
        for (p, size) in &c.adds {
            live.insert(p.clone(), *size);
            ever_added.insert(p.clone());
        }
        for p in &c.removes {
            live.remove(p);
        }
    }
    // The chain.
    let mut expected: HashMap<String, Option<String>> = HashMap::new();
    let mut previous: Option<(i64, String)> = None;
    let mut signed_any = false;
    let mut signature_problems = Vec::new();
    for (&version, c) in &log {
        let Some(r) = &c.record else { continue };
        v.records += 1;
        if r.version != version {
            v.commit_problems
                .push(format!("commit {version}: its record says version {} (commits renumbered)", r.version));
        }
        if r.previous_chain != previous.as_ref().map(|p| p.1.clone()) {
            v.commit_problems.push(format!(
                "commit {version}: the chain is broken before it (a recorded commit was removed or altered)"
            ));
        }
        if r.compute_chain()? != r.chain {
            v.commit_problems.push(format!("commit {version}: its integrity record was altered"));
        }
        let from = previous.as_ref().map(|p| p.0).unwrap_or(0);
        let covered: HashMap<i64, &CoveredCommit> = r.commits.iter().map(|cc| (cc.version, cc)).collect();
        for u in from..version {
            match (covered.get(&u), log.get(&u)) {
                (Some(cc), Some(actual)) if cc.sha256 != actual.bytes_sha256 => {
                    v.commit_problems.push(format!("commit {u} was altered after commit {version} recorded it"))
                }
                (None, Some(_)) => {
                    v.commit_problems.push(format!("commit {u} is not in the record of commit {version}"))
                }
                _ => {}
            }
        }
        let own: BTreeSet<(String, i64)> = r.added.iter().map(|f| (f.path.clone(), f.size)).collect();
        let actual: BTreeSet<(String, i64)> = c.adds.iter().cloned().collect();
        if own != actual {
            v.commit_problems.push(format!("commit {version}: its data files differ from its record (altered)"));
        }
        for f in r.added.iter().chain(r.commits.iter().flat_map(|cc| cc.added.iter())) {
            expected.insert(f.path.clone(), f.sha256.clone());
        }
        if let Some(sig) = &r.signature {
            signed_any = true;
            if let Some(keys) = keys {
                let key = r.fingerprint.as_deref().and_then(|fp| keys.get(fp, None));
                let ok = key.is_some_and(|k| hex::decode(sig).is_ok_and(|s| k.verifies(r.chain.as_bytes(), &s)));
                if !ok {
                    signature_problems.push(match key {
                        None => format!(
                            "commit {version} is signed by key {}, not a key given",
                            r.fingerprint.as_deref().unwrap_or("?")
                        ),
                        Some(_) => format!("commit {version}: the signature does not verify"),
                    });
                }
            }
        } else if keys.is_some() {
            signature_problems.push(format!("commit {version} is not signed"));
        }
        previous = Some((version, r.chain.clone()));
    }
    v.head = previous.as_ref().map(|p| p.1.clone());
    let last_recorded = previous.as_ref().map(|p| p.0).unwrap_or(-1);
    v.unsealed_commits = log.keys().copied().filter(|&k| k > last_recorded).collect();
    v.signature = match (keys, signed_any, signature_problems.first()) {
        (_, _, Some(p)) => format!("INVALID: {p}"),
        (Some(_), true, None) => "valid".into(),
        (None, true, None) => "not checked (give --public-key)".into(),
        (_, false, None) => "not signed".into(),
    };
    // Every live file, re-hashed.
    v.live_files = live.len();
    let checks: Vec<(String, Option<Option<String>>, Option<String>)> = futures::stream::iter(live.keys().cloned())
        .map(|path| {
            let want = expected.get(&path).cloned();
            let store = Arc::clone(&store);
            async move {
                let got = hash_file(&store, &path).await;
                (path, want, got)
            }
        })
        .buffered(8)
        .collect()
        .await;
    for (path, want, got) in checks {
        match (want, got) {
            (_, None) => v.missing_files.push(path),
            // No record, or recorded when the file was already gone: nothing to compare with.
            (None | Some(None), Some(_)) => v.unrecorded_files.push(path),
            (Some(Some(w)), Some(g)) if w == g => v.files_verified += 1,
            (Some(_), Some(_)) => v.changed_files.push(path),
        }
    }
    // Data files nobody added.
    let data: Vec<ObjectPath> = store
        .list(None)
        .try_filter_map(|m| async move {
            let s = m.location.to_string();
            Ok((!s.starts_with("_delta_log") && s.ends_with(".parquet")).then_some(m.location))
        })
        .try_collect()
        .await?;
    let added_decoded: HashSet<String> =
        ever_added.iter().filter_map(|p| ObjectPath::from_url_path(p).ok().map(|p| p.to_string())).collect();
    for p in data {
        if !added_decoded.contains(p.as_ref()) {
            v.unknown_files.push(p.to_string());
        }
    }
    Ok(v)
}
