//! The ingestion writer: one task per process that takes requests' writes from a queue and
//! commits everything waiting in one transaction (group commit). Durability is unchanged,
//! since a request is answered only after its group commits, but concurrent requests share
//! one fsync instead of paying one each.

use tokio::sync::{mpsc, oneshot};

use sotto_core::firewall::ProfileChanges;
use sotto_crypto::Keyring;
use sotto_store::{IngestJob, Store, StoreResult, WriteOutcome};

use crate::merge::Merger;

/// Most requests in one group.
const MAX_JOBS: usize = 256;
/// Most writes in one group (a few full batches).
const MAX_WRITES: usize = 4_000;
/// Requests that may wait before senders are slowed down.
const QUEUE: usize = 1_024;

type Reply = oneshot::Sender<StoreResult<Vec<WriteOutcome>>>;

/// A handle for submitting jobs to the writer task.
#[derive(Debug, Clone)]
pub(crate) struct IngestWriter {
    queue: mpsc::Sender<(IngestJob<ProfileChanges>, Reply)>,
}

impl IngestWriter {
    /// Starts the writer task on the current Tokio runtime.
    pub(crate) fn spawn<S: Store>(store: S, keyring: Keyring) -> Self {
        let (queue, mut rx) = mpsc::channel::<(IngestJob<ProfileChanges>, Reply)>(QUEUE);
        tokio::spawn(async move {
            let merger = Merger { keyring: &keyring };
            while let Some(first) = rx.recv().await {
                let mut writes = first.0.writes.len();
                let mut group = vec![first];
                while group.len() < MAX_JOBS && writes < MAX_WRITES {
                    match rx.try_recv() {
                        Ok(next) => {
                            writes += next.0.writes.len();
                            group.push(next);
                        }
                        Err(_) => break,
                    }
                }
                let (jobs, replies): (Vec<_>, Vec<_>) = group.into_iter().unzip();
                match store.ingest_group(&jobs, &merger).await {
                    Ok(results) => {
                        for (reply, result) in replies.into_iter().zip(results) {
                            let _ = reply.send(result);
                        }
                    }
                    Err(e) => {
                        let unavailable = e.is_unavailable();
                        tracing::warn!(jobs = jobs.len(), unavailable, "group commit failed; every request in it is answered with the error");
                        let shared = std::sync::Arc::new(e);
                        for reply in replies {
                            let _ = reply.send(Err(sotto_store::StoreError::Shared(shared.clone())));
                        }
                    }
                }
            }
        });
        Self { queue }
    }

    /// Submits one request's writes and waits until they are committed (or refused).
    pub(crate) async fn submit(&self, job: IngestJob<ProfileChanges>) -> StoreResult<Vec<WriteOutcome>> {
        let (reply, answer) = oneshot::channel();
        let stopped = || sotto_store::StoreError::Aborted("the ingestion writer has stopped".into());
        self.queue.send((job, reply)).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}
