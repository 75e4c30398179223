//! Inbound SMS keywords and one-click email unsubscribe over HTTP.

use serde_json::json;

use sotto_core::scope::Scope;

use crate::consent::patient;
use crate::support::{TestApp, each_app, read};

async fn text(t: &TestApp, key: &str, from: &str, body: &str) -> (u16, String) {
    let res = t.post("/v1/inbound/sms", key).form(&[("From", from), ("To", "+13125550100"), ("Body", body), ("MessageSid", "SM1")]).send().await.expect("send");
    (res.status().as_u16(), res.text().await.expect("body"))
}

async fn sms_state(t: &TestApp) -> String {
    let (_, body) = read(t.get("/v1/patients/p-1/consents", &t.admin_key).send().await.expect("send")).await;
    body["current"].as_array().and_then(|c| c.iter().find(|r| r["channel"] == "sms")).map(|r| r["status"].as_str().unwrap_or("").to_owned()).unwrap_or_default()
}

#[tokio::test]
async fn stop_opts_out_at_once_with_exactly_one_confirmation_and_start_opts_back_in() {
    each_app(async |t| {
        patient(t, "p-1").await;
        let key = t.key(&[Scope::InboundWrite]).await;
        let (status, first) = text(t, &key, "(312) 253-0142", "Stop.").await;
        assert_eq!(status, 200);
        assert!(first.contains("<Message>") && first.contains("unsubscribed"), "{first}");
        assert_eq!(sms_state(t).await, "opted_out");
        let (_, second) = text(t, &key, "+13122530142", "STOP").await;
        assert!(!second.contains("<Message>"), "a second STOP within the hour must not be confirmed again: {second}");
        let (_, start) = text(t, &key, "+13122530142", "start").await;
        assert!(start.contains("resubscribed"));
        assert_eq!(sms_state(t).await, "opted_in");
        let (_, plain) = text(t, &key, "+13122530142", "please stop texting me").await;
        assert!(plain.contains("<Message>"), "{plain}");
        assert_eq!(sms_state(t).await, "opted_out");
        let (_, help) = text(t, &key, "+13122530142", "HELP").await;
        assert!(help.contains("STOP to opt out") && !help.contains("ana"), "{help}");
        let (_, other) = text(t, &key, "+13122530142", "see you tomorrow").await;
        assert!(!other.contains("<Message>"));
    })
    .await;
}

#[tokio::test]
async fn unknown_numbers_get_the_same_answers_as_patients() {
    each_app(async |t| {
        patient(t, "p-1").await;
        let key = t.key(&[Scope::InboundWrite]).await;
        for body in ["STOP", "HELP", "START", "C", "R", "see you then"] {
            let (_, known) = text(t, &key, "+13122530142", body).await;
            let (_, unknown) = text(t, &key, "+13122530199", body).await;
            assert_eq!(known, unknown, "{body}");
        }
        let (status, _) = text(t, &t.key(&[Scope::EventsWrite]).await, "+13122530142", "STOP").await;
        assert_eq!(status, 403);
    })
    .await;
}

#[tokio::test]
async fn a_provider_signed_webhook_is_accepted_and_a_forged_one_refused() {
    use sotto_crypto::webhook::{Secret, form_signature};
    let secret = Secret::new("provider-auth-token".into());
    let settings = sotto_app::AppSettings { sms_webhook_secret: Some(secret.clone()), ..sotto_app::AppSettings::default() };
    let t = crate::support::spawn_app_with(sotto_store::Backend::Sqlite, sotto_http::HttpSettings::default(), settings).await;
    patient(&t, "p-1").await;
    let params: Vec<(String, String)> = [("From", "+13122530142"), ("To", "+13125550100"), ("Body", "STOP")].iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let signature = form_signature(&secret, "http://127.0.0.1:8080/v1/inbound/sms", &params);
    let send = |sig: String| t.client.post(format!("{}/v1/inbound/sms", t.base)).header("x-twilio-signature", sig).form(&params).send();
    let res = send(signature.clone()).await.expect("send");
    assert_eq!(res.status(), 200);
    assert!(res.text().await.expect("body").contains("unsubscribed"));
    assert_eq!(sms_state(&t).await, "opted_out");
    let forged = send(form_signature(&Secret::new("guess".into()), "http://127.0.0.1:8080/v1/inbound/sms", &params)).await.expect("send");
    let (status, body) = read(forged).await;
    assert_eq!((status, body["error"]["code"].as_str()), (401, Some("invalid_signature")));
}

#[tokio::test]
async fn one_click_post_unsubscribes_and_get_only_asks() {
    each_app(async |t| {
        patient(t, "p-1").await;
        let (status, link) = t.post_json("/v1/patients/p-1/unsubscribe-links", &json!({"channel": "email", "topic": "newsletter"})).await;
        assert_eq!(status, 201, "{link}");
        let url = link["url"].as_str().expect("url").to_owned();
        assert!(!url.contains("p-1") && !url.contains("example.org"), "{url}");
        let path = url.split_once("/u/").map(|(_, token)| format!("/u/{token}")).expect("path");
        let page = t.client.get(format!("{}{path}", t.base)).send().await.expect("get");
        assert_eq!(page.status(), 200);
        let html = page.text().await.expect("html");
        assert!(html.contains("email about newsletter") && html.contains("<form method=\"post\">"), "{html}");
        let (_, consents) = read(t.get("/v1/patients/p-1/consents", &t.admin_key).send().await.expect("send")).await;
        assert_eq!(consents["history"], json!([]), "GET must not unsubscribe");
        for body in ["List-Unsubscribe=One-Click", "List-Unsubscribe=One-Click"] {
            let res = t.client.post(format!("{}{path}", t.base)).header("content-type", "application/x-www-form-urlencoded").body(body).send().await.expect("post");
            assert_eq!(res.status(), 200);
            assert!(res.headers().get("location").is_none() && res.headers().get("set-cookie").is_none());
        }
        let multipart = "--b\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\nOne-Click\r\n--b--\r\n";
        let res = t.client.post(format!("{}{path}", t.base)).header("content-type", "multipart/form-data; boundary=b").body(multipart).send().await.expect("post");
        assert_eq!(res.status(), 200);
        let (_, consents) = read(t.get("/v1/patients/p-1/consents", &t.admin_key).send().await.expect("send")).await;
        assert_eq!(consents["history"].as_array().map(Vec::len), Some(1), "repeats change nothing: {consents}");
        assert_eq!(consents["current"][0]["status"], "opted_out");
        assert_eq!(consents["current"][0]["topic"], "newsletter");
        let bad = t.client.post(format!("{}/u/forged-token", t.base)).send().await.expect("post");
        assert_eq!(bad.status(), 404);
    })
    .await;
}

#[tokio::test]
async fn a_stop_from_a_number_that_is_nobodys_yet_applies_when_a_patient_gets_that_number() {
    use sotto_core::contact::Channel;
    use sotto_app::Dispatch;
    use sotto_core::gate::{Decision, Reason};
    use sotto_core::ids::ExternalId;
    use sotto_core::purpose::Purpose;
    each_app(async |t| {
        let key = t.key(&[Scope::InboundWrite]).await;
        let (status, reply) = text(t, &key, "+13122530177", "ALTO").await;
        assert_eq!(status, 200);
        assert!(reply.contains("unsubscribed"), "a Spanish STOP is a STOP: {reply}");
        // The number joins a patient who had opted in before the STOP was sent.
        let (status, _) = t.post_json("/v1/identify", &json!({"userId": "p-9", "traits": {"phone": "+13122530177", "phone_verified": true, "timezone": "America/Chicago"}})).await;
        assert_eq!(status, 200);
        let optin = |at: &str| json!({"channel": "sms", "status": "opted_in", "kind": "express_written", "source": "web_form", "captured_at": at, "evidence": {"form_version": "v1"}});
        let (status, body) = t.post_json("/v1/patients/p-9/consents", &optin("2026-01-01T10:00:00Z")).await;
        assert_eq!(status, 201, "{body}");
        let template_id = t.library_template("Appointment reminder (SMS)").await;
        let intent = Dispatch { channel: Channel::Sms, purpose: Purpose::Operations, topic: None, uses_phi: false, template_id };
        let noon: jiff::Timestamp = "2030-01-02T18:00:00Z".parse().expect("time");
        let p9 = ExternalId::parse("id", "p-9").expect("id");
        let decision = t.app.decide_for_dispatch(&p9, &intent, noon).await.expect("decide");
        assert_eq!(decision, Decision::Deny { reasons: vec![Reason::ChannelOptedOut] }, "the earlier STOP from the number wins over an older opt-in");
        // A later opt-in of the patient's own wins over the number's STOP.
        let later = jiff::Timestamp::now().checked_add(jiff::SignedDuration::from_secs(60)).expect("time").to_string();
        let (status, body) = t.post_json("/v1/patients/p-9/consents", &optin(&later)).await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(t.app.decide_for_dispatch(&p9, &intent, noon).await.expect("decide"), Decision::Allow);
    })
    .await;
}
