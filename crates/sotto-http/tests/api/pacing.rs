//! A channel's send rate is one bucket in the store that every worker draws from: two
//! workers at once hand the provider no more than the rate allows.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sotto_app::DispatchSettings;
use sotto_app::deliver::{Accepted, OutgoingMessage, Provider, Providers, SendFuture};
use sotto_core::contact::Channel;

use crate::consent::patient;
use crate::outbox::{daytime, send};
use crate::support::each_app;

/// Notes when each message was handed over.
#[derive(Debug, Default)]
struct Clocked(Mutex<Vec<Instant>>);

impl Provider for Clocked {
    fn name(&self) -> &str {
        "clocked"
    }
    fn send<'a>(&'a self, m: &'a OutgoingMessage) -> SendFuture<'a> {
        self.0.lock().expect("lock").push(Instant::now());
        let id = m.id.clone();
        Box::pin(async move { Ok(Accepted::id(id)) })
    }
}

#[tokio::test]
async fn two_workers_together_hand_a_provider_no_more_than_its_rate() {
    each_app(async |t| {
        for n in 0..6 {
            patient(t, &format!("p-{n}")).await;
            let template = t.library_template("Appointment confirmation (email)").await;
            let body = serde_json::json!({"patient": format!("p-{n}"), "template_id": template, "channel": "email", "purpose": "treatment",
                "context": {"appointment_start": "2026-12-20T15:30:00Z"}});
            send(t, Some(&format!("appt-{n}")), &body).await;
        }
        let clock = Arc::new(Clocked::default());
        // Two workers, each with its own view of the providers, as two processes would have.
        let (one, two) = (Providers::default().with(Channel::Email, clock.clone()).with_rate(Channel::Email, 2.0), Providers::default().with(Channel::Email, clock.clone()).with_rate(Channel::Email, 2.0));
        let settings = DispatchSettings { batch: 3, ..DispatchSettings::default() };
        let (a, b) = tokio::join!(t.app.dispatch_round("w-1", &one, &settings, daytime()), t.app.dispatch_round("w-2", &two, &settings, daytime()));
        assert_eq!(a.expect("w-1").sent + b.expect("w-2").sent, 6);
        let mut at = clock.0.lock().expect("lock").clone();
        at.sort();
        // Two tokens at the start, two more a second: the sixth cannot go before two seconds.
        let span = at[5] - at[0];
        assert!(span >= Duration::from_millis(1_900), "6 messages at 2 a second (burst 2) took only {span:?}");
    })
    .await;
}
