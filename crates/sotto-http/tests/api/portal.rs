//! The portal over HTTP as a browser without script uses it: a secure message's nudge, its
//! single-use link, the one-time code from the sink, the password, sessions, CSRF, sign-in
//! throttling and the preference center (the headless-browser walk is `sotto`'s CLI test).

use serde_json::{Value, json};

use sotto_app::{DispatchSettings, Principal, RequestCtx};
use sotto_app::deliver::Providers;

use crate::consent::patient;
use crate::outbox::daytime;
use crate::browser::{Browser, csrf};
use crate::support::{TestApp, read, spawn_app_with};

/// A browser that checks this part's cookie flags and Content-Security-Policy.
fn browser() -> Browser {
    Browser::new(&["SameSite=Strict", "Path=/portal"], "default-src 'none'")
}

/// The path of the first link in a text that goes to `prefix`.
fn link(text: &str, prefix: &str) -> String {
    let start = text.find(prefix).expect("a portal link");
    text[start..].split(|c: char| c.is_whitespace() || c == '"' || c == '<' || c == ')' || c == '\\').next().expect("link").trim_start_matches("http://").to_owned()
}

fn dev_settings() -> sotto_app::AppSettings {
    sotto_app::AppSettings { dev_mailbox: true, ..crate::support::app_settings() }
}

async fn round(t: &TestApp) {
    t.app.dispatch_round("w", &Providers::sink(t.app.mailbox()), &DispatchSettings::default(), daytime()).await.expect("round");
}

/// Everything in the sink so far, as one text.
fn mailbox(t: &TestApp) -> String {
    serde_json::to_string(&t.app.mailbox().list()).expect("mailbox")
}

async fn advance(t: &TestApp, by: &str) {
    let ctx = RequestCtx { principal: Principal::cli(), request_id: "clock".into(), source_ip: None, now: jiff::Timestamp::now() };
    t.app.advance_clock(&ctx, by).await.expect("clock");
}

/// A patient, an approved email nudge, a secure message for them, and its nudge sent.
async fn secure_message(t: &TestApp) -> (String, String) {
    patient(t, "p-1").await;
    let nudge = t.library_template("Secure message nudge (email)").await;
    let body = json!({"subject": "Your potassium result", "body": "Your potassium is 5.9, which is high. Please call us today.", "category": "results",
        "nudge": {"channels": ["email"], "template_id": nudge}});
    let (code, made) = t.post_json("/v1/patients/p-1/secure-messages", &body).await;
    assert_eq!(code, 201, "{made}");
    assert_eq!(made["status"], "sent");
    round(t).await;
    let sink = mailbox(t);
    assert!(!sink.contains("potassium") && !sink.contains("5.9"), "the nudge carries no PHI: {sink}");
    let path = link(&sink, "/portal/t/");
    let path = path[path.find("/portal").expect("path")..].to_owned();
    (made["id"].as_str().expect("id").to_owned(), path)
}

/// Follows the link and asks for the code: answers the browser waiting for it.
async fn open_link(t: &TestApp, path: &str) -> Browser {
    let mut b = browser();
    let (code, page) = b.get(t, path).await;
    assert_eq!(code, 200, "{page}");
    let (code, to) = b.post(t, path, &[("csrf", &csrf(&page))]).await;
    assert_eq!((code, to.as_str()), (303, "/portal/verify"));
    b
}

/// The six digits of the last code message in the sink.
fn last_code(t: &TestApp) -> String {
    let entries = t.app.mailbox().list();
    let newest = entries.iter().filter(|e| e.text.contains("sign-in code is")).max_by_key(|e| e.id).unwrap_or_else(|| panic!("a code message in {entries:?}"));
    let at = newest.text.find("code is").expect("the code");
    newest.text[at..].chars().filter(char::is_ascii_digit).take(6).collect()
}

#[tokio::test]
async fn a_secure_message_is_read_only_in_the_portal_after_a_one_time_code_and_each_view_is_audited() {
    for backend in sotto_store::testing::backends() {
        let t = spawn_app_with(backend, sotto_http::HttpSettings::default(), dev_settings()).await;
        let (id, path) = secure_message(&t).await;
        let (_, status) = read(t.get(&format!("/v1/secure-messages/{id}"), &t.admin_key).send().await.expect("status")).await;
        assert_eq!(status["status"], "nudged", "{status}");
        assert!(!status.to_string().contains("potassium"), "the status never carries the content");
        let mut b = open_link(&t, &path).await;
        let (code, page) = b.get(&t, "/portal/verify").await;
        assert_eq!(code, 200);
        round(&t).await;
        let code_digits = last_code(&t);
        assert_eq!(code_digits.len(), 6);
        let (code, to) = b.post(&t, "/portal/verify", &[("csrf", &csrf(&page)), ("code", &code_digits)]).await;
        assert_eq!((code, to.clone()), (303, format!("/portal/password?next={id}")));
        let (_, page) = b.get(&t, &to).await;
        let token = csrf(&page);
        let (code, page) = b.post(&t, "/portal/password", &[("csrf", &token), ("next", &id), ("password", "short"), ("confirm", "short")]).await;
        assert_eq!(code, 422, "{page}");
        let (code, to) = b.post(&t, "/portal/password", &[("csrf", &token), ("next", &id), ("password", "blue kettle morning"), ("confirm", "blue kettle morning")]).await;
        assert_eq!((code, to.clone()), (303, format!("/portal/messages/{id}")));
        let (code, page) = b.get(&t, &to).await;
        assert_eq!(code, 200);
        assert!(page.contains("<h1>Your potassium result</h1>") && page.contains("Please call us today."), "{page}");
        assert!(page.contains("<title>Secure message · "), "the title, kept in the browser's history, stays generic");
        let (_, status) = read(t.get(&format!("/v1/secure-messages/{id}"), &t.admin_key).send().await.expect("status")).await;
        assert_eq!(status["status"], "read");
        let (_, audit) = read(t.get("/v1/audit?limit=1000", &t.admin_key).send().await.expect("audit")).await;
        let views: Vec<&Value> = audit["entries"].as_array().expect("entries").iter().filter(|e| e["action"] == "secure_message.view").collect();
        assert_eq!(views.len(), 1, "{audit}");
        assert!(views[0]["actor"].as_str().expect("actor").starts_with("patient:"), "the patient is the actor");
        assert!(!audit.to_string().contains("potassium") && !audit.to_string().contains("p-1"), "no PHI and no id in the chain");
        // A later visit signs in with the password.
        let mut later = browser();
        let (_, page) = later.get(&t, "/portal").await;
        let (code, to) = later.post(&t, "/portal/sign-in", &[("csrf", &csrf(&page)), ("name", "ana@example.org"), ("password", "blue kettle morning")]).await;
        assert_eq!((code, to.as_str()), (303, "/portal"));
        let (_, inbox) = later.get(&t, "/portal").await;
        assert!(inbox.contains("Your potassium result"), "{inbox}");
        // Changing the password needs the current one, and ends every other session.
        let (_, page) = later.get(&t, "/portal/password").await;
        assert!(page.contains("name=\"current\""), "{page}");
        let token = csrf(&page);
        let (code, _) = later.post(&t, "/portal/password", &[("csrf", &token), ("password", "green lantern evening"), ("confirm", "green lantern evening")]).await;
        assert_eq!(code, 422, "without the current password");
        let (code, _) = later.post(&t, "/portal/password", &[("csrf", &token), ("current", "blue kettle morning"), ("password", "green lantern evening"), ("confirm", "green lantern evening")]).await;
        assert_eq!(code, 303);
        assert_eq!(later.get(&t, "/portal").await.0, 200);
        let (_, first) = b.get(&t, "/portal").await;
        assert!(first.contains("action=\"/portal/sign-in\""), "the other session ended: {first}");
    }
}

#[tokio::test]
async fn a_link_opens_once_and_an_expired_link_does_not_open() {
    for backend in sotto_store::testing::backends() {
        let t = spawn_app_with(backend, sotto_http::HttpSettings::default(), dev_settings()).await;
        let (_, path) = secure_message(&t).await;
        let _first = open_link(&t, &path).await;
        let mut again = browser();
        let (code, page) = again.get(&t, &path).await;
        assert_eq!(code, 410, "{page}");
        assert!(page.contains("already used"));
        let (code, _) = again.post(&t, &path, &[("csrf", "x")]).await;
        assert_eq!(code, 403, "without its visitor cookie's token the form is refused");
        // A second message's link, past its seven days.
        let nudge = t.library_template("Secure message nudge (email)").await;
        let body = json!({"subject": "s", "body": "b", "nudge": {"channels": ["email"], "template_id": nudge}});
        assert_eq!(t.post_json("/v1/patients/p-1/secure-messages", &body).await.0, 201);
        round(&t).await;
        let entries = t.app.mailbox().list();
        let newest = entries.iter().filter(|e| e.text.contains("/portal/t/")).max_by_key(|e| e.id).expect("the second nudge");
        let second = link(&newest.text, "/portal/t/");
        let second = second[second.find("/portal").expect("path")..].to_owned();
        assert_ne!(second, path);
        // A Spanish-speaking patient's link opens in Spanish.
        let traits = json!({"email": "luz@example.org", "email_verified": true, "language": "es-MX", "timezone": "America/Chicago"});
        assert_eq!(t.post_json("/v1/identify", &json!({"userId": "p-es", "traits": traits})).await.0, 200);
        assert_eq!(t.post_json("/v1/patients/p-es/secure-messages", &body).await.0, 201);
        round(&t).await;
        let entries = t.app.mailbox().list();
        let spanish = entries.iter().find(|e| e.to.contains("luz@")).expect("the Spanish nudge");
        assert!(spanish.subject.contains("Tiene un nuevo mensaje seguro"), "{}", spanish.subject);
        let es_path = link(&spanish.text, "/portal/t/");
        let (code, page) = browser().get(&t, &es_path[es_path.find("/portal").expect("path")..]).await;
        assert_eq!(code, 200);
        assert!(page.contains("<html lang=\"es\">") && page.contains("Tiene un mensaje seguro") && page.contains("Enviar mi código"), "{page}");
        advance(&t, "8d").await;
        let (code, page) = browser().get(&t, &second).await;
        assert_eq!(code, 410, "{page}");
        assert!(page.contains("expired"));
    }
}

#[tokio::test]
async fn five_wrong_codes_end_the_verification_and_the_right_one_then_fails() {
    for backend in sotto_store::testing::backends() {
        let t = spawn_app_with(backend, sotto_http::HttpSettings::default(), dev_settings()).await;
        let (_, path) = secure_message(&t).await;
        let mut b = open_link(&t, &path).await;
        round(&t).await;
        let right = last_code(&t);
        let wrong = if right == "000000" { "111111" } else { "000000" };
        let (_, page) = b.get(&t, "/portal/verify").await;
        let token = csrf(&page);
        for left in (1..=4).rev() {
            let (code, page) = b.post(&t, "/portal/verify", &[("csrf", &token), ("code", wrong)]).await;
            assert_eq!(code, 422);
            assert!(page.contains(&format!("Tries left: {left}")), "{page}");
        }
        let (code, _) = b.post(&t, "/portal/verify", &[("csrf", &token), ("code", wrong)]).await;
        assert_eq!(code, 403, "the fifth wrong code ends it");
        let (code, _) = b.post(&t, "/portal/verify", &[("csrf", &token), ("code", &right)]).await;
        assert_eq!(code, 401, "the right code no longer helps");
    }
}

#[tokio::test]
async fn a_session_idle_past_fifteen_minutes_is_over_and_a_form_without_its_csrf_token_changes_nothing() {
    for backend in sotto_store::testing::backends() {
        let t = spawn_app_with(backend, sotto_http::HttpSettings::default(), dev_settings()).await;
        let (id, path) = secure_message(&t).await;
        let mut b = open_link(&t, &path).await;
        round(&t).await;
        let (_, page) = b.get(&t, "/portal/verify").await;
        let (code, _) = b.post(&t, "/portal/verify", &[("csrf", &csrf(&page)), ("code", &last_code(&t))]).await;
        assert_eq!(code, 303);
        let (code, page) = b.get(&t, "/portal/preferences").await;
        assert_eq!(code, 200, "{page}");
        let before = read(t.get("/v1/patients/p-1/consents", &t.admin_key).send().await.expect("consents")).await.1;
        let (code, _) = b.post(&t, "/portal/preferences", &[("language", "en")]).await;
        assert_eq!(code, 403, "no CSRF token");
        let (code, _) = b.post(&t, "/portal/preferences", &[("csrf", "forged"), ("language", "en")]).await;
        assert_eq!(code, 403, "a wrong CSRF token");
        assert_eq!(read(t.get("/v1/patients/p-1/consents", &t.admin_key).send().await.expect("consents")).await.1, before, "nothing was written");
        advance(&t, "14m").await;
        assert_eq!(b.get(&t, &format!("/portal/messages/{id}")).await.0, 200, "fourteen idle minutes keep the session");
        advance(&t, "16m").await;
        assert_eq!(b.get(&t, &format!("/portal/messages/{id}")).await, (303, "/portal".to_owned()), "sixteen end it");
        let (code, page) = b.get(&t, "/portal").await;
        assert_eq!(code, 200);
        assert!(page.contains("action=\"/portal/sign-in\""), "the sign-in form: {page}");
    }
}

#[tokio::test]
async fn sign_in_answers_alike_whether_or_not_the_account_exists_and_throttles_after_five_failures() {
    for backend in sotto_store::testing::backends() {
        let t = spawn_app_with(backend, sotto_http::HttpSettings::default(), dev_settings()).await;
        patient(&t, "p-1").await;
        let mut b = browser();
        let (_, page) = b.get(&t, "/portal").await;
        let token = csrf(&page);
        let unknown = b.post(&t, "/portal/sign-in", &[("csrf", &token), ("name", "nobody@example.org"), ("password", "whatever it is")]).await;
        let no_password = b.post(&t, "/portal/sign-in", &[("csrf", &token), ("name", "ana@example.org"), ("password", "whatever it is")]).await;
        assert_eq!(unknown.0, 401);
        assert_eq!(unknown, no_password, "the same answer, word for word");
        for _ in 0..4 {
            assert_eq!(b.post(&t, "/portal/sign-in", &[("csrf", &token), ("name", "nobody@example.org"), ("password", "again")]).await.0, 401);
        }
        let (code, page) = b.post(&t, "/portal/sign-in", &[("csrf", &token), ("name", "nobody@example.org"), ("password", "again")]).await;
        assert_eq!(code, 429, "{page}");
        assert!(page.contains("wait 15 minutes") && page.contains("after 15 minutes without activity"), "the configured minutes: {page}");
        assert_eq!(b.post(&t, "/portal/sign-in", &[("name", "ana@example.org"), ("password", "x")]).await.0, 403, "no CSRF token");
        // Other spellings of one number share its count.
        let spellings = ["(312) 253-0142", "312-253-0142", "+1 312 253 0142", "3122530142", "+13122530142"];
        for spelling in spellings {
            assert_eq!(b.post(&t, "/portal/sign-in", &[("csrf", &token), ("name", spelling), ("password", "guess")]).await.0, 401, "{spelling}");
        }
        assert_eq!(b.post(&t, "/portal/sign-in", &[("csrf", &token), ("name", "312.253.0142"), ("password", "guess")]).await.0, 429);
    }
}

#[tokio::test]
async fn an_appointment_link_asks_first_then_records_the_confirmation_once() {
    for backend in sotto_store::testing::backends() {
        let t = spawn_app_with(backend, sotto_http::HttpSettings::default(), dev_settings()).await;
        patient(&t, "p-1").await;
        let template = t.library_template("Appointment confirmation (email)").await;
        let body = json!({"patient": "p-1", "template_id": template, "channel": "email", "purpose": "treatment",
            "context": {"appointment_start": "2026-12-20T15:30:00Z", "appointment_id": "appt-9"}});
        let (code, queued) = read(t.post("/v1/messages", &t.admin_key).header("Idempotency-Key", "confirm-1").json(&body).send().await.expect("send")).await;
        assert_eq!(code, 202, "{queued}");
        round(&t).await;
        let sink = mailbox(&t);
        assert!(!sink.contains("appt-9"), "the appointment id is sealed in the link");
        let path = link(&sink, "/portal/a/");
        let path = path[path.find("/portal").expect("path")..].to_owned();
        let events = t.counts().await.1;
        let mut b = browser();
        for press in 0..2 {
            let (code, page) = b.get(&t, &path).await;
            assert_eq!(code, 200, "{page}");
            assert_eq!(t.counts().await.1, events + press, "a visit alone records nothing");
            let (code, page) = b.post(&t, &path, &[("csrf", &csrf(&page))]).await;
            assert_eq!(code, 200, "{page}");
            assert!(page.contains("confirmed") || page.contains("another time"), "{page}");
        }
        assert_eq!(t.counts().await.1, events + 1, "one event, however often it is pressed");
        let (code, _) = b.get(&t, "/portal/a/forged-token").await;
        assert_eq!(code, 404);
    }
}

#[tokio::test]
async fn a_new_code_replaces_the_old_one_three_codes_at_most_and_old_sessions_are_purged() {
    for backend in sotto_store::testing::backends() {
        let t = spawn_app_with(backend, sotto_http::HttpSettings::default(), dev_settings()).await;
        let (id, path) = secure_message(&t).await;
        let mut b = open_link(&t, &path).await;
        round(&t).await;
        let first = last_code(&t);
        let (_, page) = b.get(&t, "/portal/verify").await;
        let token = csrf(&page);
        for expected in [200, 200, 429] {
            let (code, page) = b.post(&t, "/portal/verify/resend", &[("csrf", &token)]).await;
            assert_eq!(code, expected, "{page}");
            round(&t).await;
        }
        let newest = last_code(&t);
        if newest != first {
            assert_eq!(b.post(&t, "/portal/verify", &[("csrf", &token), ("code", &first)]).await.0, 422, "the first code no longer works");
        }
        let (code, to) = b.post(&t, "/portal/verify", &[("csrf", &token), ("code", &newest)]).await;
        assert_eq!((code, to), (303, format!("/portal/password?next={id}")));
        assert_eq!(t.app.purge_portal(jiff::Timestamp::now()).await.expect("purge"), 0, "nothing is over for a day yet");
        assert!(t.app.purge_portal(jiff::Timestamp::now() + jiff::SignedDuration::from_hours(48)).await.expect("purge") >= 2, "sessions and verifications over for a day");
    }
}
