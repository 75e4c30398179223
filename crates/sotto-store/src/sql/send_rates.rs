//! The providers' shared token buckets: one row per provider, refilled and drawn from in a
//! single statement (a row lock on PostgreSQL, the write lock on SQLite), so the rate holds
//! across every worker process.

use sqlx::{AssertSqlSafe, Row};

use super::{Backend, SqlStore};
use crate::{SendRateStore, StoreResult};

/// Refill by the time passed since the last draw, capped at the burst, then grant what is
/// wanted of the whole tokens there are. `$1` provider, `$2` now (µs), `$3` per second,
/// `$4` burst, `$5` wanted.
fn draw(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => {
            "UPDATE send_rates SET \
               granted = LEAST($5, FLOOR(LEAST($4, tokens + GREATEST($2 - updated_at, 0) * $3 / 1000000.0)))::BIGINT, \
               tokens = LEAST($4, tokens + GREATEST($2 - updated_at, 0) * $3 / 1000000.0) \
                        - LEAST($5, FLOOR(LEAST($4, tokens + GREATEST($2 - updated_at, 0) * $3 / 1000000.0))), \
               updated_at = GREATEST($2, updated_at) \
             WHERE provider = $1 RETURNING granted"
        }
        Backend::Sqlite => {
            "UPDATE send_rates SET \
               granted = MIN($5, CAST(MIN($4, tokens + MAX($2 - updated_at, 0) * $3 / 1000000.0) AS INTEGER)), \
               tokens = MIN($4, tokens + MAX($2 - updated_at, 0) * $3 / 1000000.0) \
                        - MIN($5, CAST(MIN($4, tokens + MAX($2 - updated_at, 0) * $3 / 1000000.0) AS INTEGER)), \
               updated_at = MAX($2, updated_at) \
             WHERE provider = $1 RETURNING granted"
        }
    }
}

impl SendRateStore for SqlStore {
    async fn take_send_tokens(&self, provider: &str, per_second: f64, burst: f64, wanted: i64, now: i64) -> StoreResult<i64> {
        for _ in 0..2 {
            let row = sqlx::query(draw(self.backend)).bind(provider).bind(now).bind(per_second).bind(burst).bind(wanted).fetch_optional(&self.pool).await?;
            if let Some(row) = row {
                return Ok(row.try_get::<i64, _>("granted")?.max(0));
            }
            // A bucket used for the first time starts full.
            sqlx::query("INSERT INTO send_rates (provider, tokens, updated_at, granted) VALUES ($1, $2, $3, 0) ON CONFLICT (provider) DO NOTHING")
                .bind(provider)
                .bind(burst)
                .bind(now)
                .execute(&self.pool)
                .await?;
        }
        Ok(0)
    }

    async fn return_send_tokens(&self, provider: &str, tokens: i64, burst: f64) -> StoreResult<()> {
        if tokens <= 0 {
            return Ok(());
        }
        let least = match self.backend {
            Backend::Postgres => "LEAST",
            Backend::Sqlite => "MIN",
        };
        sqlx::query(AssertSqlSafe(format!("UPDATE send_rates SET tokens = {least}($2, tokens + $3) WHERE provider = $1"))).bind(provider).bind(burst).bind(tokens).execute(&self.pool).await?;
        Ok(())
    }
}
