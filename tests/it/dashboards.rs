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
    browse_url(browser, &format!("file://{}", page.display()), screenshot)
}

fn browse_url(browser: &str, url: &str, screenshot: Option<&Path>) -> (String, Vec<String>) {
    let mut cmd = Command::new(browser);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--virtual-time-budget=10000",
        "--enable-logging=stderr",
        "--v=0",
    ]);
    match screenshot {
        Some(shot) => cmd.arg("--window-size=1300,2600").arg(format!("--screenshot={}", shot.display())),
        None => cmd.arg("--dump-dom"),
    };
    let o = cmd.arg(url).output().expect("run chromium");
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
    let o = run(
        &[
            "report",
            "--eds",
            "demo",
            "--investigation",
            "console-logins-without-mfa",
            "-o",
            html_path.to_str().expect("utf8"),
        ],
        &store,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let html = std::fs::read_to_string(&html_path).expect("report");
    assert!(!html.contains("src=\"http") && !html.contains("href=\"http"), "nothing fetched from the network");
    let data = report_data(&html);
    let dashboards = data["dashboards"].as_array().expect("dashboards");
    assert_eq!(dashboards[0]["name"], "overview");
    let names: Vec<&str> = dashboards.iter().filter_map(|d| d["name"].as_str()).collect();
    assert!(names.contains(&"insights"), "the demo has an Insights store: {names:?}");
    assert_eq!(names.last(), Some(&"investigations"));
    assert!(dashboards.len() >= 8);
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
    let o = run(&["report", "--dashboard", "insights"], &store);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("dashboard insights: no event data store of kind insights"), "{}", stderr(&o));
    let o = run(&["report", "--dashboard", "nope"], &store);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no dashboard named nope; there are: overview"), "{}", stderr(&o));
    let mine = dir.path().join("mine");
    std::fs::create_dir_all(&mine).expect("mkdir");
    write(
        &mine.join("x.json"),
        r#"{"Name": "x", "Widgets": [{"QueryStatement": "SELECT 1 FROM {{eds}} WHERE eventTime > '?'", "QueryParameters": ["$StartTime$", "$EndTime$"], "ViewProperties": {"View": "Table", "Title": "t"}}]}"#,
    );
    let o = run(&["report", "--dashboards", mine.to_str().expect("utf8")], &store);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("widget 1 (t): 1 '?' marks but 2 QueryParameters"), "{}", stderr(&o));
}

/// GET `path` from `base` (`http://host:port/`) with optional headers: status and body.
fn http_get(base: &str, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    use std::io::{Read, Write};
    let host = base.trim_start_matches("http://").trim_end_matches('/');
    let mut s = std::net::TcpStream::connect(host).expect("connect");
    let mut req = format!("GET /{path} HTTP/1.0\r\nHost: {host}\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).expect("send");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    let status = out.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = out.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

#[test]
fn the_dashboard_page_draws_widgets_follows_the_time_range_and_opens_the_events_behind_a_bar() {
    let dir = tempfile::tempdir().expect("tmp");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(demo_store(dir.path()));
    let store = dir.path().join("store");
    let mut cmd = bin();
    cmd.arg("--store").arg(&store).args(["dashboard", "--eds", "demo", "--addr", "127.0.0.1:0"]);
    let (mut server, url, _log) = spawn_server(&mut cmd, "http://");

    let (status, body) = http_get(&url, "api/dashboards", &[]);
    assert_eq!(status, 200, "{body}");
    let info: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(info["dashboards"][0]["name"], "overview");
    assert!(info["lastEvent"].as_str().is_some(), "the store's newest event");
    let week = "start=2026-11-09T00:00:00Z&end=2026-11-17T00:00:00Z";
    let (status, body) = http_get(&url, &format!("api/dashboard?name=overview&{week}"), &[]);
    assert_eq!(status, 200, "{body}");
    let d: serde_json::Value = serde_json::from_str(&body).expect("json");
    for w in d["widgets"].as_array().expect("widgets") {
        let q = run(&["query", w["sql"].as_str().expect("sql"), "--format", "json"], &store);
        let rows: serde_json::Value = serde_json::from_str(stdout(&q).trim()).expect("rows");
        assert_eq!(rows, w["rows"], "{}", w["title"]);
    }
    let (status, body) =
        http_get(&url, &format!("api/events?name=overview&widget=2&value=s3.amazonaws.com&{week}"), &[]);
    assert_eq!(status, 200, "{body}");
    let ev: serde_json::Value = serde_json::from_str(&body).expect("json");
    let rows = ev["rows"].as_array().expect("rows");
    assert!(!rows.is_empty() && rows.iter().all(|r| r["eventsource"] == "s3.amazonaws.com"), "{body}");
    assert_eq!(http_get(&url, "api/dashboard?name=nope&start=x&end=y", &[]).0, 404);
    assert_eq!(http_get(&url, "api/dashboard?name=overview&start=x&end=y", &[]).0, 400);

    if let Some(browser) = chromium() {
        // The range in the URL (as the picker sets it) changes the numbers.
        let number = |hash: &str| {
            let (dom, console) = browse_url(browser, &format!("{url}#{hash}"), None);
            assert!(console.is_empty(), "console messages: {console:#?}");
            assert_eq!(drawn(&dom), 8, "every overview widget drawn");
            let at = dom.find("class=\"number\">").expect("the Events number") + "class=\"number\">".len();
            dom[at..].split('<').next().expect("number").to_string()
        };
        let whole = number(&format!("dashboard=overview&{week}"));
        let one_day = number("dashboard=overview&start=2026-11-15T00:00:00Z&end=2026-11-16T00:00:00Z");
        assert_ne!(whole, one_day, "the time range changes the numbers");
        // A click on a bar (the same handler, run from the URL) opens its events.
        let (dom, console) =
            browse_url(browser, &format!("{url}#dashboard=overview&{week}&pick=2:s3.amazonaws.com"), None);
        assert!(console.is_empty(), "{console:?}");
        assert!(dom.contains("data-events=\"") && !dom.contains("data-events=\"0\""), "the events panel opened");
        let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard.png");
        browse_url(browser, &format!("{url}#dashboard=overview&{week}"), Some(&shot));
        assert!(std::fs::metadata(&shot).is_ok_and(|m| m.len() > 10_000), "screenshot at {}", shot.display());
    }
    let _ = server.kill();
    let _ = server.wait();
}

#[test]
fn the_dashboard_asks_for_credentials_when_given_and_refuses_an_open_network_address() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = dir.path().join("store");
    assert!(run(&["eds", "create", "trail"], &store).status.success());
    let mut cmd = bin();
    cmd.arg("--store").arg(&store).args(["dashboard", "--addr", "127.0.0.1:0", "--token", "s3cret-token"]);
    let (mut server, url, _log) = spawn_server(&mut cmd, "http://");
    assert_eq!(http_get(&url, "api/dashboards", &[]).0, 401);
    assert_eq!(http_get(&url, "", &[("Authorization", "Bearer wrong")]).0, 401);
    assert_eq!(http_get(&url, "api/dashboards", &[("Authorization", "Bearer s3cret-token")]).0, 200);
    let _ = server.kill();
    let _ = server.wait();
    let o = run(&["dashboard", "--addr", "0.0.0.0:0"], &store);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("give --user and --password, or --token"), "{}", stderr(&o));
}

#[test]
fn a_markdown_report_links_an_svg_per_chart() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = dir.path().join("store");
    let trail = dir.path().join("t.json");
    let events: Vec<String> = (0..12)
        .map(|i| {
            event(
                &format!("0000000{i:x}-1111-4111-8111-111111111111"),
                &format!("2026-11-15T0{}:00:00Z", i % 4),
                "RunInstances",
            )
        })
        .collect();
    write(&trail, format!("{{\"Records\":[{}]}}", events.join(",")));
    assert!(run(&["ingest", trail.to_str().expect("utf8"), "--no-progress"], &store).status.success());
    let md = dir.path().join("out").join("incident.md");
    std::fs::create_dir_all(md.parent().expect("parent")).expect("mkdir");
    let o = run(&["report", "--dashboard", "overview", "--format", "md", "-o", md.to_str().expect("utf8")], &store);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(&md).expect("markdown");
    assert!(text.contains("### Events\n\n**12**"), "{text}");
    let links: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("!["))
        .filter_map(|l| l.split("](").nth(1))
        .map(|l| l.trim_end_matches(')'))
        .collect();
    assert_eq!(links.len(), 6, "the overview's six charts: {text}");
    for link in links {
        assert!(link.starts_with("incident-charts/"), "{link}");
        let svg = std::fs::read_to_string(md.parent().expect("dir").join(link)).expect("chart file");
        assert!(
            svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\"") && svg.trim_end().ends_with("</svg>"),
            "{svg}"
        );
    }
    assert!(text.contains("| eventsource | eventname | events |"), "the table widget as a Markdown table: {text}");
}
