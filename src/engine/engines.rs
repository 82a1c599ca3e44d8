//! The engine a long-running server queries: one snapshot of every store, reopened when an
//! ingest or an `eds` command changed the store (checked at most once per refresh interval),
//! so a server sees new events without a restart and never a half-written commit.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::RwLock;

use super::Engine;
use crate::store::Store;

/// The engine queries run on, reopened when an ingest or `eds` command changed the store (checked
/// at most once per `refresh_interval`) so a long-running server sees new events.
pub struct Engines {
    store: Store,
    current: RwLock<(Arc<Engine>, Instant)>,
    refresh_interval: Duration,
}

impl Engines {
    pub fn new(store: Store, engine: Engine, refresh_interval: Duration) -> Self {
        Self { store, current: RwLock::new((Arc::new(engine), Instant::now())), refresh_interval }
    }

    /// Makes the next `get` check the store (after a change made through this server).
    pub async fn changed(&self) {
        let mut c = self.current.write().await;
        c.1 = Instant::now().checked_sub(self.refresh_interval).unwrap_or(c.1);
    }

    pub async fn get(&self) -> Arc<Engine> {
        {
            let c = self.current.read().await;
            if c.1.elapsed() < self.refresh_interval {
                return Arc::clone(&c.0);
            }
        }
        let mut c = self.current.write().await;
        if c.1.elapsed() >= self.refresh_interval {
            match c.0.is_current(&self.store).await {
                Ok(true) => {}
                Ok(false) => match Engine::open(&self.store).await {
                    Ok(e) => {
                        tracing::info!("event data stores changed on disk; reloaded");
                        c.0 = Arc::new(e);
                    }
                    Err(e) => tracing::warn!("cannot reload event data stores (serving the previous snapshot): {e}"),
                },
                Err(e) => tracing::warn!("cannot check the store for new events: {e}"),
            }
            c.1 = Instant::now();
        }
        Arc::clone(&c.0)
    }
}
