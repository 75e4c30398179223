//! Administration over HTTP: API keys listed without secrets and revoked at once, and the
//! audit trail paged to an end even though every page read is itself audited.

use serde_json::Value;

use sotto_core::scope::Scope;

use crate::support::{each_app, read};

#[tokio::test]
async fn keys_are_listed_without_secrets_and_revoking_one_takes_effect_at_once() {
    each_app(async |t| {
        let ehr = t.key(&[Scope::EventsWrite]).await;
        let (status, _) = read(t.get("/v1/keys", &ehr).send().await.expect("send")).await;
        assert_eq!(status, 403, "listing keys needs keys:manage");
        let (status, body) = read(t.get("/v1/keys", &t.admin_key).send().await.expect("send")).await;
        assert_eq!(status, 200, "{body}");
        let text = body.to_string();
        assert!(!text.contains(&ehr) && !text.contains(&t.admin_key), "no secret is listed: {text}");
        let keys = body["keys"].as_array().expect("keys");
        assert_eq!(keys.len(), 2);
        let id = keys.iter().find(|k| k["scopes"] == serde_json::json!(["events:write"])).and_then(|k| k["id"].as_str()).expect("id").to_owned();
        let (status, body) = read(t.post(&format!("/v1/keys/{id}/revoke"), &t.admin_key).send().await.expect("send")).await;
        assert_eq!((status, body["state"].as_str()), (200, Some("revoked")), "{body}");
        let (status, _) = t.post_json("/v1/identify", &serde_json::json!({"userId": "p-1"})).await;
        assert_eq!(status, 200, "the admin key still works");
        let (status, body) = read(t.post("/v1/identify", &ehr).json(&serde_json::json!({"userId": "p-1"})).send().await.expect("send")).await;
        assert_eq!((status, body["error"]["code"].as_str()), (401, Some("invalid_api_key")), "{body}");
        let (status, _) = read(t.post(&format!("/v1/keys/{id}/revoke"), &t.admin_key).send().await.expect("send")).await;
        assert_eq!(status, 404, "a revoked key cannot be revoked again");
        let (status, _) = read(t.post("/v1/keys/jane-doe-hiv/revoke", &t.admin_key).send().await.expect("send")).await;
        assert_eq!(status, 404);
        let log = sotto_store::AuditStore::audit_page(t.store(), 0, 10_000).await.expect("audit");
        assert!(log.iter().all(|r| !r.event.object.contains("jane")), "no unvalidated path text is audited");
        assert_eq!(log.iter().filter(|r| r.event.action == "api_key.revoke" && r.event.outcome == "success").count(), 1);
    })
    .await;
}

#[tokio::test]
async fn paging_the_audit_trail_ends_at_the_head_of_the_first_page() {
    each_app(async |t| {
        for i in 0..12 {
            let (status, _) = t.post_json("/v1/identify", &serde_json::json!({"userId": format!("p-{i}")})).await;
            assert_eq!(status, 200);
        }
        let mut seen = Vec::new();
        let (mut after, mut until) = (0, None::<i64>);
        for _ in 0..100 {
            let mut url = format!("/v1/audit?limit=5&after={after}");
            if let Some(u) = until {
                url.push_str(&format!("&until={u}"));
            }
            let (status, page) = read(t.get(&url, &t.admin_key).send().await.expect("send")).await;
            assert_eq!(status, 200, "{page}");
            until = page["until"].as_i64();
            seen.extend(page["entries"].as_array().expect("entries").iter().filter_map(|e| e["seq"].as_i64()));
            match page["next_after"].as_i64() {
                Some(n) => after = n,
                None => break,
            }
        }
        let until = until.expect("until");
        assert_eq!(seen, (1..=until).collect::<Vec<_>>(), "every entry up to the first page's head, once");
        let (_, page) = read(t.get("/v1/audit?limit=5&colour=blue", &t.admin_key).send().await.expect("send")).await;
        assert_eq!(page["error"]["code"].as_str(), Some("invalid_query"), "{page}");
        let _: Value = page;
    })
    .await;
}
