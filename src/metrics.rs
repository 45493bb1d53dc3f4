//! The service's metrics, kept and written in the Prometheus text format by
//! `metrics-exporter-prometheus` (exposition rules, label escaping, cumulative histograms).
//!
//! Two kinds of figure:
//! - **counted as they happen**, process-wide: GraphQL requests (latency histogram by operation
//!   type and outcome, counts by operation name), errors by code, limit refusals, DataLoader
//!   batch sizes, and the transport's refusals. Any layer records them through the functions
//!   here; this module imports nothing of the crate, so every layer may.
//! - **read when scraped**, per app: pools, statement and command counts, read-model hits, the
//!   projector. `http/metrics.rs` reads them into a [`Scrape`] for each request to `/metrics`.

use std::{
    collections::HashMap,
    sync::{LazyLock, Mutex},
    time::Duration,
};

use metrics::{Key, KeyName, Label, Metadata, Recorder, SharedString};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusRecorder};

/// Latency buckets (seconds) of `learngraph_graphql_request_duration_seconds`.
const LATENCY_BUCKETS: [f64; 11] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
/// Keys per batch: the buckets of `learngraph_loader_batch_keys`.
const BATCH_BUCKETS: [f64; 10] = [1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0];

const REQUESTS: &str = "learngraph_graphql_request_duration_seconds";
const OPERATIONS: &str = "learngraph_graphql_operations_total";
const ERRORS: &str = "learngraph_errors_total";
const LIMIT_REJECTIONS: &str = "learngraph_limit_rejections_total";
const LOADER_BATCHES: &str = "learngraph_loader_batch_keys";
const CONNECTIONS_REFUSED: &str = "learngraph_connections_refused_total";
const REQUESTS_SHED: &str = "learngraph_requests_shed_total";
const REQUESTS_TIMED_OUT: &str = "learngraph_requests_timed_out_total";
const ACQUIRE_TIMEOUTS: &str = "learngraph_pg_pool_acquire_timeouts_total";

/// The codes this service sends (`extensions.code`); anything else is counted as OTHER, so the
/// label set stays bounded.
const CODES: &[&str] = &[
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

/// The codes that are limit refusals (`learngraph_limit_rejections_total`).
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

/// (operation type, outcome) of a request's series.
const OUTCOMES: [(&str, &str); 4] = [("query", "ok"), ("query", "error"), ("mutation", "ok"), ("mutation", "error")];

/// At most this many operation names get a series of their own (the first seen); later ones
/// are counted as OTHER, anonymous operations as `anonymous`.
const MAX_OPERATION_NAMES: usize = 200;

/// The process-wide recorder: every family is described and its known series start at 0, so a
/// scrape shows each family before its first event.
static PROCESS: LazyLock<PrometheusRecorder> = LazyLock::new(|| {
    let recorder = with_buckets(&[(REQUESTS, &LATENCY_BUCKETS), (LOADER_BATCHES, &BATCH_BUCKETS)]);
    describe(&recorder, REQUESTS, "GraphQL requests run, by operation type and outcome.");
    describe(
        &recorder,
        OPERATIONS,
        "GraphQL requests run, by operation name (the first 200 names; later ones as OTHER), type and outcome.",
    );
    describe(&recorder, ERRORS, "Errors sent to clients, by code (limit refusals included).");
    describe(&recorder, LIMIT_REJECTIONS, "Requests refused by a request limit, by the refusal's code.");
    describe(&recorder, LOADER_BATCHES, "Keys per DataLoader batch, by loader.");
    describe(&recorder, CONNECTIONS_REFUSED, "Connections closed on arrival (MAX_CONNECTIONS open).");
    describe(&recorder, REQUESTS_SHED, "Requests shed with 503 (MAX_CONCURRENT_REQUESTS in progress).");
    describe(&recorder, REQUESTS_TIMED_OUT, "Requests answered 503 after REQUEST_TIMEOUT.");
    describe(
        &recorder,
        ACQUIRE_TIMEOUTS,
        "Statements that gave up waiting for a pooled PostgreSQL connection (DB_ACQUIRE_TIMEOUT).",
    );
    for (ty, outcome) in OUTCOMES {
        let _ = recorder.register_histogram(&key(REQUESTS, &[("operation_type", ty), ("outcome", outcome)]), &META);
    }
    for code in CODES {
        let _ = recorder.register_counter(&key(ERRORS, &[("code", code)]), &META);
    }
    for code in LIMIT_CODES {
        let _ = recorder.register_counter(&key(LIMIT_REJECTIONS, &[("code", code)]), &META);
    }
    for name in [CONNECTIONS_REFUSED, REQUESTS_SHED, REQUESTS_TIMED_OUT, ACQUIRE_TIMEOUTS] {
        let _ = recorder.register_counter(&key(name, &[]), &META);
    }
    recorder
});

/// The latency series by (operation type, outcome), in OUTCOMES' order: registered once, as
/// every request records into one of them.
static REQUEST_SERIES: LazyLock<Vec<metrics::Histogram>> = LazyLock::new(|| {
    OUTCOMES
        .iter()
        .map(|(ty, outcome)| {
            PROCESS.register_histogram(&key(REQUESTS, &[("operation_type", ty), ("outcome", outcome)]), &META)
        })
        .collect()
});

/// Operation names that have series of their own, with their counters by OUTCOMES' index
/// (registered at the first request of each kind, then reused).
static OPERATION_NAMES: LazyLock<Mutex<HashMap<String, [Option<metrics::Counter>; 4]>>> = LazyLock::new(Mutex::default);

static META: Metadata<'static> = Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()));

fn with_buckets(buckets: &[(&str, &[f64])]) -> PrometheusRecorder {
    let mut builder = PrometheusBuilder::new();
    for (name, bounds) in buckets {
        // only an empty list of bounds is refused, and these are constants
        builder = match builder.set_buckets_for_metric(Matcher::Full((*name).to_owned()), bounds) {
            Ok(builder) => builder,
            Err(_) => PrometheusBuilder::new(),
        };
    }
    builder.build_recorder()
}

fn describe(recorder: &PrometheusRecorder, name: &'static str, help: &'static str) {
    let (name, help) = (KeyName::from_const_str(name), SharedString::const_str(help));
    // the exporter keeps one description per name, whatever the metric's kind
    recorder.describe_counter(name, None, help);
}

fn key(name: &'static str, labels: &[(&'static str, &str)]) -> Key {
    Key::from_parts(name, labels.iter().map(|(k, v)| Label::new(*k, (*v).to_owned())).collect::<Vec<_>>())
}

/// Counts one executed GraphQL request: its latency by type and outcome, and its operation name.
pub fn request(mutation: bool, operation: Option<&str>, ok: bool, took: Duration) {
    let index = usize::from(mutation) * 2 + usize::from(!ok);
    let (ty, outcome) = OUTCOMES[index];
    if let Some(series) = REQUEST_SERIES.get(index) {
        series.record(took.as_secs_f64());
    }
    let name = match operation {
        Some(name) if is_name(name) => name,
        Some(_) => "OTHER",
        None => "anonymous",
    };
    let Ok(mut names) = OPERATION_NAMES.lock() else { return };
    let name = if names.contains_key(name) || names.len() < MAX_OPERATION_NAMES { name } else { "OTHER" };
    if !names.contains_key(name) {
        names.insert(name.to_owned(), Default::default());
    }
    if let Some(slot) = names.get_mut(name).and_then(|counters| counters.get_mut(index)) {
        slot.get_or_insert_with(|| {
            let labels = [("operation", name), ("operation_type", ty), ("outcome", outcome)];
            PROCESS.register_counter(&key(OPERATIONS, &labels), &META)
        })
        .increment(1);
    }
}

/// A GraphQL name (a bounded, plain label value).
fn is_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes.next().is_some_and(|b| b == b'_' || b.is_ascii_alphabetic())
        && bytes.all(|b| b == b'_' || b.is_ascii_alphanumeric())
        && s.len() <= 100
}

/// Counts an error sent to a client, and a limit refusal when its code is one.
pub fn error(code: &str) {
    let code = CODES.iter().copied().find(|k| *k == code).unwrap_or("OTHER");
    PROCESS.register_counter(&key(ERRORS, &[("code", code)]), &META).increment(1);
    if LIMIT_CODES.contains(&code) {
        PROCESS.register_counter(&key(LIMIT_REJECTIONS, &[("code", code)]), &META).increment(1);
    }
}

/// Counts one DataLoader batch of `keys` keys.
pub fn loader_batch(loader: &'static str, keys: usize) {
    PROCESS.register_histogram(&key(LOADER_BATCHES, &[("loader", loader)]), &META).record(keys as f64);
}

/// Starts a loader's batch-size series at 0, so the family shows before the first batch.
pub fn describe_loaders(loaders: &[&'static str]) {
    for loader in loaders {
        let _ = PROCESS.register_histogram(&key(LOADER_BATCHES, &[("loader", loader)]), &META);
    }
}

/// Counts a connection closed on arrival because MAX_CONNECTIONS were open.
pub fn connection_refused() {
    PROCESS.register_counter(&key(CONNECTIONS_REFUSED, &[]), &META).increment(1);
}

/// Counts a request shed with 503 because MAX_CONCURRENT_REQUESTS were in progress.
pub fn request_shed() {
    PROCESS.register_counter(&key(REQUESTS_SHED, &[]), &META).increment(1);
}

/// Counts a request answered 503 because it ran past REQUEST_TIMEOUT.
pub fn request_timed_out() {
    PROCESS.register_counter(&key(REQUESTS_TIMED_OUT, &[]), &META).increment(1);
}

/// Counts a statement that gave up waiting for a pooled PostgreSQL connection.
pub fn acquire_timeout() {
    PROCESS.register_counter(&key(ACQUIRE_TIMEOUTS, &[]), &META).increment(1);
}

/// Folds the latency samples recorded since the last call into the histograms (a scrape does
/// this too; the service calls it every few seconds so that samples never pile up unscraped).
pub fn upkeep() {
    PROCESS.handle().run_upkeep();
}

/// The figures one app reads when it is scraped (pools, counts, the projector), written after
/// the process-wide ones. Only what was read is written: a figure that could not be read
/// leaves its series out rather than showing a stale or made-up value.
pub struct Scrape {
    recorder: PrometheusRecorder,
}

impl Default for Scrape {
    fn default() -> Self {
        Self::new()
    }
}

impl Scrape {
    pub fn new() -> Self {
        Self { recorder: PrometheusBuilder::new().build_recorder() }
    }

    /// A counter's current total.
    pub fn counter(&self, name: &'static str, help: &'static str, labels: &[(&'static str, &str)], total: u64) {
        describe(&self.recorder, name, help);
        self.recorder.register_counter(&key(name, labels), &META).absolute(total);
    }

    /// A gauge's current value.
    pub fn gauge(&self, name: &'static str, help: &'static str, labels: &[(&'static str, &str)], value: f64) {
        describe(&self.recorder, name, help);
        self.recorder.register_gauge(&key(name, labels), &META).set(value);
    }

    /// The process-wide families and this scrape's, in the Prometheus text format.
    pub fn render(self) -> String {
        let mut out = PROCESS.handle().render();
        out.push_str(&self.recorder.handle().render());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_are_written_by_the_exporter_with_escaped_labels() {
        request(false, Some("MetricsUnitTest"), true, Duration::from_millis(3));
        error("NOT_A_CODE");
        let scrape = Scrape::new();
        scrape.gauge("learngraph_unit_gauge", "A gauge.", &[("state", "a \"quoted\"\nvalue")], 2.5);
        let text = scrape.render();
        assert!(text.contains("# TYPE learngraph_graphql_request_duration_seconds histogram"), "{text}");
        assert!(text.contains(
            "learngraph_graphql_request_duration_seconds_bucket{operation_type=\"query\",outcome=\"ok\",le=\"0.005\"}"
        ));
        assert!(text.contains("learngraph_errors_total{code=\"OTHER\"}"), "{text}");
        assert!(text.contains("learngraph_unit_gauge{state=\"a \\\"quoted\\\"\\nvalue\"} 2.5"), "{text}");
    }
}
