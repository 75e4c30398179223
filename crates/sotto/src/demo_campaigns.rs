//! The demo's campaigns: a holiday-hours notice to the clinic's Spanish-speaking patients,
//! approved by a separate reviewer and launched (the worker sends it in their language), and
//! a draft push re-engagement whose checklist fails because the push service signs no BAA;
//! the appointment journey; and a few secure messages waiting in the portal.

use anyhow::Context;
use serde_json::{Value, json};

use sotto_app::{App, Principal, RequestCtx};
use sotto_store::{CampaignStore, SqlStore, TemplateStore};

fn as_who(who: &str) -> RequestCtx {
    RequestCtx { principal: Principal::system(who), request_id: "demo-campaigns".into(), source_ip: None, now: jiff::Timestamp::now() }
}

async fn segment(app: &App<SqlStore>, name: &str, definition: &str) -> anyhow::Result<String> {
    let made = app.create_segment(&as_who("demo-marketing"), &json!({"name": name, "definition": definition})).await.map_err(|e| anyhow::anyhow!("cannot create the demo segment: {e}"))?;
    made["id"].as_str().map(str::to_owned).context("a created segment has an id")
}

/// Loads the built-in appointment journey (approved by a separate reviewer) and books three
/// appointments three days out, so a newcomer watches their runs with `POST /dev/clock`.
/// Answers the journey's id on the first run.
pub async fn seed_journey(app: &App<SqlStore>) -> anyhow::Result<Option<String>> {
    // The demo clinic's own codes: types 1 to 4 are visits after which it checks in, 5 to 8
    // those with next steps to read in the portal; the rest get no follow-up.
    let follow_ups: Vec<(String, &str)> = (1..=8).map(|n| (format!("appt_type:{n}"), if n <= 4 { "Visit follow-up (email)" } else { "Next steps (email)" })).collect();
    let follow_ups: Vec<(&str, &str)> = follow_ups.iter().map(|(code, name)| (code.as_str(), *name)).collect();
    let Some(id) = app.load_appointment_journey(&as_who("demo-care-team"), &as_who("demo-compliance-review"), &follow_ups).await.map_err(|e| anyhow::anyhow!("cannot load the appointment journey: {e}"))? else {
        return Ok(None);
    };
    let start = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(72);
    let start = jiff::Timestamp::from_second(start.as_second() - start.as_second() % 3600).context("appointment time")?;
    let calls: Vec<Value> = (1..=3)
        .map(|n| {
            json!({"type": "track", "userId": format!("demo-{n:06}"), "event": "appointment_booked", "messageId": format!("demo-journey-booking-{n}"),
                "properties": {"appointment_id": format!("demo-appt-{n}"), "appointment_start": start.to_string(), "first_visit": n == 1}})
        })
        .collect();
    let results = app.ingest_calls(&as_who("demo-scheduler"), &calls, None).await.map_err(|e| anyhow::anyhow!("cannot book the demo appointments: {e}"))?;
    if results.iter().any(|r| r.status != sotto_app::ItemStatus::Accepted) {
        anyhow::bail!("the demo appointments were refused");
    }
    Ok(Some(id))
}

/// Creates the demo's campaigns on its first run; answers the finished one's id and the draft's.
pub async fn seed(app: &App<SqlStore>) -> anyhow::Result<Option<(String, String)>> {
    if !app.store().campaigns().await.context("cannot read the campaigns")?.is_empty() {
        return Ok(None);
    }
    let templates = app.store().templates().await.context("cannot read the templates")?;
    let id_of = |name: &str| templates.iter().find(|t| t.name == name).map(|t| t.id.clone()).with_context(|| format!("the library has no {name}"));
    let spanish = segment(app, "Spanish-speaking patients", "language = \"es\" and status = \"active\"").await?;
    let lapsed = segment(app, "Active patients on the app", "status = \"active\" and preferred_channel = \"push\"").await?;
    let author = as_who("demo-marketing");
    let notice = json!({"name": "Holiday hours 2026", "segment_id": spanish, "template_id": id_of("Holiday hours (email)")?, "channels": ["email"], "purpose": "operations", "schedule": {"now": true}});
    let made = app.create_campaign(&author, &notice).await.map_err(|e| anyhow::anyhow!("cannot create the demo campaign: {e}"))?;
    let notice_id = made["id"].as_str().context("campaign id")?.to_owned();
    app.approve_campaign(&as_who("demo-compliance-review"), &notice_id).await.map_err(|e| anyhow::anyhow!("cannot approve the demo campaign: {e}"))?;
    app.launch_campaign(&author, &notice_id).await.map_err(|e| anyhow::anyhow!("cannot launch the demo campaign: {e}"))?;
    let draft = json!({"name": "Winter re-engagement", "segment_id": lapsed, "template_id": id_of("Re-engagement (push)")?, "channels": ["push"], "purpose": "marketing", "schedule": {"now": true}});
    let made: Value = app.create_campaign(&author, &draft).await.map_err(|e| anyhow::anyhow!("cannot create the demo draft: {e}"))?;
    Ok(Some((notice_id, made["id"].as_str().context("campaign id")?.to_owned())))
}

/// Secure messages for the first few patients with a verified contact, each nudged by email
/// (or SMS) through the outbox: the nudge in the mailbox carries the single-use portal link,
/// and the one-time code arrives there too. Answers how many were made (first run only).
pub async fn seed_secure_messages(app: &App<SqlStore>, first_run: bool) -> anyhow::Result<usize> {
    if !first_run {
        return Ok(0);
    }
    let templates = app.store().templates().await.context("cannot read the templates")?;
    let id_of = |name: &str| templates.iter().find(|t| t.name == name).map(|t| t.id.clone());
    let (Some(email), Some(sms)) = (id_of("Secure message nudge (email)"), id_of("Secure message nudge (SMS)")) else { return Ok(0) };
    let body = json!({
        "subject": "Your blood test results",
        "body": "Your cholesterol panel from last week is back and every value is in the normal range.\n\nNo change to your medication is needed. We will check again at your yearly visit.\n\nDr. Rivera",
        "category": "results",
        "nudge": {"channels": ["email", "sms"], "template_id": {"email": email, "sms": sms}},
    });
    let mut made = 0;
    for n in 1..=40 {
        let patient = format!("demo-{n:06}");
        match app.create_secure_message(&as_who("demo-care-team"), &patient, &body).await {
            Ok(_) => made += 1,
            Err(sotto_app::AppError::Invalid(_)) | Err(sotto_app::AppError::NotFound(_)) => continue,
            Err(e) => anyhow::bail!("cannot create a demo secure message: {e}"),
        }
        if made == 3 {
            break;
        }
    }
    Ok(made)
}
