//! Live counters shared by the workers, the writer and the progress bar.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

#[derive(Debug, Default)]
pub struct Counters {
    pub files: AtomicU64,
    pub events: AtomicU64,
    pub decoded_bytes: AtomicU64,
    pub quarantined: AtomicU64,
}

/// A progress bar on stderr when it is a terminal; nothing otherwise.
pub struct Progress {
    bar: Option<ProgressBar>,
    stop: Option<tokio::task::JoinHandle<()>>,
}

impl Progress {
    pub fn start(total_files: u64, counters: Arc<Counters>, enabled: bool) -> Self {
        if !enabled || !std::io::stderr().is_terminal() {
            return Self { bar: None, stop: None };
        }
        let bar = ProgressBar::with_draw_target(Some(total_files), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} files  {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        let b = bar.clone();
        let started = std::time::Instant::now();
        let stop = tokio::spawn(async move {
            loop {
                let secs = started.elapsed().as_secs_f64().max(0.001);
                let ev = counters.events.load(Ordering::Relaxed);
                let mb = counters.decoded_bytes.load(Ordering::Relaxed) as f64 / 1e6;
                b.set_position(counters.files.load(Ordering::Relaxed));
                b.set_message(format!(
                    "{ev} events  {:.0} MB/s  {} quarantined",
                    mb / secs,
                    counters.quarantined.load(Ordering::Relaxed)
                ));
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
        Self { bar: Some(bar), stop: Some(stop) }
    }

    pub fn finish(self) {
        if let Some(s) = self.stop {
            s.abort();
        }
        if let Some(b) = self.bar {
            b.finish_and_clear();
        }
    }
}
