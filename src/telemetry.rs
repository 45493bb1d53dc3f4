//! Logs and traces. Log lines (JSON or pretty, on stderr) carry the trace id of the request
//! they belong to. With an OTLP endpoint configured, the same spans are exported as an
//! OpenTelemetry trace: the request, its operation, each DataLoader batch and each database
//! call (optionally each resolved field), continuing the caller's W3C `traceparent`.
//!
//! What spans record is chosen so that no variable value, token or learner data is exported:
//! operation names and types, a hash of the document (not its text), loader names and key
//! counts, and statements with their placeholders (literals are masked as well).

use std::sync::OnceLock;

use axum::http::HeaderMap;
use opentelemetry::{
    propagation::{Extractor, TextMapPropagator as _},
    trace::{TraceContextExt as _, TracerProvider as _},
};
use opentelemetry_sdk::{
    propagation::TraceContextPropagator,
    trace::{BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracerProvider},
    Resource,
};
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::{layer::SubscriberExt as _, util::SubscriberInitExt as _, Layer as _};

use crate::config::{LogFormat, OtlpProtocol, TelemetryConfig};

/// Whether spans are exported (what only an exported trace needs is not computed otherwise).
static EXPORTING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether this process exports traces.
pub fn exporting() -> bool {
    EXPORTING.load(std::sync::atomic::Ordering::Relaxed)
}

/// The exporter, kept so that spans still buffered are sent on the way out.
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Sends what is buffered and stops the exporter (call after the server has stopped).
    pub fn shutdown(self) {
        if let Some(provider) = self.provider {
            if let Err(e) = provider.shutdown() {
                eprintln!("learngraph: flushing traces failed: {e}");
            }
        }
    }
}

/// Installs logging, and trace export when an endpoint is configured. An exporter that cannot
/// be built is reported and the service runs without it: traces are not worth an outage.
pub fn init(format: LogFormat, filter: &str, otel: &TelemetryConfig) -> Telemetry {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|e| {
        eprintln!("learngraph: RUST_LOG is not a valid filter ({e}); using `info`");
        EnvFilter::new("info")
    });
    let provider = otel.traces_endpoint.as_deref().and_then(|endpoint| match provider(otel, endpoint) {
        Ok(p) => Some(p),
        Err(e) => {
            eprintln!("learngraph: traces are off: the OTLP exporter could not be built: {e}");
            None
        }
    });
    EXPORTING.store(provider.is_some(), std::sync::atomic::Ordering::Relaxed);
    // spans of this service only (not the drivers'), whatever RUST_LOG keeps in the logs
    let otel_layer = provider.as_ref().map(|p| {
        tracing_opentelemetry::layer()
            .with_tracer(p.tracer("learngraph"))
            .with_tracked_inactivity(false)
            // spans only: log events carry store error details, which are for logs, not traces
            .with_filter(tracing_subscriber::filter::filter_fn(|meta| {
                meta.is_span() && meta.target().starts_with("learngraph") && *meta.level() <= tracing::Level::INFO
            }))
    });
    // log lines carry their request's trace id whatever level RUST_LOG keeps: this service's
    // spans are always on for the logs (the request span holds the id; its children link a
    // loader batch's lines to it). Events follow RUST_LOG.
    use tracing_subscriber::filter::FilterExt as _;
    let filter = filter.or(tracing_subscriber::filter::filter_fn(|meta| {
        meta.is_span() && meta.target().starts_with("learngraph") && *meta.level() <= tracing::Level::INFO
    })
    // (without the hint the combined filter would let every crate's TRACE records through to it)
    .with_max_level_hint(tracing::level_filters::LevelFilter::INFO));
    let fmt = match format {
        LogFormat::Json => tracing_subscriber::fmt::layer().json().with_writer(std::io::stderr).boxed(),
        LogFormat::Pretty => tracing_subscriber::fmt::layer().with_writer(std::io::stderr).boxed(),
    };
    let _ = tracing_subscriber::registry().with(otel_layer).with(fmt.with_filter(filter)).try_init();
    Telemetry { provider }
}

fn provider(otel: &TelemetryConfig, endpoint: &str) -> Result<SdkTracerProvider, String> {
    use opentelemetry_otlp::{Protocol, WithExportConfig as _};
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(match otel.protocol {
            OtlpProtocol::HttpProtobuf => Protocol::HttpBinary,
            OtlpProtocol::HttpJson => Protocol::HttpJson,
        })
        .with_endpoint(endpoint)
        .with_timeout(otel.export_timeout)
        .build()
        .map_err(|e| e.to_string())?;
    let batches = BatchSpanProcessor::builder(exporter)
        .with_batch_config(BatchConfigBuilder::default().with_scheduled_delay(otel.batch_delay).build())
        .build();
    Ok(SdkTracerProvider::builder()
        .with_span_processor(batches)
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(otel.sample_ratio))))
        .with_resource(Resource::builder().with_service_name(otel.service_name.clone()).build())
        .build())
}

struct Headers<'a>(&'a HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// Makes `span` (a request's, not yet entered) continue the caller's trace, and returns the
/// trace id its log lines and errors carry: the exported trace's when traces are on, else the
/// caller's `traceparent` trace id, else a new random one.
///
/// An untrusted caller (a ROUTER_SECRET is set and the request does not carry it) cannot put
/// its request into a trace, nor make it sampled: its trace is linked to, not continued.
pub fn adopt(span: &Span, headers: &HeaderMap, trusted: bool) -> String {
    static PROPAGATOR: OnceLock<TraceContextPropagator> = OnceLock::new();
    if headers.contains_key("traceparent") {
        let parent = PROPAGATOR.get_or_init(TraceContextPropagator::new).extract(&Headers(headers));
        if trusted {
            // fails only when traces are off (no layer): the caller's id is then taken below
            let _ = span.set_parent(parent);
        } else {
            span.add_link(parent.span().span_context().clone());
        }
    }
    let context = span.context();
    let exported = context.span().span_context().clone();
    if exported.is_valid() {
        return exported.trace_id().to_string();
    }
    trusted.then(|| traceparent_id(headers)).flatten().unwrap_or_else(|| format!("{:032x}", rand::random::<u128>()))
}

/// The trace id of a well-formed W3C `traceparent` header.
fn traceparent_id(headers: &HeaderMap) -> Option<String> {
    let value = headers.get("traceparent")?.to_str().ok()?;
    let mut parts = value.split('-');
    let (version, trace) = (parts.next()?, parts.next()?);
    let valid = version.len() == 2
        && trace.len() == 32
        && trace.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        && trace.bytes().any(|b| b != b'0');
    valid.then(|| trace.to_owned())
}

/// A statement as spans and logs may show it: placeholders stay, and any literal is masked
/// (`'...'` strings and numbers become `?`), so no value reaches a trace even if a statement
/// was written with one inlined.
pub fn value_free(sql: &str) -> String {
    let c: Vec<char> = sql.chars().collect();
    let mut out = String::with_capacity(sql.len());
    // whether the previous character continues a word ($1, t1, abc_2): digits there are not literals
    let mut in_word = false;
    let mut i = 0;
    while i < c.len() {
        let word_char = |ch: char| ch.is_alphanumeric() || ch == '_';
        match c[i] {
            // a quoted string: '...' ('' inside), or E'...' (a backslash escapes the next character)
            '\'' => {
                let escapes = i > 0 && (c[i - 1] == 'E' || c[i - 1] == 'e') && (i < 2 || !word_char(c[i - 2]));
                if escapes {
                    out.pop();
                }
                i += 1;
                while i < c.len() {
                    match c[i] {
                        '\\' if escapes => i += 2,
                        '\'' if c.get(i + 1) == Some(&'\'') => i += 2,
                        '\'' => break,
                        _ => i += 1,
                    }
                }
                i += 1;
                out.push('?');
                in_word = false;
            }
            // a dollar-quoted string: $$...$$ or $tag$...$tag$ ($1 is a placeholder)
            '$' if !in_word && c.get(i + 1).is_some_and(|n| *n == '$' || n.is_alphabetic() || *n == '_') => {
                let mut j = i + 1;
                while j < c.len() && word_char(c[j]) {
                    j += 1;
                }
                if c.get(j) == Some(&'$') {
                    let tag: String = c[i..=j].iter().collect();
                    let body: String = c[j + 1..].iter().collect();
                    i = match body.find(&tag) {
                        Some(end) => j + 1 + body[..end].chars().count() + tag.chars().count(),
                        None => c.len(),
                    };
                    out.push('?');
                } else {
                    out.extend(&c[i..j]);
                    i = j;
                }
                in_word = false;
            }
            ch if ch.is_ascii_digit() && !in_word => {
                while i < c.len() && (c[i].is_ascii_digit() || c[i] == '.') {
                    i += 1;
                }
                out.push('?');
                in_word = false;
            }
            ch => {
                in_word = word_char(ch) || ch == '$' || ch == '"';
                out.push(ch);
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn statements_keep_placeholders_and_lose_literals() {
        assert_eq!(
            value_free("SELECT \"c1\".\"id\" FROM courses AS c1 WHERE slug = $1 AND status = 'pub''d' LIMIT 20"),
            "SELECT \"c1\".\"id\" FROM courses AS c1 WHERE slug = $1 AND status = ? LIMIT ?"
        );
        assert_eq!(value_free("x >= 1.5 AND y = $12"), "x >= ? AND y = $12");
        assert_eq!(value_free("SELECT $$secret$$, $t$more 'x'$t$ , E'it\\'s' FROM t"), "SELECT ?, ? , ? FROM t");
        assert_eq!(value_free("SELECT $body$ unterminated"), "SELECT ?");
    }

    #[test]
    fn a_caller_trace_id_is_kept_and_a_bad_one_replaced() {
        let mut headers = HeaderMap::new();
        headers.insert("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse().unwrap());
        assert_eq!(adopt(&Span::none(), &headers, true), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_ne!(adopt(&Span::none(), &headers, false), "4bf92f3577b34da6a3ce929d0e0e4736");
        headers.insert("traceparent", "00-00000000000000000000000000000000-00f067aa0ba902b7-01".parse().unwrap());
        let id = adopt(&Span::none(), &headers, true);
        assert_eq!(id.len(), 32);
        assert_ne!(id, "00000000000000000000000000000000");
    }
}
