//! One query text for both backends.
//!
//! Queries are written once with SQLite's `?` placeholders; [`numbered`] rewrites them to
//! PostgreSQL's `$1, $2, …`. Arguments are the few plain types the schema uses, so rows decode the
//! same on both (integers are `INTEGER`/`BIGINT`, text is `TEXT`). Used where the two backends'
//! SQL is otherwise identical; genuinely different SQL (the scheduling constraint, the audit
//! lock) still branches on [`Db`].

use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::{FromRow, Postgres, Sqlite, Transaction};

use super::{Db, StorageError};

/// A bound argument.
#[derive(Debug, Clone, Copy)]
pub enum Arg<'a> {
    I64(i64),
    Text(&'a str),
    OptText(Option<&'a str>),
    OptI64(Option<i64>),
}

/// Rewrite `?` placeholders to `$n` (PostgreSQL). The schema's SQL never has a literal `?`.
pub fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(c);
        }
    }
    out
}

macro_rules! bind_all {
    ($query:expr, $args:expr) => {{
        let mut q = $query;
        for a in $args {
            q = match *a {
                Arg::I64(v) => q.bind(v),
                Arg::Text(v) => q.bind(v),
                Arg::OptText(v) => q.bind(v),
                Arg::OptI64(v) => q.bind(v),
            };
        }
        q
    }};
}

/// Rows that decode on both backends.
pub trait BothRows: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin {}
impl<T> BothRows for T where T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin {}

impl Db {
    /// Execute a statement; returns the rows affected.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn exec(&self, sql: &str, args: &[Arg<'_>]) -> Result<u64, StorageError> {
        Ok(match self {
            Db::Sqlite(pool) => bind_all!(sqlx::query(sqlx::AssertSqlSafe(sql)), args)
                .execute(pool)
                .await?
                .rows_affected(),
            Db::Postgres(pool) => bind_all!(sqlx::query(sqlx::AssertSqlSafe(numbered(sql))), args)
                .execute(pool)
                .await?
                .rows_affected(),
        })
    }

    /// Fetch every row.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn all<T: BothRows>(&self, sql: &str, args: &[Arg<'_>]) -> Result<Vec<T>, StorageError> {
        Ok(match self {
            Db::Sqlite(pool) => {
                bind_all!(sqlx::query_as::<_, T>(sqlx::AssertSqlSafe(sql)), args)
                    .fetch_all(pool)
                    .await?
            }
            Db::Postgres(pool) => {
                bind_all!(sqlx::query_as::<_, T>(sqlx::AssertSqlSafe(numbered(sql))), args)
                    .fetch_all(pool)
                    .await?
            }
        })
    }

    /// Start a write transaction. On SQLite it takes the write lock up front (`BEGIN IMMEDIATE`),
    /// so concurrent writers queue on the busy timeout instead of failing to upgrade a read lock.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn begin_write(&self) -> Result<Tx, StorageError> {
        Ok(match self {
            Db::Sqlite(pool) => Tx::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?),
            Db::Postgres(pool) => Tx::Postgres(pool.begin().await?),
        })
    }
}

/// A write transaction on either backend. Dropped without [`Tx::commit`] = rolled back.
pub enum Tx {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

impl Tx {
    /// Execute a statement; returns the rows affected.
    ///
    /// # Errors
    /// Storage failures, including constraint violations (see [`StorageError::is_conflict`]).
    pub async fn exec(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<u64, StorageError> {
        Ok(match self {
            Tx::Sqlite(tx) => bind_all!(sqlx::query(sqlx::AssertSqlSafe(sql)), args)
                .execute(&mut **tx)
                .await?
                .rows_affected(),
            Tx::Postgres(tx) => bind_all!(sqlx::query(sqlx::AssertSqlSafe(numbered(sql))), args)
                .execute(&mut **tx)
                .await?
                .rows_affected(),
        })
    }

    /// Fetch every row.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn all<T: BothRows>(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<Vec<T>, StorageError> {
        Ok(match self {
            Tx::Sqlite(tx) => {
                bind_all!(sqlx::query_as::<_, T>(sqlx::AssertSqlSafe(sql)), args)
                    .fetch_all(&mut **tx)
                    .await?
            }
            Tx::Postgres(tx) => {
                bind_all!(sqlx::query_as::<_, T>(sqlx::AssertSqlSafe(numbered(sql))), args)
                    .fetch_all(&mut **tx)
                    .await?
            }
        })
    }

    /// # Errors
    /// Storage failures.
    pub async fn commit(self) -> Result<(), StorageError> {
        match self {
            Tx::Sqlite(tx) => tx.commit().await?,
            Tx::Postgres(tx) => tx.commit().await?,
        }
        Ok(())
    }

    pub fn is_sqlite(&self) -> bool {
        matches!(self, Tx::Sqlite(_))
    }
}

#[cfg(test)]
mod tests {
    use super::numbered;

    #[test]
    fn placeholders_are_numbered_in_order() {
        assert_eq!(
            numbered("SELECT a FROM t WHERE b = ? AND c IN (?, ?)"),
            "SELECT a FROM t WHERE b = $1 AND c IN ($2, $3)"
        );
        assert_eq!(numbered("SELECT 1"), "SELECT 1");
    }
}
