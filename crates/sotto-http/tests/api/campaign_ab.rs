//! A/B variants and a holdout: every member is drawn into an arm at launch and recorded,
//! the B arm gets the B template, the held-out arm gets nothing, and conversions within the
//! window are counted per arm.

use serde_json::json;

use sotto_core::scope::Scope;
use sotto_store::CampaignStore;
use sotto_store::testing::backends;

use crate::consent::patient;
use crate::support::{read, spawn_app_with};

#[tokio::test]
async fn members_are_split_into_a_b_and_a_holdout_that_gets_nothing_and_conversions_count_per_arm() {
    for backend in backends() {
        let t = spawn_app_with(backend, sotto_http::HttpSettings::default(), crate::campaigns::compliant()).await;
        for n in 0..40 {
            let id = format!("p-{n:02}");
            patient(&t, &id).await;
            let consent = json!({"channel": "email", "status": "opted_in", "kind": "express", "source": "web_form", "captured_at": "2026-01-05T10:00:00Z", "evidence": {"form_version": "intake-v1"}});
            assert_eq!(t.post_json(&format!("/v1/patients/{id}/consents"), &consent).await.0, 201);
        }
        let (_, segment) = t.post_json("/v1/segments", &json!({"name": "Chicago patients", "definition": "timezone = \"America/Chicago\""})).await;
        let a = t.library_template("Monthly newsletter (email)").await;
        let b = t.library_template("Re-engagement (email)").await;
        let body = json!({"name": "Winter test", "segment_id": segment["id"], "template_id": a, "variant_b": b, "split_percent": 50, "holdout_percent": 25,
            "conversion": {"event": "appointment_booked", "within_days": 14}, "channels": ["email"], "purpose": "marketing", "schedule": {"now": true}});
        let (code, campaign) = t.post_json("/v1/campaigns", &body).await;
        assert_eq!(code, 201, "{campaign}");
        let id = campaign["id"].as_str().expect("id").to_owned();
        let reviewer = t.key(&[Scope::Compliance]).await;
        assert_eq!(read(t.post(&format!("/v1/campaigns/{id}/approve"), &reviewer).json(&json!({})).send().await.expect("send")).await.0, 200);
        let (code, launched) = read(t.post(&format!("/v1/campaigns/{id}/launch"), &t.admin_key).json(&json!({})).send().await.expect("send")).await;
        assert_eq!(code, 200, "{launched}");
        assert_eq!(launched["pinned_versions"].as_object().map(|p| p.len()), Some(2), "both variants pinned: {launched}");

        let arms: Vec<(String, String)> = sqlx::query_as("SELECT external_id, arm FROM campaign_recipients WHERE campaign_id = $1 ORDER BY external_id").bind(&id).fetch_all(t.store().pool()).await.expect("arms");
        assert_eq!(arms.len(), 40, "every member has an arm");
        let messages: Vec<(String, String)> = sqlx::query_as("SELECT external_id, template_id FROM outbox WHERE campaign_id = $1").bind(&id).fetch_all(t.store().pool()).await.expect("messages");
        for (patient, arm) in &arms {
            let sent: Vec<&String> = messages.iter().filter(|(p, _)| p == patient).map(|(_, t)| t).collect();
            match arm.as_str() {
                "holdout" => assert!(sent.is_empty(), "a held-out patient gets nothing"),
                "b" => assert_eq!(sent, [&b]),
                _ => assert_eq!(sent, [&a]),
            }
        }
        for arm in ["a", "b", "holdout"] {
            assert!(arms.iter().any(|(_, x)| x == arm), "40 draws fill every arm: {arm}");
        }

        // Half the patients book within the window; each counts once in their arm.
        for n in (0..40).step_by(2) {
            let track = json!({"userId": format!("p-{n:02}"), "event": "appointment_booked", "properties": {}, "messageId": format!("book-{n}")});
            let (code, body) = t.post_json("/v1/track", &track).await;
            assert_eq!(code, 200, "{body}");
        }
        let row = t.store().campaign(&id).await.expect("read").expect("campaign");
        let launched_at = row.launched_at.expect("launched");
        let counted = t.store().conversions(&id, "appointment_booked", launched_at, launched_at + 14 * 86_400_000_000).await.expect("conversions");
        assert_eq!(counted.iter().map(|(_, n, _)| n).sum::<i64>(), 40);
        assert_eq!(counted.iter().map(|(_, _, c)| c).sum::<i64>(), 20);
        let (code, report) = read(t.get(&format!("/v1/campaigns/{id}/report"), &t.admin_key).send().await.expect("send")).await;
        assert_eq!(code, 200, "{report}");
        assert!(report["arms"]["holdout"]["converted"].is_string() || report["arms"]["holdout"]["converted"].is_u64(), "{report}");
        assert_eq!(report["conversion"]["event"], "appointment_booked");
    }
}
