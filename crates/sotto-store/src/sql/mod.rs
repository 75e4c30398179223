//! The SQL store: one implementation over sqlx's `Any` driver for SQLite and PostgreSQL.
//! Statements use `$n` placeholders, which both engines accept; each engine has its own
//! migrations. Every write transaction starts by locking the audit chain's head row, which
//! serializes writers on both engines and keeps the chain linear.

mod admin;
mod bulk;
mod campaigns;
mod consent;
mod gate_inputs;
mod ingest;
mod journeys;
mod outbox;
mod outbox_rows;
mod patients;
mod portal;
mod segments;
mod send_rates;
mod staff;
mod templates;
mod webhooks;

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{Any, AnyConnection, AnyPool, Executor, Row, Transaction};

use sotto_core::audit::AuditEvent;
use sotto_crypto::ChainKey;

use crate::StoreError;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

/// The database engine behind a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite in WAL mode.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// A database URL that names a supported engine: `sqlite://PATH` or `postgres://…`.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl {
    url: String,
    backend: Backend,
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A PostgreSQL URL may carry a password; show only the engine.
        write!(f, "DatabaseUrl({:?})", self.backend)
    }
}

/// A database URL that is not one Sotto can use.
#[derive(Debug, thiserror::Error)]
#[error("database URL must start with sqlite:// (for example sqlite://./sotto.db) or postgres:// (for example postgres://postgres@127.0.0.1:5432/sotto)")]
pub struct BadDatabaseUrl;

impl FromStr for DatabaseUrl {
    type Err = BadDatabaseUrl;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let raw = raw.trim();
        if let Some(path) = raw.strip_prefix("sqlite://").or_else(|| raw.strip_prefix("sqlite:")) {
            if path.is_empty() {
                return Err(BadDatabaseUrl);
            }
            let url = if path.contains('?') { format!("sqlite://{path}") } else { format!("sqlite://{path}?mode=rwc") };
            return Ok(Self { url, backend: Backend::Sqlite });
        }
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            return Ok(Self { url: raw.to_owned(), backend: Backend::Postgres });
        }
        Err(BadDatabaseUrl)
    }
}

impl DatabaseUrl {
    /// The engine this URL names.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The SQLite file's path, when this names a file.
    pub fn sqlite_path(&self) -> Option<&std::path::Path> {
        let rest = self.url.strip_prefix("sqlite://")?;
        let path = rest.split('?').next().unwrap_or_default();
        (self.backend == Backend::Sqlite && !path.is_empty() && !path.starts_with(':')).then(|| std::path::Path::new(path))
    }

    /// The URL text (may contain a password: never log it).
    pub fn expose(&self) -> &str {
        &self.url
    }
}

/// The store. Cheap to clone: it holds a connection pool and the audit chain's key.
#[derive(Debug, Clone)]
pub struct SqlStore {
    pool: AnyPool,
    backend: Backend,
    chain_key: ChainKey,
}

impl SqlStore {
    /// Opens a pool. SQLite files are created and switched to WAL; PostgreSQL connects lazily,
    /// so a server can start (and answer 503) while its database is down. Audit entries are
    /// chained with `chain_key`, which the database never sees.
    pub async fn connect(url: &DatabaseUrl, chain_key: ChainKey) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let options = AnyConnectOptions::from_str(url.expose())?;
        let backend = url.backend();
        let pool_options = AnyPoolOptions::new()
            .acquire_timeout(Duration::from_secs(5))
            .max_connections(if backend == Backend::Sqlite { 8 } else { 16 })
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        conn.execute("PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL;").await?;
                    }
                    Ok(())
                })
            });
        let pool = match backend {
            Backend::Sqlite => {
                if let Some(path) = url.sqlite_path() {
                    private_file(path).map_err(|e| StoreError::Aborted(format!("cannot create the database file with owner-only permissions: {e}")))?;
                }
                let pool = pool_options.connect_with(options).await?;
                pool.execute("PRAGMA journal_mode = WAL").await?;
                pool
            }
            Backend::Postgres => pool_options.connect_lazy_with(options),
        };
        Ok(Self { pool, backend, chain_key })
    }

    /// Applies this engine's migrations.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run(&self.pool).await.map_err(|e| match e {
            sqlx::migrate::MigrateError::Execute(inner) => StoreError::from(inner),
            other => StoreError::Aborted(format!("migration failed: {other}")),
        })
    }

    /// The engine.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Closes the pool; later calls fail as unavailable.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// The pool, for tests and benchmarks that need raw SQL.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    async fn begin_write(&self) -> Result<(Transaction<'static, Any>, ChainHead), StoreError> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query("UPDATE audit_head SET seq = seq WHERE id = 1 RETURNING seq, hash")
            .fetch_one(&mut *tx)
            .await?;
        let head = ChainHead { backend: self.backend, key: self.chain_key.clone(), seq: row.try_get("seq")?, hash: row.try_get("hash")? };
        Ok((tx, head))
    }

    /// Runs one conditional write; when it changed exactly one row, appends `event` and
    /// commits, else leaves everything as it was. Answers whether it changed the row.
    async fn change_one(&self, query: sqlx::query::Query<'_, Any, sqlx::any::AnyArguments>, event: AuditEvent) -> Result<bool, StoreError> {
        self.change_one_with(query, vec![event]).await
    }

    /// [`SqlStore::change_one`] with any number of audit events.
    async fn change_one_with(&self, query: sqlx::query::Query<'_, Any, sqlx::any::AnyArguments>, events: Vec<AuditEvent>) -> Result<bool, StoreError> {
        let (mut tx, mut head) = self.begin_write().await?;
        let changed = query.execute(&mut *tx).await?.rows_affected() == 1;
        if changed {
            head.append(&mut tx, &events).await?;
            head.commit(tx).await?;
        }
        Ok(changed)
    }

    /// The row-lock clause of a claim: PostgreSQL workers skip rows another worker is
    /// claiming; SQLite runs one writer at a time.
    fn skip_locked(&self) -> &'static str {
        match self.backend {
            Backend::Postgres => "FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        }
    }

    /// Like `change_one`, for a change that may touch several rows (every version of a
    /// journey); audited once when anything changed.
    async fn change_many(&self, query: sqlx::query::Query<'_, Any, sqlx::any::AnyArguments>, event: AuditEvent) -> Result<bool, StoreError> {
        let (mut tx, mut head) = self.begin_write().await?;
        let changed = query.execute(&mut *tx).await?.rows_affected() >= 1;
        if changed {
            head.append(&mut tx, &[event]).await?;
            head.commit(tx).await?;
        }
        Ok(changed)
    }
}

/// Creates the database file readable and writable by its owner only (and narrows an
/// existing one). SQLite gives its WAL and shared-memory files the database file's mode.
fn private_file(path: &std::path::Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(path)?;
    #[cfg(unix)]
    file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    Ok(())
}

/// The audit chain's head, held locked for the length of a write transaction.
#[derive(Clone)]
pub(super) struct ChainHead {
    backend: Backend,
    pub(super) key: ChainKey,
    seq: i64,
    hash: Vec<u8>,
}

impl ChainHead {
    async fn append(&mut self, conn: &mut AnyConnection, events: &[AuditEvent]) -> Result<(), StoreError> {
        let mut rows = Vec::with_capacity(events.len());
        for event in events {
            let seq = self.seq + 1;
            let hash = self.key.link(&self.hash, &event.canonical_bytes(seq));
            rows.push((seq, event, std::mem::replace(&mut self.hash, hash.clone()), hash));
            self.seq = seq;
        }
        bulk::insert_rows(
            self.backend,
            conn,
            "INSERT INTO audit_log (seq, at, actor, action, object, outcome, request_id, source_ip, prev_hash, hash)",
            10,
            "",
            &rows,
            |q, (seq, e, prev, hash)| {
                q.bind(*seq)
                    .bind(e.at_micros)
                    .bind(e.actor.as_str())
                    .bind(e.action.as_str())
                    .bind(e.object.as_str())
                    .bind(e.outcome.as_str())
                    .bind(e.request_id.as_str())
                    .bind(e.source_ip.as_deref())
                    .bind(prev.as_slice())
                    .bind(hash.as_slice())
            },
        )
        .await?;
        Ok(())
    }

    async fn commit(self, mut tx: Transaction<'static, Any>) -> Result<(), StoreError> {
        sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
            .bind(self.seq)
            .bind(self.hash)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
