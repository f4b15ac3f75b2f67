//! The database: SQLite (embedded default) or PostgreSQL, chosen by URL, with embedded migrations.
//!
//! sqlx's compile-time checked macros verify against one `DATABASE_URL` per crate, so queries here
//! are runtime `query`/`query_as` with per-backend SQL (placeholders and types differ), and the one
//! store test suite runs against both backends. Every store method matches on [`Db`] once.
//!
//! PostgreSQL runs with two roles: the schema owner applies migrations (`database.migration_url`,
//! `voicegate migrate`) and grants the runtime role INSERT/SELECT only on the audit table; `serve`
//! connects as the runtime role and refuses to start if it could UPDATE, DELETE or TRUNCATE audit
//! rows. SQLite has no roles; triggers refuse UPDATE/DELETE instead.

use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// Storage failures. Messages never contain row contents.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The URL is neither sqlite:// nor postgres:// (not retryable).
    #[error("unsupported database URL scheme (expected sqlite:// or postgres://)")]
    UnsupportedUrl,
    /// The database could not be reached (retryable).
    #[error("database unavailable")]
    Unavailable(#[source] sqlx::Error),
    /// Migrations failed (not retryable without intervention).
    #[error("database migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A query failed (retryable when the database is back).
    #[error("database query failed")]
    Query(#[source] sqlx::Error),
    /// The runtime role could change audit history (not retryable: fix the grants).
    #[error("refusing to run: the database role can {0} audit_log rows; serve must use a role with INSERT/SELECT only")]
    AuditPrivileges(&'static str),
    /// A role name that is not a plain identifier (not retryable).
    #[error("invalid role name")]
    InvalidRole,
    /// The tables do not exist yet (not retryable: run `voicegate migrate` as the schema owner).
    #[error("database schema missing: run `voicegate migrate` (or set database.migration_url)")]
    SchemaMissing,
    /// The OS gave no randomness for a new token (retryable).
    #[error("no randomness available")]
    Entropy,
    /// Freshly drawn references were all taken (retryable).
    #[error("no free reference after several draws")]
    ReferenceTaken,
}

impl From<sqlx::Error> for StorageError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Tls(_) => {
                StorageError::Unavailable(e)
            }
            other => StorageError::Query(other),
        }
    }
}

impl StorageError {
    /// A uniqueness or exclusion constraint refused the write: someone else got there first (the
    /// scheduling store maps this to "slot taken", never to a storage failure).
    pub fn is_conflict(&self) -> bool {
        let StorageError::Query(sqlx::Error::Database(e)) = self else {
            return false;
        };
        // 23P01 is PostgreSQL's exclusion_violation (sqlx reports it as "other").
        matches!(e.kind(), sqlx::error::ErrorKind::UniqueViolation) || e.code().as_deref() == Some("23P01")
    }
}

/// Which backend a [`Db`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A connection pool to one of the two backends.
#[derive(Debug, Clone)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl Db {
    /// Connect (lazily verified by a first query).
    ///
    /// # Errors
    /// An unsupported URL or an unreachable database.
    pub async fn connect(url: &str, max_connections: u32, acquire_timeout: Duration) -> Result<Db, StorageError> {
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(StorageError::Unavailable)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true);
            let pool = SqlitePoolOptions::new()
                .max_connections(max_connections)
                .acquire_timeout(acquire_timeout)
                .connect_with(options)
                .await
                .map_err(StorageError::Unavailable)?;
            Ok(Db::Sqlite(pool))
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let pool = PgPoolOptions::new()
                .max_connections(max_connections)
                .acquire_timeout(acquire_timeout)
                .connect(url)
                .await
                .map_err(StorageError::Unavailable)?;
            Ok(Db::Postgres(pool))
        } else {
            Err(StorageError::UnsupportedUrl)
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    /// Apply the embedded migrations of this backend.
    ///
    /// # Errors
    /// A migration that fails or a database that was migrated by a different binary.
    pub async fn migrate(&self) -> Result<(), StorageError> {
        match self {
            Db::Sqlite(pool) => SQLITE_MIGRATIONS.run(pool).await?,
            Db::Postgres(pool) => POSTGRES_MIGRATIONS.run(pool).await?,
        }
        Ok(())
    }

    /// Give `role` what `serve` needs and nothing more on the audit table (PostgreSQL; a no-op
    /// on SQLite). Run as the schema owner.
    ///
    /// # Errors
    /// A role name that is not a plain identifier, or a failing GRANT.
    pub async fn grant_runtime(&self, role: &str) -> Result<(), StorageError> {
        let Db::Postgres(pool) = self else { return Ok(()) };
        if role.is_empty() || !role.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(StorageError::InvalidRole);
        }
        // Identifiers cannot be bound as parameters; the role was checked to be a plain identifier.
        let statements = [
            format!("GRANT USAGE ON SCHEMA public TO \"{role}\""),
            format!("GRANT SELECT, INSERT ON audit_log TO \"{role}\""),
            format!("REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM \"{role}\""),
            format!("GRANT SELECT, INSERT, UPDATE ON calls TO \"{role}\""),
            format!("GRANT SELECT, INSERT, UPDATE, DELETE ON next_steps TO \"{role}\""),
            format!("GRANT SELECT, INSERT, UPDATE ON patients TO \"{role}\""),
            format!("GRANT SELECT, INSERT ON verification_failures TO \"{role}\""),
            format!("GRANT SELECT, INSERT, UPDATE ON lockouts TO \"{role}\""),
            format!("GRANT SELECT, INSERT, UPDATE, DELETE ON callback_requests TO \"{role}\""),
            format!("GRANT SELECT, INSERT, UPDATE, DELETE ON call_origins TO \"{role}\""),
            format!(
                "GRANT SELECT, INSERT, UPDATE, DELETE ON locations, providers, provider_insurance, open_hours, time_off, \
                 appointment_types, busy_intervals TO \"{role}\""
            ),
            format!("GRANT SELECT, INSERT, UPDATE ON appointments TO \"{role}\""),
            format!("GRANT SELECT, INSERT, UPDATE ON staff, staff_sessions TO \"{role}\""),
            format!("GRANT SELECT, INSERT, UPDATE, DELETE ON login_throttle, legal_holds TO \"{role}\""),
            format!("GRANT SELECT, UPDATE ON job_runs TO \"{role}\""),
            format!("GRANT SELECT, INSERT, UPDATE ON notification_contacts, notifications TO \"{role}\""),
            format!("GRANT SELECT, INSERT ON appointment_history TO \"{role}\""),
            format!("GRANT USAGE ON SEQUENCE appointment_history_seq_seq TO \"{role}\""),
            format!("GRANT SELECT, INSERT ON call_tool_outcomes TO \"{role}\""),
        ];
        for sql in statements {
            sqlx::query(sqlx::AssertSqlSafe(sql)).execute(pool).await?;
        }
        Ok(())
    }

    /// Refuse to run with a role that could change audit history (PostgreSQL). SQLite relies on
    /// its triggers, which [`migrate`](Self::migrate) installs.
    ///
    /// # Errors
    /// [`StorageError::AuditPrivileges`] naming the first dangerous privilege.
    pub async fn check_audit_privileges(&self) -> Result<(), StorageError> {
        let Db::Postgres(pool) = self else { return Ok(()) };
        for privilege in ["UPDATE", "DELETE", "TRUNCATE"] {
            let (has,): (bool,) = sqlx::query_as("SELECT has_table_privilege(current_user, 'audit_log', $1)")
                .bind(privilege)
                .fetch_one(pool)
                .await?;
            if has {
                return Err(StorageError::AuditPrivileges(match privilege {
                    "UPDATE" => "UPDATE",
                    "DELETE" => "DELETE",
                    _ => "TRUNCATE",
                }));
            }
        }
        Ok(())
    }

    /// Fail with [`StorageError::SchemaMissing`] when the migrations have not been applied.
    ///
    /// # Errors
    /// The schema is missing or the database is unreachable.
    pub async fn check_schema(&self) -> Result<(), StorageError> {
        let present: (bool,) = match self {
            Db::Sqlite(pool) => {
                sqlx::query_as(
                    "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'audit_log')",
                )
                .fetch_one(pool)
                .await?
            }
            Db::Postgres(pool) => {
                sqlx::query_as("SELECT to_regclass('audit_log') IS NOT NULL")
                    .fetch_one(pool)
                    .await?
            }
        };
        if present.0 {
            Ok(())
        } else {
            Err(StorageError::SchemaMissing)
        }
    }

    /// A cheap round trip (readiness).
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn ping(&self) -> Result<(), StorageError> {
        match self {
            Db::Sqlite(pool) => {
                sqlx::query("SELECT 1").execute(pool).await?;
            }
            Db::Postgres(pool) => {
                sqlx::query("SELECT 1").execute(pool).await?;
            }
        }
        Ok(())
    }

    pub async fn close(&self) {
        match self {
            Db::Sqlite(pool) => pool.close().await,
            Db::Postgres(pool) => pool.close().await,
        }
    }
}
