//! Alerts POSTed to a webhook: in the background, in order, retried with backoff — delivery
//! never holds up ingest. An alert that still fails after its retries, or finds the queue full
//! (the endpoint has been down for a while), is counted as failed; it stays in the alerts output.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::mpsc;

/// Alerts waiting for delivery at most; more are counted as failed rather than held in memory.
const QUEUE: usize = 10_000;

/// How deliveries are retried.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    /// Attempts per alert, the first included.
    pub attempts: u32,
    /// Wait before the second attempt; doubled before each next one, up to `max_delay`.
    pub first_delay: Duration,
    pub max_delay: Duration,
    /// One attempt's time limit.
    pub timeout: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Self {
            attempts: 6,
            first_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(8),
            timeout: Duration::from_secs(10),
        }
    }
}

/// Delivery figures.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct WebhookFigures {
    pub delivered: u64,
    /// Attempts repeated after a failure.
    pub retries: u64,
    pub failed: u64,
    /// Waiting for delivery when the figures were taken.
    pub pending: u64,
}

#[derive(Debug, Default)]
struct Counters {
    queued: AtomicU64,
    delivered: AtomicU64,
    retries: AtomicU64,
    failed: AtomicU64,
}

/// A webhook receiving alerts.
#[derive(Debug)]
pub struct Webhook {
    url: String,
    tx: Option<mpsc::Sender<String>>,
    task: tokio::task::JoinHandle<()>,
    counters: Arc<Counters>,
}

impl Webhook {
    /// Starts delivering to `url` (http or https).
    pub fn start(url: &str, retry: Retry) -> Result<Self, super::DetectError> {
        let parsed =
            url::Url::parse(url).map_err(|e| super::DetectError::Rules(format!("--webhook {url}: not a URL ({e})")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(super::DetectError::Rules(format!("--webhook {url}: the URL must be http:// or https://")));
        }
        let client = reqwest::Client::builder()
            .timeout(retry.timeout)
            .build()
            .map_err(|e| super::DetectError::Internal(format!("cannot start the webhook client: {e}")))?;
        let (tx, rx) = mpsc::channel(QUEUE);
        let counters = Arc::new(Counters::default());
        let task = tokio::spawn(deliver(client, parsed, retry, rx, Arc::clone(&counters)));
        Ok(Self { url: url.to_string(), tx: Some(tx), task, counters })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Queues one alert (a JSON text); never waits.
    pub fn send(&self, alert: String) {
        self.counters.queued.fetch_add(1, Ordering::Relaxed);
        let queued = self.tx.as_ref().is_some_and(|tx| tx.try_send(alert).is_ok());
        if !queued {
            self.counters.failed.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn figures(&self) -> WebhookFigures {
        let c = &self.counters;
        let (delivered, failed) = (c.delivered.load(Ordering::Relaxed), c.failed.load(Ordering::Relaxed));
        WebhookFigures {
            delivered,
            retries: c.retries.load(Ordering::Relaxed),
            failed,
            pending: c.queued.load(Ordering::Relaxed).saturating_sub(delivered + failed),
        }
    }

    /// Stops taking alerts and waits up to `wait` for those queued to be delivered; what is
    /// still pending then is counted as failed.
    pub async fn finish(mut self, wait: Duration) -> WebhookFigures {
        self.tx = None;
        if tokio::time::timeout(wait, &mut self.task).await.is_err() {
            self.task.abort();
        }
        let mut f = self.figures();
        f.failed += f.pending;
        f.pending = 0;
        f
    }
}

async fn deliver(
    client: reqwest::Client,
    url: url::Url,
    retry: Retry,
    mut rx: mpsc::Receiver<String>,
    counters: Arc<Counters>,
) {
    while let Some(alert) = rx.recv().await {
        let mut delay = retry.first_delay;
        let mut attempt = 1;
        loop {
            let sent = client
                .post(url.clone())
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(alert.clone())
                .send()
                .await;
            let outcome = match sent {
                Ok(r) if r.status().is_success() => Outcome::Delivered,
                // The endpoint refused this alert as such: sending it again changes nothing.
                Ok(r) if r.status().is_client_error() && !matches!(r.status().as_u16(), 408 | 429) => Outcome::Refused,
                _ => Outcome::TryAgain,
            };
            match outcome {
                Outcome::Delivered => {
                    counters.delivered.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                Outcome::TryAgain if attempt < retry.attempts => {
                    counters.retries.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(retry.max_delay);
                    attempt += 1;
                }
                _ => {
                    counters.failed.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!("webhook {url}: an alert was not delivered after {attempt} attempts");
                    break;
                }
            }
        }
    }
}

enum Outcome {
    Delivered,
    Refused,
    TryAgain,
}
