//! Tamper evidence: `validate-logs` over digest chains our generator wrote and over one built
//! independently (Python `cryptography`), each kind of tampering detected; signed query results.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::*;

fn validate(args: &[&str]) -> (Output, serde_json::Value) {
    let out = bin().arg("validate-logs").args(args).args(["--format", "json"]).output().expect("run");
    let json = serde_json::from_str(&stdout(&out)).unwrap_or(serde_json::Value::Null);
    (out, json)
}

fn files_under(dir: &Path, pred: &dyn Fn(&str) -> bool) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if pred(&p.to_string_lossy()) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn gunzip(p: &Path) -> Vec<u8> {
    let mut v = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(std::fs::File::open(p).expect("open")), &mut v)
        .expect("gunzip");
    v
}

fn gzip_to(p: &Path, data: &[u8]) {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(data).expect("gz");
    std::fs::write(p, gz.finish().expect("gz")).expect("write");
}

fn count(report: &serde_json::Value, list: &str, verdict: &str) -> usize {
    report[list].as_array().map_or(0, |a| a.iter().filter(|x| x["verdict"] == verdict).count())
}

/// Invalid entries' reasons, for assertion messages.
fn problems(report: &serde_json::Value) -> String {
    let mut s = String::new();
    for list in ["digests", "logFiles"] {
        for x in report[list].as_array().into_iter().flatten().filter(|x| x["verdict"] != "valid") {
            s.push_str(&format!("{x}\n"));
        }
    }
    s
}

/// A generated trail without digests, in `dir/trail`.
fn plain_trail(dir: &Path, events: u64, days: u32) -> PathBuf {
    let trail = dir.join("trail");
    traillake::demo::generate(&trail, &traillake::demo::GenerateOptions { events, days, ..Default::default() })
        .expect("generate");
    trail
}

fn generated_trail(dir: &Path) -> (PathBuf, PathBuf) {
    let trail = dir.join("trail");
    let opts = traillake::demo::GenerateOptions { events: 2000, days: 2, digests: true, ..Default::default() };
    let r = traillake::demo::generate(&trail, &opts).expect("generate");
    assert!(r.digests > 100, "hourly digests per account and Region");
    (trail, r.keys.expect("keys").public_keys_json)
}

#[test]
fn a_generated_trail_validates_and_every_kind_of_tampering_is_reported() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (trail, keys) = generated_trail(tmp.path());
    let t = trail.to_str().expect("utf8");
    let k = keys.to_str().expect("utf8");
    let (out, rep) = validate(&[t, "--public-key", k]);
    assert_eq!(out.status.code(), Some(0), "{}{}", problems(&rep), stderr(&out));
    let digests = rep["digests"].as_array().expect("digests").len();
    assert!(count(&rep, "logFiles", "valid") > 5);
    assert!(rep["digests"].as_array().expect("d").iter().all(|d| d["signature"] == "valid"));

    // The text report reads like the AWS CLI's (`--format text`, the issue's spelling).
    let text = bin().args(["validate-logs", t, "--public-key", k, "--format", "text"]).output().expect("run");
    assert!(stdout(&text).contains(&format!("{digests}/{digests} digest files valid")), "{}", stdout(&text));

    // Without the key, or with the wrong one: never silently valid.
    let (out, rep) = validate(&[t]);
    assert_eq!(rep["digests"][0]["signature"], "public-key-not-available");
    assert_eq!(out.status.code(), Some(0), "no check failed");
    let (out, _) = validate(&[t, "--require-signatures"]);
    assert_eq!(out.status.code(), Some(1), "--require-signatures fails without keys");
    let other = tmp.path().join("other-key");
    assert!(bin().args(["keys", "generate", "--out"]).arg(&other).output().expect("run").status.success());
    // A key under the right fingerprint but the wrong key material: every signature fails.
    let wrong = std::fs::read_to_string(other.join("public-keys.json")).expect("read");
    let right: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&keys).expect("read")).expect("json");
    let mut wrong: serde_json::Value = serde_json::from_str(&wrong).expect("json");
    wrong["PublicKeyList"][0]["Fingerprint"] = right["PublicKeyList"][0]["Fingerprint"].clone();
    let wrong_file = tmp.path().join("wrong.json");
    std::fs::write(&wrong_file, wrong.to_string()).expect("write");
    let (out, rep) = validate(&[t, "--public-key", wrong_file.to_str().expect("utf8")]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(count(&rep, "digests", "invalid"), digests, "{}", problems(&rep));

    // Tampering, one kind at a time on a fresh copy each.
    let logs = |root: &Path| files_under(root, &|p| p.contains("/CloudTrail/") && p.ends_with(".json.gz"));
    let digest_files =
        |root: &Path| files_under(root, &|p| p.contains("/CloudTrail-Digest/") && p.ends_with(".json.gz"));
    let tampered = |name: &str, change: &dyn Fn(&Path)| -> serde_json::Value {
        let copy = tmp.path().join(name);
        copy_dir(&trail, &copy);
        change(&copy);
        let (out, rep) = validate(&[copy.to_str().expect("utf8"), "--public-key", k]);
        assert_eq!(out.status.code(), Some(1), "{name} must fail: {}", problems(&rep));
        rep
    };
    // A changed log file.
    let rep = tampered("changed-log", &|root| {
        let f = &logs(root)[0];
        let text = String::from_utf8(gunzip(f)).expect("utf8").replacen("\"eventName\":\"", "\"eventName\":\"X", 1);
        gzip_to(f, text.as_bytes());
    });
    assert_eq!(count(&rep, "logFiles", "invalid"), 1, "{}", problems(&rep));
    // A deleted log file.
    let rep = tampered("deleted-log", &|root| std::fs::remove_file(&logs(root)[1]).expect("rm"));
    assert_eq!(count(&rep, "logFiles", "missing"), 1, "{}", problems(&rep));
    // A log file added where digests vouch for the hour.
    let rep = tampered("added-log", &|root| {
        let f = &logs(root)[2];
        let forged = f.with_file_name(
            f.file_name().expect("name").to_string_lossy().replace(".json.gz", "").to_string() + "x.json.gz",
        );
        std::fs::copy(f, forged).expect("copy");
    });
    assert_eq!(rep["unreferencedLogFiles"].as_array().map(Vec::len), Some(1), "{rep}");
    // A deleted digest: missing, and its hour a hole in the chain.
    let rep = tampered("deleted-digest", &|root| std::fs::remove_file(&digest_files(root)[5]).expect("rm"));
    assert_eq!(count(&rep, "digests", "missing"), 1, "{}", problems(&rep));
    // A changed digest (an entry removed from it, recompressed): its signature fails and the
    // next digest's link to it does too.
    let rep = tampered("changed-digest", &|root| {
        let f = digest_files(root).into_iter().find(|f| gunzip(f).windows(9).any(|w| w == b"hashValue")).expect("one");
        let mut d: serde_json::Value = serde_json::from_slice(&gunzip(&f)).expect("json");
        d["logFiles"].as_array_mut().expect("list").pop();
        gzip_to(&f, d.to_string().as_bytes());
    });
    let invalid: Vec<&serde_json::Value> =
        rep["digests"].as_array().expect("d").iter().filter(|d| d["verdict"] == "invalid").collect();
    assert_eq!(invalid.len(), 1, "{}", problems(&rep));
    let reasons = invalid[0]["reasons"].to_string();
    assert!(reasons.contains("signature verification failed") && reasons.contains("doesn't match"), "{reasons}");
    // A digest moved from where it says it is.
    let rep = tampered("moved-digest", &|root| {
        let f = &digest_files(root)[3];
        let to = root.join("AWSLogs/moved.json.gz");
        std::fs::rename(f, &to).expect("mv");
        std::fs::rename(format!("{}.sig", f.display()), format!("{}.sig", to.display())).expect("mv sig");
    });
    assert!(problems(&rep).contains("moved from its original location"), "{}", problems(&rep));
    // A replaced signature sidecar.
    let rep = tampered("bad-sig", &|root| {
        let f = &digest_files(root)[7];
        let sig = std::fs::read_to_string(format!("{}.sig", f.display())).expect("sig");
        let flipped = match sig.strip_prefix('0') {
            Some(rest) => format!("1{rest}"),
            None => format!("0{}", sig.get(1..).unwrap_or_default()),
        };
        std::fs::write(format!("{}.sig", f.display()), flipped).expect("write");
    });
    assert!(problems(&rep).contains("signature"), "{}", problems(&rep));

    // A time window: only the digests ending in it are read.
    let (out, rep) =
        validate(&[t, "--public-key", k, "--start-time", "2026-11-15T00:00:00Z", "--end-time", "2026-11-15T06:00:00Z"]);
    assert_eq!(out.status.code(), Some(0), "{}", problems(&rep));
    assert!(rep["digests"].as_array().expect("d").len() < digests);
    // One account only.
    let (_, rep) = validate(&[t, "--public-key", k, "--account-id", "222222222222"]);
    assert!(rep["digests"].as_array().expect("d").iter().all(|d| d["account"] == "222222222222"));
}

fn copy_dir(from: &Path, to: &Path) {
    for f in files_under(from, &|_| true) {
        let dest = to.join(f.strip_prefix(from).expect("under"));
        std::fs::create_dir_all(dest.parent().expect("parent")).expect("mkdir");
        std::fs::copy(&f, dest).expect("copy");
    }
}

#[test]
fn a_chain_built_by_python_cryptography_validates_and_ours_verifies_there() {
    if !python_with("cryptography") {
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/independent_digests.py");
    let tmp = tempfile::tempdir().expect("tmp");
    let ind = tmp.path().join("independent");
    std::fs::create_dir_all(&ind).expect("mkdir");
    let w = std::process::Command::new("python3").arg(&script).arg("write").arg(&ind).output().expect("python");
    assert!(w.status.success(), "{}", stderr(&w));
    let keys = ind.join("keys.json");
    let (out, rep) = validate(&[ind.to_str().expect("utf8"), "--public-key", keys.to_str().expect("utf8")]);
    assert_eq!(out.status.code(), Some(0), "{}{}", problems(&rep), stderr(&out));
    assert_eq!(rep["digests"].as_array().map(Vec::len), Some(3));
    assert_eq!(rep["logFiles"].as_array().map(Vec::len), Some(2));
    assert!(rep["digests"].as_array().expect("d").iter().all(|d| d["signature"] == "valid"), "{rep}");
    // Their chain, changed: the newest digest's sidecar signature swapped for the previous one's.
    let digests = files_under(&ind, &|p| p.contains("CloudTrail-Digest_") && p.ends_with(".json.gz"));
    let sig = |f: &Path| std::fs::read_to_string(format!("{}.sig", f.display())).expect("sig");
    std::fs::write(format!("{}.sig", digests[2].display()), sig(&digests[1])).expect("write");
    let (out, rep) = validate(&[ind.to_str().expect("utf8"), "--public-key", keys.to_str().expect("utf8")]);
    assert_eq!(out.status.code(), Some(1), "{rep}");

    // Our generator's chain, checked by their code: signatures, links, log file hashes.
    let (trail, our_keys) = generated_trail(tmp.path());
    let v = std::process::Command::new("python3")
        .arg(&script)
        .arg("verify")
        .arg(&trail)
        .arg(&our_keys)
        .output()
        .expect("python");
    assert!(v.status.success(), "python rejected our digests: {}", stderr(&v));
    let counted: serde_json::Value = serde_json::from_slice(&v.stdout).expect("json");
    assert!(counted["digests"].as_u64() > Some(100), "{counted}");
}

#[test]
fn the_real_digest_file_is_recognised_and_its_key_reported_unavailable() {
    let Some(data) = shared_data() else { return };
    let dir = data.join("real/otel-collector-contrib");
    let (out, rep) = validate(&[dir.to_str().expect("utf8")]);
    assert_eq!(out.status.code(), Some(1), "its log file is not here: {}", stderr(&out));
    let first = &rep["digests"][0];
    assert_eq!(first["account"], "111122223333", "{rep}");
    assert_eq!(first["signature"], "public-key-not-available", "{rep}");
    assert_eq!(count(&rep, "logFiles", "missing"), 1);
    // Text, unreadable input, no digests at all: clear answers, exit 1.
    let text = bin().arg("validate-logs").arg(&dir).output().expect("run");
    assert!(stdout(&text).contains("public key not available"), "{}", stdout(&text));
    let none = bin().arg("validate-logs").arg(data.join("real/stratus-red-team")).output().expect("run");
    assert_eq!(none.status.code(), Some(1));
    assert!(stdout(&none).contains("no digest files found"), "{}", stdout(&none));
    let missing = bin().args(["validate-logs", "/nonexistent/trail"]).output().expect("run");
    assert_eq!(missing.status.code(), Some(1));
    assert!(stderr(&missing).contains("/nonexistent/trail"), "{}", stderr(&missing));
}

#[test]
fn saved_results_are_signed_as_lake_signs_them_and_any_change_is_caught() {
    let tmp = tempfile::tempdir().expect("tmp");
    let trail = plain_trail(tmp.path(), 3000, 2);
    let store = tmp.path().join("store");
    assert!(run(&["ingest", trail.to_str().expect("utf8"), "--no-progress"], &store).status.success());
    let keys = tmp.path().join("keys");
    let made = bin().args(["keys", "generate", "--out"]).arg(&keys).output().expect("run");
    assert!(made.status.success(), "{}", stderr(&made));
    let fingerprint = stdout(&made).trim().to_string();
    assert_eq!(fingerprint.len(), 32, "hex MD5");
    let again = bin().args(["keys", "generate", "--out"]).arg(&keys).output().expect("run");
    assert_eq!(again.status.code(), Some(1), "an existing key is not overwritten silently");

    let res = tmp.path().join("results");
    let sql = "SELECT eventtime, eventname, useridentity.arn FROM default ORDER BY eventtime, eventid";
    let saved = run(
        &[
            "query",
            sql,
            "--save-results",
            res.to_str().expect("utf8"),
            "--max-result-file-size",
            "64K",
            "--signing-key",
        ]
        .into_iter()
        .chain([keys.join("private.pem").to_str().expect("utf8")])
        .collect::<Vec<_>>(),
        &store,
    );
    assert_eq!(saved.status.code(), Some(0), "{}", stderr(&saved));
    let sign: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(res.join("result_sign.json")).expect("sign")).expect("json");
    let files = sign["files"].as_array().expect("files");
    assert!(files.len() >= 2, "split at the size limit: {sign}");
    assert_eq!(files[0]["fileName"], "result_1.csv.gz");
    assert_eq!(
        (sign["hashAlgorithm"].as_str(), sign["signatureAlgorithm"].as_str()),
        (Some("SHA-256"), Some("SHA256withRSA"))
    );
    assert_eq!(sign["publicKeyFingerprint"].as_str(), Some(fingerprint.as_str()));
    // Every row once, a header per file.
    let mut rows = 0;
    for f in files {
        let text = String::from_utf8(gunzip(&res.join(f["fileName"].as_str().expect("name")))).expect("utf8");
        assert!(text.starts_with("eventtime,eventname,arn\n"), "{}", &text[..40]);
        rows += text.lines().count() - 1;
    }
    assert_eq!(rows, 3000);

    let verify = |dir: &Path, key: &Path| {
        bin()
            .args(["verify-query-results", "--local-export-path"])
            .arg(dir)
            .arg("--public-key")
            .arg(key)
            .args(["--format", "json"])
            .output()
            .expect("run")
    };
    let ok = verify(&res, &keys.join("public.pem"));
    assert_eq!(ok.status.code(), Some(0), "{}{}", stdout(&ok), stderr(&ok));

    // Python `cryptography` checks the signature over the space-joined hashes, and the hashes.
    if python_with("cryptography") {
        let check = std::process::Command::new("python3")
            .arg("-c")
            .arg(
                r#"
import hashlib, json, sys
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
d, pem = sys.argv[1], sys.argv[2]
sign = json.load(open(d + "/result_sign.json"))
for f in sign["files"]:
    assert hashlib.sha256(open(d + "/" + f["fileName"], "rb").read()).hexdigest() == f["fileHashValue"], f
key = serialization.load_pem_public_key(open(pem, "rb").read())
key.verify(bytes.fromhex(sign["hashSignature"]), " ".join(f["fileHashValue"] for f in sign["files"]).encode(),
           padding.PKCS1v15(), hashes.SHA256())
print("ok")
"#,
            )
            .arg(&res)
            .arg(keys.join("public.pem"))
            .output()
            .expect("python");
        assert!(check.status.success(), "python rejected our signed results: {}", stderr(&check));
    }

    // Each change, on a fresh copy.
    let changed = |name: &str, change: &dyn Fn(&Path)| -> serde_json::Value {
        let copy = tmp.path().join(name);
        copy_dir(&res, &copy);
        change(&copy);
        let out = verify(&copy, &keys.join("public-keys.json"));
        assert_eq!(out.status.code(), Some(1), "{name}: {}", stdout(&out));
        serde_json::from_str(&stdout(&out)).expect("json")
    };
    let status = |v: &serde_json::Value, file: &str| {
        v["files"].as_array().expect("files").iter().find(|f| f["fileName"] == file).map(|f| f["status"].clone())
    };
    let v = changed("edited", &|d| {
        let f = d.join("result_1.csv.gz");
        let text = String::from_utf8(gunzip(&f)).expect("utf8").replacen("GetObject", "PutObject", 1);
        gzip_to(&f, text.as_bytes());
    });
    assert_eq!(status(&v, "result_1.csv.gz"), Some("invalid".into()));
    let v = changed("removed", &|d| std::fs::remove_file(d.join("result_2.csv.gz")).expect("rm"));
    assert_eq!(status(&v, "result_2.csv.gz"), Some("missing".into()));
    let v = changed("added", &|d| {
        std::fs::copy(d.join("result_1.csv.gz"), d.join("result_9.csv.gz")).map(|_| ()).expect("cp")
    });
    assert_eq!(status(&v, "result_9.csv.gz"), Some("extra".into()));
    // A file changed and its hash in result_sign.json updated to match: the signature fails.
    let v = changed("rehashed", &|d| {
        let f = d.join("result_1.csv.gz");
        gzip_to(&f, b"eventtime,eventname,arn\n");
        let p = d.join("result_sign.json");
        let mut s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&p).expect("read")).expect("json");
        s["files"][0]["fileHashValue"] = traillake::keys::sha256_hex(&std::fs::read(&f).expect("read")).into();
        std::fs::write(&p, s.to_string()).expect("write");
    });
    assert_eq!((status(&v, "result_1.csv.gz"), v["signature"].as_str()), (Some("valid".into()), Some("invalid")));
    // Another key: not available, never valid.
    let other = tmp.path().join("other");
    assert!(bin().args(["keys", "generate", "--out"]).arg(&other).output().expect("run").status.success());
    let out = verify(&res, &other.join("public.pem"));
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("public key not available"), "{}", stdout(&out));
    // Without --signing-key: hashes, no signature, and verification says so.
    let unsigned = tmp.path().join("unsigned");
    let out = run(
        &["queries", "run", "console-logins-without-mfa", "--save-results", unsigned.to_str().expect("utf8")],
        &store,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("not signed"), "{}", stderr(&out));
    let out = verify(&unsigned, &keys.join("public.pem"));
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("not signed"), "{}", stdout(&out));
    // A folder that already holds files is refused.
    let out = run(&["query", sql, "--save-results", res.to_str().expect("utf8")], &store);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("not empty"), "{}", stderr(&out));
}

#[test]
fn eds_verify_detects_every_kind_of_tampering() {
    let tmp = tempfile::tempdir().expect("tmp");
    let trail = plain_trail(tmp.path(), 3000, 3);
    let keys = tmp.path().join("keys");
    assert!(bin().args(["keys", "generate", "--out"]).arg(&keys).output().expect("run").status.success());
    let key = keys.join("private.pem");
    let public = keys.join("public.pem");
    let store = tmp.path().join("store");
    let make = |name: &str, signed: bool| {
        let mut args = vec!["eds", "create", name];
        if signed {
            args.extend(["--signing-key", key.to_str().expect("utf8")]);
        }
        assert!(run(&args, &store).status.success());
        // Small commits: several commits, so that there is a middle one to tamper with.
        let ing =
            run(&["ingest", trail.to_str().expect("utf8"), "--eds", name, "--no-progress", "--commit-mb", "2"], &store);
        assert_eq!(ing.status.code(), Some(0), "{}", stderr(&ing));
    };
    let verify = |name: &str| -> (Option<i32>, serde_json::Value) {
        let out =
            run(&["eds", "verify", name, "--public-key", public.to_str().expect("utf8"), "--format", "json"], &store);
        (out.status.code(), serde_json::from_str(&stdout(&out)).unwrap_or(serde_json::Value::Null))
    };
    let table_dir = |name: &str| -> PathBuf {
        let cat: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(store.join("catalog.json")).expect("catalog")).expect("json");
        let rec =
            cat["eventDataStores"].as_array().expect("list").iter().find(|e| e["name"] == name).expect("eds").clone();
        store.join(rec["tablePath"].as_str().expect("path"))
    };
    let parquet = |name: &str| files_under(&table_dir(name), &|p| p.ends_with(".parquet"));
    let commits = |name: &str| files_under(&table_dir(name).join("_delta_log"), &|p| p.ends_with(".json"));

    make("intact", true);
    let (code, v) = verify("intact");
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["signature"], "valid");
    assert!(v["filesVerified"].as_u64() >= Some(2) && v["filesVerified"] == v["liveFiles"], "{v}");
    // Maintenance (compaction, vacuum) is recorded too: still intact, still signed.
    let m = run(&["eds", "maintain", "intact"], &store);
    assert!(m.status.success(), "{}", stderr(&m));
    let (code, v) = verify("intact");
    assert_eq!(code, Some(0), "after maintenance: {v}");

    // A changed byte in a Parquet file.
    make("byte", true);
    let f = &parquet("byte")[0];
    let mut bytes = std::fs::read(f).expect("read");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(f, bytes).expect("write");
    let (code, v) = verify("byte");
    assert_eq!((code, v["changedFiles"].as_array().map(Vec::len)), (Some(1), Some(1)), "{v}");
    // A deleted file.
    make("deleted", true);
    std::fs::remove_file(&parquet("deleted")[0]).expect("rm");
    let (code, v) = verify("deleted");
    assert_eq!((code, v["missingFiles"].as_array().map(Vec::len)), (Some(1), Some(1)), "{v}");
    // An added file.
    make("added", true);
    let files = parquet("added");
    std::fs::copy(&files[0], files[0].with_file_name("part-00000-forged.parquet")).expect("cp");
    let (code, v) = verify("added");
    assert_eq!((code, v["unknownFiles"].as_array().map(Vec::len)), (Some(1), Some(1)), "{v}");
    // An edited commit JSON (a file's statistics changed, as one would to hide it from queries).
    make("edited", true);
    let first_ingest = commits("edited")[1].clone();
    let text = std::fs::read_to_string(&first_ingest).expect("read");
    // Statistics are JSON text inside the action: `\"numRecords\":`.
    let edited = text.replacen("\\\"numRecords\\\":", "\\\"numRecords\\\":1", 1);
    assert_ne!(edited, text, "the commit holds statistics to edit");
    std::fs::write(&first_ingest, edited).expect("write");
    let (code, v) = verify("edited");
    assert_eq!(code, Some(1), "{v}");
    assert!(v["commitProblems"].to_string().contains("altered"), "{v}");
    // A removed commit.
    make("removed", true);
    let c = commits("removed");
    assert!(c.len() >= 3, "several commits: {c:?}");
    std::fs::remove_file(&c[1]).expect("rm");
    let (code, v) = verify("removed");
    assert_eq!(code, Some(1), "{v}");
    assert!(v["commitProblems"].to_string().contains("missing"), "{v}");
    // Commits signed with another key (the chain re-signed by someone without ours).
    make("resigned", true);
    let other = tmp.path().join("other-keys");
    assert!(bin().args(["keys", "generate", "--out"]).arg(&other).output().expect("run").status.success());
    let upd =
        run(&["eds", "update", "resigned", "--signing-key", other.join("private.pem").to_str().expect("utf8")], &store);
    assert!(upd.status.success(), "{}", stderr(&upd));
    let more = tmp.path().join("more");
    traillake::demo::generate(
        &more,
        &traillake::demo::GenerateOptions { events: 500, days: 1, seed: 7, ..Default::default() },
    )
    .expect("generate");
    assert!(run(&["ingest", more.to_str().expect("utf8"), "--eds", "resigned", "--no-progress"], &store)
        .status
        .success());
    let (code, v) = verify("resigned");
    assert_eq!(code, Some(1), "{v}");
    assert!(v["signature"].as_str().is_some_and(|s| s.starts_with("INVALID")), "{v}");
    // An unsigned store verifies its hashes; the signature is reported absent.
    make("unsigned", false);
    let out = run(&["eds", "verify", "unsigned"], &store);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).contains("signature: not signed") && stdout(&out).contains("INTACT"), "{}", stdout(&out));
}

#[test]
fn ingest_validate_quarantines_changed_files_records_each_status_and_allow_invalid_keeps_them() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (trail, keys) = generated_trail(tmp.path());
    let logs = files_under(&trail, &|p| p.contains("/CloudTrail/") && p.ends_with(".json.gz"));
    // One file changed after delivery; one file no digest names (an export dropped beside).
    let changed = &logs[0];
    let text = String::from_utf8(gunzip(changed)).expect("utf8");
    let changed_events = text.matches("\"eventID\"").count() as u64;
    gzip_to(changed, text.replacen("\"eventName\":\"", "\"eventName\":\"X", 1).as_bytes());
    let extra = trail.join("extra-export.json");
    std::fs::write(
        &extra,
        r#"{"Records":[{"eventVersion":"1.11","eventTime":"2026-11-15T01:00:00Z","eventSource":"s3.amazonaws.com","eventName":"ListBuckets","awsRegion":"us-east-1","eventID":"11111111-2222-3333-4444-555555555555","eventType":"AwsApiCall","recipientAccountId":"111111111111","userIdentity":{"type":"Root"}}]}"#,
    )
    .expect("write");
    let store = tmp.path().join("store");
    let t = trail.to_str().expect("utf8");
    let k = keys.to_str().expect("utf8");
    let out = run(&["ingest", t, "--validate", "--public-key", k, "--no-progress", "--format", "json"], &store);
    assert_eq!(out.status.code(), Some(3), "part quarantined: {}", stderr(&out));
    let rep: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(rep["filesInvalid"], 1, "{rep}");
    assert_eq!(rep["filesNotCovered"], 1, "{rep}");
    assert_eq!(rep["filesValidated"].as_u64(), Some(logs.len() as u64 - 1), "{rep}");
    assert_eq!(rep["digestsInvalid"], 0, "{rep}");
    let quarantined = std::fs::read_to_string(rep["quarantineFiles"][0].as_str().expect("file")).expect("read");
    assert!(
        quarantined.contains("failed log file validation") && quarantined.contains("does not match"),
        "{quarantined}"
    );
    let stored = |store: &Path| -> u64 {
        let q = run(&["query", "SELECT count(*) AS n FROM default", "--format", "json"], store);
        let rows: serde_json::Value = serde_json::from_str(&stdout(&q)).expect("json");
        rows[0]["n"].as_u64().expect("n")
    };
    let total = 2000 + 1;
    assert_eq!(stored(&store), total - changed_events, "the changed file's events are not stored");
    // eds describe sums up the statuses recorded in the commits.
    let d = run(&["eds", "describe", "default", "--format", "json"], &store);
    let desc: serde_json::Value = serde_json::from_str(&stdout(&d)).expect("json");
    assert_eq!(desc["logFileValidation"]["not-covered"], 1, "{desc}");
    assert_eq!(desc["logFileValidation"]["valid"].as_u64(), Some(logs.len() as u64 - 1), "{desc}");
    // The rejected file was not recorded as done: with --allow-invalid it is read and kept,
    // its status recorded.
    let out = run(&["ingest", t, "--validate", "--allow-invalid", "--no-progress", "--format", "json"], &store);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let rep: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!((rep["files"].as_u64(), rep["filesInvalid"].as_u64()), (Some(1), Some(1)), "{rep}");
    assert_eq!(stored(&store), total);
    let d = run(&["eds", "describe", "default"], &store);
    assert!(stdout(&d).contains("files validated against digests, 1 not covered, 1 invalid"), "{}", stdout(&d));
}
