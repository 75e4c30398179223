//! Authentication, scopes, operability endpoints and an unreachable database.

use serde_json::json;

use sotto_core::scope::Scope;

use crate::support::{each_app, read};

#[tokio::test]
async fn a_missing_or_wrong_key_gets_401_and_a_wrong_scope_gets_403_each_with_a_code() {
    each_app(async |t| {
        let call = json!({"userId": "p", "event": "app_opened"});
        let url = format!("{}/v1/track", t.base);
        let (status, body) = read(t.client.post(&url).json(&call).send().await.expect("send")).await;
        assert_eq!((status, body["error"]["code"].as_str()), (401, Some("missing_api_key")));
        let (status, body) = read(t.post("/v1/track", "sotto_not-a-real-key").json(&call).send().await.expect("send")).await;
        assert_eq!((status, body["error"]["code"].as_str()), (401, Some("invalid_api_key")));
        let reader = t.key(&[Scope::PatientsRead]).await;
        let (status, body) = read(t.post("/v1/track", &reader).json(&call).send().await.expect("send")).await;
        assert_eq!((status, body["error"]["code"].as_str(), body["error"]["scope"].as_str()), (403, Some("insufficient_scope"), Some("events:write")));
        let writer = t.key(&[Scope::EventsWrite]).await;
        let (status, _) = read(t.post("/v1/track", &writer).json(&call).send().await.expect("send")).await;
        assert_eq!(status, 200);
        assert_eq!(t.counts().await, (1, 1));
    })
    .await;
}

#[tokio::test]
async fn health_and_readiness_answer_and_request_ids_are_echoed_or_replaced() {
    each_app(async |t| {
        let res = t.client.get(format!("{}/healthz", t.base)).header("x-request-id", "abc-123").send().await.expect("send");
        assert_eq!(res.headers()["x-request-id"], "abc-123");
        assert_eq!(res.status(), 200);
        let res = t.client.get(format!("{}/readyz", t.base)).header("x-request-id", "jane@example.org has cancer").send().await.expect("send");
        let id = res.headers()["x-request-id"].to_str().expect("ascii").to_owned();
        assert!(id.starts_with("req-"), "{id}");
        assert_eq!(read(res).await, (200, json!({"status": "ready", "tasks": {"ingestion_writer": {"restarts": 0}}})));
        let (status, body) = read(t.client.get(format!("{}/v1/nothing-here", t.base)).send().await.expect("send")).await;
        assert_eq!((status, body["error"]["code"].as_str()), (404, Some("not_found")));
    })
    .await;
}

#[tokio::test]
async fn an_unreachable_database_answers_503_never_a_success() {
    each_app(async |t| {
        t.store().close().await;
        let (status, body) = read(t.client.get(format!("{}/readyz", t.base)).send().await.expect("send")).await;
        assert_eq!((status, body["error"]["code"].as_str()), (503, Some("storage_unavailable")));
        let (status, body) = t.post_json("/v1/track", &json!({"userId": "p", "event": "app_opened"})).await;
        assert_eq!((status, body["error"]["code"].as_str()), (503, Some("storage_unavailable")));
    })
    .await;
}
