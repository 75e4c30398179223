//! Multi-row statements: one `INSERT … VALUES (…), (…)` per chunk of rows instead of one
//! statement per row. The SQL holds only placeholders, never data.

use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, AnyConnection, AssertSqlSafe};

use super::Backend;

/// Rows per statement: well under SQLite's 32,766 and PostgreSQL's 65,535 parameters.
pub(super) const CHUNK: usize = 400;

/// `head VALUES ($1, …, $cols), (…) tail` for `rows` rows. SQLite gets plain `?` placeholders:
/// its driver resolves numbered ones by name, which costs time in the number of parameters.
pub(super) fn values_sql(backend: Backend, head: &str, cols: usize, rows: usize, tail: &str) -> String {
    let mut sql = String::with_capacity(head.len() + tail.len() + rows * cols * 6);
    sql.push_str(head);
    sql.push_str(" VALUES ");
    for r in 0..rows {
        sql.push_str(if r == 0 { "(" } else { ", (" });
        for c in 0..cols {
            if c > 0 {
                sql.push_str(", ");
            }
            match backend {
                Backend::Sqlite => sql.push('?'),
                Backend::Postgres => {
                    sql.push('$');
                    sql.push_str(&(r * cols + c + 1).to_string());
                }
            }
        }
        sql.push(')');
    }
    sql.push(' ');
    sql.push_str(tail);
    sql
}

/// Runs one multi-row statement per chunk of `rows`, binding each row with `bind`; returns
/// what the statements' `RETURNING` clauses produced (nothing without one).
pub(super) async fn insert_rows<T>(
    backend: Backend,
    conn: &mut AnyConnection,
    head: &str,
    cols: usize,
    tail: &str,
    rows: &[T],
    bind: impl for<'q> Fn(Query<'q, Any, AnyArguments>, &'q T) -> Query<'q, Any, AnyArguments>,
) -> Result<Vec<AnyRow>, sqlx::Error> {
    let mut out = Vec::new();
    for chunk in rows.chunks(CHUNK) {
        let sql = values_sql(backend, head, cols, chunk.len(), tail);
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for row in chunk {
            query = bind(query, row);
        }
        out.extend(query.fetch_all(&mut *conn).await?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::{Backend, values_sql};

    #[test]
    fn placeholders_are_numbered_row_by_row_for_postgres_and_positional_for_sqlite() {
        let pg = values_sql(Backend::Postgres, "INSERT INTO t (a, b)", 2, 2, "ON CONFLICT DO NOTHING");
        assert_eq!(pg, "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4) ON CONFLICT DO NOTHING");
        assert_eq!(values_sql(Backend::Sqlite, "INSERT INTO t (a)", 1, 2, ""), "INSERT INTO t (a) VALUES (?), (?) ");
    }
}
