//! PostgreSQL through SeaORM: connection pools, and one file of query functions per table.
//! Every call runs under the configured statement deadline and is counted.

pub mod attempt;
pub mod authoring;
pub mod category;
pub mod course;
pub mod discovery;
pub mod enrollment;
pub mod entity;
mod errors;
pub mod learner;
pub mod lesson;
pub mod ops;
pub mod pooler;
pub mod quiz;
pub mod stats;
pub mod user;

use std::{
    future::Future,
    str::FromStr,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use sea_orm::{
    sqlx::{
        postgres::{PgConnectOptions, PgPoolOptions},
        ConnectOptions as _,
    },
    DatabaseConnection, SqlxPostgresConnector,
};

use super::with_deadline;
use crate::{
    config::PostgresConfig,
    error::{Store, StoreError, StoreErrorKind},
};

/// The service's handle on PostgreSQL.
#[derive(Clone)]
pub struct PgStore {
    db: DatabaseConnection,
    deadline: Duration,
    stats: Arc<PgStats>,
}

/// Counters kept by every statement SeaORM runs.
#[derive(Default, Debug)]
pub struct PgStats {
    statements: AtomicU64,
    slow_statements: AtomicU64,
}

impl PgStats {
    /// Statements run since start: tests assert on differences of this.
    pub fn statements(&self) -> u64 {
        self.statements.load(Ordering::Relaxed)
    }

    pub fn slow_statements(&self) -> u64 {
        self.slow_statements.load(Ordering::Relaxed)
    }
}

impl PgStore {
    /// Opens the service's pool (through PgBouncer in production) and checks one connection.
    pub async fn connect(config: &PostgresConfig) -> Result<Self, StoreError> {
        let options = connect_options(&config.url, &config.application_name)?;
        let pool = PgPoolOptions::new()
            .min_connections(config.pool_min)
            .max_connections(config.pool_max)
            .acquire_timeout(config.acquire_timeout)
            .idle_timeout(Some(config.idle_timeout))
            .max_lifetime(Some(Duration::from_secs(30 * 60)))
            // a ping before every checkout would double the round trips of each query
            .test_before_acquire(false)
            .connect_lazy_with(options);
        // Prove the URL and credentials now, within the connect timeout.
        match tokio::time::timeout(config.connect_timeout, pool.acquire()).await {
            Ok(Ok(conn)) => drop(conn),
            Ok(Err(e)) => return Err(StoreError::from(e)),
            Err(_) => {
                return Err(StoreError::new(
                    Store::Postgres,
                    StoreErrorKind::Unavailable,
                    format!("no connection within DB_CONNECTION_TIMEOUT ({:?})", config.connect_timeout),
                ))
            }
        }
        let mut db = SqlxPostgresConnector::from_sqlx_postgres_pool(pool);
        let stats = Arc::new(PgStats::default());
        let slow = config.slow_query_threshold;
        let counters = stats.clone();
        db.set_metric_callback(move |info| {
            counters.statements.fetch_add(1, Ordering::Relaxed);
            // the database call's span (store::with_deadline) shows the statement
            if crate::telemetry::exporting() {
                let span = tracing::Span::current();
                if span.has_field("db.query.text") {
                    span.record("db.query.text", crate::telemetry::value_free(&info.statement.sql));
                }
            }
            if info.elapsed >= slow {
                counters.slow_statements.fetch_add(1, Ordering::Relaxed);
                // placeholders only: no values reach the log
                tracing::warn!(elapsed_ms = info.elapsed.as_millis() as u64, failed = info.failed,
                    statement = %crate::telemetry::value_free(&info.statement.sql), "slow statement");
            }
        });
        Ok(Self { db, deadline: config.statement_timeout, stats })
    }

    /// A direct, unpooled connection for migrations and seeding: no statement timeout.
    pub async fn connect_admin(url: &str, application_name: &str) -> Result<DatabaseConnection, StoreError> {
        let options = connect_options(url, application_name)?.options([("statement_timeout", "0")]);
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        Ok(SqlxPostgresConnector::from_sqlx_postgres_pool(pool))
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Opens a transaction (under the statement deadline).
    pub async fn begin(&self) -> Result<sea_orm::DatabaseTransaction, StoreError> {
        use sea_orm::TransactionTrait;
        self.call("begin", self.db.begin()).await
    }

    /// Rolls a transaction back (under the statement deadline).
    pub async fn rollback(&self, tx: sea_orm::DatabaseTransaction) -> Result<(), StoreError> {
        self.call("rollback", tx.rollback()).await
    }

    /// Commits a transaction (under the statement deadline).
    pub async fn commit(&self, tx: sea_orm::DatabaseTransaction) -> Result<(), StoreError> {
        self.call("commit", tx.commit()).await
    }

    pub fn stats(&self) -> &Arc<PgStats> {
        &self.stats
    }

    /// Runs one store call under the statement deadline.
    pub(crate) async fn call<T, E>(&self, what: &str, fut: impl Future<Output = Result<T, E>>) -> Result<T, StoreError>
    where
        StoreError: From<E>,
    {
        with_deadline(Store::Postgres, what, self.deadline, fut).await
    }

    /// Is PostgreSQL answering? (for /readyz)
    pub async fn ping(&self, deadline: Duration) -> Result<(), StoreError> {
        with_deadline(Store::Postgres, "ping", deadline, self.db.ping()).await
    }

    pub async fn close(self) {
        let _ = self.db.close().await;
    }
}

/// `column = ANY($1)` with the ids as one array parameter: the statement's text is the same
/// however many ids a batch holds, so it is prepared once per connection (an `IN ($1, …, $n)`
/// list would be a new statement, and a new prepare, for every batch size).
pub(crate) fn any_of(column: &str, ids: &[uuid::Uuid]) -> sea_orm::sea_query::SimpleExpr {
    sea_orm::sea_query::Expr::cust_with_values(format!("{column} = ANY($1)"), [sea_orm::Value::from(ids.to_vec())])
}

fn connect_options(url: &str, application_name: &str) -> Result<PgConnectOptions, StoreError> {
    let options = PgConnectOptions::from_str(url).map_err(|e| {
        StoreError::new(Store::Postgres, StoreErrorKind::Other, format!("DATABASE_URL is not a valid URL: {e}"))
    })?;
    Ok(options.application_name(application_name).disable_statement_logging())
}
