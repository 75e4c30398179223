//! `POST /v1/lint`: one request or a list, with field paths for malformed items.

use serde_json::json;

use sotto_core::scope::Scope;

use crate::support::{each_app, read};

#[tokio::test]
async fn lint_answers_one_request_or_a_list_and_names_bad_items() {
    each_app(async |t| {
        let (status, one) = t.post_json("/v1/lint", &json!({"id": 7, "channel": "sms", "surface": "sms_body", "text": "Reminder: follow-up with your oncology team, Fri at 3pm."})).await;
        assert_eq!((status, one["verdict"].as_str(), &one["id"]), (200, Some("block"), &json!(7)), "{one}");
        assert_eq!(one["findings"][0]["category"], "specialty");
        let list = json!([
            {"channel": "email", "surface": "email_subject", "text": "Resources from your care team"},
            {"channel": "push", "surface": "push_title", "text": "Your HIV test results"},
        ]);
        let (status, many) = t.post_json("/v1/lint", &list).await;
        assert_eq!(status, 200);
        let verdicts: Vec<&str> = many["results"].as_array().expect("results").iter().filter_map(|r| r["verdict"].as_str()).collect();
        assert_eq!(verdicts, ["pass", "block"]);
        let (status, bad) = t.post_json("/v1/lint", &json!([{"channel": "sms", "surface": "sms_body", "text": "ok"}, {"channel": "sms", "surface": "email_body", "text": "x"}])).await;
        assert_eq!((status, bad["error"]["field"].as_str()), (422, Some("[1].surface")));
        let reader = t.key(&[Scope::PatientsRead]).await;
        let (status, _) = read(t.post("/v1/lint", &reader).json(&json!({"channel": "sms", "surface": "sms_body", "text": "ok"})).send().await.expect("send")).await;
        assert_eq!(status, 403);
    })
    .await;
}
