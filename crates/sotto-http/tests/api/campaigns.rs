//! Campaigns over HTTP: the checklist failing item by item, preflight without sending,
//! approval by a second principal, launch into the outbox, the worker delivering to the sink,
//! progress with small counts suppressed, and bad requests refused with the field named.

use serde_json::{Value, json};

use sotto_app::deliver::Providers;
use sotto_app::{AppSettings, Compliance, DispatchSettings};
use sotto_core::scope::Scope;
use sotto_store::testing::backends;

use crate::consent::patient;
use crate::outbox::daytime;
use crate::support::{TestApp, app_settings, read, spawn_app_with};

/// A deployment whose checklist can pass: providers under BAAs, a portal, a recent risk
/// assessment and training.
pub fn compliant() -> AppSettings {
    let recent = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).date();
    AppSettings { compliance: Compliance { last_risk_assessment: Some(recent), last_staff_training: Some(recent), portal_configured: true, ..Compliance::default() }, ..app_settings() }
}

async fn call(t: &TestApp, key: &str, path: &str) -> (u16, Value) {
    read(t.post(path, key).json(&json!({})).send().await.expect("send")).await
}

/// Three patients opted in to email, a segment of them, and a draft newsletter campaign.
async fn draft(t: &TestApp, purpose: &str) -> String {
    for n in 0..3 {
        let id = format!("p-{n}");
        patient(t, &id).await;
        let consent = json!({"channel": "email", "status": "opted_in", "kind": "express", "source": "web_form", "captured_at": "2026-01-05T10:00:00Z", "evidence": {"form_version": "intake-v1"}});
        let (code, body) = t.post_json(&format!("/v1/patients/{id}/consents"), &consent).await;
        assert_eq!(code, 201, "{body}");
    }
    let (code, segment) = t.post_json("/v1/segments", &json!({"name": "Chicago patients", "definition": "timezone = \"America/Chicago\""})).await;
    assert_eq!(code, 201, "{segment}");
    let template = t.library_template("Monthly newsletter (email)").await;
    let body = json!({"name": "December newsletter", "segment_id": segment["id"], "template_id": template, "channels": ["email"], "purpose": purpose, "schedule": {"at": daytime().to_string()}});
    let (code, campaign) = t.post_json("/v1/campaigns", &body).await;
    assert_eq!(code, 201, "{campaign}");
    campaign["id"].as_str().expect("id").to_owned()
}

async fn failing_items(t: &TestApp, id: &str) -> Vec<String> {
    let (code, checklist) = read(t.get(&format!("/v1/campaigns/{id}/checklist"), &t.admin_key).send().await.expect("send")).await;
    assert_eq!(code, 200, "{checklist}");
    checklist["items"].as_array().expect("items").iter().filter(|i| i["pass"] == false).map(|i| i["item"].as_str().unwrap_or_default().to_owned()).collect()
}

#[tokio::test]
async fn a_newsletter_goes_from_checklist_and_preflight_through_a_second_approval_to_the_mailbox() {
    for backend in backends() {
        let t = spawn_app_with(backend, sotto_http::HttpSettings::default(), compliant()).await;
        let id = draft(&t, "marketing").await;
        let (code, empty) = read(t.get(&format!("/v1/campaigns/{id}/report"), &t.admin_key).send().await.expect("send")).await;
        assert_eq!((code, &empty["total"]["messages"]), (200, &json!(0)), "a draft's report has nothing to show, and says so: {empty}");
        assert_eq!(failing_items(&t, &id).await, ["access_separated"], "only the second approval is missing");
        let (code, preflight) = call(&t, &t.admin_key, &format!("/v1/campaigns/{id}/preflight")).await;
        assert_eq!((code, preflight["would_send"].as_str()), (200, Some("fewer than 11")), "{preflight}");
        assert!(t.app.mailbox().list().is_empty(), "a preflight sends nothing");

        let (code, refused) = call(&t, &t.admin_key, &format!("/v1/campaigns/{id}/launch")).await;
        assert_eq!((code, refused["error"]["code"].as_str()), (409, Some("campaign_not_approved")), "{refused}");
        let (code, refused) = call(&t, &t.admin_key, &format!("/v1/campaigns/{id}/approve")).await;
        assert_eq!((code, refused["error"]["code"].as_str()), (409, Some("self_approval")), "{refused}");
        let reviewer = t.key(&[Scope::Compliance]).await;
        let (code, approved) = call(&t, &reviewer, &format!("/v1/campaigns/{id}/approve")).await;
        assert_eq!((code, approved["state"].as_str()), (200, Some("approved")), "{approved}");
        assert!(failing_items(&t, &id).await.is_empty());

        let (code, launched) = call(&t, &t.admin_key, &format!("/v1/campaigns/{id}/launch")).await;
        assert_eq!((code, launched["state"].as_str()), (200, Some("launched")), "{launched}");
        let (code, again) = call(&t, &t.admin_key, &format!("/v1/campaigns/{id}/launch")).await;
        assert_eq!((code, &again), (200, &launched), "launching twice answers the campaign as it is");
        assert!(launched["pinned_versions"].as_object().is_some_and(|p| p.len() == 1), "{launched}");

        let (code, paused) = call(&t, &t.admin_key, &format!("/v1/campaigns/{id}/pause")).await;
        assert_eq!((code, paused["state"].as_str()), (200, Some("paused")), "{paused}");
        let held = t.app.dispatch_round("w-1", &Providers::sink(t.app.mailbox()), &DispatchSettings::default(), daytime()).await.expect("round");
        assert_eq!(held.claimed, 0, "a paused campaign's messages are held");
        let (code, resumed) = call(&t, &t.admin_key, &format!("/v1/campaigns/{id}/resume")).await;
        assert_eq!((code, resumed["state"].as_str()), (200, Some("launched")), "{resumed}");
        let early = t.app.dispatch_round("w-1", &Providers::sink(t.app.mailbox()), &DispatchSettings::default(), jiff::Timestamp::now()).await.expect("round");
        assert_eq!(early.claimed, 0, "resuming keeps the schedule: nothing goes before its planned time");
        let report = t.app.dispatch_round("w-1", &Providers::sink(t.app.mailbox()), &DispatchSettings::default(), daytime()).await.expect("round");
        assert_eq!(report.sent, 3, "{report:?}");
        assert_eq!(t.app.mailbox().list().len(), 3);
        assert!(t.app.mailbox().list().iter().all(|m| m.headers.iter().any(|(n, _)| n == "List-Unsubscribe")), "marketing email carries one-click unsubscribe");
        let (code, progress) = read(t.get(&format!("/v1/campaigns/{id}/progress"), &t.admin_key).send().await.expect("send")).await;
        assert_eq!(code, 200);
        assert_eq!((progress["finished"].as_bool(), progress["percent_done"].as_u64(), progress["sent"].as_str()), (Some(true), Some(100), Some("fewer than 11")), "{progress}");
        // A click through Sotto's own redirect and an unsubscribe through the message's link,
        // each counted once in the report.
        let mail = t.app.mailbox().list();
        let html = mail[0].html.clone().expect("html").replace("&#x2f;", "/");
        let start = html.find("/c/").expect("a tracked link");
        let token: String = html[start + 3..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect();
        let plain = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
        for _ in 0..2 {
            let followed = plain.get(format!("{}/c/{token}", t.base)).send().await.expect("click");
            assert!(followed.status().is_redirection(), "{}", followed.status());
            assert!(followed.headers()["location"].to_str().expect("location").ends_with("/portal"));
        }
        assert_eq!(plain.get(format!("{}/c/not-a-token", t.base)).send().await.expect("send").status(), 404);
        let unsubscribe = mail[1].headers.iter().find(|(n, _)| n == "List-Unsubscribe").map(|(_, v)| v.trim_matches(['<', '>']).to_owned()).expect("header");
        let path = &unsubscribe[unsubscribe.find("/u/").expect("path")..];
        let done = plain.post(format!("{}{path}", t.base)).body("List-Unsubscribe=One-Click").header("content-type", "application/x-www-form-urlencoded").send().await.expect("unsubscribe");
        assert!(done.status().is_success(), "{}", done.status());
        let (code, report) = read(t.get(&format!("/v1/campaigns/{id}/report"), &t.admin_key).send().await.expect("send")).await;
        assert_eq!(code, 200, "{report}");
        assert_eq!((report["total"]["clicked"].as_str(), report["total"]["unsubscribed"].as_str()), (Some("fewer than 11"), Some("fewer than 11")), "{report}");
        assert_eq!(report["rows"][0]["sent"], "fewer than 11", "{report}");
        let clicks: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM engagements WHERE kind = 'click'").fetch_one(t.store().pool()).await.expect("count");
        assert_eq!(clicks, 1, "a second click on the same link is not counted again");
        let stream = t.get(&format!("/v1/campaigns/{id}/progress/stream"), &t.admin_key).send().await.expect("send");
        assert_eq!(stream.headers().get("content-type").and_then(|v| v.to_str().ok()), Some("text/event-stream"));
        let events = stream.text().await.expect("the stream ends once every message has ended");
        assert!(events.contains("event: progress") && events.contains("\"finished\":true"), "{events}");
        let (code, refused) = read(t.client.put(format!("{}/v1/campaigns/{id}", t.base)).bearer_auth(&t.admin_key).json(&json!({})).send().await.expect("send")).await;
        assert_eq!((code, refused["error"]["code"].as_str()), (409, Some("campaign_not_draft")));
        let (code, cancelled) = call(&t, &t.admin_key, &format!("/v1/campaigns/{id}/cancel")).await;
        assert_eq!((code, cancelled["state"].as_str()), (200, Some("cancelled")), "{cancelled}");
        assert_eq!(call(&t, &t.admin_key, &format!("/v1/campaigns/{id}/resume")).await.0, 409);
    }
}

/// Runs `change` on a fresh compliant deployment and answers the checklist's failing items.
async fn fails_alone(settings: AppSettings, purpose: &str, change: impl AsyncFn(&TestApp, &str)) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for backend in backends() {
        let t = spawn_app_with(backend, sotto_http::HttpSettings::default(), settings.clone()).await;
        let id = draft(&t, purpose).await;
        let reviewer = t.key(&[Scope::Compliance]).await;
        change(&t, &id).await;
        let mut failing = failing_items(&t, &id).await;
        // Approval needs every other item to pass; a campaign that cannot be approved fails
        // access separation too, so that item is left out of what each case names.
        if failing.iter().all(|f| f != "access_separated") || call(&t, &reviewer, &format!("/v1/campaigns/{id}/approve")).await.0 == 409 {
            failing.retain(|f| f != "access_separated");
        }
        out.push(failing);
    }
    out
}

async fn sql(t: &TestApp, statement: &str) {
    sqlx::query(sqlx::AssertSqlSafe(statement.to_owned())).execute(t.store().pool()).await.expect("sql");
}

/// Points the campaign at a template whose only version is a draft (reviewed versions are
/// final, so a campaign can only meet unreviewed content through its stored spec).
async fn unreviewed_content(t: &TestApp, id: &str) {
    let body = json!({"name": "Holiday hours", "channel": "email", "surfaces": {"email_subject": "Holiday hours", "email_body": "<p>We close at noon on Friday.</p><p><a href=\"{{ links.unsubscribe }}\">Unsubscribe</a></p>"}});
    let (code, draft) = t.post_json("/v1/templates", &body).await;
    assert_eq!(code, 201, "{draft}");
    let (_, campaign) = read(t.get(&format!("/v1/campaigns/{id}"), &t.admin_key).send().await.expect("send")).await;
    let old = campaign["template_id"]["email"].as_str().expect("template").to_owned();
    sql(t, &format!("UPDATE campaigns SET spec = REPLACE(spec, '{old}', '{}') WHERE id = '{id}'", draft["id"].as_str().expect("id"))).await;
}

#[tokio::test]
async fn each_checklist_item_fails_alone_and_says_why() {
    let no_baa = {
        let mut s = compliant();
        s.providers.get_mut(&sotto_core::contact::Channel::Email).expect("email").baa_signed = None;
        s
    };
    let stale = AppSettings { compliance: Compliance { last_staff_training: "2024-01-10".parse().ok(), ..compliant().compliance }, ..compliant() };
    let no_portal = AppSettings { compliance: Compliance { portal_configured: false, ..compliant().compliance }, ..compliant() };
    let none = async |_: &TestApp, _: &str| {};
    let cases: Vec<(&str, Vec<Vec<String>>)> = vec![
        ("providers_baa", fails_alone(no_baa, "marketing", none).await),
        ("audit_training_current", fails_alone(stale, "marketing", none).await),
        ("secure_portal", fails_alone(no_portal, "marketing", none).await),
        ("authorization_basis", fails_alone(compliant(), "marketing_remunerated", none).await),
        ("data_categorized", fails_alone(compliant(), "marketing", async |t: &TestApp, _: &str| sql(t, "DELETE FROM segments").await).await),
        ("names_coded", fails_alone(compliant(), "marketing", async |t: &TestApp, id: &str| sql(t, &format!("UPDATE campaigns SET name = 'Diabetes outreach' WHERE id = '{id}'")).await).await),
        ("content_reviewed", fails_alone(compliant(), "marketing", unreviewed_content).await),
    ];
    for (item, failing) in cases {
        for on_backend in failing {
            assert_eq!(on_backend, [item], "{item} fails alone");
        }
    }
}

#[tokio::test]
async fn bad_campaign_requests_are_refused_with_the_field_named_and_nothing_written() {
    for backend in backends() {
        let t = spawn_app_with(backend, sotto_http::HttpSettings::default(), compliant()).await;
        let template = t.library_template("Monthly newsletter (email)").await;
        let (_, segment) = t.post_json("/v1/segments", &json!({"name": "Everyone active", "definition": "timezone exists"})).await;
        let base = json!({"name": "Spring", "segment_id": segment["id"], "template_id": template, "channels": ["email"], "purpose": "marketing", "schedule": {"now": true}});
        let with = |k: &str, v: Value| {
            let mut b = base.clone();
            b[k] = v;
            b
        };
        let cases = [
            (with("segment_id", json!("seg_missing")), "unknown_segment", "segment_id"),
            (with("template_id", json!("tpl_missing")), "unknown_template", "template_id"),
            (with("name", json!("Oncology follow-up")), "health_term_in_name", "name"),
            (with("schedule", json!({"at": "2020-01-01T00:00:00Z"})), "schedule_in_past", "schedule.at"),
            (with("schedule", json!({"local_time": "02:30", "date": "2027-03-14"})), "nonexistent_local_time", "schedule.local_time"),
            (with("channels", json!(["fax"])), "invalid_channel", "channels[0]"),
            (with("throttle_per_minute", json!(0)), "invalid_throttle", "throttle_per_minute"),
            (with("channels", json!(["sms"])), "channel_mismatch", "template_id"),
        ];
        for (body, code, field) in cases {
            let (status, answer) = t.post_json("/v1/campaigns", &body).await;
            assert_eq!(status, 422, "{code}: {answer}");
            assert!(answer["error"]["errors"].as_array().is_some_and(|f| f.iter().any(|e| e["code"] == code && e["field"] == field)), "{code} on {field}: {answer}");
        }
        let (code, list) = read(t.get("/v1/campaigns", &t.admin_key).send().await.expect("send")).await;
        assert_eq!(code, 200);
        assert!(list["campaigns"].as_array().is_some_and(|c| c.is_empty()), "nothing half-written: {list}");
    }
}

/// Refuses the first message it is handed, takes the rest.
#[derive(Debug, Default)]
struct RefusesFirst(std::sync::atomic::AtomicBool);

impl sotto_app::deliver::Provider for RefusesFirst {
    fn name(&self) -> &str {
        "refuses-first"
    }
    fn send<'a>(&'a self, m: &'a sotto_app::deliver::OutgoingMessage) -> sotto_app::deliver::SendFuture<'a> {
        let first = !self.0.swap(true, std::sync::atomic::Ordering::SeqCst);
        let id = m.id.clone();
        Box::pin(async move { if first { Err(sotto_app::deliver::SendError::Permanent("smtp_550".into())) } else { Ok(sotto_app::deliver::Accepted::id(id)) } })
    }
}

#[tokio::test]
async fn a_resend_sends_again_only_the_messages_that_failed() {
    for backend in backends() {
        let t = spawn_app_with(backend, sotto_http::HttpSettings::default(), compliant()).await;
        let id = draft(&t, "marketing").await;
        let reviewer = t.key(&[Scope::Compliance]).await;
        assert_eq!(call(&t, &reviewer, &format!("/v1/campaigns/{id}/approve")).await.0, 200);
        assert_eq!(call(&t, &t.admin_key, &format!("/v1/campaigns/{id}/launch")).await.0, 200);
        let flaky = Providers::default().with(sotto_core::contact::Channel::Email, std::sync::Arc::new(RefusesFirst::default()));
        let report = t.app.dispatch_round("w-1", &flaky, &DispatchSettings::default(), daytime()).await.expect("round");
        assert_eq!((report.sent, report.failed), (2, 1), "{report:?}");
        let (code, resent) = call(&t, &t.admin_key, &format!("/v1/campaigns/{id}/resend")).await;
        assert_eq!(code, 200, "{resent}");
        let report = t.app.dispatch_round("w-1", &Providers::sink(t.app.mailbox()), &DispatchSettings::default(), daytime()).await.expect("round");
        assert_eq!((report.claimed, report.sent), (1, 1), "only the failed message goes again: {report:?}");
        assert_eq!(t.app.mailbox().list().len(), 1);
    }
}

#[tokio::test]
async fn a_large_audience_needs_a_second_approval_from_a_third_person_and_the_cap_is_never_passed() {
    for backend in backends() {
        let mut settings = compliant();
        settings.compliance.second_approval_above = Some(2);
        let t = spawn_app_with(backend, sotto_http::HttpSettings::default(), settings).await;
        let id = draft(&t, "marketing").await;
        let (first, second) = (t.key(&[Scope::Compliance]).await, t.key(&[Scope::Compliance]).await);
        assert_eq!(call(&t, &first, &format!("/v1/campaigns/{id}/approve")).await.0, 200);
        let (code, refused) = call(&t, &t.admin_key, &format!("/v1/campaigns/{id}/launch")).await;
        assert_eq!((code, refused["error"]["code"].as_str()), (409, Some("second_approval_required")), "{refused}");
        let (code, refused) = call(&t, &first, &format!("/v1/campaigns/{id}/approve")).await;
        assert_eq!((code, refused["error"]["code"].as_str()), (409, Some("self_approval")), "the first approver cannot approve twice: {refused}");
        let (code, approved) = call(&t, &second, &format!("/v1/campaigns/{id}/approve")).await;
        assert_eq!((code, approved["second_approved_by"].is_string()), (200, true), "{approved}");
        assert_eq!(call(&t, &t.admin_key, &format!("/v1/campaigns/{id}/launch")).await.0, 200);

        let mut capped = compliant();
        capped.compliance.audience_cap = Some(2);
        let t = spawn_app_with(backend, sotto_http::HttpSettings::default(), capped).await;
        let id = draft(&t, "marketing").await;
        let reviewer = t.key(&[Scope::Compliance]).await;
        assert_eq!(call(&t, &reviewer, &format!("/v1/campaigns/{id}/approve")).await.0, 200);
        let (code, refused) = call(&t, &t.admin_key, &format!("/v1/campaigns/{id}/launch")).await;
        assert_eq!((code, refused["error"]["code"].as_str()), (409, Some("audience_over_cap")), "{refused}");
        let queued: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox").fetch_one(t.store().pool()).await.expect("count");
        assert_eq!(queued, 0, "nothing queued past the cap");
    }
}

#[tokio::test]
async fn a_test_send_reaches_the_staff_seed_list_marked_as_a_test_and_is_never_counted() {
    for backend in backends() {
        let t = spawn_app_with(backend, sotto_http::HttpSettings::default(), compliant()).await;
        let id = draft(&t, "marketing").await;
        let path = format!("/v1/campaigns/{id}/test");
        let (code, refused) = t.post_json(&path, &json!({"to": ["front-desk@clinic.example"]})).await;
        assert_eq!((code, refused["error"]["code"].as_str()), (409, Some("no_worker")), "{refused}");
        t.app.set_live_providers(std::sync::Arc::new(Providers::sink(t.app.mailbox())));
        let (code, refused) = t.post_json(&path, &json!({"to": ["not an address"]})).await;
        assert_eq!((code, refused["error"]["field"].as_str()), (422, Some("to[0]")), "{refused}");
        let (code, sent) = t.post_json(&path, &json!({"to": ["front-desk@clinic.example", "+13125550100"]})).await;
        assert_eq!((code, sent["sent"].as_u64()), (200, Some(1)), "only the email seed has a template of its channel: {sent}");
        assert!(!sent.to_string().contains("front-desk"), "results name seeds by position only: {sent}");
        let kept = t.app.mailbox().list();
        assert_eq!(kept.len(), 1);
        assert!(kept[0].subject.starts_with("[TEST] ") && kept[0].headers.iter().any(|(n, v)| n == "X-Sotto-Test" && *v == id), "{:?}", kept[0].headers);
        let queued: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox").fetch_one(t.store().pool()).await.expect("count");
        assert_eq!(queued, 0, "a test is not a campaign message");
    }
}
