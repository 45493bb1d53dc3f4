//! `/metrics`: the service's counters in the Prometheus text format (a first set: statements,
//! Mongo commands, read-model hits and fallbacks).

use std::{
    fmt::Write as _,
    sync::atomic::{AtomicU64, Ordering},
};

use axum::{extract::State, http::header, response::IntoResponse};

use crate::app::AppState;

/// Connections closed on arrival because MAX_CONNECTIONS were open.
pub static CONNECTIONS_REFUSED: AtomicU64 = AtomicU64::new(0);
/// Requests shed with 503 because MAX_CONCURRENT_REQUESTS were in progress.
pub static REQUESTS_SHED: AtomicU64 = AtomicU64::new(0);
/// Requests answered 503 because they ran past REQUEST_TIMEOUT.
pub static REQUESTS_TIMED_OUT: AtomicU64 = AtomicU64::new(0);

pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let pg = state.pg.stats();
    let mongo = state.mongo.stats();
    let reads = &state.read_models.stats;
    let mut out = String::with_capacity(1024);
    let mut counter = |name: &str, help: &str, value: u64| {
        let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}\n");
    };
    counter("learngraph_pg_statements_total", "SQL statements run.", pg.statements());
    counter(
        "learngraph_pg_slow_statements_total",
        "SQL statements slower than DB_SLOW_QUERY_THRESHOLD.",
        pg.slow_statements(),
    );
    counter("learngraph_mongo_commands_total", "MongoDB commands sent (driver command events).", mongo.commands());
    counter("learngraph_mongo_failed_commands_total", "MongoDB commands that failed.", mongo.failed());
    counter(
        "learngraph_read_model_mongo_hits_total",
        "Read-model documents served from MongoDB.",
        reads.mongo_hits.load(Ordering::Relaxed),
    );
    counter(
        "learngraph_read_model_fallbacks_total",
        "Read-model documents built from PostgreSQL instead.",
        reads.fallbacks.load(Ordering::Relaxed),
    );
    counter(
        "learngraph_read_model_hedged_total",
        "Read-model reads that stopped waiting for a slow MongoDB (MONGO_HEDGE_AFTER).",
        reads.hedged.load(Ordering::Relaxed),
    );
    counter(
        "learngraph_connections_refused_total",
        "Connections closed on arrival (MAX_CONNECTIONS open).",
        CONNECTIONS_REFUSED.load(Ordering::Relaxed),
    );
    counter(
        "learngraph_requests_shed_total",
        "Requests shed with 503 (MAX_CONCURRENT_REQUESTS in progress).",
        REQUESTS_SHED.load(Ordering::Relaxed),
    );
    counter(
        "learngraph_requests_timed_out_total",
        "Requests answered 503 after REQUEST_TIMEOUT.",
        REQUESTS_TIMED_OUT.load(Ordering::Relaxed),
    );
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], out)
}
