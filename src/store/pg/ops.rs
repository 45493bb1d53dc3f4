//! The implementation guide's PostgreSQL monitoring queries, corrected for PostgreSQL 15
//! (`total_exec_time`, not `total_time`; `relname`/`indexrelname` in pg_stat_user_indexes),
//! and limited to the service's own database.

use sea_orm::{DbBackend, FromQueryResult, Statement};

use super::PgStore;
use crate::error::{Store, StoreError, StoreErrorKind};

/// One normalised statement's totals (pg_stat_statements).
#[derive(Clone, Debug, FromQueryResult)]
pub struct StatementStats {
    pub query: String,
    pub calls: i64,
    pub total_ms: f64,
    pub mean_ms: f64,
    pub stddev_ms: f64,
    pub rows: i64,
    /// Shared buffer hits over hits + reads (null when it read no blocks).
    pub cache_hit_ratio: Option<f64>,
}

/// How much an index is used (pg_stat_user_indexes).
#[derive(Clone, Debug, FromQueryResult)]
pub struct IndexUsage {
    pub table_name: String,
    pub index_name: String,
    pub scans: i64,
    pub tuples_read: i64,
    pub tuples_fetched: i64,
    pub size_bytes: i64,
}

/// Connections to the database by state and application (pg_stat_activity).
#[derive(Clone, Debug, FromQueryResult)]
pub struct ConnectionGroup {
    pub state: String,
    pub application: String,
    pub connections: i64,
    /// The longest time one of them has been in this state.
    pub longest_seconds: Option<f64>,
}

#[derive(FromQueryResult)]
struct Ratio {
    ratio: Option<f64>,
}

#[derive(FromQueryResult)]
struct Present {
    present: bool,
}

impl PgStore {
    /// The statements that took the most time in this database, most first.
    pub async fn top_statements(&self, limit: u64) -> Result<Vec<StatementStats>, StoreError> {
        let present = Present::find_by_statement(Statement::from_string(
            DbBackend::Postgres,
            "SELECT to_regclass('pg_stat_statements') IS NOT NULL AS present",
        ));
        let present = self.call("pg_stat_statements present", present.one(self.db())).await?;
        if !present.is_some_and(|p| p.present) {
            return Err(StoreError::new(
                Store::Postgres,
                StoreErrorKind::Other,
                "pg_stat_statements is not installed in this database: add it to shared_preload_libraries \
                 and CREATE EXTENSION pg_stat_statements (deploy/initdb does)"
                    .to_owned(),
            ));
        }
        let query = StatementStats::find_by_statement(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT s.query, s.calls, s.total_exec_time AS total_ms, s.mean_exec_time AS mean_ms, \
                    s.stddev_exec_time AS stddev_ms, s.rows, \
                    s.shared_blks_hit::float8 / nullif(s.shared_blks_hit + s.shared_blks_read, 0) AS cache_hit_ratio \
             FROM pg_stat_statements s \
             WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND s.toplevel \
             ORDER BY s.total_exec_time DESC LIMIT $1",
            [(limit as i64).into()],
        ));
        self.call("top statements", query.all(self.db())).await
    }

    /// Every index of the service's tables, most scanned first.
    pub async fn index_usage(&self) -> Result<Vec<IndexUsage>, StoreError> {
        let query = IndexUsage::find_by_statement(Statement::from_string(
            DbBackend::Postgres,
            "SELECT s.relname::text AS table_name, s.indexrelname::text AS index_name, s.idx_scan AS scans, \
                    s.idx_tup_read AS tuples_read, s.idx_tup_fetch AS tuples_fetched, \
                    pg_relation_size(s.indexrelid) AS size_bytes \
             FROM pg_stat_user_indexes s \
             ORDER BY s.idx_scan DESC, s.relname, s.indexrelname",
        ));
        self.call("index usage", query.all(self.db())).await
    }

    /// Connections to this database grouped by state and application.
    pub async fn connection_states(&self) -> Result<Vec<ConnectionGroup>, StoreError> {
        let query = ConnectionGroup::find_by_statement(Statement::from_string(
            DbBackend::Postgres,
            "SELECT coalesce(state, 'unknown') AS state, coalesce(application_name, '') AS application, \
                    count(*) AS connections, \
                    EXTRACT(EPOCH FROM max(clock_timestamp() - state_change))::float8 AS longest_seconds \
             FROM pg_stat_activity WHERE datname = current_database() \
             GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2",
        ));
        self.call("connection states", query.all(self.db())).await
    }

    /// Buffer cache hits over hits + reads, for the whole database.
    pub async fn cache_hit_ratio(&self) -> Result<Option<f64>, StoreError> {
        let query = Ratio::find_by_statement(Statement::from_string(
            DbBackend::Postgres,
            "SELECT blks_hit::float8 / nullif(blks_hit + blks_read, 0) AS ratio \
             FROM pg_stat_database WHERE datname = current_database()",
        ));
        Ok(self.call("cache hit ratio", query.one(self.db())).await?.and_then(|r| r.ratio))
    }
}
