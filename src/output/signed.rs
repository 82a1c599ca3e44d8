//! Query results saved and signed as CloudTrail Lake delivers them: `result_1.csv.gz`,
//! `result_2.csv.gz`, … and `result_sign.json` — the SHA-256 of each *compressed* file, and an
//! RSA signature (SHA256withRSA) over those hashes joined by single spaces, in `files` order.
//! `verify` is `aws cloudtrail verify-query-results --local-export-path` for such a folder.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use futures::TryStreamExt;
use serde::{Deserialize, Serialize};

use super::{Format, Sink};
use crate::engine::{Engine, QueryStats};
use crate::error::Error;
use crate::keys::{self, PublicKeys, SigningKey};

/// The signature file's name, as Lake writes it.
pub const SIGN_FILE: &str = "result_sign.json";
/// Default size at which a result file is closed and the next begun (uncompressed CSV bytes).
pub const DEFAULT_MAX_FILE_BYTES: u64 = 1 << 30;

/// `result_sign.json`, field for field.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignFile {
    pub version: String,
    pub region: String,
    pub files: Vec<SignedFile>,
    pub hash_algorithm: String,
    pub signature_algorithm: String,
    pub query_complete_time: String,
    /// Hex; null when the results were saved without a signing key.
    pub hash_signature: Option<String>,
    pub public_key_fingerprint: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignedFile {
    pub file_hash_value: String,
    pub file_name: String,
}

impl SignFile {
    /// What `hashSignature` signs: the file hashes joined by single spaces.
    pub fn signing_string(&self) -> String {
        self.files.iter().map(|f| f.file_hash_value.as_str()).collect::<Vec<_>>().join(" ")
    }
}

/// What saving wrote.
#[derive(Debug)]
pub struct Saved {
    pub files: Vec<PathBuf>,
    pub sign_file: PathBuf,
    pub signed: bool,
    pub stats: QueryStats,
}

/// The file being written: CSV through gzip, counting the CSV bytes.
struct Counting<W> {
    inner: W,
    /// Shared with the loop that decides when the file is full (the CSV writer owns `self`).
    bytes: Arc<AtomicU64>,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

type GzFile = flate2::write::GzEncoder<std::io::BufWriter<std::fs::File>>;

/// Runs `sql` and saves its result as CSV gzip files in `dir` (each with a header row, closed
/// at a row boundary once `max_file_bytes` of CSV are in it), then `result_sign.json`, signed
/// with `key` if one is given.
pub async fn save(
    engine: &Engine,
    sql: &str,
    dir: &Path,
    key: Option<&SigningKey>,
    max_file_bytes: u64,
) -> Result<Saved, Error> {
    std::fs::create_dir_all(dir).map_err(|e| Error::Usage(format!("cannot create {}: {e}", dir.display())))?;
    if std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some()) {
        return Err(Error::Usage(format!(
            "{} is not empty: results go to a folder of their own, so that no file there is left from another query",
            dir.display()
        )));
    }
    let query = engine.plan(sql).await?;
    let mut stream = query.execute().await?;
    let schema = stream.schema();
    let mut files: Vec<PathBuf> = Vec::new();
    let mut current: Option<Sink<Counting<GzFile>>> = None;
    let written = Arc::new(AtomicU64::new(0));
    let open = |n: usize| -> Result<(PathBuf, Sink<Counting<GzFile>>), Error> {
        let path = dir.join(format!("result_{n}.csv.gz"));
        let f =
            std::fs::File::create(&path).map_err(|e| Error::Usage(format!("cannot write {}: {e}", path.display())))?;
        let gz = flate2::write::GzEncoder::new(std::io::BufWriter::new(f), flate2::Compression::default());
        written.store(0, Ordering::Relaxed);
        Ok((path, Sink::new(Format::Csv, Counting { inner: gz, bytes: Arc::clone(&written) }, &schema)?))
    };
    let close = |sink: Sink<Counting<GzFile>>| -> Result<(), Error> {
        let counting = sink.finish(None)?;
        counting.inner.finish()?.flush()?;
        Ok(())
    };
    while let Some(batch) = stream.try_next().await? {
        // Slices keep a file near its limit however large the engine's batches are.
        let mut offset = 0;
        while offset < batch.num_rows() {
            let take = (batch.num_rows() - offset).min(1024);
            if current.is_none() {
                let (path, sink) = open(files.len() + 1)?;
                files.push(path);
                current = Some(sink);
            }
            if let Some(sink) = current.as_mut() {
                sink.write(&batch.slice(offset, take))?;
                if written.load(Ordering::Relaxed) >= max_file_bytes {
                    if let Some(full) = current.take() {
                        close(full)?;
                    }
                }
            }
            offset += take;
        }
    }
    if current.is_none() && files.is_empty() {
        // No rows: one file with the header, as an empty result still has columns.
        let (path, sink) = open(1)?;
        files.push(path);
        current = Some(sink);
    }
    if let Some(sink) = current.take() {
        close(sink)?;
    }
    let stats = stream.stats();
    let mut sign = SignFile {
        version: "1.0".into(),
        region: crate::store::catalog::LOCAL_REGION.into(),
        files: Vec::new(),
        hash_algorithm: keys::HASH_ALGORITHM.into(),
        signature_algorithm: keys::SIGNATURE_ALGORITHM.into(),
        query_complete_time: chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        hash_signature: None,
        public_key_fingerprint: None,
    };
    for f in &files {
        let bytes = std::fs::read(f)?;
        let name = f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        sign.files.push(SignedFile { file_hash_value: keys::sha256_hex(&bytes), file_name: name });
    }
    if let Some(key) = key {
        sign.hash_signature = Some(hex::encode(key.sign(sign.signing_string().as_bytes())?));
        sign.public_key_fingerprint = Some(key.fingerprint().to_string());
    }
    let sign_file = dir.join(SIGN_FILE);
    let json = serde_json::to_string_pretty(&sign).map_err(|e| Error::Internal(e.to_string()))?;
    std::fs::write(&sign_file, json + "\n")?;
    Ok(Saved { files, sign_file, signed: key.is_some(), stats })
}

/// One file's verdict.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FileCheck {
    pub file_name: String,
    /// `valid`, `invalid` (hash differs), `missing`, or `extra` (in the folder, not signed).
    pub status: &'static str,
}

/// What `verify-query-results` found.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Verification {
    pub files: Vec<FileCheck>,
    /// `valid`, `invalid`, `not signed`, or `public key not available`.
    pub signature: &'static str,
}

impl Verification {
    pub fn is_valid(&self) -> bool {
        self.signature == "valid" && self.files.iter().all(|f| f.status == "valid")
    }

    pub fn text(&self) -> String {
        let mut out = String::new();
        for f in &self.files {
            let verdict = match f.status {
                "valid" => "valid".to_string(),
                "extra" => "INVALID: not listed in result_sign.json".to_string(),
                "missing" => "INVALID: not found".to_string(),
                _ => "INVALID: hash value doesn't match".to_string(),
            };
            out.push_str(&format!("{}\t{verdict}\n", f.file_name));
        }
        out.push_str(&format!("{SIGN_FILE}\tsignature: {}\n", self.signature));
        let valid = self.files.iter().filter(|f| f.status == "valid").count();
        out.push_str(&format!("{valid}/{} result files valid\n", self.files.len()));
        out
    }
}

/// Checks a folder of saved results against its `result_sign.json`.
pub fn verify(dir: &Path, keys: &PublicKeys) -> Result<Verification, Error> {
    let sign_path = dir.join(SIGN_FILE);
    let text = std::fs::read_to_string(&sign_path)
        .map_err(|e| Error::Usage(format!("cannot read {}: {e}", sign_path.display())))?;
    let sign: SignFile = serde_json::from_str(&text)
        .map_err(|e| Error::Usage(format!("{} is not a result signing file: {e}", sign_path.display())))?;
    let mut files = Vec::new();
    for f in &sign.files {
        // A name with a path in it would check a file outside the folder.
        let plain = Path::new(&f.file_name).file_name().is_some_and(|n| n == f.file_name.as_str());
        let status = match std::fs::read(dir.join(&f.file_name)) {
            Ok(bytes) if plain && keys::sha256_hex(&bytes).eq_ignore_ascii_case(&f.file_hash_value) => "valid",
            Ok(_) => "invalid",
            Err(_) => "missing",
        };
        files.push(FileCheck { file_name: f.file_name.clone(), status });
    }
    let mut present: Vec<String> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|n| n.starts_with("result_") && n.ends_with(".csv.gz"))
        .collect();
    present.sort();
    for n in present {
        if !sign.files.iter().any(|f| f.file_name == n) {
            files.push(FileCheck { file_name: n, status: "extra" });
        }
    }
    let signature = match (&sign.hash_signature, &sign.public_key_fingerprint) {
        (None, _) | (_, None) => "not signed",
        (Some(sig), Some(fp)) => match keys.get(fp, None) {
            None => "public key not available",
            Some(k) => match hex::decode(sig.trim()) {
                Ok(sig) if k.verifies(sign.signing_string().as_bytes(), &sig) => "valid",
                _ => "invalid",
            },
        },
    };
    Ok(Verification { files, signature })
}
