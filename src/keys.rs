//! RSA keys for tamper evidence: the one place traillake signs and verifies.
//!
//! Everything AWS signs in CloudTrail (digest files, Lake query results) is RSASSA-PKCS1-v1_5
//! with SHA-256 ("SHA256withRSA") over a text the caller builds; a key is named by its
//! *fingerprint*. AWS hands out public keys as `ListPublicKeys` prints them — base64 DER
//! PKCS#1 plus a `Fingerprint` — and does not say how the fingerprint is derived, so a key
//! file given without one gets the hex MD5 of its DER PKCS#1 bytes (our `keys generate`,
//! `generate --digests` and the signed results use the same convention).
//!
//! The cryptography is aws-lc-rs's (already in the tree through rustls and the AWS SDK):
//! key generation, PKCS#8/PKCS#1/X.509 parsing, signing and verification. What is here is
//! file handling: PEM armour, key lists, fingerprints.

use std::path::{Path, PathBuf};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize, PublicKey as RsaPublicKey};
use aws_lc_rs::signature::{KeyPair as _, ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use md5::Digest as _;
use serde::{Deserialize, Serialize};

/// The signature algorithm's name as CloudTrail writes it.
pub const SIGNATURE_ALGORITHM: &str = "SHA256withRSA";
/// The hash algorithm's name as CloudTrail writes it.
pub const HASH_ALGORITHM: &str = "SHA-256";

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read key file {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("{path} holds no RSA key traillake can use: {reason}")]
    Format { path: String, reason: String },
    #[error("cannot write {path}: {reason}")]
    Write { path: String, reason: String },
    #[error("RSA operation failed: {0}")]
    Crypto(String),
}

/// Hex SHA-256 of `bytes` (aws-lc's assembly: it hashes every log file `--validate` reads).
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes))
}

/// SHA-256 computed piece by piece, for content that arrives in chunks.
pub struct Sha256Stream(aws_lc_rs::digest::Context);

impl Default for Sha256Stream {
    fn default() -> Self {
        Self(aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256))
    }
}

impl Sha256Stream {
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// The hex digest.
    pub fn finish(self) -> String {
        hex::encode(self.0.finish())
    }
}

/// The fingerprint given to a key that comes without one: hex MD5 of its DER PKCS#1 bytes.
pub fn fingerprint_of(pkcs1_der: &[u8]) -> String {
    hex::encode(md5::Md5::digest(pkcs1_der))
}

/// A private key that signs: loaded from a file the user keeps, or freshly generated.
pub struct SigningKey {
    pair: KeyPair,
    fingerprint: String,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({})", self.fingerprint)
    }
}

impl SigningKey {
    /// A new RSA 2048 key.
    pub fn generate() -> Result<Self, KeyError> {
        let pair = KeyPair::generate(KeySize::Rsa2048).map_err(|e| KeyError::Crypto(e.to_string()))?;
        Ok(Self::from_pair(pair))
    }

    fn from_pair(pair: KeyPair) -> Self {
        let fingerprint = fingerprint_of(pair.public_key().as_ref());
        Self { pair, fingerprint }
    }

    /// Reads a private key: PEM `PRIVATE KEY` (PKCS#8, what `openssl genpkey` writes) or
    /// `RSA PRIVATE KEY` (PKCS#1), or the same as DER.
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        let bytes = read(path)?;
        let fail = |reason: String| KeyError::Format { path: path.display().to_string(), reason };
        let ders = match pem_blocks(&bytes) {
            Some(blocks) => blocks.into_iter().filter(|(label, _)| label.contains("PRIVATE KEY")).collect(),
            None => vec![(String::new(), bytes)],
        };
        let Some((label, der)) = ders.into_iter().next() else {
            return Err(fail("no PRIVATE KEY block (a public key cannot sign)".into()));
        };
        if label.contains("ENCRYPTED") {
            return Err(fail("the key is encrypted; decrypt it first (`openssl pkey -in KEY -out PLAIN`)".into()));
        }
        let pair = private_pair(&der).map_err(|e| fail(format!("not an RSA private key in PKCS#8 or PKCS#1 ({e})")))?;
        Ok(Self::from_pair(pair))
    }

    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey::new(self.pair.public_key().as_ref().to_vec(), self.fingerprint.clone())
    }

    /// SHA256withRSA signature of `message`.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let mut sig = vec![0u8; self.pair.public_modulus_len()];
        self.pair
            .sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), message, &mut sig)
            .map_err(|e| KeyError::Crypto(e.to_string()))?;
        Ok(sig)
    }

    /// Writes `private.pem` (PKCS#8), `public.pem` (X.509 SubjectPublicKeyInfo, what OpenSSL
    /// reads), `public.der` (PKCS#1, what `ListPublicKeys` returns) and `public-keys.json`
    /// (the `list-public-keys` shape) into `dir`; the private key is readable by its owner only.
    pub fn save(&self, dir: &Path) -> Result<SavedKeys, KeyError> {
        let write_err =
            |p: &Path, e: std::io::Error| KeyError::Write { path: p.display().to_string(), reason: e.to_string() };
        std::fs::create_dir_all(dir).map_err(|e| write_err(dir, e))?;
        let crypto = |e: aws_lc_rs::error::Unspecified| KeyError::Crypto(e.to_string());
        let pkcs8 = self.pair.as_der().map_err(crypto)?;
        let public = self.public_key();
        let spki = RsaPublicKey::from_der(&public.pkcs1_der)
            .map_err(|e| KeyError::Crypto(e.to_string()))?
            .as_der()
            .map_err(crypto)?;
        let saved = SavedKeys {
            private_pem: dir.join("private.pem"),
            public_pem: dir.join("public.pem"),
            public_der: dir.join("public.der"),
            public_keys_json: dir.join("public-keys.json"),
            fingerprint: self.fingerprint.clone(),
        };
        write_private(&saved.private_pem, pem("PRIVATE KEY", pkcs8.as_ref()).as_bytes())
            .map_err(|e| write_err(&saved.private_pem, e))?;
        std::fs::write(&saved.public_pem, pem("PUBLIC KEY", spki.as_ref()))
            .map_err(|e| write_err(&saved.public_pem, e))?;
        std::fs::write(&saved.public_der, &public.pkcs1_der).map_err(|e| write_err(&saved.public_der, e))?;
        let list = PublicKeyList { public_key_list: vec![public.listed(Utc::now())] };
        let json = serde_json::to_string_pretty(&list).map_err(|e| KeyError::Crypto(e.to_string()))?;
        std::fs::write(&saved.public_keys_json, json + "\n").map_err(|e| write_err(&saved.public_keys_json, e))?;
        Ok(saved)
    }
}

/// Where [`SigningKey::save`] put each file.
#[derive(Debug, Clone)]
pub struct SavedKeys {
    pub private_pem: PathBuf,
    pub public_pem: PathBuf,
    pub public_der: PathBuf,
    pub public_keys_json: PathBuf,
    pub fingerprint: String,
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    f.write_all(bytes)
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

/// A public key that verifies, with the fingerprint it is known by and, when the key list
/// said so, the time it was in use.
#[derive(Clone)]
pub struct PublicKey {
    pkcs1_der: Vec<u8>,
    /// Parsed once: thousands of digests are checked with one key.
    parsed: Option<ParsedPublicKey>,
    pub fingerprint: String,
    pub valid_from: Option<DateTime<Utc>>,
    pub valid_to: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({})", self.fingerprint)
    }
}

impl PublicKey {
    fn new(pkcs1_der: Vec<u8>, fingerprint: String) -> Self {
        let parsed = ParsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &pkcs1_der).ok();
        Self { pkcs1_der, parsed, fingerprint, valid_from: None, valid_to: None }
    }

    /// Whether `signature` is this key's SHA256withRSA signature of `message`.
    pub fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        self.parsed.as_ref().is_some_and(|k| k.verify_sig(message, signature).is_ok())
    }

    fn listed(&self, from: DateTime<Utc>) -> ListedKey {
        ListedKey {
            value: base64::engine::general_purpose::STANDARD.encode(&self.pkcs1_der),
            validity_start_time: Some(from),
            validity_end_time: None,
            fingerprint: Some(self.fingerprint.clone()),
        }
    }
}

/// `aws cloudtrail list-public-keys` output.
#[derive(Debug, Serialize, Deserialize)]
struct PublicKeyList {
    #[serde(rename = "PublicKeyList")]
    public_key_list: Vec<ListedKey>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListedKey {
    value: String,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "lenient_time")]
    validity_start_time: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "lenient_time")]
    validity_end_time: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fingerprint: Option<String>,
}

/// Key times as the AWS CLI prints them (ISO 8601 with an offset) or as the API's JSON has
/// them (epoch seconds).
mod lenient_time {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_str(&t.to_rfc3339_opts(chrono::SecondsFormat::Secs, false)),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        Ok(match Option::<serde_json::Value>::deserialize(d)? {
            Some(serde_json::Value::String(s)) => DateTime::parse_from_rfc3339(&s).ok().map(|t| t.with_timezone(&Utc)),
            Some(serde_json::Value::Number(n)) => n.as_f64().and_then(|f| DateTime::from_timestamp(f as i64, 0)),
            _ => None,
        })
    }
}

/// Every public key given, found by fingerprint.
#[derive(Debug, Clone, Default)]
pub struct PublicKeys {
    keys: Vec<PublicKey>,
}

impl PublicKeys {
    /// Reads each path: a `list-public-keys` JSON file, a PEM (`PUBLIC KEY`, `RSA PUBLIC KEY`,
    /// or a private key, whose public half is taken) or DER key file, or a folder of such files.
    pub fn load(paths: &[PathBuf]) -> Result<Self, KeyError> {
        let mut keys = PublicKeys::default();
        for p in paths {
            if p.is_dir() {
                let mut entries: Vec<PathBuf> = std::fs::read_dir(p)
                    .map_err(|e| KeyError::Read { path: p.display().to_string(), reason: e.to_string() })?
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|f| f.is_file())
                    .collect();
                entries.sort();
                // In a folder, files that are not keys (a README) are passed over.
                for f in entries {
                    if let Ok(found) = Self::load_file(&f) {
                        keys.keys.extend(found);
                    }
                }
            } else {
                keys.keys.extend(Self::load_file(p)?);
            }
        }
        Ok(keys)
    }

    fn load_file(path: &Path) -> Result<Vec<PublicKey>, KeyError> {
        let bytes = read(path)?;
        let fail = |reason: String| KeyError::Format { path: path.display().to_string(), reason };
        let text = std::str::from_utf8(&bytes).unwrap_or("");
        if text.trim_start().starts_with('{') {
            let list: PublicKeyList = serde_json::from_str(text)
                .map_err(|e| fail(format!("not `aws cloudtrail list-public-keys` output ({e})")))?;
            return list
                .public_key_list
                .into_iter()
                .map(|k| {
                    let der = base64::engine::general_purpose::STANDARD
                        .decode(k.value.trim())
                        .map_err(|e| fail(format!("a Value is not base64 ({e})")))?;
                    let mut key = public_from_der(&der).map_err(&fail)?;
                    if let Some(f) = k.fingerprint {
                        key.fingerprint = f.to_ascii_lowercase();
                    }
                    key.valid_from = k.validity_start_time;
                    key.valid_to = k.validity_end_time;
                    Ok(key)
                })
                .collect();
        }
        match pem_blocks(&bytes) {
            Some(blocks) => {
                let mut out = Vec::new();
                for (label, der) in blocks {
                    if label.contains("PRIVATE KEY") {
                        out.push(Self::private_to_public(path, &der)?);
                    } else if label.contains("PUBLIC KEY") {
                        out.push(public_from_der(&der).map_err(&fail)?);
                    }
                }
                if out.is_empty() {
                    return Err(fail("no PUBLIC KEY block".into()));
                }
                Ok(out)
            }
            None => Ok(vec![public_from_der(&bytes).map_err(fail)?]),
        }
    }

    fn private_to_public(path: &Path, der: &[u8]) -> Result<PublicKey, KeyError> {
        let pair = private_pair(der).map_err(|e| KeyError::Format {
            path: path.display().to_string(),
            reason: format!("not an RSA private key ({e})"),
        })?;
        Ok(SigningKey::from_pair(pair).public_key())
    }

    /// The key known by `fingerprint` (case-insensitive), preferring one valid at `at`.
    pub fn get(&self, fingerprint: &str, at: Option<DateTime<Utc>>) -> Option<&PublicKey> {
        let matching = || self.keys.iter().filter(|k| k.fingerprint.eq_ignore_ascii_case(fingerprint));
        let in_use = |k: &&PublicKey| {
            at.is_none_or(|t| k.valid_from.is_none_or(|f| f <= t) && k.valid_to.is_none_or(|e| t <= e))
        };
        matching().find(in_use).or_else(|| matching().next())
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }
}

/// An RSA private key from DER PKCS#8 or PKCS#1 `RSAPrivateKey`.
fn private_pair(der: &[u8]) -> Result<KeyPair, aws_lc_rs::error::KeyRejected> {
    KeyPair::from_pkcs8(der).or_else(|_| KeyPair::from_der(der))
}

/// A public key from DER PKCS#1 `RSAPublicKey` or X.509 `SubjectPublicKeyInfo`.
fn public_from_der(der: &[u8]) -> Result<PublicKey, String> {
    let key = RsaPublicKey::from_der(der).map_err(|e| format!("not an RSA public key in DER ({e})"))?;
    let pkcs1_der = key.as_ref().to_vec();
    Ok(PublicKey::new(pkcs1_der.clone(), fingerprint_of(&pkcs1_der)))
}

fn read(path: &Path) -> Result<Vec<u8>, KeyError> {
    std::fs::read(path).map_err(|e| KeyError::Read { path: path.display().to_string(), reason: e.to_string() })
}

/// PEM armour around `der`, 64 characters a line (RFC 7468).
fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// The `(label, DER)` blocks of a PEM file, or `None` when `bytes` is not PEM at all.
fn pem_blocks(bytes: &[u8]) -> Option<Vec<(String, Vec<u8>)>> {
    let text = std::str::from_utf8(bytes).ok()?;
    if !text.contains("-----BEGIN ") {
        return None;
    }
    let mut out = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in text.lines().map(str::trim) {
        if let Some(label) = line.strip_prefix("-----BEGIN ").and_then(|l| l.strip_suffix("-----")) {
            current = Some((label.to_string(), String::new()));
        } else if line.starts_with("-----END ") {
            if let Some((label, body)) = current.take() {
                out.push((label, base64::engine::general_purpose::STANDARD.decode(body).ok()?));
            }
        } else if let Some((_, body)) = current.as_mut() {
            // Headers of old-style encrypted PEM (`Proc-Type:`) are not base64.
            if !line.contains(':') {
                body.push_str(line);
            } else if line.starts_with("Proc-Type") {
                body.clear();
                current = current.map(|(l, b)| (format!("ENCRYPTED {l}"), b));
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_signs_and_its_saved_public_forms_verify() {
        let dir = tempfile::tempdir().expect("tmp");
        let key = SigningKey::generate().expect("generate");
        let saved = key.save(dir.path()).expect("save");
        let sig = key.sign(b"hello").expect("sign");
        for file in [&saved.public_pem, &saved.public_der, &saved.public_keys_json, &saved.private_pem] {
            let keys = PublicKeys::load(std::slice::from_ref(file)).expect("load");
            let k = keys.get(key.fingerprint(), None).expect("found by fingerprint");
            assert!(k.verifies(b"hello", &sig), "{}", file.display());
            assert!(!k.verifies(b"hellO", &sig), "{}", file.display());
        }
        let again = SigningKey::load(&saved.private_pem).expect("reload");
        assert_eq!(again.fingerprint(), key.fingerprint());
        // A folder of keys loads every key in it.
        assert_eq!(PublicKeys::load(&[dir.path().to_path_buf()]).expect("dir").len(), 4);
    }

    #[test]
    fn a_public_key_cannot_sign_and_garbage_is_named() {
        let dir = tempfile::tempdir().expect("tmp");
        let saved = SigningKey::generate().expect("generate").save(dir.path()).expect("save");
        let e = SigningKey::load(&saved.public_pem).expect_err("public key");
        assert!(e.to_string().contains("public key cannot sign"), "{e}");
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not a key").expect("write");
        let e = PublicKeys::load(&[junk]).expect_err("junk");
        assert!(e.to_string().contains("junk.pem"), "{e}");
    }

    #[test]
    fn list_public_keys_output_keeps_aws_fingerprints_and_validity() {
        let key = SigningKey::generate().expect("generate");
        let der = base64::engine::general_purpose::STANDARD.encode(&key.public_key().pkcs1_der);
        let dir = tempfile::tempdir().expect("tmp");
        let f = dir.path().join("keys.json");
        // As `aws cloudtrail list-public-keys` prints it: times with offsets, AWS's fingerprint.
        std::fs::write(&f, format!(r#"{{"PublicKeyList":[{{"Value":"{der}","ValidityStartTime":"2025-01-01T00:00:00+00:00","ValidityEndTime":"2025-02-01T00:00:00+00:00","Fingerprint":"ABCDEF"}}]}}"#)).expect("write");
        let keys = PublicKeys::load(&[f]).expect("load");
        let k = keys.get("abcdef", None).expect("by AWS's fingerprint");
        assert!(k.valid_to.is_some());
        assert!(keys.get(key.fingerprint(), None).is_none());
    }
}
