//! The command line: argument definitions (clap derive) and one handler per subcommand.
//! Results go to stdout, messages and errors to stderr.

pub mod eds;
pub mod investigate;
pub mod output;
pub mod serve;

use std::io::{self, Write};
use std::path::PathBuf;
use std::time::Instant;

use clap::{Args, Parser, Subcommand, ValueEnum};
use futures::TryStreamExt;

use crate::demo::{self, GenerateOptions};
use crate::engine::{Engine, EngineError, QueryStats};
use crate::ingest::{self, IngestError, IngestOptions};
use crate::saved::{self, SavedQuery};
use crate::store::{EdsRecord, Store, StoreError};
use output::Format;

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
    /// Days of activity.
    #[arg(long, default_value_t = 7)]
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum InfoFormat {
    #[default]
    Table,
    Json,
}

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Files, folders (walked recursively) or s3://bucket/prefix.
    #[arg(required = true)]
    pub sources: Vec<String>,
    /// Event data store id, name or ARN (default: "default", created if absent).
    #[arg(long)]
    pub eds: Option<String>,
    /// Summary as text (stderr) or JSON (stdout).
    #[arg(long, value_enum, default_value_t)]
    pub format: InfoFormat,
    /// No progress bar even on a terminal.
    #[arg(long)]
    pub no_progress: bool,
    /// Decode threads (default: one per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Decoded data per commit at most, in MiB: what a run killed at the worst moment does again
    /// (larger means fewer commits and files). A commit also comes early once 320 MiB wait
    /// unencoded (input whose days come interleaved), which bounds memory.
    #[arg(long, env = "TRAILLAKE_COMMIT_MB", default_value_t = ingest::DEFAULT_COMMIT_MB)]
    pub commit_mb: usize,
    /// Parquet zstd level (1–22).
    #[arg(long, default_value_t = 1, hide = true, value_parser = clap::value_parser!(i32).range(1..=22))]
    pub zstd_level: i32,
    /// Bloom filters on eventid, access key id and source IP.
    #[arg(long, hide = true)]
    pub bloom_filters: bool,
}

#[derive(Debug, Args)]
pub struct QueryArgs {
    /// The SQL text (or use -f).
    pub sql: Option<String>,
    /// Run a saved query file (`-- name:`, `-- description:`, `-- param: NAME DEFAULT description`
    /// header; `{{NAME}}` placeholders; `{{eds}}` is the default event data store).
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
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Ingest(#[from] IngestError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    #[error("internal error: {0}")]
    Internal(String),
}

impl CliError {
    /// 1 for problems with what the user asked, 2 for internal failures.
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Usage(_) => 1,
            CliError::Engine(e) if e.is_user_error() => 1,
            CliError::Store(StoreError::NotFound(_) | StoreError::NameTaken(_) | StoreError::Invalid(_)) => 1,
            CliError::Ingest(IngestError::Source { .. } | IngestError::NotIngestible { .. }) => 1,
            CliError::Ingest(IngestError::Store(StoreError::NotFound(_))) => 1,
            _ => 2,
        }
    }
}

impl From<datafusion::error::DataFusionError> for CliError {
    fn from(e: datafusion::error::DataFusionError) -> Self {
        CliError::Engine(e.into())
    }
}

/// Runs a parsed command line; returns the process exit code.
pub async fn run(cli: Cli) -> Result<i32, CliError> {
    match cli.command {
        Command::Generate(a) => {
            let opts = GenerateOptions { events: a.events, days: a.days, end_date: a.end_date, seed: a.seed };
            let r = demo::generate(&a.out, &opts)?;
            eprintln!(
                "wrote {} events in {} files to {} ({} JSON, {} gzip)",
                r.events,
                r.files,
                a.out.display(),
                ingest::human_bytes(r.json_bytes),
                ingest::human_bytes(r.gzip_bytes)
            );
            Ok(0)
        }
        Command::Demo(a) => run_demo(&cli.store, a).await,
        Command::Eds(cmd) => {
            let store = Store::open(&cli.store)?;
            eds::run(&store, cmd).await
        }
        Command::Ingest(a) => {
            let store = Store::open(&cli.store)?;
            let writer = ingest::WriterConfig {
                commit_bytes: a.commit_mb.max(1) * 1024 * 1024,
                zstd_level: a.zstd_level,
                bloom_filters: a.bloom_filters,
                ..Default::default()
            };
            let opts = IngestOptions { threads: a.threads, progress: !a.no_progress, writer };
            let report = ingest::ingest(&store, a.eds.as_deref(), &a.sources, opts).await?;
            if report.quarantined_records > 20 {
                eprintln!("… {} more quarantined records (see the quarantine file)", report.quarantined_records - 20);
            }
            match a.format {
                InfoFormat::Json => {
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&report).map_err(|e| CliError::Internal(e.to_string()))?
                    )
                }
                InfoFormat::Table => eprintln!("{}", report.summary()),
            }
            Ok(report.exit_code())
        }
        Command::Repl(a) => {
            let store = Store::open(&cli.store)?;
            crate::repl::run(&store, crate::repl::ReplOptions { queries_dir: a.queries, history: a.history }).await
        }
        Command::Query(a) => {
            let store = Store::open(&cli.store)?;
            let sql = query_text(&store, &a).await?;
            let engine = Engine::open(&store).await?;
            emit(&engine, &sql, a.format, a.output.as_deref(), a.stats).await
        }
        Command::Queries(a) => investigate::queries(&cli.store, a).await,
        Command::Lookup(a) => investigate::lookup(&cli.store, a).await,
        Command::Serve(a) => serve::serve(&cli.store, a).await,
    }
}

/// Runs `sql` and writes its result to `output` (or stdout); `stats` prints the statistics.
pub(crate) async fn emit(
    engine: &Engine,
    sql: &str,
    format: Format,
    output: Option<&std::path::Path>,
    stats: bool,
) -> Result<i32, CliError> {
    let ran = match output {
        Some(p) => {
            let f =
                std::fs::File::create(p).map_err(|e| CliError::Usage(format!("cannot write {}: {e}", p.display())))?;
            let mut f = run_query(engine, sql, format, io::BufWriter::new(f)).await?;
            f.flush()?;
            f.0
        }
        None => {
            if format == Format::Parquet && std::io::IsTerminal::is_terminal(&io::stdout()) {
                return Err(CliError::Usage("Parquet is binary: write it to a file with -o PATH".into()));
            }
            let mut out = run_query(engine, sql, format, io::BufWriter::new(io::stdout())).await?;
            out.flush()?;
            out.0
        }
    };
    if stats {
        eprintln!("{}", ran.summary());
    }
    Ok(0)
}

/// The SQL to run: the argument or the file, placeholders substituted.
async fn query_text(store: &Store, a: &QueryArgs) -> Result<String, CliError> {
    let (origin, text) = match (&a.sql, &a.file) {
        (Some(s), None) => ("the command line".to_string(), s.clone()),
        (None, Some(f)) => (
            f.display().to_string(),
            std::fs::read_to_string(f).map_err(|e| CliError::Usage(format!("cannot read {}: {e}", f.display())))?,
        ),
        (Some(_), Some(_)) => return Err(CliError::Usage("give the SQL as an argument or with -f, not both".into())),
        (None, None) => {
            return Err(CliError::Usage("no SQL given: `traillake query \"SELECT …\"` or `-f FILE.sql`".into()))
        }
    };
    let saved = SavedQuery::parse(&origin, &text).map_err(|e| CliError::Usage(e.to_string()))?;
    // Inline SQL is taken as written unless it uses placeholders.
    if a.file.is_none() && a.params.is_empty() && !text.contains("{{") {
        return Ok(text);
    }
    let values = saved::parse_assignments(&a.params).map_err(|e| CliError::Usage(e.to_string()))?;
    let eds = default_eds(store).await?;
    saved.render(&values, eds.as_ref().map(|r| r.id.to_string()).as_deref()).map_err(|e| CliError::Usage(e.to_string()))
}

/// The EDS `{{eds}}` means: the one named "default", else the only queryable one.
pub async fn default_eds(store: &Store) -> Result<Option<EdsRecord>, CliError> {
    let cat = store.catalog().await?;
    if let Some(d) = cat.find(crate::store::DEFAULT_EDS_NAME) {
        return Ok(Some(d.clone()));
    }
    let live: Vec<&EdsRecord> =
        cat.event_data_stores.iter().filter(|e| e.status != crate::store::EdsStatus::PendingDeletion).collect();
    Ok(match live.as_slice() {
        [one] => Some((*one).clone()),
        _ => None,
    })
}

/// What `run_query` hands back: the writer and the query's statistics.
pub struct Ran<W>(pub QueryStats, pub W);

impl<W: Write> Ran<W> {
    pub fn flush(&mut self) -> io::Result<()> {
        self.1.flush()
    }
}

/// Runs one query and streams its result to `out`; table output gets the "N rows · elapsed" footer.
pub async fn run_query<W: Write + Send>(
    engine: &Engine,
    sql: &str,
    format: Format,
    out: W,
) -> Result<Ran<W>, CliError> {
    let started = Instant::now();
    let query = engine.plan(sql).await?;
    let mut stream = query.execute().await?;
    let mut sink = output::Sink::new(format, out, &stream.schema())?;
    while let Some(batch) = stream.try_next().await? {
        sink.write(&batch)?;
    }
    let stats = stream.stats();
    let footer = output::footer(stats.rows_returned as usize, started.elapsed());
    let out = sink.finish(Some(&footer))?;
    Ok(Ran(stats, out))
}

pub(crate) fn print_json<T: serde::Serialize>(v: &T) -> Result<(), CliError> {
    println!("{}", serde_json::to_string_pretty(v).map_err(|e| CliError::Internal(e.to_string()))?);
    Ok(())
}

async fn run_demo(store_spec: &str, a: DemoArgs) -> Result<i32, CliError> {
    let store = Store::open(store_spec)?;
    eprintln!(
        "1/3 generating a sample organization trail ({} events over {} days) in {}",
        a.events,
        a.days,
        a.out.display()
    );
    let opts = GenerateOptions { events: a.events, days: a.days, ..Default::default() };
    let g = demo::generate(&a.out, &opts)?;
    eprintln!("    {} trail files, {} gzip", g.files, ingest::human_bytes(g.gzip_bytes));
    let eds = match store.resolve("demo").await {
        Ok(r) => r,
        // The sample trail's dates are fixed: the longest retention keeps it queryable for years.
        Err(StoreError::NotFound(_)) => {
            let keep = crate::store::EdsSettings {
                retention_period: Some(crate::store::catalog::MAX_RETENTION_DAYS),
                ..Default::default()
            };
            store.create_eds_with("demo", &keep).await?
        }
        Err(e) => return Err(e.into()),
    };
    eprintln!("2/3 ingesting into event data store \"demo\" ({})", eds.id);
    let sources = vec![a.out.display().to_string()];
    let report =
        ingest::ingest(&store, Some("demo"), &sources, IngestOptions { progress: true, ..Default::default() }).await?;
    eprintln!("{}", report.summary());
    eprintln!("3/3 a guided tour of the planted incident, with saved investigations (`traillake queries list`)\n");
    let engine = Engine::open(&store).await?;
    let library = crate::library::Library::builtin().map_err(|e| CliError::Internal(e.to_string()))?;
    let mut out = io::stdout();
    let eds_id = eds.id.to_string();
    for (i, (name, story)) in demo::TOUR.iter().enumerate() {
        let entry = library.get(name).map_err(|e| CliError::Internal(e.to_string()))?;
        let sql =
            entry.query.render(&Default::default(), Some(&eds_id)).map_err(|e| CliError::Internal(e.to_string()))?;
        writeln!(out, "== {}. {story}\n   traillake --store {store_spec} queries run {name}\n", i + 1)?;
        out = run_query(&engine, &sql, Format::Table, out).await?.1;
        writeln!(out)?;
    }
    writeln!(
        out,
        "Next: `traillake --store {store_spec} queries list` ({} investigations), `traillake --store {store_spec} repl`,\n\
         or `traillake --store {store_spec} lookup --lookup-attributes AttributeKey=Username,AttributeValue=mallory --start-time 2026-11-01`.",
        library.entries().len()
    )?;
    Ok(0)
}
