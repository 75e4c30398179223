//! Sandbox keys: their messages are gated exactly as in production, then kept by the
//! development sink, never handed to the channel's provider.

use std::sync::Mutex;

use serde_json::{Value, json};

use sotto_app::DispatchSettings;
use sotto_app::deliver::{Accepted, OutgoingMessage, Provider, Providers, SendFuture};
use sotto_core::contact::Channel;
use sotto_core::scope::Scope;

use crate::consent::patient;
use crate::outbox::{daytime, status};
use crate::support::{each_app, read};

/// A provider that must not be reached.
#[derive(Debug, Default)]
struct Counting(Mutex<usize>);

impl Provider for Counting {
    fn name(&self) -> &str {
        "real-provider"
    }
    fn send<'a>(&'a self, m: &'a OutgoingMessage) -> SendFuture<'a> {
        *self.0.lock().expect("lock") += 1;
        let id = m.id.clone();
        Box::pin(async move { Ok(Accepted::id(id)) })
    }
}

#[tokio::test]
async fn a_sandbox_keys_messages_are_gated_as_in_production_and_kept_by_the_sink() {
    each_app(async |t| {
        patient(t, "p-1").await;
        patient(t, "p-2").await;
        let stop = json!({"channel": "email", "status": "opted_out", "kind": "express", "source": "email_unsubscribe", "captured_at": "2026-02-01T10:00:00Z", "evidence": {"method": "one_click"}});
        assert_eq!(t.post_json("/v1/patients/p-2/consents", &stop).await.0, 201);
        let template = t.library_template("Appointment confirmation (email)").await;
        let sandbox = t.key(&[Scope::MessagesSend, Scope::MessagesRead, Scope::Sandbox]).await;
        let mut ids = Vec::new();
        for p in ["p-1", "p-2"] {
            let body = json!({"patient": p, "template_id": template, "channel": "email", "purpose": "treatment", "context": {"appointment_start": "2026-12-20T15:30:00Z"}});
            let (code, queued): (u16, Value) = read(t.post("/v1/messages", &sandbox).header("Idempotency-Key", format!("try-{p}")).json(&body).send().await.expect("send")).await;
            assert_eq!(code, 202, "{queued}");
            ids.push(queued["id"].as_str().expect("id").to_owned());
        }
        let real = std::sync::Arc::new(Counting::default());
        let providers = Providers::default().with(Channel::Email, real.clone());
        let report = t.app.dispatch_round("w-1", &providers, &DispatchSettings::default(), daytime()).await.expect("round");
        assert_eq!((report.sent, report.denied), (1, 1), "{report:?}");
        assert_eq!(*real.0.lock().expect("lock"), 0, "nothing reached the real provider");
        assert_eq!(t.app.mailbox().list().len(), 1, "the allowed one is in the sink");
        assert_eq!(status(t, &ids[0]).await["provider"], "sink");
        assert_eq!(status(t, &ids[1]).await["reasons"], json!(["channel_opted_out"]), "gated as in production");
    })
    .await;
}
