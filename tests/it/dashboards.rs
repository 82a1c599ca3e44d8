//! `traillake report`: every built-in widget runs, its numbers are those of the same SQL
//! through `traillake query`, and a real browser (headless Chromium) draws every widget of the
//! self-contained HTML without a console error.

use std::path::Path;
use std::process::Command;

use crate::common::*;

/// The JSON a report embeds.
fn report_data(html: &str) -> serde_json::Value {
    let start = html.find("id=\"report-data\">").expect("report data") + "id=\"report-data\">".len();
    let end = start + html[start..].find("</script>").expect("end of data");
    serde_json::from_str(&html[start..end].replace("<\\/", "</")).expect("report data is JSON")
}

/// Widgets the page drew (their `<article>` elements marked by the drawing script).
fn drawn(dom: &str) -> usize {
    dom.split("<article")
        .skip(1)
        .filter(|a| a.split('>').next().is_some_and(|tag| tag.contains("data-rendered=\"true\"")))
        .count()
}

fn chromium() -> Option<&'static str> {
    let found = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|b| Command::new(b).arg("--version").output().is_ok_and(|o| o.status.success()));
    if found.is_none() {
        skip_or_fail("headless Chromium is needed (Debian package `chromium`; .ci/run installs it)");
    }
    found
}

/// Loads `page` in headless Chromium: the DOM after scripts ran, and the console messages.
fn browse(browser: &str, page: &Path, screenshot: Option<&Path>) -> (String, Vec<String>) {
    let url = format!("file://{}", page.display());
    let mut cmd = Command::new(browser);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--virtual-time-budget=10000",
        "--enable-logging=stderr",
        "--v=0",
    ]);
    match screenshot {
        Some(shot) => cmd.arg("--window-size=1300,2600").arg(format!("--screenshot={}", shot.display())),
        None => cmd.arg("--dump-dom"),
    };
    let o = cmd.arg(&url).output().expect("run chromium");
    let console =
        String::from_utf8_lossy(&o.stderr).lines().filter(|l| l.contains(":CONSOLE")).map(str::to_string).collect();
    (String::from_utf8_lossy(&o.stdout).into_owned(), console)
}

#[test]
fn a_report_draws_every_widget_with_the_numbers_query_gives() {
    let dir = tempfile::tempdir().expect("tmp");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(demo_store(dir.path()));
    let store = dir.path().join("store");
    let html_path = dir.path().join("report.html");
    let o = run(&["report", "--eds", "demo", "-o", html_path.to_str().expect("utf8")], &store);
    assert!(o.status.success(), "{}", stderr(&o));
    let html = std::fs::read_to_string(&html_path).expect("report");
    assert!(!html.contains("src=\"http") && !html.contains("href=\"http"), "nothing fetched from the network");
    let data = report_data(&html);
    let dashboards = data["dashboards"].as_array().expect("dashboards");
    assert_eq!(dashboards[0]["name"], "overview");
    assert!(dashboards.len() >= 6);
    let mut widgets = 0;
    let mut with_rows = 0;
    for d in dashboards {
        for w in d["widgets"].as_array().expect("widgets") {
            widgets += 1;
            assert!(w["error"].is_null(), "{}: {}", w["title"], w["error"]);
            // The same SQL through `traillake query` gives the same rows.
            let q = run(&["query", w["sql"].as_str().expect("sql"), "--format", "json"], &store);
            assert!(q.status.success(), "{}", stderr(&q));
            let rows: serde_json::Value = match stdout(&q).trim() {
                "" => serde_json::json!([]),
                text => serde_json::from_str(text).expect("json rows"),
            };
            assert_eq!(rows, w["rows"], "widget {} of {}", w["title"], d["name"]);
            if rows.as_array().is_some_and(|r| !r.is_empty()) {
                with_rows += 1;
            }
        }
    }
    assert!(with_rows * 10 >= widgets * 9, "only {with_rows} of {widgets} widgets show anything on the demo");

    let Some(browser) = chromium() else { return };
    let (dom, console) = browse(browser, &html_path, None);
    assert!(console.is_empty(), "console messages: {console:#?}");
    assert_eq!(drawn(&dom), widgets, "every widget drawn");
    assert!(dom.contains(&format!("data-widgets=\"{widgets}\"")));
    let charts = dashboards
        .iter()
        .flat_map(|d| d["widgets"].as_array().cloned().unwrap_or_default())
        .filter(|w| w["view"].as_str().is_some_and(|v| v.ends_with("Chart")))
        .count();
    assert!(dom.matches("<svg").count() >= charts, "each chart is an SVG");
    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report.png");
    browse(browser, &html_path, Some(&shot));
    assert!(std::fs::metadata(&shot).is_ok_and(|m| m.len() > 10_000), "screenshot at {}", shot.display());

    // The check sees a page that fails.
    let broken = dir.path().join("broken.html");
    std::fs::write(&broken, html.replace("echarts.init(", "echarts.nope(")).expect("write");
    let (dom, console) = browse(browser, &broken, None);
    assert!(console.iter().any(|l| l.contains("Uncaught")), "{console:?}");
    assert!(drawn(&dom) < widgets);
}

#[test]
fn reports_refuse_unknown_dashboards_and_bad_widgets() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = dir.path().join("store");
    assert!(run(&["eds", "create", "trail"], &store).status.success());
    let o = run(&["report", "--dashboard", "nope"], &store);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no dashboard named nope; there are: overview"), "{}", stderr(&o));
    let mine = dir.path().join("mine");
    std::fs::create_dir_all(&mine).expect("mkdir");
    write(
        &mine.join("x.json"),
        r#"{"Name": "x", "Widgets": [{"QueryStatement": "SELECT 1 FROM {{eds}} WHERE eventTime > '?'", "QueryParameters": ["$StartTime$", "$EndTime$"], "ViewProperties": {"View": "Table", "Title": "t"}}]}"#,
    );
    let o = run(&["report", "--dashboards-dir", mine.to_str().expect("utf8")], &store);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("widget 1 (t): 1 '?' marks but 2 QueryParameters"), "{}", stderr(&o));
}
