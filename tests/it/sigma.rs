//! `traillake detect`: the community SigmaHQ CloudTrail rules select exactly the events
//! pySigma's SQLite backend selects over the same events; the starter rules built in compile
//! and find the demo's intrusion.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::common::*;

fn findings(o: &std::process::Output) -> Vec<serde_json::Value> {
    stdout(o).lines().map(|l| serde_json::from_str(l).expect("one JSON finding per line")).collect()
}

#[test]
fn sigmahq_cloudtrail_rules_select_what_pysigma_selects() {
    if !python_with("sigma.backends.sqlite") {
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (script, rules) = (root.join("tests/sigma_independent.py"), root.join("tests/fixtures/sigmahq"));
    let events = dir.path().join("events.json");
    let python = |args: &[&Path]| {
        let o = std::process::Command::new("python3").arg(&script).args(args).output().expect("python3");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        o.stdout
    };
    python(&[Path::new("events"), &rules, &events]);
    let store = dir.path().join("store");
    let o = run(&["ingest", events.to_str().expect("utf8"), "--no-progress"], &store);
    assert!(o.status.success(), "{}", stderr(&o));

    let o = run(&["detect", "--rules", rules.to_str().expect("utf8"), "--format", "json"], &store);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut ours: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in findings(&o) {
        let id = f["ruleId"].as_str().expect("rule id").to_string();
        ours.entry(id).or_default().insert(f["eventID"].as_str().expect("event id").to_string());
    }
    let unsupported: Vec<String> =
        stderr(&o).lines().filter(|l| l.starts_with("unsupported:")).map(str::to_string).collect();

    let reference: serde_json::Value =
        serde_json::from_slice(&python(&[Path::new("select"), &rules, &events])).expect("json");
    let selected = reference["selected"].as_object().expect("selected");
    let (mut equal, mut differ) = (0, Vec::new());
    for (id, ids) in selected {
        let theirs: BTreeSet<String> =
            ids.as_array().expect("ids").iter().map(|v| v.as_str().expect("id").to_string()).collect();
        let mine = ours.get(id).cloned().unwrap_or_default();
        if mine == theirs {
            equal += 1;
        } else {
            differ.push(format!("{id}: pySigma {} events, traillake {}", theirs.len(), mine.len()));
        }
    }
    let rule_files = std::fs::read_dir(&rules)
        .expect("rules")
        .filter(|e| e.as_ref().is_ok_and(|e| e.path().extension().is_some_and(|x| x == "yml")))
        .count();
    let matching = selected.values().filter(|v| v.as_array().is_some_and(|a| !a.is_empty())).count();
    eprintln!(
        "SigmaHQ aws/cloudtrail: {rule_files} rules; traillake compiled {}, unsupported {} {unsupported:?}; pySigma converted {}, \
         unsupported {}; run and equal {equal}, different {}; {matching} rules select events",
        rule_files - unsupported.len(),
        unsupported.len(),
        selected.len(),
        reference["unsupported"].as_object().map_or(0, |u| u.len()),
        differ.len()
    );
    assert!(differ.is_empty(), "rules selecting other events than pySigma: {differ:#?}");
    assert!(unsupported.is_empty(), "{unsupported:?}");
    assert_eq!(equal, rule_files, "every rule compared");
    assert!(
        matching * 10 >= rule_files * 9,
        "only {matching} rules select anything: the comparison would prove little"
    );
}

#[test]
fn the_starter_rules_compile_and_find_the_demo_intrusion() {
    let dir = tempfile::tempdir().expect("tmp");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(demo_store(dir.path()));
    let store = dir.path().join("store");
    let o = run(&["detect", "--eds", "demo", "--format", "json"], &store);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stderr(&o).contains("unsupported"), "{}", stderr(&o));
    let found = findings(&o);
    let titles: BTreeSet<&str> = found.iter().filter_map(|f| f["title"].as_str()).collect();
    for expected in [
        "CloudTrail logging stopped or trail deleted",
        "GuardDuty detector disabled or deleted",
        "AdministratorAccess attached",
        "Access key created for another user",
    ] {
        assert!(titles.contains(expected), "{expected} not found; found {titles:?}");
    }
    for f in &found {
        for key in ["title", "level", "tags", "eventID", "eventTime", "principal", "sourceIPAddress"] {
            assert!(f.get(key).is_some(), "finding without {key}: {f}");
        }
    }
    // Mallory's key for backup-svc is "for another user" (the rule's fieldref filter keeps it).
    let own: Vec<_> = found
        .iter()
        .filter(|f| f["title"] == "Access key created for another user")
        .filter(|f| f["principal"].as_str().is_some_and(|p| p.ends_with("/mallory")))
        .collect();
    assert!(!own.is_empty());

    // The table lists them; a later --since leaves the intrusion out.
    let o = run(&["detect", "--eds", "demo"], &store);
    assert!(stdout(&o).contains("AdministratorAccess attached"), "{}", stdout(&o));
    assert!(stderr(&o).contains("25 rules run (0 unsupported)"), "{}", stderr(&o));
    let o = run(&["detect", "--eds", "demo", "--since", "2099-01-01", "--format", "json"], &store);
    assert!(o.status.success() && stdout(&o).is_empty(), "{}", stdout(&o));
}

#[test]
fn detect_refuses_rules_folders_without_rules_and_stores_of_other_kinds() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = dir.path().join("store");
    let o = run(&["eds", "create", "cfg", "--kind", "config"], &store);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(&["detect", "--eds", "cfg"], &store);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("Sigma rules run over CloudTrail events"), "{}", stderr(&o));
    let o = run(&["eds", "create", "trail"], &store);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(&["detect", "--eds", "trail", "--rules", dir.path().to_str().expect("utf8")], &store);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no Sigma rules"), "{}", stderr(&o));
}

#[test]
fn detect_follow_reports_what_each_new_commit_brings_only() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = dir.path().join("store");
    let trail =
        |id: &str, t: &str| event(id, t, "StopLogging").replace("ec2.amazonaws.com", "cloudtrail.amazonaws.com");
    let first = dir.path().join("first.json");
    write(
        &first,
        format!(
            "{{\"Records\":[{},{}]}}",
            trail("11111111-1111-4111-8111-111111111111", "2026-11-15T01:00:00Z"),
            event("22222222-2222-4222-8222-222222222222", "2026-11-15T01:00:01Z", "DescribeInstances")
        ),
    );
    let o = run(&["ingest", first.to_str().expect("utf8"), "--no-progress"], &store);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut child = bin()
        .arg("--store")
        .arg(&store)
        .args(["detect", "--follow", "--interval", "1", "--format", "json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let (tx, rx) = std::sync::mpsc::channel();
    let out = child.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let next = || rx.recv_timeout(std::time::Duration::from_secs(30)).expect("a finding within 30 s");
    let v: serde_json::Value = serde_json::from_str(&next()).expect("json");
    assert_eq!(v["eventID"], "11111111-1111-4111-8111-111111111111", "the first run covers the store");
    // A new commit whose time range covers the first StopLogging: only its own is reported.
    let second = dir.path().join("second.json");
    write(
        &second,
        format!(
            "{{\"Records\":[{},{}]}}",
            trail("33333333-3333-4333-8333-333333333333", "2026-11-15T00:59:00Z"),
            event("44444444-4444-4444-8444-444444444444", "2026-11-15T01:00:05Z", "DescribeInstances")
        ),
    );
    let o = run(&["ingest", second.to_str().expect("utf8"), "--no-progress"], &store);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&next()).expect("json");
    assert_eq!(v["eventID"], "33333333-3333-4333-8333-333333333333");
    assert_eq!(v["title"], "CloudTrail logging stopped or trail deleted");
    assert!(rx.recv_timeout(std::time::Duration::from_secs(3)).is_err(), "the first event is not reported again");
    let _ = child.kill();
    let _ = child.wait();
}
