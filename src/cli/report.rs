//! `traillake report`: dashboards (and saved investigations) over a time range, as one
//! self-contained HTML file.

use std::path::PathBuf;

use clap::Args;

use crate::dashboards::{self, report, Range};
use crate::engine::Engine;
use crate::error::Error;
use crate::investigate::saved::DefaultStores;
use crate::store::Store;

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The CloudTrail event data store the widgets read (`{{eds}}`; default: the default store).
    #[arg(long)]
    pub eds: Option<String>,
    /// Start of the time range (RFC 3339 or YYYY-MM-DD; default: 7 days before --until).
    #[arg(long, value_parser = super::investigate::parse_time)]
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    /// End of the time range (default: the newest event in the store).
    #[arg(long, value_parser = super::investigate::parse_time)]
    pub until: Option<chrono::DateTime<chrono::Utc>>,
    /// Dashboards to include by name (repeatable; default: all). `--dashboard list` lists them.
    #[arg(long = "dashboard", value_name = "NAME")]
    pub dashboards: Vec<String>,
    /// More dashboards (*.json in Lake's widget shape; one named like a built-in replaces it).
    #[arg(long = "dashboards", visible_alias = "dashboards-dir", value_name = "DIR")]
    pub dashboards_dir: Option<PathBuf>,
    /// Also the results of these saved investigations (`traillake queries list`), with their
    /// parameters' defaults (repeatable).
    #[arg(long = "investigation", value_name = "NAME")]
    pub investigations: Vec<String>,
    /// html: one self-contained file; md: Markdown, with each chart an SVG file in
    /// `<output stem>-charts/` beside it.
    #[arg(long, value_enum, default_value_t = ReportFormat::Html)]
    pub format: ReportFormat,
    /// The file to write.
    #[arg(short = 'o', long = "output", default_value = "report.html")]
    pub output: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Html,
    Md,
}

pub async fn run(store: &Store, a: ReportArgs) -> Result<i32, Error> {
    let all = dashboards::load(a.dashboards_dir.as_deref())?;
    if a.dashboards.iter().any(|d| d == "list") {
        for d in &all {
            println!("{:<26} {:>2} widgets  {}", d.name, d.widgets.len(), d.title);
        }
        return Ok(0);
    }
    let rec = match &a.eds {
        Some(k) => store.resolve(k).await?,
        None => store.default_eds().await?.ok_or_else(|| Error::Usage("no event data store; give --eds".into()))?,
    };
    let stores = DefaultStores { eds: Some(rec.id.to_string()), ..DefaultStores::of(store).await? };
    let chosen: Vec<&dashboards::Dashboard> = match a.dashboards.is_empty() {
        // All that can run here (the Insights dashboard needs an Insights store).
        true => all.iter().filter(|d| dashboards::unavailable(d, &stores).is_none()).collect(),
        false => a
            .dashboards
            .iter()
            .map(|name| {
                all.iter().find(|d| d.name.eq_ignore_ascii_case(name)).ok_or_else(|| {
                    let names: Vec<&str> = all.iter().map(|d| d.name.as_str()).collect();
                    Error::Usage(format!("no dashboard named {name}; there are: {}", names.join(", ")))
                })
            })
            .collect::<Result<_, _>>()?,
    };
    for d in &chosen {
        if let Some(why) = dashboards::unavailable(d, &stores) {
            return Err(Error::Usage(format!("dashboard {}: {why}", d.name)));
        }
    }
    let library = crate::investigate::library::Library::open(None).map_err(|e| Error::Usage(e.to_string()))?;
    let investigations = a
        .investigations
        .iter()
        .map(|name| library.get(name).map_err(|e| Error::Usage(e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    let engine = Engine::open(store).await?;
    let until = match a.until {
        Some(t) => t,
        None => newest_event(&engine, &rec)?.unwrap_or_else(chrono::Utc::now),
    };
    let range = Range { start: a.since.unwrap_or(until - chrono::Duration::days(7)), end: until };
    if range.start >= range.end {
        return Err(Error::Usage("--since must be before --until".into()));
    }
    let mut rendered = Vec::new();
    let mut failed = 0;
    for d in chosen {
        let widgets = dashboards::run(&engine, d, &range, &stores).await;
        for w in widgets.iter().filter(|w| w.error.is_some()) {
            failed += 1;
            eprintln!("widget {:?} of {}: {}", w.title, d.name, w.error.as_deref().unwrap_or_default());
        }
        rendered.push(report::RenderedDashboard {
            name: d.name.clone(),
            title: d.title.clone(),
            description: d.description.clone(),
            widgets,
        });
    }
    if !investigations.is_empty() {
        let runs = investigations.iter().map(|entry| dashboards::investigation(&engine, entry, &stores));
        let widgets = futures::future::join_all(runs).await;
        for w in widgets.iter().filter(|w| w.error.is_some()) {
            failed += 1;
            eprintln!("investigation {}: {}", w.title, w.error.as_deref().unwrap_or_default());
        }
        rendered.push(report::RenderedDashboard {
            name: "investigations".into(),
            title: "Investigations".into(),
            description: "Saved investigations, run with their parameters' defaults.".into(),
            widgets,
        });
    }
    let widgets: usize = rendered.iter().map(|d| d.widgets.len()).sum();
    let doc = report::Report {
        store: rec.name.clone(),
        range,
        generated: chrono::Utc::now().format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        dashboards: rendered,
    };
    let write = |path: &std::path::Path, text: &str| {
        std::fs::write(path, text).map_err(|e| Error::Usage(format!("cannot write {}: {e}", path.display())))
    };
    match a.format {
        ReportFormat::Html => write(&a.output, &report::html(&doc))?,
        ReportFormat::Md => {
            let stem =
                a.output.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "report".into());
            let charts_dir = format!("{stem}-charts");
            let (md, charts) = report::markdown(&doc, &charts_dir);
            let dir = a.output.with_file_name(&charts_dir);
            std::fs::create_dir_all(&dir).map_err(|e| Error::Usage(format!("cannot create {}: {e}", dir.display())))?;
            for (file, svg) in &charts {
                write(&dir.join(file), svg)?;
            }
            write(&a.output, &md)?;
        }
    }
    eprintln!(
        "wrote {} ({} dashboards, {widgets} widgets, {} to {}){}",
        a.output.display(),
        doc.dashboards.len(),
        range.start.format("%Y-%m-%d %H:%M"),
        range.end.format("%Y-%m-%d %H:%M UTC"),
        if failed > 0 { format!("; {failed} widgets failed") } else { String::new() }
    );
    Ok(if failed > 0 { 2 } else { 0 })
}

/// The newest `eventTime` in the store, from the table statistics.
fn newest_event(
    engine: &Engine,
    rec: &crate::store::EdsRecord,
) -> Result<Option<chrono::DateTime<chrono::Utc>>, Error> {
    let figures = engine.figures()?;
    let last = figures.iter().find(|(r, _)| r.id == rec.id).and_then(|(_, f)| f.last_event.clone());
    Ok(last
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok())
        .map(|t| t.with_timezone(&chrono::Utc) + chrono::Duration::seconds(1)))
}

#[derive(Debug, Args)]
pub struct DashboardArgs {
    /// The CloudTrail event data store the widgets read (`{{eds}}`; default: the default store).
    #[arg(long)]
    pub eds: Option<String>,
    /// Where to listen (loopback by default; another address needs --user/--password or --token).
    #[arg(long, env = "TRAILLAKE_DASHBOARD_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: std::net::SocketAddr,
    /// More dashboards (*.json in Lake's widget shape; one named like a built-in replaces it).
    #[arg(long = "dashboards", visible_alias = "dashboards-dir", value_name = "DIR")]
    pub dashboards_dir: Option<PathBuf>,
    #[command(flatten)]
    pub credentials: super::serve::CredentialArgs,
}

pub async fn dashboard(store: &Store, a: DashboardArgs) -> Result<i32, Error> {
    use crate::dashboards::server::{self, Auth, Options};
    let all = dashboards::load(a.dashboards_dir.as_deref())?;
    let rec = match &a.eds {
        Some(k) => store.resolve(k).await?,
        None => store.default_eds().await?.ok_or_else(|| Error::Usage("no event data store; give --eds".into()))?,
    };
    let c = a.credentials;
    let auth = match (c.user, c.password, c.token) {
        (Some(user), Some(password), _) => Auth::Basic { user, password },
        (_, _, Some(token)) => Auth::Token(token),
        _ => Auth::Open,
    };
    let options = Options { addr: a.addr, auth, allow_unauthenticated: c.allow_unauthenticated };
    let running = server::start(store.clone(), rec.clone(), all, options).await?;
    eprintln!("traillake dashboards of {} on {} ; Ctrl-C stops it", rec.name, running.url());
    tokio::select! {
        _ = running.wait() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(0)
}
