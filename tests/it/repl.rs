//! The REPL driven as a person drives it: the real binary in a pseudo-terminal.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use expectrl::{Eof, Expect, Regex, Session};

use crate::common::*;

/// A store holding the sqllogictest fixture as EDS "fixture".
fn fixture_store(dir: &Path) -> std::path::PathBuf {
    let st = dir.join("store");
    let trail = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/slt/trail.json");
    assert!(run(&["eds", "create", "fixture"], &st).status.success());
    let out = run(&["ingest", trail.to_str().expect("path"), "--eds", "fixture", "--no-progress"], &st);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    st
}

fn start(dir: &Path, store: &Path) -> expectrl::session::OsSession {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_traillake"));
    cmd.args(["--store", store.to_str().expect("path"), "repl", "--queries", "no-such-dir"])
        .env("XDG_STATE_HOME", dir.join("state"))
        .env("TERM", "xterm")
        .env_remove("TRAILLAKE_HISTORY");
    let mut s = Session::spawn(cmd).expect("spawn the repl in a pty");
    s.set_expect_timeout(Some(Duration::from_secs(30)));
    s.expect("traillake> ").expect("prompt");
    s
}

#[test]
fn an_investigation_session_in_a_terminal() {
    let tmp = tempfile::tempdir().expect("tmp");
    let st = fixture_store(tmp.path());
    let mut s = start(tmp.path(), &st);

    // \d lists the store with its event count.
    s.send_line("\\d").expect("send");
    s.expect(Regex(r"fixture\s+ENABLED\s+10\s")).expect("\\d shows fixture with 10 events");
    s.expect("traillake> ").expect("prompt");

    // A statement over three lines runs at the `;` (the `;` inside the string does not end it).
    s.send_line("SELECT eventName, count(*) AS n, ';' AS semi").expect("send");
    s.send_line("FROM fixture").expect("send");
    s.send_line("GROUP BY eventName ORDER BY n DESC, eventName LIMIT 1;").expect("send");
    s.expect(Regex(r"\|\s*ConsoleLogin\s*\|\s*2\s*\|\s*;\s*\|")).expect("multi-line result");
    s.expect(Regex(r"1 row · \d+\.\d{3}s")).expect("footer");
    s.expect("traillake> ").expect("prompt");

    // Tab completes a nested struct path; the query only works if it did.
    s.send("SELECT count(userIdentity.sessionContext.sessionIssuer.userN").expect("send");
    s.send("\t").expect("tab");
    s.expect("userName").expect("completed");
    s.send_line(") AS issuers FROM fixture;").expect("send");
    s.expect(Regex(r"\|\s*issuers\s*\|")).expect("completed query ran");
    s.expect("1 row").expect("footer");
    s.expect("traillake> ").expect("prompt");

    // Map keys complete from what the store holds.
    s.send("SELECT DISTINCT element_at(requestParameters, 'buck").expect("send");
    s.send("\t").expect("tab");
    s.expect("bucketName'").expect("key completed");
    s.send_line(") AS b FROM fixture WHERE eventName = 'GetObject';").expect("send");
    s.expect(Regex(r"\|\s*prod-data\s*\|")).expect("map key query ran");
    s.expect("traillake> ").expect("prompt");

    // A syntax error is one line and the session goes on.
    s.send_line("SELEC eventName FROM fixture;").expect("send");
    s.expect(Regex(r"error: [^\r\n]+")).expect("error line");
    s.expect("traillake> ").expect("prompt");
    s.send_line("SELECT 40 + 2 AS answer;").expect("send");
    s.expect(Regex(r"\|\s*42\s*\|")).expect("session alive after the error");
    s.expect("traillake> ").expect("prompt");

    // \d NAME prints the schema as a tree.
    s.send_line("\\d fixture").expect("send");
    s.expect(Regex(r"── sessionIssuer\s+struct")).expect("schema tree");
    s.expect("traillake> ").expect("prompt");

    s.send_line("\\q").expect("send");
    s.expect(Eof).expect("\\q exits");
    let history = std::fs::read_to_string(tmp.path().join("state/traillake/history")).expect("history file");
    assert!(history.contains("SELECT 40 + 2 AS answer;"), "{history}");
}

#[test]
fn ctrl_c_cancels_a_long_query_and_keeps_the_session() {
    let tmp = tempfile::tempdir().expect("tmp");
    let st = fixture_store(tmp.path());
    let mut s = start(tmp.path(), &st);

    // Ten billion rows: minutes of work, unless cancelled.
    s.send_line("SELECT count(*) FROM generate_series(1, 10000000000) WHERE value % 7 = 3;").expect("send");
    std::thread::sleep(Duration::from_millis(1500));
    s.send("\x03").expect("ctrl-c");
    s.set_expect_timeout(Some(Duration::from_secs(10)));
    s.expect("query cancelled").expect("cancelled promptly");
    s.expect("traillake> ").expect("prompt after cancel");
    s.send_line("SELECT 'still here' AS status;").expect("send");
    s.expect("still here").expect("session alive");
    s.expect("traillake> ").expect("prompt");

    // Ctrl-C at the prompt clears the line; Ctrl-D leaves.
    s.send("SELECT half a thought").expect("send");
    s.send("\x03").expect("ctrl-c");
    s.expect("traillake> ").expect("prompt after clearing");
    s.send("\x04").expect("ctrl-d");
    s.expect(Eof).expect("ctrl-d exits");
}

#[test]
fn a_running_session_sees_events_committed_meanwhile() {
    let tmp = tempfile::tempdir().expect("tmp");
    let st = fixture_store(tmp.path());
    let mut s = start(tmp.path(), &st);
    s.send_line("SELECT count(*) AS n FROM fixture;").expect("send");
    s.expect(Regex(r"\|\s*10\s*\|")).expect("10 events");
    s.expect("traillake> ").expect("prompt");
    // Another process (an `ingest --follow`, say) commits two more.
    let more = tmp.path().join("more.json");
    write(
        &more,
        format!(
            "{{\"Records\":[{},{}]}}",
            event("aaaaaaaa-1111-4111-8111-111111111111", "2026-11-15T01:00:00Z", "RunInstances"),
            event("aaaaaaaa-2222-4222-8222-222222222222", "2026-11-15T01:00:01Z", "RunInstances")
        ),
    );
    let out = run(&["ingest", more.to_str().expect("path"), "--eds", "fixture", "--no-progress"], &st);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    s.send_line("SELECT count(*) AS n FROM fixture;").expect("send");
    s.expect(Regex(r"\|\s*12\s*\|")).expect("the next statement sees 12 events, without \\refresh");
    s.expect("traillake> ").expect("prompt");
    s.send_line("\\q").expect("quit");
    s.expect(Eof).expect("exits");
}
