//! The dispatch worker as a supervised background task: journey rounds (runs moved, their
//! messages queued) and dispatch rounds while messages are due, a wait
//! (woken early when a message is queued in this process) while none are, recovery of claims
//! whose lease ran out, and at shutdown the current round finished and unclaimed work released.

use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use tokio::sync::watch;

use sotto_store::{AuditContext, Store};

use crate::deliver::Providers;
use crate::supervise::{Restarts, supervise};
use crate::worker::DispatchSettings;
use crate::{App, micros};

/// How often a worker looks for claims whose lease ran out.
const RECOVERY_EVERY: Duration = Duration::from_secs(15);

/// How often the worker moves due journey runs (and reads new events into runs).
const JOURNEYS_EVERY: Duration = Duration::from_millis(250);

/// How often it deletes portal sessions, verifications and sign-in counts that are over.
const PURGE_EVERY: Duration = Duration::from_secs(3_600);

/// How often it looks for runs that segment and date triggers start.
const SCAN_EVERY: Duration = Duration::from_secs(60);

/// A running dispatch worker.
#[derive(Debug)]
pub struct Dispatcher {
    name: String,
    stop: watch::Sender<bool>,
    done: watch::Receiver<bool>,
    restarts: Restarts,
}

impl Dispatcher {
    /// Starts a worker on the current runtime. With `recover_at_start` (SQLite, where one
    /// worker serves a database) every claim left by an earlier process is recovered at once
    /// rather than when its lease ends.
    pub fn spawn<S: Store>(app: Arc<App<S>>, providers: Providers, settings: DispatchSettings, recover_at_start: bool) -> Self {
        let name = format!("worker-{}-{:08x}", std::process::id(), rand::random::<u32>());
        let (stop, stop_rx) = watch::channel(false);
        let (app_for_webhooks, app_poster, stop_rx_webhooks) = (app.clone(), app.webhook_poster.get().cloned(), stop_rx.clone());
        let (done_tx, done) = watch::channel(false);
        let providers = Arc::new(providers);
        app.set_live_providers(providers.clone());
        let done_tx = Arc::new(done_tx);
        let worker = name.clone();
        let restarts = supervise("dispatch worker", move || {
            let (app, providers, settings, stop_rx, done_tx, worker) = (app.clone(), providers.clone(), settings.clone(), stop_rx.clone(), done_tx.clone(), worker.clone());
            async move {
                run(&app, &providers, &settings, &worker, stop_rx, recover_at_start).await;
                let _ = done_tx.send(true);
            }
        });
        if let Some(poster) = app_poster {
            spawn_webhook_sender(app_for_webhooks, poster, stop_rx_webhooks);
        }
        tracing::info!(worker = %name, "dispatch worker started");
        Self { name, stop, done, restarts }
    }

    /// The worker's name, as claims record it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How often the worker was restarted after a panic.
    pub fn restarts(&self) -> u64 {
        self.restarts.get()
    }

    /// Asks the worker to stop and waits until its current round is finished and its
    /// undecided claims are released.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        while !*self.done.borrow() {
            if self.done.changed().await.is_err() {
                break;
            }
        }
        tracing::info!(worker = %self.name, "dispatch worker stopped");
    }
}

/// How often the webhook sender looks for due deliveries when the last round was not full.
const WEBHOOKS_EVERY: Duration = Duration::from_secs(1);

/// The webhook sender: its own supervised task, so a slow receiver never holds up messages.
fn spawn_webhook_sender<S: Store>(app: Arc<App<S>>, poster: Arc<dyn crate::webhooks::WebhookPoster>, stop: watch::Receiver<bool>) {
    supervise("webhook sender", move || {
        let (app, poster, mut stop) = (app.clone(), poster.clone(), stop.clone());
        async move {
            while !*stop.borrow() {
                let full = match app.webhook_round(poster.as_ref(), app.now(), 50).await {
                    Ok(posted) => posted == 50,
                    Err(e) => {
                        tracing::error!(error = %e, "webhook round failed; its deliveries are tried again when their lease ends");
                        false
                    }
                };
                if !full {
                    tokio::select! {
                        () = tokio::time::sleep(WEBHOOKS_EVERY) => {}
                        _ = stop.changed() => {}
                    }
                }
            }
        }
    });
}

async fn run<S: Store>(app: &App<S>, providers: &Providers, settings: &DispatchSettings, worker: &str, mut stop: watch::Receiver<bool>, recover_at_start: bool) {
    let audit = |now: Timestamp| AuditContext { actor: format!("system:dispatch/{worker}"), request_id: String::new(), source_ip: None, at_micros: micros(now) };
    if recover_at_start {
        let now = Timestamp::now();
        // Every earlier claim is treated as expired: on SQLite this worker is the only one.
        match app.store.recover_outbox(i64::MAX, &audit(now)).await {
            Ok((requeued, uncertain)) if requeued + uncertain > 0 => tracing::warn!(requeued, uncertain, "claims left by an earlier worker recovered"),
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "cannot recover earlier claims"),
        }
    }
    let mut last_recovery = Instant::now();
    let mut last_journeys = Instant::now() - JOURNEYS_EVERY;
    let mut last_scan = Instant::now() - SCAN_EVERY;
    let mut last_purge = Instant::now() - PURGE_EVERY;
    loop {
        if *stop.borrow() {
            break;
        }
        if last_recovery.elapsed() >= RECOVERY_EVERY {
            last_recovery = Instant::now();
            let now = Timestamp::now();
            match app.store.recover_outbox(micros(now), &audit(now)).await {
                Ok((requeued, uncertain)) if requeued + uncertain > 0 => tracing::warn!(requeued, uncertain, "claims whose lease ran out recovered"),
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "cannot recover expired claims"),
            }
        }
        if last_purge.elapsed() >= PURGE_EVERY {
            last_purge = Instant::now();
            if let Err(e) = app.purge_portal(app.now()).await {
                tracing::error!(error = %e, "portal housekeeping failed; the next hour's does it");
            }
        }
        if last_scan.elapsed() >= SCAN_EVERY {
            last_scan = Instant::now();
            if let Err(e) = app.journey_scan(app.now()).await {
                tracing::error!(error = %e, "journey trigger scan failed; the next one starts what it missed");
            }
        }
        // Journeys move first, so what a run queues goes out in the same round.
        if last_journeys.elapsed() >= JOURNEYS_EVERY {
            last_journeys = Instant::now();
            if let Err(e) = app.journey_round(app.now(), 1_000).await {
                tracing::error!(error = %e, "journey round failed; its runs move in the next one");
            }
        }
        let busy = match app.dispatch_round(worker, providers, settings, app.now()).await {
            Ok(report) => report.claimed > 0,
            Err(e) => {
                tracing::error!(error = %e, "dispatch round failed; its claims are recovered when their lease ends");
                false
            }
        };
        if busy {
            continue;
        }
        let notified = app.outbox_notify.notified();
        tokio::select! {
            () = tokio::time::sleep(settings.idle_poll) => {}
            () = notified => {}
            _ = stop.changed() => {}
        }
    }
    match app.store.release_claims(worker, micros(Timestamp::now())).await {
        Ok(n) if n > 0 => tracing::info!(released = n, "undecided claims released"),
        Ok(_) => {}
        Err(e) => tracing::error!(error = %e, "cannot release claims; they are recovered when their lease ends"),
    }
}
