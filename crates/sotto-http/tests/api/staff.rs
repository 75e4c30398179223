//! Staff sign-in and the console over HTTP, on both engines: password then TOTP (a code used
//! once), the same refusal whether or not an account exists, throttling, every page against
//! every role, sessions ended by a disable, a role change or idleness, CSRF, break-glass, and
//! API clients (OAuth client credentials and signed requests).

use serde_json::{Value, json};

use sotto_app::{Principal, RequestCtx};
use sotto_crypto::totp::{sign_request, totp_code};

use crate::browser::{Browser, csrf};
use crate::support::{TestApp, app_settings, read, spawn_app_with};

/// Runs `test` on every engine with the development clock (which moves time forward).
async fn each_app(test: impl AsyncFn(&TestApp)) {
    for backend in sotto_store::testing::backends() {
        let t = spawn_app_with(backend, sotto_http::HttpSettings::default(), sotto_app::AppSettings { dev_mailbox: true, ..app_settings() }).await;
        test(&t).await;
    }
}

/// A browser that checks this part's cookie flags and Content-Security-Policy.
fn browser() -> Browser {
    Browser::new(&["SameSite=Lax", "Path=/console"], "script-src 'self'")
}

fn system() -> RequestCtx {
    RequestCtx { principal: Principal::system("test"), request_id: "staff-test".into(), source_ip: None, now: jiff::Timestamp::now() }
}

async fn member(t: &TestApp, role: &str) -> (String, [u8; 20]) {
    let email = format!("{role}@clinic.example");
    let secret = t.app.create_staff_ready(&system(), &email, &format!("Test {role}"), role, "plain words for testing").await.expect("account");
    (email, secret)
}

/// The code an authenticator app shows now (it keeps real time, whatever the development
/// clock says).
fn code(_: &TestApp, secret: &[u8]) -> String {
    totp_code(secret, jiff::Timestamp::now().as_second() as u64).expect("code")
}

/// Waits for the next 30-second TOTP step, so the same account may sign in again.
async fn next_step() {
    let now = jiff::Timestamp::now();
    let into = now.as_millisecond().rem_euclid(30_000);
    tokio::time::sleep(std::time::Duration::from_millis((30_000 - into + 50) as u64)).await;
}

async fn advance(t: &TestApp, by: &str) {
    t.app.advance_clock(&system(), by).await.expect("clock");
}

/// Signs in with the password and the current code; answers the browser.
async fn signed_in(t: &TestApp, email: &str, secret: &[u8]) -> Browser {
    let mut b = browser();
    let (_, page) = b.get(t, "/console/sign-in").await;
    let (status, to) = b.post(t, "/console/sign-in", &[("csrf", &csrf(&page)), ("email", email), ("password", "plain words for testing")]).await;
    assert_eq!((status, to.as_str()), (303, "/console/code"));
    let (_, page) = b.get(t, "/console/code").await;
    let (status, to) = b.post(t, "/console/code", &[("csrf", &csrf(&page)), ("code", &code(t, secret))]).await;
    assert_eq!((status, to.as_str()), (303, "/console"), "signed in");
    b
}

#[tokio::test]
async fn a_member_signs_in_with_a_password_then_a_totp_code_that_works_once() {
    each_app(async |t| {
        let (email, secret) = member(t, "auditor").await;
        let mut b = signed_in(t, &email, &secret).await;
        let (status, page) = b.get(t, "/console").await;
        assert_eq!(status, 200);
        assert!(page.contains("Test auditor"), "{page}");
        // The same code again, in the same step, is refused; a new step's code works.
        let mut again = browser();
        let (_, page) = again.get(t, "/console/sign-in").await;
        again.post(t, "/console/sign-in", &[("csrf", &csrf(&page)), ("email", &email), ("password", "plain words for testing")]).await;
        let (_, page) = again.get(t, "/console/code").await;
        let (status, page) = again.post(t, "/console/code", &[("csrf", &csrf(&page)), ("code", &code(t, &secret))]).await;
        assert_eq!(status, 401, "a used code is refused: {page}");
        next_step().await;
        let (status, to) = again.post(t, "/console/code", &[("csrf", &csrf(&page)), ("code", &code(t, &secret))]).await;
        assert_eq!((status, to.as_str()), (303, "/console"));
        // Without a session, a page sends to sign-in.
        let (status, to) = browser().get(t, "/console/campaigns").await;
        assert_eq!((status, to.as_str()), (303, "/console/sign-in?ended=1"));
        let audit = crate::support::database_text(t).await;
        assert!(audit.contains("staff.mfa") && audit.contains("rejected:code_reused"), "sign-ins and the reused code are audited");
    })
    .await;
}

#[tokio::test]
async fn an_unknown_email_and_a_wrong_password_get_the_same_answer_and_the_sixth_try_is_throttled() {
    each_app(async |t| {
        let (email, _) = member(t, "analyst").await;
        let mut b = browser();
        let (_, page) = b.get(t, "/console/sign-in").await;
        let token = csrf(&page);
        let (s1, unknown) = b.post(t, "/console/sign-in", &[("csrf", &token), ("email", "nobody@clinic.example"), ("password", "plain words for testing")]).await;
        let (s2, wrong) = b.post(t, "/console/sign-in", &[("csrf", &token), ("email", &email), ("password", "not the password at all")]).await;
        assert_eq!((s1, s2), (401, 401));
        assert_eq!(unknown.replace(&csrf(&unknown), ""), wrong.replace(&csrf(&wrong), ""), "the two refusals are the same page");
        for _ in 0..4 {
            b.post(t, "/console/sign-in", &[("csrf", &token), ("email", &email), ("password", "not the password at all")]).await;
        }
        let (status, _) = b.post(t, "/console/sign-in", &[("csrf", &token), ("email", &email), ("password", "plain words for testing")]).await;
        assert_eq!(status, 429, "throttled even with the right password");
    })
    .await;
}

/// What each role is meant to open, written from the roles' descriptions.
fn expected(role: &str, page: &str) -> bool {
    let everyone = ["/console", "/console/dictionary", "/console/templates", "/console/campaigns", "/console/journeys", "/console/reports", "/console/break-glass"];
    let extra: &[&str] = match role {
        "composer" | "analyst" => &["/console/segments"],
        "compliance" => &["/console/patients", "/console/vault", "/console/segments", "/console/approvals", "/console/audit"],
        "admin" => &["/console/segments", "/console/audit", "/console/settings", "/console/keys"],
        "operator" => &["/console/patients"],
        "auditor" => &["/console/audit"],
        _ => &[],
    };
    everyone.contains(&page) || extra.contains(&page)
}

#[tokio::test]
async fn every_console_page_opens_for_exactly_the_roles_meant_to_use_it() {
    each_app(async |t| {
        let pages: Vec<&str> = sotto_http::console_pages().iter().map(|(path, _, _)| *path).collect();
        assert_eq!(pages.len(), 14);
        let mut unexpected = Vec::new();
        for role in ["composer", "compliance", "admin", "analyst", "operator", "auditor"] {
            let (email, secret) = member(t, role).await;
            let mut b = signed_in(t, &email, &secret).await;
            for page in &pages {
                let (status, body) = b.get(t, page).await;
                assert!(status == 200 || status == 403, "{role} {page}: {status} {body}");
                if (status == 200) != expected(role, page) {
                    unexpected.push(format!("{role} {page} {status}"));
                }
            }
        }
        assert!(unexpected.is_empty(), "6 roles x {} pages, unexpected: {unexpected:?}", pages.len());
    })
    .await;
}

#[tokio::test]
async fn disabling_a_member_or_changing_their_role_ends_their_sessions_at_once() {
    each_app(async |t| {
        let (admin, admin_secret) = member(t, "admin").await;
        let (email, secret) = member(t, "composer").await;
        let mut composer = signed_in(t, &email, &secret).await;
        assert_eq!(composer.get(t, "/console/segments").await.0, 200);
        let mut a = signed_in(t, &admin, &admin_secret).await;
        let (_, settings) = a.get(t, "/console/settings").await;
        let id = settings.split("/console/settings/users/").nth(1).and_then(|s| s.split('"').next()).expect("a member to change").to_owned();
        let (status, _) = a.post(t, &format!("/console/settings/users/{id}"), &[("csrf", &csrf(&settings)), ("role", "analyst")]).await;
        assert_eq!(status, 303);
        assert_eq!(composer.get(t, "/console/segments").await, (303, "/console/sign-in?ended=1".to_owned()), "the role change ended the session");
        next_step().await;
        let mut analyst = signed_in(t, &email, &secret).await;
        assert_eq!(analyst.get(t, "/console/segments").await.0, 200);
        let (_, settings) = a.get(t, "/console/settings").await;
        a.post(t, &format!("/console/settings/users/{id}"), &[("csrf", &csrf(&settings)), ("role", "disabled")]).await;
        assert_eq!(analyst.get(t, "/console").await.0, 303, "the disable ended the session");
        next_step().await;
        let mut b = browser();
        let (_, page) = b.get(t, "/console/sign-in").await;
        assert_eq!(b.post(t, "/console/sign-in", &[("csrf", &csrf(&page)), ("email", &email), ("password", "plain words for testing")]).await.0, 401, "a disabled member cannot sign in");
    })
    .await;
}

#[tokio::test]
async fn a_form_without_its_csrf_token_or_sent_from_another_site_is_refused_and_writes_nothing() {
    each_app(async |t| {
        let (admin, secret) = member(t, "admin").await;
        let mut a = signed_in(t, &admin, &secret).await;
        let (_, page) = a.get(t, "/console/keys").await;
        let before = sotto_store::KeyStore::api_keys(t.store()).await.expect("keys").len();
        let (status, body) = a.post(t, "/console/keys/new", &[("name", "probe"), ("scope", "events:write")]).await;
        assert_eq!(status, 403, "{body}");
        let (status, _) = a.post(t, "/console/keys/new", &[("csrf", "forged"), ("name", "probe"), ("scope", "events:write")]).await;
        assert_eq!(status, 403);
        let r = a.client.post(format!("{}/console/keys/new", t.base)).header("cookie", a.header()).header("sec-fetch-site", "cross-site").form(&[("csrf", csrf(&page).as_str()), ("name", "probe"), ("scope", "events:write")]).send().await.expect("post");
        assert_eq!(r.status(), 403, "a cross-site post is refused even with the token");
        assert_eq!(sotto_store::KeyStore::api_keys(t.store()).await.expect("keys").len(), before, "nothing was written");
        let (status, body) = a.post(t, "/console/keys/new", &[("csrf", &csrf(&page)), ("name", "made here"), ("scope", "metrics:read")]).await;
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("sotto_"), "the new key's secret is shown once");
    })
    .await;
}

#[tokio::test]
async fn an_admin_mints_no_credential_with_a_scope_the_role_lacks_and_an_unfinished_invitation_is_issued_again() {
    each_app(async |t| {
        let (admin, secret) = member(t, "admin").await;
        let mut a = signed_in(t, &admin, &secret).await;
        let (_, page) = a.get(t, "/console/keys").await;
        let (status, body) = a.post(t, "/console/keys/new", &[("csrf", &csrf(&page)), ("name", "reader"), ("scope", "patients:read_phi")]).await;
        assert_eq!(status, 422, "{body}");
        assert!(body.contains("scope_not_held"), "{body}");
        let (status, _) = a.post(t, "/console/clients/new", &[("csrf", &csrf(&page)), ("name", "reader"), ("scope", "vault:read")]).await;
        assert_eq!(status, 422, "nor a client");
        let (status, body) = a.post(t, "/console/clients/new", &[("csrf", &csrf(&page)), ("name", "ehr feed"), ("scope", "events:write"), ("scope", "messages:send")]).await;
        assert_eq!(status, 200, "an integration's client: {body}");
        assert!(body.contains("scs_"), "its secret is shown once");
        let (_, page) = a.get(t, "/console/settings").await;
        let invite = [("csrf", csrf(&page)), ("display_name", "New Reviewer".to_owned()), ("email", "new.reviewer@clinic.example".to_owned()), ("role", "compliance".to_owned())];
        let form: Vec<(&str, &str)> = invite.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (status, first) = a.post(t, "/console/settings/users", &form).await;
        assert_eq!(status, 200);
        let (status, second) = a.post(t, "/console/settings/users", &form).await;
        assert_eq!(status, 200, "an invitation never accepted is issued again: {second}");
        let link = |page: &str| page.replace("&#x2f;", "/").split("/console/invite/").nth(1).and_then(|s| s.split('<').next()).unwrap_or_else(|| panic!("a link in {page}")).to_owned();
        assert_ne!(link(&first), link(&second));
        assert_eq!(browser().get(t, &format!("/console/invite/{}", link(&first))).await.0, 410, "the first link no longer works");
        assert_eq!(browser().get(t, &format!("/console/invite/{}", link(&second))).await.0, 200);
    })
    .await;
}

#[tokio::test]
async fn a_sensitive_action_needs_a_code_entered_in_the_last_ten_minutes() {
    each_app(async |t| {
        let (email, secret) = member(t, "operator").await;
        let mut op = signed_in(t, &email, &secret).await;
        advance(t, "11m").await;
        let (_, page) = op.get(t, "/console/break-glass").await;
        let reason = "patient on the phone cannot reach the portal after surgery";
        let (status, to) = op.post(t, "/console/break-glass", &[("csrf", &csrf(&page)), ("reason", reason), ("minutes", "15")]).await;
        assert_eq!((status, to.as_str()), (303, "/console/reauth?next=%2Fconsole%2Fbreak-glass"), "eleven minutes after the code, break-glass asks for a new one");
        let grants = || sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM break_glass").fetch_one(t.store().pool());
        assert_eq!(grants().await.expect("count"), 0, "nothing was granted");
        let (status, page) = op.get(t, &to).await;
        assert_eq!(status, 200);
        let (status, _) = op.post(t, "/console/reauth", &[("csrf", &csrf(&page)), ("next", "/console/break-glass"), ("code", "000000")]).await;
        assert_eq!(status, 401, "a wrong code");
        next_step().await;
        let (status, to) = op.post(t, "/console/reauth", &[("csrf", &csrf(&page)), ("next", "https://elsewhere.example/"), ("code", &code(t, &secret))]).await;
        assert_eq!((status, to.as_str()), (303, "/console"), "never sent to another site");
        let (status, body) = op.post(t, "/console/break-glass", &[("csrf", &csrf(&page)), ("reason", reason), ("minutes", "15")]).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(grants().await.expect("count"), 1);
    })
    .await;
}

#[tokio::test]
async fn a_session_idle_for_fourteen_minutes_lives_and_one_idle_for_sixteen_is_over() {
    each_app(async |t| {
        let (email, secret) = member(t, "auditor").await;
        let mut b = signed_in(t, &email, &secret).await;
        advance(t, "14m").await;
        assert_eq!(b.get(t, "/console/audit").await.0, 200);
        advance(t, "16m").await;
        assert_eq!(b.get(t, "/console/audit").await, (303, "/console/sign-in?ended=1".to_owned()));
        let sessions = async || sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM staff_sessions").fetch_one(t.store().pool()).await.expect("count");
        assert!(sessions().await >= 2, "the waiting and the signed-in session");
        t.app.purge_portal(jiff::Timestamp::now() + jiff::SignedDuration::from_hours(48)).await.expect("purge");
        assert_eq!(sessions().await, 0, "housekeeping removes staff sessions over for a day");
    })
    .await;
}

#[tokio::test]
async fn break_glass_gives_phi_access_for_its_minutes_alerts_by_webhook_and_is_reviewed_after() {
    each_app(async |t| {
        let (code, _) = t.post_json("/v1/webhooks", &json!({"url": "http://127.0.0.1:9/hook", "events": ["access.break_glass"]})).await;
        assert_eq!(code, 201);
        t.post_json("/v1/identify", &json!({"userId": "bg-patient-1", "traits": {"email": "bg.patient@example.org"}})).await;
        let (email, secret) = member(t, "operator").await;
        let mut op = signed_in(t, &email, &secret).await;
        let (_, page) = op.get(t, "/console/patients").await;
        let (status, _) = op.post(t, "/console/patients/reveal", &[("csrf", &csrf(&page)), ("external_id", "bg-patient-1"), ("view", "full")]).await;
        assert_eq!(status, 403, "an operator reads no PHI");
        let (_, page) = op.get(t, "/console/break-glass").await;
        assert_eq!(op.post(t, "/console/break-glass", &[("csrf", &csrf(&page)), ("reason", "short"), ("minutes", "15")]).await.0, 422, "a reason is required");
        let (status, body) = op.post(t, "/console/break-glass", &[("csrf", &csrf(&page)), ("reason", "patient on the phone cannot reach the portal after surgery"), ("minutes", "15")]).await;
        assert_eq!(status, 200, "{body}");
        let (status, body) = op.post(t, "/console/patients/reveal", &[("csrf", &csrf(&page)), ("external_id", "bg-patient-1"), ("view", "full")]).await;
        assert_eq!(status, 200);
        assert!(body.contains("bg.patient@example.org"), "the full view shows during break-glass");
        let text = crate::support::database_text(t).await;
        assert!(text.contains("access.break_glass") && text.contains("patient.read_phi"), "alerted and audited");
        assert!(!text.contains("after surgery"), "the stated reason is sealed");
        advance(t, "16m").await;
        next_step().await;
        let mut op = signed_in(t, &email, &secret).await;
        let (_, page) = op.get(t, "/console/patients").await;
        assert_eq!(op.post(t, "/console/patients/reveal", &[("csrf", &csrf(&page)), ("external_id", "bg-patient-1"), ("view", "full")]).await.0, 403, "it ended by itself");
        let (c_email, c_secret) = member(t, "compliance").await;
        let mut c = signed_in(t, &c_email, &c_secret).await;
        let (_, page) = c.get(t, "/console/break-glass").await;
        assert!(page.contains("after surgery"), "compliance reads the reason");
        let id = page.split("/console/break-glass/").nth(1).and_then(|s| s.split('/').next()).expect("a grant").to_owned();
        assert_eq!(c.post(t, &format!("/console/break-glass/{id}/review"), &[("csrf", &csrf(&page))]).await.0, 303);
        assert!(c.get(t, "/console/break-glass").await.1.contains("reviewed by user:"));
    })
    .await;
}

async fn client(t: &TestApp, scopes: &[sotto_core::scope::Scope]) -> (String, String) {
    t.app.create_api_client(&system(), "integration", scopes).await.expect("client")
}

#[tokio::test]
async fn client_credentials_give_a_short_lived_token_checked_against_the_client_on_every_call() {
    use sotto_core::scope::Scope;
    each_app(async |t| {
        let (id, secret) = client(t, &[Scope::TemplatesRead, Scope::DictionaryRead]).await;
        let token = |form: Vec<(&'static str, String)>| {
            let request = t.client.post(format!("{}/oauth/token", t.base)).form(&form);
            async move { read(request.send().await.expect("token")).await }
        };
        let (status, wrong) = token(vec![("grant_type", "client_credentials".into()), ("client_id", id.clone()), ("client_secret", "scs_wrong".into())]).await;
        assert_eq!((status, wrong["error"].as_str()), (401, Some("invalid_client")));
        let (status, bad) = token(vec![("grant_type", "password".into()), ("client_id", id.clone()), ("client_secret", secret.clone())]).await;
        assert_eq!((status, bad["error"].as_str()), (400, Some("unsupported_grant_type")));
        let (status, bad) = token(vec![("grant_type", "client_credentials".into()), ("client_id", id.clone()), ("client_secret", secret.clone()), ("scope", "audit:read".into())]).await;
        assert_eq!((status, bad["error"].as_str()), (400, Some("invalid_scope")), "a scope the client lacks");
        let basic = t.client.post(format!("{}/oauth/token", t.base)).basic_auth(&id, Some(&secret)).form(&[("grant_type", "client_credentials"), ("scope", "templates:read")]).send().await.expect("token");
        let (status, granted) = read(basic).await;
        assert_eq!(status, 200, "{granted}");
        assert_eq!((granted["token_type"].as_str(), granted["expires_in"].as_i64(), granted["scope"].as_str()), (Some("Bearer"), Some(900), Some("templates:read")));
        let access = granted["access_token"].as_str().expect("token").to_owned();
        assert_eq!(t.get("/v1/templates", &access).send().await.expect("templates").status(), 200);
        assert_eq!(t.get("/v1/dictionary", &access).send().await.expect("dictionary").status(), 403, "narrowed to the scope asked for");
        assert_eq!(t.get("/v1/templates", &format!("{access}x")).send().await.expect("templates").status(), 401, "a tampered token");
        t.app.revoke_api_client(&system(), &id).await.expect("revoke");
        assert_eq!(t.get("/v1/templates", &access).send().await.expect("templates").status(), 401, "revoking the client ends its tokens");
    })
    .await;
}

#[tokio::test]
async fn a_signed_request_is_accepted_once_and_refused_when_altered_replayed_or_late() {
    use sotto_core::scope::Scope;
    each_app(async |t| {
        let (id, secret) = client(t, &[Scope::EventsWrite]).await;
        let body = json!({"userId": "signed-1", "traits": {"language": "en"}}).to_string();
        let send = |path: &str, body: String, signed_body: &str, at: i64| {
            let signature = sign_request(secret.as_bytes(), "POST", path, at, signed_body.as_bytes());
            let request = t.client.post(format!("{}{path}", t.base)).header("authorization", format!("Sotto-HMAC-SHA256 client_id={id}, timestamp={at}, signature={signature}")).header("content-type", "application/json").body(body);
            async move { read(request.send().await.expect("send")).await }
        };
        let now = jiff::Timestamp::now().as_second();
        let (status, answer) = send("/v1/identify", body.clone(), &body, now).await;
        assert_eq!(status, 200, "{answer}");
        let (status, answer) = send("/v1/identify", body.clone(), &body, now).await;
        assert_eq!((status, answer["error"]["code"].as_str()), (401, Some("replayed_signature")));
        // Another process on the same database refuses it too.
        let other = sotto_app::App::new(t.store().clone(), sotto_crypto::Keyring::new(&t.test_store.master), crate::support::app_settings());
        let signature = sign_request(secret.as_bytes(), "POST", "/v1/identify", now, body.as_bytes());
        let request = sotto_crypto::totp::SignedRequest { method: "POST", path_and_query: "/v1/identify", timestamp: now, body: body.as_bytes() };
        let replayed = other.authenticate_signed(&id, &signature, &request, jiff::Timestamp::now()).await;
        assert!(matches!(replayed, Err(sotto_app::AppError::Unauthenticated { code: "replayed_signature", .. })), "{replayed:?}");
        let (status, answer) = send("/v1/identify", body.replace("en", "es"), &body, now + 1).await;
        assert_eq!((status, answer["error"]["code"].as_str()), (401, Some("invalid_signature")), "an altered body");
        let (status, _) = send("/v1/identify", body.clone(), &body, now - 600).await;
        assert_eq!(status, 401, "outside the window");
        let profile: Value = read(t.get("/v1/patients/signed-1", &t.admin_key).send().await.expect("patient")).await.1;
        assert_eq!(profile["language"], "en", "only the first request was taken");
    })
    .await;
}
