//! The command line: argument definitions (clap derive) and one handler per subcommand.
//! Results go to stdout, messages and errors to stderr.

pub mod detect;
pub mod eds;
pub mod ingest;
pub mod insights;
pub mod integrity;
pub mod investigate;
pub mod report;
pub mod serve;

pub use ingest::IngestArgs;

use std::io::{self, Write};
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::demo::{self, GenerateOptions};
use crate::engine::Engine;
use crate::error::Error;
use crate::investigate::saved::{self, SavedQuery};
use crate::output::{self, Format, RunOptions};
use crate::store::Store;

#[derive(Debug, Parser)]
#[command(
    name = "traillake",
    version,
    about = "A local CloudTrail Lake: ingest CloudTrail trail files into event data stores and query them with CloudTrail Lake SQL."
)]
pub struct Cli {
    /// Where event data stores live: a folder or s3://bucket/prefix.
    #[arg(long, global = true, env = "TRAILLAKE_STORE", default_value = "./traillake-data")]
    pub store: String,
    /// More log output on stderr (-v info, -vv debug); TRAILLAKE_LOG takes an env-filter.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate a sample organization trail, ingest it into the EDS "demo" and run investigations.
    Demo(DemoArgs),
    /// Write a generated trail (AWSLogs/... layout, gzip) without ingesting it; for benchmarks.
    Generate(GenerateArgs),
    /// Manage event data stores.
    #[command(subcommand)]
    Eds(eds::EdsCommand),
    /// Ingest trail files (files, folders, s3://bucket/prefix) into an event data store.
    #[command(after_help = "Exit status: 0 everything ingested (or already ingested); 3 part of the input was \
quarantined (see the summary for where) and the rest committed; 1 nothing could be ingested.\n\
Re-running over the same sources adds nothing; events already stored (same eventID) are never added twice.")]
    Ingest(IngestArgs),
    /// Run a CloudTrail Lake SQL query.
    Query(QueryArgs),
    /// Interactive SQL session: multi-line statements run at `;`, Tab completion of columns,
    /// functions, stores and map keys, Ctrl-C cancels a query, \? lists the commands.
    Repl(ReplArgs),
    /// The investigation library: saved queries responders reach for first.
    Queries(investigate::QueriesArgs),
    /// CloudTrail Event history (LookupEvents) over an event data store.
    Lookup(investigate::LookupArgs),
    /// Arrow Flight SQL endpoint for BI tools and notebooks (JDBC, ADBC, Superset, Grafana).
    Serve(serve::ServeArgs),
    /// Validate CloudTrail log files against their digest chains, offline (as `aws cloudtrail
    /// validate-logs`).
    ValidateLogs(integrity::ValidateLogsArgs),
    /// Signing keys for digests, event data stores and query results.
    #[command(subcommand)]
    Keys(integrity::KeysCommand),
    /// Verify results saved with --save-results against result_sign.json (as `aws cloudtrail
    /// verify-query-results --local-export-path`).
    VerifyQueryResults(integrity::VerifyQueryResultsArgs),
    /// CloudTrail Insights: unusual API call and error rates, computed over a CloudTrail store
    /// into an Insights store.
    #[command(subcommand)]
    Insights(insights::InsightsCommand),
    /// Run Sigma rules (YAML, logsource aws/cloudtrail) over a CloudTrail store: each matching
    /// event is a finding (rule title, level, ATT&CK tags, time, principal, source IP).
    Detect(detect::DetectArgs),
    /// Write dashboards (Lake's managed dashboards' content as widgets: overview, management
    /// and data events, errors and denied access, console sign-ins, IAM) over a time range
    /// into one self-contained HTML file that opens offline.
    Report(report::ReportArgs),
    /// Serve the dashboards as a local web page: time-range picker, refresh, charts, the events
    /// behind a bar or slice on a click.
    Dashboard(report::DashboardArgs),
}

#[derive(Debug, Args)]
pub struct ReplArgs {
    /// Folder of saved investigations for \queries and \run (default: the built-in library).
    #[arg(long, env = "TRAILLAKE_QUERIES")]
    pub queries: Option<PathBuf>,
    /// History file (default: $XDG_STATE_HOME/traillake/history, else ~/.local/state/traillake/history).
    #[arg(long, env = "TRAILLAKE_HISTORY")]
    pub history: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where to write the sample trail.
    #[arg(long, default_value = "./traillake-demo-trail")]
    pub out: PathBuf,
    /// Number of events to generate.
    #[arg(long, default_value_t = 5000)]
    pub events: u64,
    /// Days of activity (8 or more: a week of history for CloudTrail Insights to judge the
    /// incident's day against).
    #[arg(long, default_value_t = 9)]
    pub days: u32,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, default_value_t = 200_000)]
    pub events: u64,
    #[arg(long, default_value_t = 30)]
    pub days: u32,
    /// Last day of the trail (YYYY-MM-DD).
    #[arg(long, default_value = "2026-11-15")]
    pub end_date: chrono::NaiveDate,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Also write hourly CloudTrail-Digest/ files per account and Region, signed with a new key
    /// saved in OUT.keys/ (public-keys.json there validates them), with `.sig` sidecars.
    #[arg(long)]
    pub digests: bool,
    /// Also write AWS Config history for the trail's resources (AWSLogs/<account>/Config/),
    /// for a store of kind config (`ingest --config-eds`).
    #[arg(long)]
    pub config: bool,
    /// Also write Okta sign-ins as PutAuditEvents bodies in OUT.okta/, for a store of kind
    /// audit (`ingest --eds OKTA --channel okta OUT.okta`).
    #[arg(long)]
    pub audit: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum InfoFormat {
    /// For people (`text` is the same: the AWS CLI's word for it).
    #[default]
    #[value(alias = "text")]
    Table,
    Json,
}

#[derive(Debug, Args)]
pub struct QueryArgs {
    /// The SQL text; it may start with a `--` comment. `-`, or nothing with input piped in,
    /// reads it from standard input.
    #[arg(allow_hyphen_values = true)]
    pub sql: Option<String>,
    /// Run a saved query file (`-- name:`, `-- description:`, `-- param: NAME DEFAULT description`
    /// header; `{{NAME}}` placeholders; `{{eds}}` is the default event data store); `-` reads it
    /// from standard input.
    #[arg(short = 'f', long = "file")]
    pub file: Option<PathBuf>,
    /// A placeholder value, NAME=VALUE (repeatable); substituted as a quoted literal.
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// Write results to this file instead of stdout.
    #[arg(short = 'o', long = "output")]
    pub output: Option<PathBuf>,
    /// Print query statistics to stderr (events matched and scanned, bytes scanned, time,
    /// what CloudTrail Lake would have charged).
    #[arg(long)]
    pub stats: bool,
    #[command(flatten)]
    pub save: integrity::SaveResultsArgs,
}

/// Runs a parsed command line; returns the process exit code.
pub async fn run(cli: Cli) -> Result<i32, Error> {
    match cli.command {
        Command::Generate(a) => {
            let opts = GenerateOptions {
                events: a.events,
                days: a.days,
                end_date: a.end_date,
                seed: a.seed,
                digests: a.digests,
                config: a.config,
                audit: a.audit,
            };
            let r = demo::generate(&a.out, &opts)?;
            eprintln!(
                "wrote {} events in {} files to {} ({} JSON, {} gzip)",
                r.events,
                r.files,
                a.out.display(),
                crate::human::human_bytes(r.json_bytes),
                crate::human::human_bytes(r.gzip_bytes)
            );
            if r.kinds.config_items > 0 {
                eprintln!("wrote {} AWS Config items in {} history files", r.kinds.config_items, r.kinds.config_files);
            }
            if r.kinds.audit_events > 0 {
                eprintln!(
                    "wrote {} Okta events in {} PutAuditEvents bodies to {}",
                    r.kinds.audit_events,
                    r.kinds.audit_files,
                    crate::demo::kinds::okta_dir(&a.out).display()
                );
            }
            if let Some(keys) = &r.keys {
                eprintln!(
                    "wrote {} signed digest files; validate them with `traillake validate-logs {} --public-key {}`",
                    r.digests,
                    a.out.display(),
                    keys.public_keys_json.display()
                );
            }
            Ok(0)
        }
        Command::Demo(a) => {
            let opts = demo::TourOptions { out: a.out, events: a.events, days: a.days };
            demo::tour::run(&cli.store, &opts).await
        }
        Command::Eds(cmd) => {
            let store = Store::open(&cli.store)?;
            eds::run(&store, cmd).await
        }
        Command::Ingest(a) => ingest::run(&cli.store, a).await,
        Command::Repl(a) => {
            let store = Store::open(&cli.store)?;
            crate::repl::run(&store, crate::repl::ReplOptions { queries_dir: a.queries, history: a.history }).await
        }
        Command::Query(a) => {
            let store = Store::open(&cli.store)?;
            let sql = query_text(&store, &a).await?;
            let engine = Engine::open(&store).await?;
            if a.save.save_results.is_some() {
                return integrity::save_results(&engine, &sql, &a.save, a.stats).await;
            }
            emit(&engine, &sql, a.format, a.output.as_deref(), a.stats).await
        }
        Command::Queries(a) => investigate::queries(&cli.store, a).await,
        Command::Lookup(a) => investigate::lookup(&cli.store, a).await,
        Command::Serve(a) => serve::serve(&cli.store, a).await,
        Command::ValidateLogs(a) => integrity::validate_logs(a, cli.verbose > 0).await,
        Command::Keys(cmd) => integrity::keys(cmd),
        Command::VerifyQueryResults(a) => integrity::verify_query_results(a),
        Command::Dashboard(a) => {
            let store = Store::open(&cli.store)?;
            report::dashboard(&store, a).await
        }
        Command::Report(a) => {
            let store = Store::open(&cli.store)?;
            report::run(&store, a).await
        }
        Command::Detect(a) => {
            let store = Store::open(&cli.store)?;
            detect::run(&store, a).await
        }
        Command::Insights(cmd) => {
            let store = Store::open(&cli.store)?;
            insights::run(&store, cmd).await
        }
    }
}

/// Runs `sql` and writes its result to `output` (or stdout); `stats` prints the statistics.
pub(crate) async fn emit(
    engine: &Engine,
    sql: &str,
    format: Format,
    output: Option<&std::path::Path>,
    stats: bool,
) -> Result<i32, Error> {
    let ran = match output {
        Some(p) => {
            let f = std::fs::File::create(p).map_err(|e| Error::Usage(format!("cannot write {}: {e}", p.display())))?;
            let mut ran = output::run(engine, sql, &RunOptions::whole(format), io::BufWriter::new(f)).await?;
            ran.out.flush()?;
            ran.stats
        }
        None => {
            if format == Format::Parquet && std::io::IsTerminal::is_terminal(&io::stdout()) {
                return Err(Error::Usage("Parquet is binary: write it to a file with -o PATH".into()));
            }
            let mut ran =
                output::run(engine, sql, &RunOptions::whole(format), io::BufWriter::new(io::stdout())).await?;
            ran.out.flush()?;
            ran.stats
        }
    };
    if stats {
        eprintln!("{}", ran.summary());
    }
    Ok(0)
}

/// The SQL to run: the argument or the file, placeholders substituted.
async fn query_text(store: &Store, a: &QueryArgs) -> Result<String, Error> {
    use std::io::IsTerminal;
    let stdin = || -> Result<(String, String), Error> {
        let mut text = String::new();
        io::Read::read_to_string(&mut io::stdin(), &mut text)
            .map_err(|e| Error::Usage(format!("cannot read the SQL from standard input: {e}")))?;
        Ok(("standard input".to_string(), text))
    };
    let from_stdin = |f: &std::path::Path| f.as_os_str() == "-";
    let (origin, text) = match (a.sql.as_deref(), &a.file) {
        (Some("-"), None) => stdin()?,
        (None, Some(f)) if from_stdin(f) => stdin()?,
        (Some(s), None) => ("the command line".to_string(), s.to_string()),
        (None, Some(f)) => (
            f.display().to_string(),
            std::fs::read_to_string(f).map_err(|e| Error::Usage(format!("cannot read {}: {e}", f.display())))?,
        ),
        (Some(_), Some(_)) => return Err(Error::Usage("give the SQL as an argument or with -f, not both".into())),
        (None, None) if !io::stdin().is_terminal() => stdin()?,
        (None, None) => {
            return Err(Error::Usage(
                "no SQL given: `traillake query \"SELECT …\"`, `-f FILE.sql`, or the SQL on standard input".into(),
            ))
        }
    };
    if text.trim().is_empty() {
        return Err(Error::Usage(format!("no SQL in {origin}")));
    }
    let saved = SavedQuery::parse(&origin, &text).map_err(|e| Error::Usage(e.to_string()))?;
    // Inline SQL is taken as written unless it uses placeholders.
    if a.file.is_none() && a.params.is_empty() && !text.contains("{{") {
        return Ok(text);
    }
    let values = saved::parse_assignments(&a.params).map_err(|e| Error::Usage(e.to_string()))?;
    let stores = saved::DefaultStores::of(store).await?;
    saved.render(&values, &stores).map_err(|e| Error::Usage(e.to_string()))
}

pub(crate) fn print_json<T: serde::Serialize>(v: &T) -> Result<(), Error> {
    println!("{}", serde_json::to_string_pretty(v).map_err(|e| Error::Internal(e.to_string()))?);
    Ok(())
}
