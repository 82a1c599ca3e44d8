//! `ingest --follow`: what to list on each pass and when to look again.
//!
//! Local folders are watched for changes (inotify through `notify`), with the interval as the
//! fallback when notifications are unavailable or missed. An `s3://` source is listed in full
//! on the first pass and once an hour (new accounts and Regions); in between only the day
//! folders of today and yesterday under each Region folder seen, so an organization trail's
//! years of history are not listed again every few seconds.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, Notify};

use super::{sources, IngestError};

/// How often `s3://` sources are listed in full.
const FULL_LISTING_EVERY: Duration = Duration::from_secs(3600);
/// After a change notification, how long to let writers finish before reading.
const SETTLE: Duration = Duration::from_millis(1500);

/// Watches the sources of a follow.
pub struct Watcher {
    specs: Vec<String>,
    /// Per `s3://` folder above `YYYY/MM/DD/` day folders: whether its month and day are
    /// zero-padded (CloudTrail's are, AWS Config's are not; `None`: not seen yet).
    day_roots: BTreeMap<String, Option<bool>>,
    /// `s3://` sources outside the dated layout: listed whole each pass.
    undated: Vec<String>,
    last_full: Option<Instant>,
    changes: Option<(notify::RecommendedWatcher, mpsc::Receiver<()>)>,
}

impl Watcher {
    pub fn new(specs: &[String]) -> Self {
        let local: Vec<&String> = specs.iter().filter(|s| !is_s3(s)).collect();
        let changes = (!local.is_empty()).then(|| watch_local(&local)).flatten();
        Self { specs: specs.to_vec(), day_roots: BTreeMap::new(), undated: Vec::new(), last_full: None, changes }
    }

    /// Whether local folders are watched for changes (else they are polled).
    pub fn notifications(&self) -> bool {
        self.changes.is_some()
    }

    /// The sources to list on this pass.
    pub async fn specs(&mut self, now: DateTime<Utc>) -> Result<Vec<String>, IngestError> {
        let s3: Vec<String> = self.specs.iter().filter(|s| is_s3(s)).cloned().collect();
        if s3.is_empty() || self.last_full.is_none_or(|t| t.elapsed() >= FULL_LISTING_EVERY) {
            if !s3.is_empty() {
                self.learn_layout(&s3).await?;
            }
            self.last_full = Some(Instant::now());
            return Ok(self.specs.clone());
        }
        let mut specs: Vec<String> = self.specs.iter().filter(|s| !is_s3(s)).cloned().collect();
        specs.extend(self.undated.iter().cloned());
        for day in [now, now - chrono::Duration::days(1)] {
            for (root, &padded) in &self.day_roots {
                if padded != Some(false) {
                    specs.push(format!("{root}{}/", day.format("%Y/%m/%d")));
                }
                if padded != Some(true) {
                    specs.push(format!("{root}{}/", day.format("%Y/%-m/%-d")));
                }
            }
        }
        specs.sort();
        specs.dedup();
        Ok(specs)
    }

    /// Learns the day-folder roots of the `s3://` sources from a full listing.
    async fn learn_layout(&mut self, s3: &[String]) -> Result<(), IngestError> {
        let listing = sources::list(s3, true).await?;
        self.day_roots.clear();
        self.undated.clear();
        let mut dated_specs = std::collections::BTreeSet::new();
        for o in &listing.objects {
            if let Some((root, padded)) = day_root(&o.display) {
                let known = self.day_roots.entry(root).or_insert(None);
                *known = known.or(padded);
                if let Some(spec) = s3.iter().find(|s| o.display.starts_with(s.as_str())) {
                    dated_specs.insert(spec.clone());
                }
            }
        }
        // A source with no dated objects at all is listed whole (it may be an empty prefix
        // CloudTrail has not written to yet).
        self.undated = s3.iter().filter(|s| !dated_specs.contains(*s)).cloned().collect();
        Ok(())
    }

    /// Waits for a change to a local source (and a moment for its writer to finish), for
    /// `interval`, or for `stop`, whichever comes first.
    pub async fn wait(&mut self, interval: Duration, stop: &Notify) {
        let changed = async {
            match &mut self.changes {
                Some((_, rx)) => {
                    rx.recv().await;
                    tokio::time::sleep(SETTLE).await;
                    // Changes during the settling are part of this one.
                    while rx.try_recv().is_ok() {}
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = changed => {}
            _ = tokio::time::sleep(interval) => {}
            _ = stop.notified() => {}
        }
    }
}

/// How long a file must have been left alone to be read by a follow pass.
pub fn settle() -> Duration {
    SETTLE
}

fn is_s3(spec: &str) -> bool {
    spec.starts_with("s3://") || spec.starts_with("s3a://")
}

/// The folder of `uri` above its `YYYY/M(M)/D(D)/` day folders, and whether those are
/// zero-padded (`None` when this date cannot tell: 2026/12/15).
fn day_root(uri: &str) -> Option<(String, Option<bool>)> {
    let parts: Vec<&str> = uri.split('/').collect();
    let num = |s: &str, lo: usize, hi: usize| (lo..=hi).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit());
    // The last three folders that look like a date (the file name is the last part).
    let n = parts.len();
    (3..n).rev().find_map(|i| {
        let (y, m, d) = (parts[i - 3], parts[i - 2], parts[i - 1]);
        (num(y, 4, 4) && num(m, 1, 2) && num(d, 1, 2)).then(|| {
            let padded = match (m.len().min(d.len()), m.starts_with('0') || d.starts_with('0')) {
                (1, _) => Some(false),
                (_, true) => Some(true),
                _ => None,
            };
            (format!("{}/", parts[..i - 3].join("/")), padded)
        })
    })
}

/// Watches local folders recursively; `None` (polling only) when the system refuses.
fn watch_local(specs: &[&String]) -> Option<(notify::RecommendedWatcher, mpsc::Receiver<()>)> {
    use notify::Watcher as _;
    let (tx, rx) = mpsc::channel(1);
    let mut watcher = match notify::recommended_watcher(move |e: notify::Result<notify::Event>| {
        if e.is_ok_and(|e| e.kind.is_create() || e.kind.is_modify()) {
            // One pending wake-up is enough.
            let _ = tx.try_send(());
        }
    }) {
        Ok(w) => w,
        Err(e) => {
            tracing::info!("no filesystem notifications ({e}); polling the sources");
            return None;
        }
    };
    for spec in specs {
        if let Err(e) = watcher.watch(std::path::Path::new(spec.as_str()), notify::RecursiveMode::Recursive) {
            tracing::info!("cannot watch {spec} for changes ({e}); polling it");
            return None;
        }
    }
    Some((watcher, rx))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_roots_are_the_folders_above_the_dates() {
        assert_eq!(
            day_root("s3://b/p/AWSLogs/o-1/111122223333/CloudTrail/us-east-1/2026/12/07/x.json.gz"),
            Some(("s3://b/p/AWSLogs/o-1/111122223333/CloudTrail/us-east-1/".to_string(), Some(true)))
        );
        assert_eq!(
            day_root("s3://b/AWSLogs/111122223333/Config/eu-west-1/2026/1/7/ConfigHistory/x.json.gz"),
            Some(("s3://b/AWSLogs/111122223333/Config/eu-west-1/".to_string(), Some(false)))
        );
        assert_eq!(day_root("s3://b/AWSLogs/1/CloudTrail/us-east-1/2026/12/15/x.json.gz").map(|r| r.1), Some(None));
        assert_eq!(day_root("s3://b/loose/file.json"), None);
    }
}
