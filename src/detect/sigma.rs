//! `traillake detect`: Sigma rules (compiled by `rules::sigma`) run as Lake SQL over a
//! CloudTrail store; each matching event is a finding.

use std::path::Path;

use chrono::{DateTime, Utc};
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use serde::Serialize;

use super::DetectError;
use crate::engine::Engine;
use crate::rules::sigma::{self, SigmaRule};
use crate::store::EdsRecord;

include!(concat!(env!("OUT_DIR"), "/builtin_rules.rs"));

/// One rule file and what became of it.
#[derive(Debug, Clone)]
pub struct RuleFile {
    /// Where it came from (`builtin:…` or a path).
    pub origin: String,
    pub rule: Result<SigmaRule, sigma::Unsupported>,
}

/// The starter rules shipped in the binary (`rules/*.yml`).
pub fn builtin() -> Vec<RuleFile> {
    BUILTIN_SIGMA_RULES
        .iter()
        .map(|(file, text)| RuleFile { origin: format!("builtin:{file}"), rule: sigma::compile(text) })
        .collect()
}

/// Every `.yml`/`.yaml` file under `dir` (or `dir` itself, a file), in path order.
pub fn load(dir: &Path) -> Result<Vec<RuleFile>, DetectError> {
    let mut paths = Vec::new();
    collect(dir, &mut paths)?;
    paths.sort();
    if paths.is_empty() {
        return Err(DetectError::Rules(format!("no Sigma rules (*.yml, *.yaml) in {}", dir.display())));
    }
    paths
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p)
                .map_err(|e| DetectError::Rules(format!("cannot read Sigma rule {}: {e}", p.display())))?;
            Ok(RuleFile { origin: p.display().to_string(), rule: sigma::compile(&text) })
        })
        .collect()
}

fn collect(path: &Path, out: &mut Vec<std::path::PathBuf>) -> Result<(), DetectError> {
    let meta = std::fs::metadata(path)
        .map_err(|e| DetectError::Rules(format!("cannot read Sigma rules at {}: {e}", path.display())))?;
    if meta.is_file() {
        out.push(path.to_path_buf());
        return Ok(());
    }
    let entries = std::fs::read_dir(path)
        .map_err(|e| DetectError::Rules(format!("cannot read Sigma rules at {}: {e}", path.display())))?;
    for e in entries.filter_map(Result::ok) {
        let p = e.path();
        if p.is_dir() {
            collect(&p, out)?;
        } else if p.extension().is_some_and(|x| x == "yml" || x == "yaml") {
            out.push(p);
        }
    }
    Ok(())
}

/// One event a rule matched.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Finding {
    pub title: String,
    pub level: Option<String>,
    pub tags: Vec<String>,
    #[serde(rename = "ruleId")]
    pub rule_id: Option<String>,
    #[serde(rename = "eventID")]
    pub event_id: String,
    #[serde(rename = "eventTime")]
    pub event_time: String,
    #[serde(rename = "eventName")]
    pub event_name: Option<String>,
    pub principal: Option<String>,
    #[serde(rename = "sourceIPAddress")]
    pub source_ip_address: Option<String>,
}

/// Which events a run judges: `eventTime` from `since` and up to `until` (inclusive).
#[derive(Debug, Clone, Copy, Default)]
pub struct Window {
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

/// The SQL a rule runs as over `eds`.
pub fn rule_sql(rule: &SigmaRule, eds: &EdsRecord, window: Window) -> String {
    let at = |t: DateTime<Utc>| format!("TIMESTAMP '{}'", t.format("%Y-%m-%dT%H:%M:%S%.6fZ"));
    let mut bounds = String::new();
    if let Some(t) = window.since {
        bounds.push_str(&format!(" AND eventtime >= {}", at(t)));
    }
    if let Some(t) = window.until {
        bounds.push_str(&format!(" AND eventtime <= {}", at(t)));
    }
    format!(
        "SELECT eventid, eventtime, eventname, useridentity.arn AS principal, sourceipaddress FROM \"{}\" \
         WHERE {}{bounds} ORDER BY eventtime, eventid",
        eds.id, rule.condition
    )
}

/// Runs `rule` over `eds`; the findings in event-time order.
pub async fn run(
    engine: &Engine,
    rule: &SigmaRule,
    eds: &EdsRecord,
    window: Window,
) -> Result<Vec<Finding>, DetectError> {
    let sql = rule_sql(rule, eds, window);
    let batches = engine
        .query(&sql)
        .await
        .map_err(|e| DetectError::Internal(format!("rule {:?} compiled to SQL that did not plan: {e}", rule.title)))?
        .collect()
        .await
        .map_err(|e| DetectError::Internal(format!("rule {:?} failed: {e}", rule.title)))?;
    let mut findings = Vec::new();
    for b in &batches {
        let text = |i: usize| cast(b.column(i), &DataType::Utf8).map_err(|e| DetectError::Internal(e.to_string()));
        let cols = [text(0)?, text(1)?, text(2)?, text(3)?, text(4)?];
        let get = |c: usize, row: usize| {
            let a = cols[c].as_string::<i32>();
            a.is_valid(row).then(|| a.value(row).to_string())
        };
        for row in 0..b.num_rows() {
            findings.push(Finding {
                title: rule.title.clone(),
                level: rule.level.clone(),
                tags: rule.tags.clone(),
                rule_id: rule.id.clone(),
                event_id: get(0, row).unwrap_or_default(),
                event_time: get(1, row).map(|t| iso_time(&t)).unwrap_or_default(),
                event_name: get(2, row),
                principal: get(3, row),
                source_ip_address: get(4, row),
            });
        }
    }
    Ok(findings)
}

/// Arrow's timestamp text (`2026-11-15T02:13:00Z` or with a space) as CloudTrail writes it.
fn iso_time(t: &str) -> String {
    let t = t.replace(' ', "T");
    match t.ends_with('Z') || t.contains('+') {
        true => t,
        false => format!("{t}Z"),
    }
}
