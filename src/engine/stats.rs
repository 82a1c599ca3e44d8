//! Query statistics as CloudTrail Lake's DescribeQuery reports them, read from the metrics of
//! the executed physical plan.

use std::sync::Arc;
use std::time::Duration;

use datafusion::physical_plan::ExecutionPlan;

use crate::human::human_bytes;

/// What CloudTrail Lake charges per GB scanned (US East, 2026).
pub const LAKE_PRICE_PER_GB: f64 = 0.005;

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct QueryStats {
    /// Rows that satisfied the query's filters (before aggregation, joins, limits).
    pub events_matched: u64,
    /// Rows read from storage after file, row-group and page pruning.
    pub events_scanned: u64,
    /// Bytes read from storage.
    pub bytes_scanned: u64,
    /// Rows in the result.
    pub rows_returned: u64,
    /// Wall time from planning to the last row.
    #[serde(serialize_with = "millis")]
    pub execution_time: Duration,
}

fn millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}

impl QueryStats {
    /// What CloudTrail Lake would have charged for this scan, in US dollars.
    pub fn lake_cost_usd(&self) -> f64 {
        self.bytes_scanned as f64 / 1e9 * LAKE_PRICE_PER_GB
    }

    /// One line for humans: `events matched 12 · scanned 20,000 · 1.2 MB · 0.031s · Lake price $0.000006`.
    pub fn summary(&self) -> String {
        format!(
            "events matched {} · events scanned {} · bytes scanned {} · {:.3}s · CloudTrail Lake would charge ${:.6}",
            thousands(self.events_matched),
            thousands(self.events_scanned),
            human_bytes(self.bytes_scanned),
            self.execution_time.as_secs_f64(),
            self.lake_cost_usd()
        )
    }

    /// Reads the counters of an executed plan.
    pub fn from_plan(plan: &Arc<dyn ExecutionPlan>, rows_returned: u64, execution_time: Duration) -> Self {
        let mut s = QueryStats { rows_returned, execution_time, ..Default::default() };
        if let Some(pending) = visit(plan, &mut s) {
            s.events_matched += pending;
        }
        s
    }
}

fn metric(plan: &dyn ExecutionPlan, name: &str) -> u64 {
    plan.metrics().and_then(|m| m.sum_by_name(name)).map(|v| v.as_usize() as u64).unwrap_or(0)
}

fn output_rows(plan: &dyn ExecutionPlan) -> u64 {
    plan.metrics().and_then(|m| m.output_rows()).unwrap_or(0) as u64
}

/// Adds scans to `s`; returns the rows of a scan whose filter is still to come (a plain chain
/// of row-preserving operators above a scan), so the first filter above it counts as "matched".
fn visit(plan: &Arc<dyn ExecutionPlan>, s: &mut QueryStats) -> Option<u64> {
    let children = plan.children();
    if children.is_empty() {
        let is_scan =
            plan.name() == "DataSourceExec" || plan.metrics().and_then(|m| m.sum_by_name("bytes_scanned")).is_some();
        if !is_scan {
            return None;
        }
        let out = output_rows(plan.as_ref());
        // Rows a pushed-down predicate discarded after reading were still scanned.
        s.events_scanned += out + metric(plan.as_ref(), "pushdown_rows_pruned");
        s.bytes_scanned += metric(plan.as_ref(), "bytes_scanned");
        return Some(out);
    }
    let pending: Vec<Option<u64>> = children.iter().map(|c| visit(c, s)).collect();
    let name = plan.name();
    if let [Some(rows)] = pending.as_slice() {
        if name == "FilterExec" {
            s.events_matched += output_rows(plan.as_ref());
            return None;
        }
        let row_preserving = matches!(
            name,
            "CoalesceBatchesExec" | "RepartitionExec" | "ProjectionExec" | "CooperativeExec" | "DeltaScan"
        );
        if row_preserving {
            return Some(*rows);
        }
    }
    // Anything else consumes its inputs as they are: unfiltered scans matched every row.
    s.events_matched += pending.into_iter().flatten().sum::<u64>();
    None
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting_and_price() {
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(thousands(12), "12");
        let s = QueryStats { bytes_scanned: 2_000_000_000, ..Default::default() };
        assert!((s.lake_cost_usd() - 0.01).abs() < 1e-12);
    }
}
