//! `traillake insights run|list`: CloudTrail Insights computed over a CloudTrail event data
//! store, and the Insights stored so far.

use clap::{Args, Subcommand};

use super::{print_json, InfoFormat};
use crate::error::Error;
use crate::insights::{self, InsightSummary, Params};
use crate::output::Listing;
use crate::store::Store;

#[derive(Debug, Subcommand)]
pub enum InsightsCommand {
    /// Compute Insights over a CloudTrail store (set up with `eds update SOURCE
    /// --insight-selectors … --insights-destination INSIGHTS_EDS`) and store them in its
    /// destination. Runs by itself after each `ingest` into that store; re-running adds nothing.
    Run {
        /// The CloudTrail event data store (id, name or ARN).
        source: String,
        /// Judge the minutes from this time on (RFC 3339 or YYYY-MM-DD; default: a little before
        /// where the last run stopped, or the start of the store).
        #[arg(long, value_parser = super::investigate::parse_time)]
        since: Option<chrono::DateTime<chrono::Utc>>,
        #[command(flatten)]
        params: ParamArgs,
        /// Find the Insights without storing them or moving the next run's start (to try
        /// parameters); `--format json` prints the events.
        #[arg(long)]
        dry_run: bool,
        #[arg(long, value_enum, default_value_t)]
        format: InfoFormat,
    },
    /// List Insights (open and closed): type, API, start, end, baseline and Insight rates, top
    /// contributors.
    List {
        /// A CloudTrail store (its Insights) or an Insights store (default: every Insights store).
        #[arg(long)]
        eds: Option<String>,
        /// Only Insights under way at or after this time.
        #[arg(long, value_parser = super::investigate::parse_time)]
        since: Option<chrono::DateTime<chrono::Utc>>,
        #[arg(long, value_enum, default_value_t)]
        format: InfoFormat,
    },
}

/// The detection rule's parameters (docs/insights.md explains each).
#[derive(Debug, Args)]
pub struct ParamArgs {
    /// Minutes the rate is averaged over.
    #[arg(long, default_value_t = Params::default().window, value_parser = clap::value_parser!(u32).range(1..=1440))]
    pub window: u32,
    /// Minutes of history the baseline is taken from (AWS: 10080, seven days).
    #[arg(long, default_value_t = Params::default().baseline, value_parser = clap::value_parser!(u32).range(60..))]
    pub baseline_minutes: u32,
    /// Standard deviations above the baseline mean the windowed rate must reach.
    #[arg(long, default_value_t = Params::default().sigma)]
    pub sigma: f64,
    /// Times the baseline mean the windowed rate must reach.
    #[arg(long, default_value_t = Params::default().min_ratio)]
    pub min_ratio: f64,
    /// Events the window must hold at least.
    #[arg(long, default_value_t = Params::default().min_events)]
    pub min_events: u32,
}

impl ParamArgs {
    fn params(&self) -> Result<Params, Error> {
        if !(self.sigma.is_finite() && self.sigma >= 0.0 && self.min_ratio.is_finite() && self.min_ratio >= 1.0) {
            return Err(Error::Usage("--sigma must be ≥ 0 and --min-ratio ≥ 1".into()));
        }
        Ok(Params {
            window: self.window,
            baseline: self.baseline_minutes,
            sigma: self.sigma,
            min_ratio: self.min_ratio,
            min_events: self.min_events.max(1),
        })
    }
}

pub async fn run(store: &Store, cmd: InsightsCommand) -> Result<i32, Error> {
    match cmd {
        InsightsCommand::Run { source, since, params, dry_run, format } => {
            let report = insights::run(store, &source, since, &params.params()?, dry_run).await?;
            match format {
                InfoFormat::Json => print_json(&report)?,
                InfoFormat::Table => eprintln!("{}", report.summary()),
            }
        }
        InsightsCommand::List { eds, since, format } => {
            let found = insights::list(store, eds.as_deref(), since).await?;
            match format {
                InfoFormat::Json => print_json(&found)?,
                InfoFormat::Table => print!("{}", table(&found)),
            }
        }
    }
    Ok(0)
}

fn table(found: &[InsightSummary]) -> String {
    if found.is_empty() {
        return "no Insights\n".to_string();
    }
    let mut list = Listing::with_headers(&[
        "TYPE",
        "API",
        "ERROR",
        "REGION",
        "ACCOUNT",
        "START",
        "END",
        "BASELINE/MIN",
        "INSIGHT/MIN",
        "TOP CONTRIBUTORS",
    ])
    .align_right(7)
    .align_right(8);
    let rate = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.2}"));
    for s in found {
        let top: Vec<String> = s
            .top_attributions
            .iter()
            .filter(|(attribute, value, _)| !(attribute == "errorCode" && value == "null"))
            .map(|(attribute, value, average)| format!("{attribute}={value} ({average:.2}/min)"))
            .collect();
        list.row(&[
            s.insight_type.trim_end_matches("Insight").to_string(),
            format!("{}:{}", s.event_source.trim_end_matches(".amazonaws.com"), s.event_name),
            s.error_code.clone().unwrap_or_else(|| "-".into()),
            s.aws_region.clone().unwrap_or_else(|| "-".into()),
            s.recipient_account_id.clone().unwrap_or_else(|| "-".into()),
            s.start.clone(),
            s.end.clone().unwrap_or_else(|| "open".into()),
            rate(s.baseline_average),
            rate(s.insight_average),
            top.join(", "),
        ]);
    }
    list.to_string()
}
