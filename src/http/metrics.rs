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
    /// One per bucket, and a last one for requests slower than the largest bound: the count is
    /// their sum, read once per scrape, so `+Inf` never falls below a finite bucket.
    buckets: [AtomicU64; BUCKETS.len() + 1],
    sum_micros: AtomicU64,
}

impl Series {
    const fn new() -> Self {
        Self { buckets: [const { AtomicU64::new(0) }; BUCKETS.len() + 1], sum_micros: AtomicU64::new(0) }
    }
}

/// (operation type, outcome) → series: query/mutation × ok/error.
static SERIES: [Series; 4] = [Series::new(), Series::new(), Series::new(), Series::new()];
const SERIES_LABELS: [(&str, &str); 4] =
    [("query", "ok"), ("query", "error"), ("mutation", "ok"), ("mutation", "error")];

/// Errors sent to clients, by `extensions.code` (refusals before execution included).
static ERRORS: Mutex<BTreeMap<&'static str, u64>> = Mutex::new(BTreeMap::new());

/// Requests by operation name: name → counts by SERIES_LABELS. At most MAX_OPERATION_NAMES
/// names get their own series (the first seen); the rest are counted as OTHER, anonymous
/// operations as `anonymous`, so the label set stays bounded whatever clients send.
static OPERATIONS: Mutex<BTreeMap<String, [u64; 4]>> = Mutex::new(BTreeMap::new());
const MAX_OPERATION_NAMES: usize = 200;

/// Keys per DataLoader batch, by loader.
static LOADER_BATCHES: Mutex<BTreeMap<&'static str, BatchSizes>> = Mutex::new(BTreeMap::new());
const BATCH_BUCKETS: [u64; 10] = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000];

#[derive(Default)]
struct BatchSizes {
    buckets: [u64; BATCH_BUCKETS.len()],
    count: u64,
    keys: u64,
}

/// Counts one DataLoader batch of `keys` keys.
pub fn loader_batch(loader: &'static str, keys: usize) {
    if let Ok(mut batches) = LOADER_BATCHES.lock() {
        let sizes = batches.entry(loader).or_default();
        if let Some(i) = BATCH_BUCKETS.iter().position(|le| keys as u64 <= *le) {
            sizes.buckets[i] += 1;
        }
        sizes.count += 1;
        sizes.keys += keys as u64;
    }
}

/// Counts one executed GraphQL request.
pub fn request(mutation: bool, operation: Option<&str>, ok: bool, took: Duration) {
    let index = usize::from(mutation) * 2 + usize::from(!ok);
    if let Ok(mut operations) = OPERATIONS.lock() {
        let name = match operation {
            None => "anonymous",
            Some(name) if operations.contains_key(name) => name,
            Some(name) if operations.len() < MAX_OPERATION_NAMES && is_name(name) => name,
            Some(_) => "OTHER",
        };
        match operations.get_mut(name) {
            Some(counts) => counts[index] += 1,
            None => {
                let mut counts = [0; 4];
                counts[index] = 1;
                operations.insert(name.to_owned(), counts);
            }
        }
    }
    let series = &SERIES[index];
    let seconds = took.as_secs_f64();
    let i = BUCKETS.iter().position(|le| seconds <= *le).unwrap_or(BUCKETS.len());
    series.buckets[i].fetch_add(1, Ordering::Relaxed);
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

fn counter(out: &mut String, name: &str, help: &str, value: u64) {
    let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}\n");
}

/// A GraphQL name (so it is safe as a label value).
fn is_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes.next().is_some_and(|b| b == b'_' || b.is_ascii_alphabetic())
        && bytes.all(|b| b == b'_' || b.is_ascii_alphanumeric())
        && s.len() <= 100
}

/// The error codes that are limit refusals (`learngraph_limit_rejections_total`).
const LIMIT_CODES: &[&str] = &[
    "BATCH_NOT_SUPPORTED",
    "DOCUMENT_TOO_DEEP",
    "DOCUMENT_TOO_LARGE",
    "PAYLOAD_TOO_LARGE",
    "QUERY_TOO_COMPLEX",
    "QUERY_TOO_DEEP",
    "TOO_MANY_ALIASES",
    "TOO_MANY_DIRECTIVES",
    "TOO_MANY_ROOT_FIELDS",
    "TOO_MANY_SELECTIONS",
    "TOO_MANY_TOKENS",
];

pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let pg = state.pg.stats();
    let mongo = state.mongo.stats();
    let reads = &state.read_models.stats;
    let mut out = String::with_capacity(1024);
    counter(&mut out, "learngraph_pg_statements_total", "SQL statements run.", pg.statements());
    counter(
        &mut out,
        "learngraph_pg_slow_statements_total",
        "SQL statements slower than SLOW_QUERY_THRESHOLD.",
        pg.slow_statements(),
    );
    counter(
        &mut out,
        "learngraph_mongo_commands_total",
        "MongoDB commands sent (driver command events).",
        mongo.commands(),
    );
    counter(&mut out, "learngraph_mongo_failed_commands_total", "MongoDB commands that failed.", mongo.failed());
    counter(
        &mut out,
        "learngraph_read_model_mongo_hits_total",
        "Read-model documents served from MongoDB.",
        reads.mongo_hits.load(Ordering::Relaxed),
    );
    counter(
        &mut out,
        "learngraph_read_model_fallbacks_total",
        "Read-model documents built from PostgreSQL instead.",
        reads.fallbacks.load(Ordering::Relaxed),
    );
    counter(
        &mut out,
        "learngraph_read_model_hedged_total",
        "Read-model reads that stopped waiting for a slow MongoDB (MONGO_HEDGE_AFTER).",
        reads.hedged.load(Ordering::Relaxed),
    );
    counter(
        &mut out,
        "learngraph_connections_refused_total",
        "Connections closed on arrival (MAX_CONNECTIONS open).",
        CONNECTIONS_REFUSED.load(Ordering::Relaxed),
    );
    counter(
        &mut out,
        "learngraph_requests_shed_total",
        "Requests shed with 503 (MAX_CONCURRENT_REQUESTS in progress).",
        REQUESTS_SHED.load(Ordering::Relaxed),
    );
    counter(
        &mut out,
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
        let count = n + series.buckets[BUCKETS.len()].load(Ordering::Relaxed);
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
    let _ = write!(
        out,
        "# HELP learngraph_limit_rejections_total Requests refused by a request limit, by the refusal's code.\n\
         # TYPE learngraph_limit_rejections_total counter\n"
    );
    if let Ok(errors) = ERRORS.lock() {
        for code in LIMIT_CODES {
            let _ = writeln!(
                out,
                "learngraph_limit_rejections_total{{code=\"{code}\"}} {}",
                errors.get(code).unwrap_or(&0)
            );
        }
    }
    let _ = write!(
        out,
        "# HELP learngraph_graphql_operations_total GraphQL requests run, by operation name (the first 200 names; later ones as OTHER), type and outcome.\n\
         # TYPE learngraph_graphql_operations_total counter\n"
    );
    if let Ok(operations) = OPERATIONS.lock() {
        for (name, counts) in operations.iter() {
            for (n, (ty, outcome)) in counts.iter().zip(SERIES_LABELS) {
                if *n > 0 {
                    let _ = writeln!(
                        out,
                        "learngraph_graphql_operations_total{{operation=\"{name}\",operation_type=\"{ty}\",outcome=\"{outcome}\"}} {n}"
                    );
                }
            }
        }
    }
    let _ = write!(
        out,
        "# HELP learngraph_loader_batch_keys Keys per DataLoader batch, by loader.\n\
         # TYPE learngraph_loader_batch_keys histogram\n"
    );
    if let Ok(batches) = LOADER_BATCHES.lock() {
        for (loader, sizes) in batches.iter() {
            let mut n = 0;
            for (i, le) in BATCH_BUCKETS.iter().enumerate() {
                n += sizes.buckets[i];
                let _ = writeln!(out, "learngraph_loader_batch_keys_bucket{{loader=\"{loader}\",le=\"{le}\"}} {n}");
            }
            let _ =
                writeln!(out, "learngraph_loader_batch_keys_bucket{{loader=\"{loader}\",le=\"+Inf\"}} {}", sizes.count);
            let _ = writeln!(out, "learngraph_loader_batch_keys_sum{{loader=\"{loader}\"}} {}", sizes.keys);
            let _ = writeln!(out, "learngraph_loader_batch_keys_count{{loader=\"{loader}\"}} {}", sizes.count);
        }
    }
    let pool = |field: &AtomicU64| field.load(Ordering::Relaxed);
    let (created, closed) = (pool(&mongo.connections_created), pool(&mongo.connections_closed));
    let (out_, in_) = (pool(&mongo.checked_out), pool(&mongo.checked_in));
    let _ = write!(
        out,
        "# HELP learngraph_mongo_pool_connections MongoDB pool connections by state (from the driver's pool events).\n\
         # TYPE learngraph_mongo_pool_connections gauge\n\
         learngraph_mongo_pool_connections{{state=\"in_use\"}} {}\n\
         learngraph_mongo_pool_connections{{state=\"open\"}} {}\n\
         # HELP learngraph_mongo_pool_checkouts_total MongoDB connection checkouts, by outcome.\n\
         # TYPE learngraph_mongo_pool_checkouts_total counter\n\
         learngraph_mongo_pool_checkouts_total{{outcome=\"ok\"}} {out_}\n\
         learngraph_mongo_pool_checkouts_total{{outcome=\"failed\"}} {}\n\
         # HELP learngraph_mongo_pool_wait_seconds_total Time spent waiting for a MongoDB connection.\n\
         # TYPE learngraph_mongo_pool_wait_seconds_total counter\n\
         learngraph_mongo_pool_wait_seconds_total {}\n",
        out_.saturating_sub(in_),
        created.saturating_sub(closed),
        pool(&mongo.checkout_failed),
        pool(&mongo.checkout_wait_micros) as f64 / 1e6,
    );
    counter(
        &mut out,
        "learngraph_pg_pool_acquire_timeouts_total",
        "Statements that gave up waiting for a pooled PostgreSQL connection (DB_ACQUIRE_TIMEOUT).",
        crate::store::pg::ACQUIRE_TIMEOUTS.load(Ordering::Relaxed),
    );
    projector(&state, &mut out).await;
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], out)
}

/// The projector: this replica's work and lag, and the outbox backlog all replicas share
/// (one indexed count per scrape, under a short deadline; left out if PostgreSQL is slow).
async fn projector(state: &AppState, out: &mut String) {
    if let Some(stats) = &state.projector {
        let n = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let _ = write!(
            out,
            "# HELP learngraph_projector_rows_total Outbox rows this replica's projector has taken.\n\
             # TYPE learngraph_projector_rows_total counter\n\
             learngraph_projector_rows_total {}\n\
             # HELP learngraph_projector_documents_total Read-model documents written or deleted by this replica.\n\
             # TYPE learngraph_projector_documents_total counter\n\
             learngraph_projector_documents_total{{change=\"written\"}} {}\n\
             learngraph_projector_documents_total{{change=\"deleted\"}} {}\n\
             # HELP learngraph_projector_errors_total Projector rounds or documents that failed.\n\
             # TYPE learngraph_projector_errors_total counter\n\
             learngraph_projector_errors_total {}\n",
            n(&stats.outbox_rows),
            n(&stats.documents_written),
            n(&stats.documents_deleted),
            n(&stats.errors),
        );
        let _ = writeln!(
            out,
            "# HELP learngraph_projector_lag_seconds Commit-to-read-model lag of recently projected rows.\n\
             # TYPE learngraph_projector_lag_seconds gauge"
        );
        for q in [0.5, 0.99] {
            if let Some(ms) = stats.lag_quantile(q) {
                let _ = writeln!(out, "learngraph_projector_lag_seconds{{quantile=\"{q}\"}} {}", ms as f64 / 1e3);
            }
        }
    }
    let backlog = crate::store::with_deadline(
        crate::error::Store::Postgres,
        "outbox backlog",
        Duration::from_millis(500),
        crate::projection::projector::backlog(state.pg.db()),
    )
    .await;
    // the families are always described; their samples are left out (no data, not a stale or
    // made-up value) when PostgreSQL does not answer within the scrape's deadline
    let _ = write!(
        out,
        "# HELP learngraph_projector_backlog_rows Outbox rows waiting to be projected (all replicas).\n\
         # TYPE learngraph_projector_backlog_rows gauge\n"
    );
    if let Ok((rows, _)) = &backlog {
        let _ = writeln!(out, "learngraph_projector_backlog_rows {rows}");
    }
    let _ = write!(
        out,
        "# HELP learngraph_projector_backlog_oldest_seconds Age of the oldest waiting outbox row.\n\
         # TYPE learngraph_projector_backlog_oldest_seconds gauge\n"
    );
    if let Ok((_, oldest)) = &backlog {
        let _ = writeln!(out, "learngraph_projector_backlog_oldest_seconds {}", oldest.unwrap_or(0.0));
    }
}
