//! `spawn_app`: a server on port 0 with fresh storage and API keys of chosen scopes.

use std::sync::Arc;

use reqwest::{Client, RequestBuilder, Response};
use serde_json::Value;

use sotto_app::{App, AppSettings, KeyRequest, Principal, RequestCtx};
use sotto_core::scope::Scope;
use sotto_crypto::Keyring;
use sotto_http::HttpSettings;
use sotto_store::testing::{TestStore, backends, fresh_store};
use sotto_store::{Backend, SqlStore};

pub struct TestApp {
    pub base: String,
    pub client: Client,
    /// A key with every scope.
    pub admin_key: String,
    pub test_store: TestStore,
    pub app: Arc<App<SqlStore>>,
}

impl TestApp {
    pub fn store(&self) -> &SqlStore {
        &self.test_store.store
    }

    pub async fn key(&self, scopes: &[Scope]) -> String {
        let ctx = RequestCtx { principal: Principal::cli(), request_id: "test".into(), source_ip: None, now: jiff::Timestamp::now() };
        let request = KeyRequest { name: "test".into(), scopes: scopes.to_vec(), expires_at: None };
        self.app.create_key(&ctx, request).await.expect("create key").secret
    }

    pub fn post(&self, path: &str, key: &str) -> RequestBuilder {
        self.client.post(format!("{}{path}", self.base)).bearer_auth(key)
    }

    pub fn get(&self, path: &str, key: &str) -> RequestBuilder {
        self.client.get(format!("{}{path}", self.base)).bearer_auth(key)
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> (u16, Value) {
        read(self.post(path, &self.admin_key).json(body).send().await.expect("send")).await
    }

    /// Loads the shipped library (approved by a separate reviewer) and returns the id of the
    /// template named `name`.
    pub async fn library_template(&self, name: &str) -> String {
        use sotto_store::TemplateStore;
        let ctx = |who: &str| RequestCtx { principal: Principal::system(who), request_id: "lib".into(), source_ip: None, now: jiff::Timestamp::now() };
        self.app.load_template_library(&ctx("library"), &ctx("reviewer"), "approved").await.expect("library");
        self.store().templates().await.expect("templates").into_iter().find(|t| t.name == name).map(|t| t.id).expect("template")
    }

    pub async fn counts(&self) -> (i64, i64) {
        use sotto_store::PatientStore;
        self.store().counts().await.expect("counts")
    }
}

pub async fn read(response: Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// The test deployment's settings: an email and an SMS provider, each with a BAA on file.
pub fn app_settings() -> AppSettings {
    use sotto_core::contact::Channel;
    use sotto_core::gate_policy::ProviderSpec;
    let provider = |name: &str| ProviderSpec { name: name.into(), kind: Default::default(), baa_signed: "2020-01-01".parse().ok(), baa_expires: None, rate_per_second: None, backup: None };
    let providers = [(Channel::Email, provider("smtp-relay")), (Channel::Sms, provider("sms-gateway"))].into_iter().collect();
    AppSettings { providers, webhooks_allow_loopback: true, ..AppSettings::default() }
}

pub async fn spawn_app_on(backend: Backend, settings: HttpSettings) -> TestApp {
    spawn_app_with(backend, settings, app_settings()).await
}

pub async fn spawn_app_with(backend: Backend, settings: HttpSettings, app_settings: AppSettings) -> TestApp {
    crate::logs::captured();
    let test_store = fresh_store(backend).await;
    let keyring = Keyring::new(&test_store.master);
    let app = App::new(test_store.store.clone(), keyring, app_settings);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let served = app.clone();
    tokio::spawn(async move { sotto_http::serve(listener, served, &settings, std::future::pending()).await });
    // reqwest takes the process's TLS crypto provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut t = TestApp { base, client: Client::new(), admin_key: String::new(), test_store, app };
    t.admin_key = t.key(&Scope::ALL).await;
    t
}

/// Runs `test` against a fresh app on every configured backend.
pub async fn each_app(test: impl AsyncFn(&TestApp)) {
    for backend in backends() {
        let app = spawn_app_on(backend, HttpSettings::default()).await;
        test(&app).await;
    }
}

/// The test environment's Python (`SOTTO_TEST_PYTHON`, or `target/test-venv` made by
/// `scripts/test`). Without it a test that needs it is skipped locally and fails in CI.
pub fn python() -> Option<std::path::PathBuf> {
    let path = std::env::var_os("SOTTO_TEST_PYTHON").map(std::path::PathBuf::from).unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-venv/bin/python"));
    if path.exists() {
        return Some(path);
    }
    assert!(std::env::var("CI").is_err(), "CI must provide the test virtual environment (scripts/test makes it)");
    eprintln!("skipped: no test virtual environment at {}; run scripts/test to make it", path.display());
    None
}

/// Every value of every table, as text (bytes read as UTF-8 where they are), for scans that
/// prove something was never stored.
pub async fn database_text(t: &TestApp) -> String {
    use sqlx::Row;
    let pool = t.store().pool();
    let tables: Vec<String> = match sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'").fetch_all(pool).await {
        Ok(names) => names,
        Err(_) => sqlx::query_scalar("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'").fetch_all(pool).await.expect("tables"),
    };
    let mut out = String::new();
    for table in tables.iter().filter(|t| !t.starts_with("_sqlx") && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')) {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT * FROM {table}"))).fetch_all(pool).await.expect("rows");
        for row in rows {
            for i in 0..row.columns().len() {
                if let Ok(Some(text)) = row.try_get::<Option<String>, _>(i) {
                    out.push_str(&text);
                } else if let Ok(Some(bytes)) = row.try_get::<Option<Vec<u8>>, _>(i) {
                    out.push_str(&String::from_utf8_lossy(&bytes));
                }
                out.push('\n');
            }
        }
    }
    out
}
