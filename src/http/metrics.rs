//! `/metrics`: the service's counters in the Prometheus text format: GraphQL requests by
//! operation type and outcome with a latency histogram, errors by code (limit refusals
//! included), the PostgreSQL pool, statements, Mongo commands, read-model hits and fallbacks,
//! and the transport's refusals.

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    sync::{
        atomic::{AtomicU64, Ordering},
        Mutex,
    },
    time::Duration,
};

use axum::{extract::State, http::header, response::IntoResponse};

use crate::app::AppState;

/// Connections closed on arrival because MAX_CONNECTIONS were open.
pub static CONNECTIONS_REFUSED: AtomicU64 = AtomicU64::new(0);
/// Requests shed with 503 because MAX_CONCURRENT_REQUESTS were in progress.
pub static REQUESTS_SHED: AtomicU64 = AtomicU64::new(0);
/// Requests answered 503 because they ran past REQUEST_TIMEOUT.
pub static REQUESTS_TIMED_OUT: AtomicU64 = AtomicU64::new(0);

/// Latency buckets (seconds) of `learngraph_graphql_request_duration_seconds`.
const BUCKETS: [f64; 11] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// Requests and latency for one operation type and outcome. `buckets[i]` counts requests in
/// bucket i alone (one increment per request); the scrape adds them up.
struct Series {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Series {
    const fn new() -> Self {
        Self {
            buckets: [const { AtomicU64::new(0) }; BUCKETS.len()],
            count: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
        }
    }
}

/// (operation type, outcome) → series: query/mutation × ok/error.
static SERIES: [Series; 4] = [Series::new(), Series::new(), Series::new(), Series::new()];
const SERIES_LABELS: [(&str, &str); 4] =
    [("query", "ok"), ("query", "error"), ("mutation", "ok"), ("mutation", "error")];

/// Errors sent to clients, by `extensions.code` (refusals before execution included).
static ERRORS: Mutex<BTreeMap<&'static str, u64>> = Mutex::new(BTreeMap::new());

/// Counts one executed GraphQL request.
pub fn request(mutation: bool, ok: bool, took: Duration) {
    let series = &SERIES[usize::from(mutation) * 2 + usize::from(!ok)];
    let seconds = took.as_secs_f64();
    if let Some(i) = BUCKETS.iter().position(|le| seconds <= *le) {
        series.buckets[i].fetch_add(1, Ordering::Relaxed);
    }
    series.count.fetch_add(1, Ordering::Relaxed);
    series.sum_micros.fetch_add(u64::try_from(took.as_micros()).unwrap_or(u64::MAX), Ordering::Relaxed);
}

/// Counts an error sent to a client. Codes are this service's fixed set; anything else is
/// counted as OTHER (labels stay bounded).
pub fn error(code: &str) {
    const KNOWN: &[&str] = &[
        "BAD_REQUEST",
        "BAD_USER_INPUT",
        "BATCH_NOT_SUPPORTED",
        "DOCUMENT_TOO_DEEP",
        "DOCUMENT_TOO_LARGE",
        "FORBIDDEN",
        "GRAPHQL_PARSE_FAILED",
        "GRAPHQL_VALIDATION_FAILED",
        "INTERNAL_SERVER_ERROR",
        "METHOD_NOT_ALLOWED",
        "NOT_FOUND",
        "PAYLOAD_TOO_LARGE",
        "PERSISTED_QUERY_NOT_FOUND",
        "PERSISTED_QUERY_NOT_IN_LIST",
        "PERSISTED_QUERY_NOT_SUPPORTED",
        "QUERY_TOO_COMPLEX",
        "QUERY_TOO_DEEP",
        "SERVICE_UNAVAILABLE",
        "TOO_MANY_ALIASES",
        "TOO_MANY_DIRECTIVES",
        "TOO_MANY_ROOT_FIELDS",
        "TOO_MANY_SELECTIONS",
        "TOO_MANY_TOKENS",
        "UNAUTHENTICATED",
        "UNSUPPORTED_MEDIA_TYPE",
    ];
    let code = KNOWN.iter().copied().find(|k| *k == code).unwrap_or("OTHER");
    if let Ok(mut errors) = ERRORS.lock() {
        *errors.entry(code).or_insert(0) += 1;
    }
}

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
    let pool = state.pg.db().get_postgres_connection_pool();
    let (size, idle) = (u64::from(pool.size()), pool.num_idle() as u64);
    let _ = write!(
        out,
        "# HELP learngraph_pg_pool_connections PostgreSQL pool connections by state.\n\
         # TYPE learngraph_pg_pool_connections gauge\n\
         learngraph_pg_pool_connections{{state=\"idle\"}} {idle}\n\
         learngraph_pg_pool_connections{{state=\"in_use\"}} {}\n",
        size.saturating_sub(idle)
    );
    let _ = write!(
        out,
        "# HELP learngraph_graphql_request_duration_seconds GraphQL requests run, by operation type and outcome.\n\
         # TYPE learngraph_graphql_request_duration_seconds histogram\n"
    );
    for (series, (ty, outcome)) in SERIES.iter().zip(SERIES_LABELS) {
        let labels = format!("operation_type=\"{ty}\",outcome=\"{outcome}\"");
        let mut n = 0;
        for (i, le) in BUCKETS.iter().enumerate() {
            n += series.buckets[i].load(Ordering::Relaxed);
            let _ = writeln!(out, "learngraph_graphql_request_duration_seconds_bucket{{{labels},le=\"{le}\"}} {n}");
        }
        let count = series.count.load(Ordering::Relaxed);
        let sum = series.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "learngraph_graphql_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {count}");
        let _ = writeln!(out, "learngraph_graphql_request_duration_seconds_sum{{{labels}}} {sum}");
        let _ = writeln!(out, "learngraph_graphql_request_duration_seconds_count{{{labels}}} {count}");
    }
    let _ = write!(
        out,
        "# HELP learngraph_errors_total Errors sent to clients, by code (limit refusals included).\n\
         # TYPE learngraph_errors_total counter\n"
    );
    if let Ok(errors) = ERRORS.lock() {
        for (code, n) in errors.iter() {
            let _ = writeln!(out, "learngraph_errors_total{{code=\"{code}\"}} {n}");
        }
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], out)
}
