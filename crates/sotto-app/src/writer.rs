//! The ingestion writer: one task per process that takes requests' writes from a queue and
//! commits everything waiting in one transaction (group commit). Durability is unchanged,
//! since a request is answered only after its group commits, but concurrent requests share
//! one fsync instead of paying one each.

use std::sync::Arc;

use tokio::sync::{Mutex, mpsc, oneshot};

use sotto_core::firewall::ProfileChanges;
use sotto_crypto::Keyring;
use sotto_store::{IngestJob, Store, StoreResult, WriteOutcome};

use crate::merge::Merger;
use crate::supervise::{Restarts, supervise};

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
    restarts: Restarts,
    stats: Arc<GroupStats>,
}

/// How many groups the writer committed and how many writes they held.
#[derive(Debug, Default)]
pub(crate) struct GroupStats {
    groups: std::sync::atomic::AtomicU64,
    writes: std::sync::atomic::AtomicU64,
}

async fn run<C: Commit>(rx: Arc<Mutex<Queue>>, commit: Arc<C>, stats: Arc<GroupStats>) {
    let mut rx = rx.lock().await;
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
        stats.groups.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        stats.writes.fetch_add(writes as u64, std::sync::atomic::Ordering::Relaxed);
        match commit.commit(&jobs).await {
            Ok(results) => {
                for (reply, result) in replies.into_iter().zip(results) {
                    let _ = reply.send(result);
                }
            }
            Err(e) => {
                let unavailable = e.is_unavailable();
                tracing::warn!(jobs = jobs.len(), unavailable, "group commit failed; every request in it is answered with the error");
                let shared = Arc::new(e);
                for reply in replies {
                    let _ = reply.send(Err(sotto_store::StoreError::Shared(shared.clone())));
                }
            }
        }
    }
}

/// What the writer does with a group of jobs: the store's group commit, or a stand-in in tests.
pub(crate) trait Commit: Send + Sync + 'static {
    /// Commits a group; the outer error means nothing was committed.
    fn commit(&self, jobs: &[IngestJob<ProfileChanges>]) -> impl std::future::Future<Output = StoreResult<Vec<StoreResult<Vec<WriteOutcome>>>>> + Send;
}

/// The store's group commit with the encrypted profile merge.
struct StoreCommit<S> {
    store: S,
    keyring: Keyring,
}

impl<S: Store> Commit for StoreCommit<S> {
    async fn commit(&self, jobs: &[IngestJob<ProfileChanges>]) -> StoreResult<Vec<StoreResult<Vec<WriteOutcome>>>> {
        self.store.ingest_group(jobs, &Merger { keyring: &self.keyring }).await
    }
}

type Queue = mpsc::Receiver<(IngestJob<ProfileChanges>, Reply)>;

impl IngestWriter {
    /// Starts the writer task on the current Tokio runtime.
    pub(crate) fn spawn<S: Store>(store: S, keyring: Keyring) -> Self {
        Self::spawn_with(StoreCommit { store, keyring })
    }

    /// Starts a supervised writer around `commit`: if a group panics, the requests in it are
    /// answered with an error and the task starts again on the same queue.
    pub(crate) fn spawn_with<C: Commit>(commit: C) -> Self {
        let (queue, rx) = mpsc::channel::<(IngestJob<ProfileChanges>, Reply)>(QUEUE);
        let rx = Arc::new(Mutex::new(rx));
        let commit = Arc::new(commit);
        let stats = Arc::new(GroupStats::default());
        let counters = stats.clone();
        let restarts = supervise("ingestion writer", move || run(rx.clone(), commit.clone(), counters.clone()));
        Self { queue, restarts, stats }
    }

    /// Groups committed so far and the writes they held.
    pub(crate) fn group_stats(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (self.stats.groups.load(Relaxed), self.stats.writes.load(Relaxed))
    }

    /// How often the writer task was restarted after a panic.
    pub(crate) fn restarts(&self) -> u64 {
        self.restarts.get()
    }

    /// Submits one request's writes and waits until they are committed (or refused).
    pub(crate) async fn submit(&self, job: IngestJob<ProfileChanges>) -> StoreResult<Vec<WriteOutcome>> {
        let (reply, answer) = oneshot::channel();
        let stopped = || sotto_store::StoreError::Aborted("the ingestion writer has stopped".into());
        self.queue.send((job, reply)).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;
    use sotto_store::AuditContext;

    /// Panics on its first group, then accepts every write.
    struct PanicsOnce(AtomicBool);

    impl Commit for PanicsOnce {
        async fn commit(&self, jobs: &[IngestJob<ProfileChanges>]) -> StoreResult<Vec<StoreResult<Vec<WriteOutcome>>>> {
            assert!(self.0.swap(true, Ordering::SeqCst), "a malformed group panics the writer");
            Ok(jobs.iter().map(|j| Ok(vec![WriteOutcome::Accepted; j.writes.len()])).collect())
        }
    }

    fn job() -> IngestJob<ProfileChanges> {
        IngestJob { writes: Vec::new(), ctx: AuditContext { actor: "key:t".into(), request_id: "r".into(), source_ip: None, at_micros: 1 }, extra_audit: Vec::new() }
    }

    #[tokio::test]
    async fn a_panic_in_the_writer_fails_only_its_group_and_later_writes_go_through() {
        let writer = IngestWriter::spawn_with(PanicsOnce(AtomicBool::new(false)));
        assert!(writer.submit(job()).await.is_err(), "the group that panicked is answered with an error");
        for _ in 0..3 {
            assert_eq!(writer.submit(job()).await.expect("later writes commit"), Vec::<WriteOutcome>::new());
        }
        assert_eq!(writer.restarts(), 1);
    }
}
