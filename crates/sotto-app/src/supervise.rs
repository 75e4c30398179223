//! Supervision of background tasks: a task that panics is logged and started again after a
//! short pause, so one bad input cannot stop the ingestion writer or the checkpoint writer
//! for the life of the process.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How often a supervised task has been restarted after a panic.
#[derive(Debug, Clone, Default)]
pub struct Restarts(Arc<AtomicU64>);

impl Restarts {
    /// The count so far.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Runs `make()` as a task, and again whenever it panics; stops when a run returns normally.
pub fn supervise<F, Fut>(name: &'static str, mut make: F) -> Restarts
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let restarts = Restarts::default();
    let counter = restarts.clone();
    tokio::spawn(async move {
        loop {
            match tokio::spawn(make()).await {
                Ok(()) => break,
                Err(e) if e.is_panic() => {
                    let n = counter.0.fetch_add(1, Ordering::Relaxed) + 1;
                    tracing::error!(task = name, restarts = n, "background task panicked; restarting it");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(_) => break,
            }
        }
    });
    restarts
}
