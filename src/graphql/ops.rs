//! `ops`: the implementation guide's monitoring queries as an admin-only part of the API:
//! PostgreSQL's heaviest statements, index use and connections, MongoDB's collections and
//! index use, and the projector. Each field runs its own query, only when asked for.

use std::sync::{atomic::Ordering, Arc};

use async_graphql::{Context, Object, Result, SimpleObject};

use super::pg_store;
use crate::{
    auth::Role,
    error::AppError,
    projection::projector::ProjectorStats,
    store::{mongo::MongoStore, pg::ops as pg_ops},
};

/// What `ops` reads besides PostgreSQL (schema data).
#[derive(Clone)]
pub struct OpsSources {
    pub mongo: MongoStore,
    /// This replica's projector (None when PROJECTOR_ENABLED=false here).
    pub projector: Option<Arc<ProjectorStats>>,
}

#[derive(Default)]
pub struct OpsQuery;

#[Object]
impl OpsQuery {
    /// Operations figures from both stores (admins only: `UNAUTHENTICATED` without a token,
    /// `FORBIDDEN` for others). Never cached.
    #[graphql(tag = "staff", cache_control(private, no_cache))]
    async fn ops(&self, ctx: &Context<'_>) -> Result<Ops> {
        match super::signed_in(ctx).await? {
            (_, Role::Admin) => Ok(Ops),
            _ => Err(AppError::Forbidden.into()),
        }
    }
}

/// Operations figures. PostgreSQL's are for this service's database only.
pub struct Ops;

/// Operations figures. PostgreSQL's are for this service's database only.
#[Object(cache_control(private, no_cache))]
impl Ops {
    /// The statements that took the most execution time (pg_stat_statements), most first.
    async fn statements(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20, desc = "How many (1 to 100).")] first: i32,
    ) -> Result<Vec<StatementStats>> {
        if !(1..=100).contains(&first) {
            return Err(AppError::bad_input("`first` must be between 1 and 100").into());
        }
        let rows = pg_store(ctx)?.top_statements(first as u64).await?;
        Ok(rows.into_iter().map(StatementStats::from).collect())
    }

    /// Share of PostgreSQL block reads served from shared buffers, for the whole database
    /// (null before any read).
    async fn cache_hit_ratio(&self, ctx: &Context<'_>) -> Result<Option<f64>> {
        Ok(pg_store(ctx)?.cache_hit_ratio().await?)
    }

    /// Every index of the service's tables, most scanned first (an index never scanned is a
    /// candidate for dropping).
    async fn indexes(&self, ctx: &Context<'_>) -> Result<Vec<IndexUsage>> {
        let rows = pg_store(ctx)?.index_usage().await?;
        Ok(rows
            .into_iter()
            .map(|r| IndexUsage {
                table: r.table_name,
                index: r.index_name,
                scans: r.scans,
                tuples_read: r.tuples_read,
                tuples_fetched: r.tuples_fetched,
                size_bytes: r.size_bytes,
            })
            .collect())
    }

    /// Connections to the database by state and application (PgBouncer's server connections
    /// show as the pooled application).
    async fn connections(&self, ctx: &Context<'_>) -> Result<Vec<ConnectionGroup>> {
        let rows = pg_store(ctx)?.connection_states().await?;
        Ok(rows
            .into_iter()
            .map(|r| ConnectionGroup {
                state: r.state,
                application: r.application,
                connections: r.connections,
                longest_seconds: r.longest_seconds,
            })
            .collect())
    }

    /// MongoDB's collections: documents, sizes, and how often each index was used.
    async fn collections(&self, ctx: &Context<'_>) -> Result<Vec<CollectionStats>> {
        let sources = sources(ctx)?;
        let rows = sources.mongo.collection_stats().await?;
        Ok(rows
            .into_iter()
            .map(|c| CollectionStats {
                name: c.name,
                documents: c.documents,
                size_bytes: c.size_bytes,
                storage_bytes: c.storage_bytes,
                index_bytes: c.index_bytes,
                indexes: c
                    .indexes
                    .into_iter()
                    .map(|i| MongoIndexUsage { name: i.name, key: i.key, accesses: i.accesses, since: i.since })
                    .collect(),
            })
            .collect())
    }

    /// The projector: the shared outbox backlog, and this replica's work and lag.
    async fn projector(&self, ctx: &Context<'_>) -> Result<ProjectorStatus> {
        let sources = sources(ctx)?;
        let store = pg_store(ctx)?;
        let (backlog, oldest) = store
            .call("outbox backlog", crate::projection::projector::backlog(store.db()))
            .await
            .map_err(AppError::from)?;
        let here = sources.projector.as_ref();
        let seconds = |q: f64| here.and_then(|p| p.lag_quantile(q)).map(|ms| ms as f64 / 1e3);
        let count = |f: fn(&ProjectorStats) -> u64| here.map(|p| f(p)).unwrap_or(0) as i64;
        Ok(ProjectorStatus {
            backlog,
            oldest_pending_seconds: oldest,
            running_here: here.is_some(),
            rows_projected: count(|p| p.outbox_rows.load(Ordering::Relaxed)),
            documents_written: count(|p| p.documents_written.load(Ordering::Relaxed)),
            errors: count(|p| p.errors.load(Ordering::Relaxed)),
            lag_p50_seconds: seconds(0.5),
            lag_p99_seconds: seconds(0.99),
        })
    }
}

fn sources<'a>(ctx: &Context<'a>) -> Result<&'a OpsSources, AppError> {
    ctx.data::<OpsSources>().map_err(|_| {
        tracing::error!("schema built without the ops sources");
        AppError::Internal
    })
}

/// One normalised statement (constants replaced by `$n`) and its totals since the last reset.
#[derive(SimpleObject)]
#[graphql(cache_control(private, no_cache))]
pub struct StatementStats {
    /// The statement, with `$n` where it had values.
    pub query: String,
    /// Times it ran.
    pub calls: i64,
    /// Execution time over all calls, in milliseconds.
    pub total_ms: f64,
    /// Mean execution time, in milliseconds.
    pub mean_ms: f64,
    /// Standard deviation of its execution time, in milliseconds.
    pub stddev_ms: f64,
    /// Rows returned or changed, over all calls.
    pub rows: i64,
    /// Shared buffer hits over hits + reads (null when it read no blocks).
    pub cache_hit_ratio: Option<f64>,
}

impl From<pg_ops::StatementStats> for StatementStats {
    fn from(s: pg_ops::StatementStats) -> Self {
        Self {
            // pg_stat_statements already replaces constants; masking again costs nothing
            query: crate::telemetry::value_free(&s.query),
            calls: s.calls,
            total_ms: s.total_ms,
            mean_ms: s.mean_ms,
            stddev_ms: s.stddev_ms,
            rows: s.rows,
            cache_hit_ratio: s.cache_hit_ratio,
        }
    }
}

/// An index of a PostgreSQL table and how much it is used.
#[derive(SimpleObject)]
#[graphql(cache_control(private, no_cache))]
pub struct IndexUsage {
    /// The table it indexes.
    pub table: String,
    /// The index's name.
    pub index: String,
    /// Index scans started on it.
    pub scans: i64,
    /// Index entries those scans returned.
    pub tuples_read: i64,
    /// Table rows fetched through it.
    pub tuples_fetched: i64,
    /// Its size on disk.
    pub size_bytes: i64,
}

/// Connections in one state from one application.
#[derive(SimpleObject)]
#[graphql(cache_control(private, no_cache))]
pub struct ConnectionGroup {
    /// active, idle, idle in transaction, …
    pub state: String,
    /// The connection's `application_name`.
    pub application: String,
    /// How many connections.
    pub connections: i64,
    /// The longest any of them has been in this state.
    pub longest_seconds: Option<f64>,
}

/// A MongoDB collection.
#[derive(SimpleObject)]
#[graphql(cache_control(private, no_cache))]
pub struct CollectionStats {
    /// The collection's name.
    pub name: String,
    /// Documents it holds.
    pub documents: i64,
    /// Uncompressed size of its documents.
    pub size_bytes: i64,
    /// Storage allocated to it.
    pub storage_bytes: i64,
    /// Size of all its indexes.
    pub index_bytes: i64,
    /// Its indexes, by name.
    pub indexes: Vec<MongoIndexUsage>,
}

/// A MongoDB index and its use since `since`.
#[derive(SimpleObject)]
#[graphql(cache_control(private, no_cache))]
pub struct MongoIndexUsage {
    /// The index's name.
    pub name: String,
    /// The key pattern, as JSON.
    pub key: String,
    /// Operations that used it since `since`.
    pub accesses: i64,
    /// When counting started (the server's start or the index's creation).
    pub since: Option<chrono::DateTime<chrono::Utc>>,
}

/// The projector that keeps MongoDB's read models in step with PostgreSQL.
#[derive(SimpleObject)]
#[graphql(cache_control(private, no_cache))]
pub struct ProjectorStatus {
    /// Outbox rows waiting, for all replicas.
    pub backlog: i64,
    /// Age of the oldest waiting row (null when none waits).
    pub oldest_pending_seconds: Option<f64>,
    /// Whether this replica runs a projector (PROJECTOR_ENABLED).
    pub running_here: bool,
    /// Outbox rows this replica has projected since it started.
    pub rows_projected: i64,
    /// Read-model documents this replica has written.
    pub documents_written: i64,
    /// Rounds or documents that failed here (retried later).
    pub errors: i64,
    /// Commit-to-read-model lag of this replica's recent rows.
    pub lag_p50_seconds: Option<f64>,
    /// The 99th percentile of that lag.
    pub lag_p99_seconds: Option<f64>,
}
