//! The gate's inputs at dispatch come from storage and configuration: the template's latest
//! approved version and its lint state, and the BAA of the provider configured for the
//! channel. Nothing is taken on the caller's word.

use serde_json::json;

use sotto_app::{AppSettings, Dispatch};
use sotto_core::contact::Channel;
use sotto_core::gate::{Decision, Reason};
use sotto_core::gate_policy::ProviderSpec;
use sotto_core::ids::ExternalId;
use sotto_core::purpose::Purpose;
use sotto_http::HttpSettings;
use sotto_store::testing::backends;

use crate::consent::patient;
use crate::support::spawn_app_with;

fn reasons(d: &Decision) -> Vec<Reason> {
    match d {
        Decision::Deny { reasons } | Decision::Defer { reasons, .. } => reasons.clone(),
        Decision::Allow => Vec::new(),
    }
}

#[tokio::test]
async fn template_approval_lint_state_and_the_providers_baa_come_from_storage_and_configuration() {
    let d = |s: &str| s.parse::<jiff::civil::Date>().expect("date");
    let email = ProviderSpec { name: "smtp-relay".into(), kind: Default::default(), baa_signed: Some(d("2026-01-15")), baa_expires: Some(d("2027-01-15")), rate_per_second: None, backup: None };
    let settings = AppSettings { providers: [(Channel::Email, email)].into_iter().collect(), ..AppSettings::default() };
    for backend in backends() {
        let t = spawn_app_with(backend, HttpSettings::default(), settings.clone()).await;
        patient(&t, "p-1").await;
        let p1 = ExternalId::parse("id", "p-1").expect("id");
        let approved_sms = t.library_template("Appointment reminder (SMS)").await;
        let approved_email = t.library_template("Appointment confirmation (email)").await;
        let (status, draft) = t.post_json("/v1/templates", &json!({"name": "Draft only", "channel": "sms", "surfaces": {"sms_body": "Hello"}})).await;
        assert_eq!(status, 201, "{draft}");
        let draft_id = draft["id"].as_str().expect("id").to_owned();
        let at: jiff::Timestamp = "2026-06-02T17:00:00Z".parse().expect("time");
        let dispatch = |channel, template_id: &str, uses_phi| Dispatch { channel, purpose: Purpose::Operations, topic: None, uses_phi, template_id: template_id.to_owned() };

        let draft = t.app.decide_for_dispatch(&p1, &dispatch(Channel::Sms, &draft_id, false), at).await.expect("decide");
        assert!(reasons(&draft).contains(&Reason::TemplateNotApproved), "{draft:?}");
        let missing = t.app.decide_for_dispatch(&p1, &dispatch(Channel::Sms, "tpl_0000000000000000", false), at).await.expect("decide");
        assert!(reasons(&missing).contains(&Reason::TemplateNotApproved), "{missing:?}");
        let approved = t.app.decide_for_dispatch(&p1, &dispatch(Channel::Sms, &approved_sms, false), at).await.expect("decide");
        assert!(!reasons(&approved).contains(&Reason::TemplateNotApproved) && !reasons(&approved).contains(&Reason::TemplateLintFailed), "{approved:?}");

        // No SMS provider is configured: content that uses PHI cannot go by SMS.
        let sms_phi = t.app.decide_for_dispatch(&p1, &dispatch(Channel::Sms, &approved_sms, true), at).await.expect("decide");
        assert!(reasons(&sms_phi).contains(&Reason::ProviderWithoutBaa), "{sms_phi:?}");
        // The email provider's BAA is in force in June 2026, and ended in January 2027.
        let in_force = t.app.decide_for_dispatch(&p1, &dispatch(Channel::Email, &approved_email, true), at).await.expect("decide");
        assert!(!reasons(&in_force).contains(&Reason::ProviderWithoutBaa), "{in_force:?}");
        let later: jiff::Timestamp = "2027-02-02T17:00:00Z".parse().expect("time");
        let ended = t.app.decide_for_dispatch(&p1, &dispatch(Channel::Email, &approved_email, true), later).await.expect("decide");
        assert!(reasons(&ended).contains(&Reason::ProviderWithoutBaa), "{ended:?}");

        let (status, answer) = crate::support::read(t.get(&format!("/v1/patients/p-1/eligibility?channel=sms&purpose=operations&template_id={draft_id}"), &t.admin_key).send().await.expect("send")).await;
        assert_eq!((status, answer["template"].as_str()), (200, Some("checked")), "{answer}");
        assert!(answer["reasons"].as_array().expect("reasons").contains(&json!("template_not_approved")), "{answer}");
        let (status, answer) = crate::support::read(t.get("/v1/patients/p-1/eligibility?channel=sms&purpose=operations&provider_has_baa=true", &t.admin_key).send().await.expect("send")).await;
        assert_eq!(status, 422, "the provider's BAA is never taken from the caller: {answer}");
    }
}
