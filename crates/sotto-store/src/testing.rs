//! Fresh, migrated stores for tests: a temporary SQLite file, and a new PostgreSQL database
//! per call when `SOTTO_TEST_DATABASE_URL` names a server (for example
//! `postgres://postgres@127.0.0.1:5432/postgres`).

use sqlx::Executor;

use sotto_crypto::MasterKey;

use crate::{Backend, DatabaseUrl, SqlStore};

/// A store under test and what keeps its database alive.
#[derive(Debug)]
pub struct TestStore {
    /// The migrated store.
    pub store: SqlStore,
    /// The URL it was opened with.
    pub url: DatabaseUrl,
    /// The master key whose chain key the store writes the audit chain with.
    pub master: MasterKey,
    _dir: Option<tempfile::TempDir>,
}

/// The PostgreSQL server for tests, when configured.
pub fn postgres_base_url() -> Option<String> {
    std::env::var("SOTTO_TEST_DATABASE_URL").ok().filter(|u| !u.is_empty())
}

/// Every backend to test against: SQLite always, PostgreSQL when configured.
pub fn backends() -> Vec<Backend> {
    let mut out = vec![Backend::Sqlite];
    if postgres_base_url().is_some() {
        out.push(Backend::Postgres);
    }
    out
}

/// A fresh, migrated store on `backend`.
///
/// # Panics
/// When the database cannot be created; tests want that loudly.
pub async fn fresh_store(backend: Backend) -> TestStore {
    let master = MasterKey::generate();
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("temp dir");
            let url: DatabaseUrl = format!("sqlite://{}", dir.path().join("sotto.db").display()).parse().expect("url");
            let store = SqlStore::connect(&url, master.chain_key()).await.expect("open sqlite");
            store.migrate().await.expect("migrate sqlite");
            TestStore { store, url, master, _dir: Some(dir) }
        }
        Backend::Postgres => {
            let base = postgres_base_url().expect("SOTTO_TEST_DATABASE_URL is set");
            let name = format!("sotto_test_{}", sotto_crypto::random_id(8));
            let admin = SqlStore::connect(&base.parse().expect("postgres url"), master.chain_key()).await.expect("connect postgres");
            admin.pool().execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).await.expect("create database");
            admin.close().await;
            let (prefix, _) = base.rsplit_once('/').expect("postgres url has a database path");
            let url: DatabaseUrl = format!("{prefix}/{name}").parse().expect("url");
            let store = SqlStore::connect(&url, master.chain_key()).await.expect("open postgres");
            store.migrate().await.expect("migrate postgres");
            TestStore { store, url, master, _dir: None }
        }
    }
}
