//! `queries list|show|run` (the investigation library) and `lookup` (Event history).

use std::path::PathBuf;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use clap::{Args, Subcommand, ValueEnum};
use futures::TryStreamExt;

use super::{emit, print_json, InfoFormat};
use crate::engine::Engine;
use crate::error::Error;
use crate::investigate::library::Library;
use crate::investigate::lookup::{self, LookupRequest};
use crate::investigate::saved;
use crate::output::{self, Format};
use crate::store::Store;

#[derive(Debug, Args)]
pub struct QueriesArgs {
    /// A folder of saved queries to use instead of the built-in library.
    #[arg(long, env = "TRAILLAKE_QUERIES", global = true)]
    pub queries: Option<PathBuf>,
    #[command(subcommand)]
    pub command: QueriesCommand,
}

#[derive(Debug, Subcommand)]
pub enum QueriesCommand {
    /// Every saved investigation: name, what it detects, parameters.
    List {
        #[arg(long, value_enum, default_value_t)]
        format: InfoFormat,
    },
    /// One investigation's file: header and SQL.
    Show { name: String },
    /// Run an investigation (placeholders from --param, else their defaults).
    Run {
        name: String,
        /// NAME=VALUE (repeatable); `eds=NAME` picks the event data store.
        #[arg(long = "param", value_name = "NAME=VALUE")]
        params: Vec<String>,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
        #[arg(short = 'o', long = "output")]
        output: Option<PathBuf>,
        #[arg(long)]
        stats: bool,
        #[command(flatten)]
        save: super::integrity::SaveResultsArgs,
    },
}

pub async fn queries(store_spec: &str, a: QueriesArgs) -> Result<i32, Error> {
    let lib = Library::open(a.queries.as_deref()).map_err(|e| Error::Usage(e.to_string()))?;
    match a.command {
        QueriesCommand::List { format: InfoFormat::Json } => {
            let list: Vec<serde_json::Value> = lib
                .entries()
                .iter()
                .map(|e| {
                    serde_json::json!({"name": e.name, "description": e.query.description,
                        "params": e.query.params, "origin": e.origin})
                })
                .collect();
            print_json(&list)?;
        }
        QueriesCommand::List { format: InfoFormat::Table } => {
            let mut list = output::Listing::new();
            for e in lib.entries() {
                list.row(&[e.name.as_str(), first_sentence(&e.query.description)]);
            }
            print!("{list}");
            eprintln!(
                "{} saved queries · `traillake queries show NAME` for details, `queries run NAME` to run",
                lib.entries().len()
            );
        }
        QueriesCommand::Show { name } => {
            let e = lib.get(&name).map_err(|e| Error::Usage(e.to_string()))?;
            print!("{}", e.query.sql);
            if !e.query.sql.ends_with('\n') {
                println!();
            }
        }
        QueriesCommand::Run { name, params, format, output, stats, save } => {
            let e = lib.get(&name).map_err(|e| Error::Usage(e.to_string()))?;
            let store = Store::open(store_spec)?;
            let values = saved::parse_assignments(&params).map_err(|e| Error::Usage(e.to_string()))?;
            let stores = saved::DefaultStores::of(&store).await?;
            let sql = e.query.render(&values, &stores).map_err(|e| Error::Usage(e.to_string()))?;
            let engine = Engine::open(&store).await?;
            if save.save_results.is_some() {
                return super::integrity::save_results(&engine, &sql, &save, stats).await;
            }
            return emit(&engine, &sql, format, output.as_deref(), stats).await;
        }
    }
    Ok(0)
}

fn first_sentence(d: &str) -> &str {
    match d.find(". ") {
        Some(i) => &d[..=i],
        None => d,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum LookupFormat {
    #[default]
    Table,
    /// The AWS CLI's `lookup-events` JSON: {"Events": [...]}.
    Json,
}

#[derive(Debug, Args)]
pub struct LookupArgs {
    /// AttributeKey=KEY,AttributeValue=VALUE; KEY is one of EventId, EventName, ReadOnly,
    /// Username, ResourceType, ResourceName, EventSource, AccessKeyId (one attribute, as AWS).
    #[arg(long = "lookup-attributes", value_name = "AttributeKey=K,AttributeValue=V")]
    pub lookup_attributes: Option<String>,
    /// Earliest event time (RFC 3339, `YYYY-MM-DD HH:MM:SS` or `YYYY-MM-DD`, UTC); default 90
    /// days before the end time.
    #[arg(long, value_parser = parse_time)]
    pub start_time: Option<DateTime<Utc>>,
    /// Latest event time; default now.
    #[arg(long, value_parser = parse_time)]
    pub end_time: Option<DateTime<Utc>>,
    #[arg(long, default_value_t = 50)]
    pub max_results: usize,
    /// Event data store id, name or ARN (default: "default", else the only one).
    #[arg(long)]
    pub eds: Option<String>,
    #[arg(long, value_enum, default_value_t)]
    pub format: LookupFormat,
}

/// A time as users write it: RFC 3339, `YYYY-MM-DD[ HH:MM[:SS]]` (UTC), or epoch seconds (as
/// the AWS CLI takes).
pub(crate) fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    if !s.is_empty() && s.len() <= 12 && s.bytes().all(|b| b.is_ascii_digit()) {
        if let Some(t) = s.parse::<i64>().ok().and_then(|n| DateTime::from_timestamp(n, 0)) {
            return Ok(t);
        }
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    for f in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Ok(t.and_utc());
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc());
    }
    Err(format!("`{s}` is not a time: use 2026-11-15T02:13:00Z, 2026-11-15 02:13:00 or 2026-11-15"))
}

pub async fn lookup(store_spec: &str, a: LookupArgs) -> Result<i32, Error> {
    let store = Store::open(store_spec)?;
    let rec = match &a.eds {
        Some(k) => store.resolve(k).await?,
        None => store.default_eds().await?.ok_or_else(|| {
            Error::Usage("several event data stores and none named default: choose one with --eds".into())
        })?,
    };
    if rec.kind != crate::schema::Kind::Cloudtrail {
        return Err(Error::Usage(format!(
            "Event history (lookup) is for CloudTrail events; {} holds {} events: query it with `traillake query`",
            rec.name, rec.kind
        )));
    }
    let attribute = match &a.lookup_attributes {
        Some(s) => Some(lookup::parse_attribute(s).map_err(|e| Error::Usage(e.to_string()))?),
        None => None,
    };
    let req = LookupRequest::new(attribute, a.start_time, a.end_time, a.max_results);
    if req.start > req.end {
        return Err(Error::Usage("--start-time is after --end-time".into()));
    }
    let sql = lookup::sql(&req, &rec.id.to_string());
    let engine = Engine::open(&store).await?;
    let mut stream = engine.plan(&sql).await?.execute().await?;
    let mut batches = Vec::new();
    while let Some(b) = stream.try_next().await? {
        batches.push(b);
    }
    match a.format {
        LookupFormat::Json => {
            let buf = output::write_batches(Vec::new(), Format::Json, &batches)?;
            let rows: Vec<serde_json::Value> =
                serde_json::from_slice(&buf).map_err(|e| Error::Internal(e.to_string()))?;
            print_json(&lookup::aws_json(&rows))?;
        }
        LookupFormat::Table => {
            let shown: Vec<_> = batches
                .iter()
                .map(|b| {
                    let keep: Vec<usize> =
                        (0..b.num_columns()).filter(|&i| b.schema().field(i).name() != "cloudtrail_event").collect();
                    b.project(&keep).and_then(|p| output::for_display(&p, 60))
                })
                .collect::<Result<_, _>>()?;
            let rows: usize = shown.iter().map(|b| b.num_rows()).sum();
            let out = output::write_batches(Vec::new(), Format::Table, &shown)?;
            print!("{}", String::from_utf8_lossy(&out));
            let fmt = "%Y-%m-%d %H:%M:%S";
            eprintln!(
                "{rows} {} · {} .. {} UTC",
                if rows == 1 { "event" } else { "events" },
                req.start.format(fmt),
                req.end.format(fmt)
            );
        }
    }
    Ok(0)
}
