//! Finding the source objects named on the command line: files, folders (recursively) and
//! `s3://bucket/prefix` listings, each with the key the idempotency ledger remembers it by.

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};
use url::Url;

use super::{gunzip, IngestError};

/// One object to ingest.
#[derive(Debug, Clone)]
pub struct SourceObject {
    /// Ledger key: canonical URI plus size, so a grown or rewritten file is read again.
    pub key: String,
    /// What users see in messages.
    pub display: String,
    pub size: u64,
    pub location: SourceLocation,
    /// A CloudTrail digest file by its key layout (`CloudTrail-Digest/`): not read.
    pub digest_by_path: bool,
    /// When it was last written, if the listing says.
    pub modified: Option<std::time::SystemTime>,
}

#[derive(Debug, Clone)]
pub enum SourceLocation {
    Local(PathBuf),
    S3 { store: Arc<dyn ObjectStore>, path: ObjectPath },
}

/// Result of expanding the command-line sources.
#[derive(Debug, Default)]
pub struct Listing {
    pub objects: Vec<SourceObject>,
    /// Files inside folders skipped because their names are not trail-file names.
    pub ignored: Vec<String>,
}

/// File names read when walking folders (explicitly named files are always read).
fn looks_like_trail_file(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    !n.starts_with('.')
        && [".json", ".json.gz", ".gz", ".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz", ".log", ".log.gz"]
            .iter()
            .any(|ext| n.ends_with(ext))
}

/// The kind of records a file holds by where AWS delivers it in an `AWSLogs/` tree
/// (`CloudTrail/`, `CloudTrail-Insight/`, `Config/`); `None` outside that layout.
pub fn kind_by_path(p: &str) -> Option<crate::schema::Kind> {
    use crate::schema::Kind;
    if !p.contains("AWSLogs/") {
        return None;
    }
    [("/CloudTrail/", Kind::Cloudtrail), ("/CloudTrail-Insight/", Kind::Insights), ("/Config/", Kind::Config)]
        .into_iter()
        .find(|(folder, _)| p.contains(folder))
        .map(|(_, k)| k)
}

fn is_digest_path(p: &str) -> bool {
    p.contains("/CloudTrail-Digest/") || p.contains("_CloudTrail-Digest_")
}

/// A digest's signature kept beside it (`<digest>.json.gz.sig`, see `digests`): part of the
/// trail, not a stray file to mention.
fn is_signature_sidecar(name: &str, path: &str) -> bool {
    name.ends_with(".sig") && is_digest_path(path)
}

/// Lists `specs`. With `empty_ok` an `s3://` prefix holding nothing (yet) lists nothing
/// rather than failing: a follower watches day folders before CloudTrail writes to them.
pub async fn list(specs: &[String], empty_ok: bool) -> Result<Listing, IngestError> {
    let mut listing = Listing::default();
    for spec in specs {
        if spec.starts_with("s3://") || spec.starts_with("s3a://") {
            list_s3(spec, empty_ok, &mut listing).await?;
        } else {
            list_local(Path::new(spec), true, &mut listing)?;
        }
    }
    listing.objects.sort_by(|a, b| a.key.cmp(&b.key));
    listing.objects.dedup_by(|a, b| a.key == b.key);
    // Read in delivery order, not key order: the `AWSLogs/...` layout lists each account and
    // Region through every day in turn, so in key order every commit would hold a slice of
    // every day, and each day would end up in as many small files as there were commits.
    // By delivery time a commit holds a few whole days, and a day lands in one or two files.
    listing.objects.sort_by_cached_key(|o| delivery_time(&o.key));
    Ok(listing)
}

/// When CloudTrail delivered a trail file, from its key, as `YYYYMMDDTHHMMZ`: the stamp in
/// its name (`111122223333_CloudTrail_us-east-1_20250306T0320Z_x.json.gz`), else the start of
/// the day of the `AWSLogs/.../YYYY/MM/DD/` folders it sits in. Keys with neither give `None`
/// and are read first, in key order.
fn delivery_time(key: &str) -> Option<String> {
    let name = key.rsplit('/').next().unwrap_or(key);
    let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    let stamp = |s: &&str| {
        let b = s.as_bytes();
        b.len() == 14 && b[8] == b'T' && b[13] == b'Z' && digits(&b[..8]) && digits(&b[9..13])
    };
    if let Some(t) = name.split('_').find(stamp) {
        return Some(t.to_string());
    }
    // `.../YYYY/MM/DD/name`: the three folders above the name.
    let mut folders = key.rsplitn(5, '/').skip(1);
    let (d, m, y) = (folders.next()?, folders.next()?, folders.next()?);
    let is = |s: &str, n: usize| s.len() == n && digits(s.as_bytes());
    (is(y, 4) && is(m, 2) && is(d, 2)).then(|| format!("{y}{m}{d}T0000Z"))
}

fn list_local(path: &Path, explicit: bool, out: &mut Listing) -> Result<(), IngestError> {
    let abs = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    walk_local(path, &abs, explicit, out)
}

/// Lists `path` (canonical: `abs`). Entries below a folder are named by joining their name to
/// the folder's canonical path: resolving each file's path anew costs a system call per path
/// component, and most of the listing's time, for thousands of trail files. Symbolic links
/// are resolved, so a file has one ledger key however it is reached.
fn walk_local(path: &Path, abs: &Path, explicit: bool, out: &mut Listing) -> Result<(), IngestError> {
    let meta = std::fs::metadata(path)
        .map_err(|e| IngestError::Source { source_name: path.display().to_string(), reason: e.to_string() })?;
    if meta.is_dir() {
        let mut entries: Vec<(PathBuf, PathBuf)> = std::fs::read_dir(path)
            .map_err(|e| IngestError::Source { source_name: path.display().to_string(), reason: e.to_string() })?
            .filter_map(|e| e.ok())
            .map(|e| {
                let p = e.path();
                let a = match e.file_type() {
                    Ok(t) if !t.is_symlink() => abs.join(e.file_name()),
                    _ => p.canonicalize().unwrap_or_else(|_| p.clone()),
                };
                (p, a)
            })
            .collect();
        entries.sort();
        for (p, a) in entries {
            walk_local(&p, &a, false, out)?;
        }
        return Ok(());
    }
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    if !explicit && !looks_like_trail_file(&name) {
        if !is_signature_sidecar(&name, &path.to_string_lossy()) {
            out.ignored.push(path.display().to_string());
        }
        return Ok(());
    }
    let uri = Url::from_file_path(abs).map(|u| u.to_string()).unwrap_or_else(|_| abs.display().to_string());
    let display = path.display().to_string();
    out.objects.push(SourceObject {
        key: format!("{uri}#{}", meta.len()),
        digest_by_path: is_digest_path(&uri),
        display,
        size: meta.len(),
        location: SourceLocation::Local(abs.to_path_buf()),
        modified: meta.modified().ok(),
    });
    Ok(())
}

async fn list_s3(spec: &str, empty_ok: bool, out: &mut Listing) -> Result<(), IngestError> {
    let url = Url::parse(spec).map_err(|e| IngestError::Source { source_name: spec.into(), reason: e.to_string() })?;
    let bucket = url.host_str().unwrap_or_default().to_string();
    let (store, _) = crate::s3::object_store_for(&url)
        .map_err(|e| IngestError::Source { source_name: spec.into(), reason: e.to_string() })?;
    let prefix = url.path().trim_start_matches('/');
    let prefix_path = (!prefix.is_empty()).then(|| ObjectPath::from(prefix));
    let metas: Vec<_> = store
        .list(prefix_path.as_ref())
        .try_collect()
        .await
        .map_err(|e| IngestError::Source { source_name: spec.into(), reason: e.to_string() })?;
    let mut found = false;
    for m in metas {
        let key = m.location.to_string();
        // A prefix lists everything below it; an exact key names one object.
        if !(key == prefix || prefix.is_empty() || prefix.ends_with('/') || key.starts_with(&format!("{prefix}/"))) {
            continue;
        }
        found = true;
        let name = m.location.filename().unwrap_or_default().to_string();
        if key != prefix && !looks_like_trail_file(&name) {
            if !is_signature_sidecar(&name, &key) {
                out.ignored.push(format!("s3://{bucket}/{key}"));
            }
            continue;
        }
        let uri = format!("s3://{bucket}/{key}");
        out.objects.push(SourceObject {
            key: format!("{uri}#{}", m.size),
            digest_by_path: is_digest_path(&uri),
            display: uri,
            size: m.size,
            location: SourceLocation::S3 { store: Arc::clone(&store), path: m.location },
            modified: Some(m.last_modified.into()),
        });
    }
    if !found && !empty_ok {
        return Err(IngestError::Source { source_name: spec.into(), reason: "no objects under this prefix".into() });
    }
    Ok(())
}

/// The source's bytes, fetched whole for S3 objects (CloudTrail objects are at most 50 MB
/// before compression) and streamed from disk for local files.
pub enum Fetched {
    Local(PathBuf),
    Memory(Bytes),
}

impl SourceObject {
    pub async fn fetch(&self) -> io::Result<Fetched> {
        match &self.location {
            SourceLocation::Local(p) => Ok(Fetched::Local(p.clone())),
            SourceLocation::S3 { store, path } => {
                let r = store.get(path).await.map_err(io::Error::other)?;
                Ok(Fetched::Memory(r.bytes().await.map_err(io::Error::other)?))
            }
        }
    }
}

/// A source's decompressed content.
pub enum Decoded {
    /// All of it, in memory.
    Whole(Vec<u8>),
    /// To be read.
    Stream(Box<dyn Read + Send>),
}

impl Decoded {
    /// All of the content in memory, and the error that ended reading early, if one did (what
    /// came before the damage is kept).
    pub fn read_all(self) -> (Vec<u8>, Option<io::Error>) {
        match self {
            Decoded::Whole(data) => (data, None),
            Decoded::Stream(mut r) => {
                let mut data = Vec::new();
                let damage = r.read_to_end(&mut data).err();
                (data, damage)
            }
        }
    }

    /// All of the content, or the error that kept it from being read whole.
    pub fn read_whole(self) -> io::Result<Vec<u8>> {
        match self.read_all() {
            (data, None) => Ok(data),
            (_, Some(e)) => Err(e),
        }
    }
}

/// The decompressed content: gzip is detected by its magic bytes, not the name. Files up to
/// [`gunzip::MAX_INPUT`] are read whole, so that gzip inflates in one call.
pub fn open_decoded(fetched: Fetched) -> io::Result<Decoded> {
    let file = match fetched {
        Fetched::Memory(b) => return Ok(decoded_in_memory(b)),
        Fetched::Local(p) => std::fs::File::open(p)?,
    };
    if file.metadata()?.len() <= gunzip::MAX_INPUT {
        let mut data = Vec::new();
        (&file).read_to_end(&mut data)?;
        return Ok(decoded_in_memory(data.into()));
    }
    let mut raw: Box<dyn Read + Send> = Box::new(file);
    let mut magic = [0u8; 2];
    let mut n = 0;
    while n < 2 {
        let k = raw.read(&mut magic[n..])?;
        if k == 0 {
            break;
        }
        n += k;
    }
    let head = io::Cursor::new(magic[..n].to_vec());
    let chained = head.chain(raw);
    if n == 2 && magic == GZIP_MAGIC {
        // Multi-member aware: concatenated gzip streams (CloudWatch exports) decode whole.
        Ok(Decoded::Stream(Box::new(flate2::read::MultiGzDecoder::new(io::BufReader::with_capacity(
            256 * 1024,
            chained,
        )))))
    } else {
        Ok(Decoded::Stream(Box::new(io::BufReader::with_capacity(256 * 1024, chained))))
    }
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Content held in memory: inflated at once when it is complete gzip; streamed when the gzip
/// is damaged, so that what precedes the damage is still read.
fn decoded_in_memory(data: Bytes) -> Decoded {
    if !data.starts_with(&GZIP_MAGIC) {
        return Decoded::Whole(data.into());
    }
    match gunzip::inflate_whole(&data) {
        Some(plain) => Decoded::Whole(plain),
        None => Decoded::Stream(Box::new(flate2::read::MultiGzDecoder::new(io::Cursor::new(data)))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trail_file_names() {
        assert!(looks_like_trail_file("111_CloudTrail_us-east-1_20250306T0320Z_x.json.gz"));
        assert!(looks_like_trail_file("events.ndjson"));
        assert!(!looks_like_trail_file("LICENSE"));
        assert!(!looks_like_trail_file("SOURCES.md"));
        assert!(!looks_like_trail_file(".hidden.json"));
        assert!(is_digest_path("s3://b/AWSLogs/1/CloudTrail-Digest/us-east-1/2025/01/01/x.json.gz"));
        use crate::schema::Kind;
        assert_eq!(
            kind_by_path("/t/AWSLogs/1/CloudTrail-Insight/us-east-1/2025/01/01/x.json.gz"),
            Some(Kind::Insights)
        );
        assert_eq!(
            kind_by_path("s3://b/AWSLogs/o-1/1/CloudTrail/us-east-1/2025/01/01/x.json.gz"),
            Some(Kind::Cloudtrail)
        );
        assert_eq!(kind_by_path("/t/export/CloudTrail-Insight/x.json"), None);
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_file_has_one_ledger_key_however_it_is_reached() {
        let tmp = tempfile::tempdir().expect("tmp");
        let real = tmp.path().join("real/2025/03/06");
        std::fs::create_dir_all(&real).expect("mkdir");
        std::fs::write(real.join("a.json"), "{}").expect("write");
        std::os::unix::fs::symlink(tmp.path().join("real"), tmp.path().join("linked")).expect("symlink");
        std::fs::create_dir(tmp.path().join("other")).expect("mkdir");
        std::os::unix::fs::symlink(real.join("a.json"), tmp.path().join("other/b.json")).expect("symlink");
        let canonical = real.canonicalize().expect("canonical").join("a.json");
        let key = format!("{}#2", Url::from_file_path(&canonical).expect("url"));
        for named in ["real", "linked", "other", "real/2025/../2025/03/06/a.json", "linked/2025/03/06"] {
            let listing = list(&[tmp.path().join(named).display().to_string()], false).await.expect("list");
            let keys: Vec<&str> = listing.objects.iter().map(|o| o.key.as_str()).collect();
            assert_eq!(keys, [key.as_str()], "{named}");
            let display = &listing.objects[0].display;
            assert!(
                display.starts_with(&tmp.path().join(named).display().to_string()),
                "{display} names what was given"
            );
        }
    }

    #[test]
    fn sources_are_read_in_delivery_order() {
        let named = "s3://b/AWSLogs/o-1/111/CloudTrail/us-east-1/2025/03/06/111_CloudTrail_us-east-1_20250306T0320Z_x.json.gz#9";
        assert_eq!(delivery_time(named).as_deref(), Some("20250306T0320Z"));
        assert_eq!(delivery_time("file:///t/2025/03/07/export.json#5").as_deref(), Some("20250307T0000Z"));
        assert_eq!(delivery_time("file:///t/2025/3/07/export.json#5"), None, "not the date-folder layout");
        assert_eq!(delivery_time("file:///t/events.jsonl#5"), None);
        assert_eq!(delivery_time("a.json"), None);
        assert_eq!(delivery_time("1_CloudTrail_r_2025030XT0320Z_x.json"), None);
    }

    #[tokio::test]
    async fn accounts_and_regions_are_interleaved_by_delivery_time() {
        let dir = tempfile::tempdir().expect("tmp");
        let file = |rel: &str| {
            let p = dir.path().join(rel);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(&p, b"{}").expect("write");
        };
        file("AWSLogs/111/CloudTrail/us-east-1/2025/03/07/111_CloudTrail_us-east-1_20250307T0005Z_a.json.gz");
        file("AWSLogs/111/CloudTrail/us-east-1/2025/03/06/111_CloudTrail_us-east-1_20250306T2355Z_b.json.gz");
        file("AWSLogs/222/CloudTrail/eu-west-1/2025/03/06/222_CloudTrail_eu-west-1_20250306T1200Z_c.json.gz");
        file("notes/events.jsonl");
        file("export/2025/03/06/x.json");
        let listing = list(&[dir.path().display().to_string()], false).await.expect("list");
        let names: Vec<&str> =
            listing.objects.iter().map(|o| o.display.rsplit('/').next().unwrap_or_default()).collect();
        assert_eq!(
            names,
            [
                "events.jsonl",
                "x.json",
                "222_CloudTrail_eu-west-1_20250306T1200Z_c.json.gz",
                "111_CloudTrail_us-east-1_20250306T2355Z_b.json.gz",
                "111_CloudTrail_us-east-1_20250307T0005Z_a.json.gz",
            ]
        );
    }

    #[test]
    fn gzip_detected_by_content() {
        use std::io::Write;
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("plain-name.json");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(b"{\"Records\":[]}").expect("gz");
        let gz = enc.finish().expect("gz");
        std::fs::write(&p, &gz).expect("write");
        match open_decoded(Fetched::Local(p)).expect("open") {
            Decoded::Whole(data) => assert_eq!(data, b"{\"Records\":[]}"),
            Decoded::Stream(_) => panic!("a small complete gzip file inflates whole"),
        }
        let plain = Bytes::from_static(b"{\"Records\":[]}");
        assert!(matches!(open_decoded(Fetched::Memory(plain)), Ok(Decoded::Whole(d)) if d == b"{\"Records\":[]}"));
    }

    #[test]
    fn truncated_gzip_streams_up_to_the_damage() {
        use std::io::Write;
        let text = b"{\"eventName\":\"GetObject\"}\n".repeat(20_000);
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&text).expect("gz");
        let gz = enc.finish().expect("gz");
        let cut = Bytes::copy_from_slice(&gz[..gz.len() / 2]);
        let Ok(Decoded::Stream(mut reader)) = open_decoded(Fetched::Memory(cut)) else {
            panic!("damaged gzip is streamed");
        };
        let mut got = Vec::new();
        let err = reader.read_to_end(&mut got).expect_err("the stream ends in an error");
        assert!(!got.is_empty() && text.starts_with(&got), "what precedes the damage is read ({err})");
    }
}
