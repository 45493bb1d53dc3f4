//! OpenTelemetry traces: the service (its own process) exports OTLP/HTTP protobuf to a
//! receiver run here, and the spans of a nested query form the expected tree in the caller's
//! trace, with nothing a client sent in them.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use opentelemetry_proto::tonic::{
    collector::trace::v1::ExportTraceServiceRequest,
    common::v1::{any_value::Value as Any, KeyValue},
    trace::v1::Span,
};
use prost::Message as _;
use serde_json::json;

use crate::support::{send_json, token, ServiceProcess, TestDb, TEST_JWT_SECRET};

/// What an OTLP receiver got: the decoded spans and the raw request bodies.
#[derive(Default)]
struct Received {
    spans: Vec<Span>,
    bodies: Vec<Vec<u8>>,
}

/// An OTLP/HTTP receiver on a free port; returns its base URL.
async fn receiver(received: Arc<Mutex<Received>>) -> String {
    use axum::{body::Bytes, http::StatusCode, routing::post, Router};
    let app = Router::new().route(
        "/v1/traces",
        post(move |body: Bytes| {
            let received = received.clone();
            async move {
                let Ok(request) = ExportTraceServiceRequest::decode(body.as_ref()) else {
                    return (StatusCode::BAD_REQUEST, Vec::new());
                };
                let mut received = received.lock().expect("lock");
                received.bodies.push(body.to_vec());
                for resource in request.resource_spans {
                    for scope in resource.scope_spans {
                        received.spans.extend(scope.spans);
                    }
                }
                // an empty ExportTraceServiceResponse
                (StatusCode::OK, Vec::new())
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

fn attr(span: &Span, key: &str) -> Option<String> {
    span.attributes.iter().find(|kv: &&KeyValue| kv.key == key).and_then(|kv| {
        Some(match kv.value.as_ref()?.value.as_ref()? {
            Any::StringValue(s) => s.clone(),
            Any::IntValue(i) => i.to_string(),
            Any::BoolValue(b) => b.to_string(),
            Any::DoubleValue(d) => d.to_string(),
            _ => return None,
        })
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `span` has `ancestor` among its parents.
fn descends(spans: &HashMap<Vec<u8>, &Span>, span: &Span, ancestor: &Span) -> bool {
    let mut parent = span.parent_span_id.clone();
    while let Some(p) = spans.get(&parent) {
        if p.span_id == ancestor.span_id {
            return true;
        }
        parent = p.parent_span_id.clone();
    }
    false
}

/// A trace id an untrusted caller sends.
const UNTRUSTED: &str = "aaaabbbbccccddddeeeeffff00001111";

/// The gateway's secret: only requests carrying it continue the caller's trace.
const ROUTER: &str = "the-gateway-secret";

const TREE: &str = "query TraceTree($slug: String) { \
    courses(first: 5) { nodes { slug instructor { displayName } category { name } } } \
    course(slug: $slug) { title lessons { title } } }";

#[tokio::test]
async fn a_nested_query_exports_its_span_tree_in_the_callers_trace() {
    let db = TestDb::seeded_ci().await;
    let slug =
        crate::support::first_row(&db, "SELECT slug FROM courses WHERE is_published ORDER BY slug LIMIT 1").await;
    let received = Arc::new(Mutex::new(Received::default()));
    let endpoint = receiver(received.clone()).await;
    let service = ServiceProcess::start(
        &db,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
            ("AUTH_JWT_HS256_SECRET", TEST_JWT_SECRET),
            ("ROUTER_SECRET", ROUTER),
        ],
    )
    .await;
    let client = reqwest::Client::new();

    // the caller's trace: its id and the span our request span must hang from
    let (trace, caller) = ("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331");
    let answer = send_json(
        client
            .post(&service.url)
            .header("traceparent", format!("00-{trace}-{caller}-01"))
            .header("router-authorization", ROUTER)
            .json(&json!({ "query": TREE, "variables": { "slug": slug } })),
    )
    .await;
    assert!(answer.get("errors").is_none(), "{answer}");
    assert_eq!(answer["data"]["courses"]["nodes"].as_array().map(Vec::len), Some(5), "{answer}");

    // what a client sends must not reach a span: variables, inline literals, the token
    let bearer = token("7b0e4a3c-58b5-4d5e-9f8a-2f2f6f9c0d11", "student", 300);
    let secret = "needle-in-a-variable-5d1c";
    // (from a caller without the router's secret: its trace is linked, not continued)
    let untrusted = client.post(&service.url).header("traceparent", format!("00-{UNTRUSTED}-{caller}-01"));
    let leaked = send_json(untrusted.bearer_auth(&bearer).json(&json!({
        "query": "query Leak($s: String) { a: courses(filter: { search: $s }) { totalCount } \
                  b: courses(filter: { search: \"needle-inline-77ab\" }) { totalCount } }",
        "variables": { "s": secret }
    })))
    .await;
    assert!(leaked.get("errors").is_none(), "{leaked}");

    // wait for the export (batches every 100 ms)
    let wanted = |r: &Received| {
        r.spans
            .iter()
            .filter(|s| hex(&s.trace_id) == trace)
            .any(|s| attr(s, "db.system.name").as_deref() == Some("mongodb"))
            && r.spans.iter().any(|s| s.name == "query Leak")
    };
    for _ in 0..100 {
        if wanted(&received.lock().expect("lock")) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // let the Leak request's last spans arrive too
    tokio::time::sleep(Duration::from_millis(500)).await;
    let received = received.lock().expect("lock");
    assert!(wanted(&received), "spans never arrived: {:?}", received.spans.iter().map(|s| &s.name).collect::<Vec<_>>());

    let ours: Vec<&Span> = received.spans.iter().filter(|s| hex(&s.trace_id) == trace).collect();
    let by_id: HashMap<Vec<u8>, &Span> = ours.iter().map(|s| (s.span_id.clone(), *s)).collect();
    let names: Vec<&str> = ours.iter().map(|s| s.name.as_str()).collect();

    // the request: a server span, child of the caller's span
    let request =
        ours.iter().find(|s| s.name == "POST /graphql").unwrap_or_else(|| panic!("no request span: {names:?}"));
    assert_eq!(hex(&request.parent_span_id), caller);
    assert_eq!(request.kind, 2, "SERVER");
    assert_eq!(attr(request, "http.response.status_code").as_deref(), Some("200"));

    // the operation: name, type and the document's hash (not its text)
    let operation = ours.iter().find(|s| s.name == "query TraceTree").unwrap_or_else(|| panic!("{names:?}"));
    assert_eq!(operation.parent_span_id, request.span_id);
    assert_eq!(attr(operation, "graphql.operation.type").as_deref(), Some("query"));
    assert_eq!(attr(operation, "graphql.operation.name").as_deref(), Some("TraceTree"));
    let hash = format!("{:x}", <sha2::Sha256 as sha2::Digest>::digest(TREE.as_bytes()));
    assert_eq!(attr(operation, "graphql.document.hash"), Some(hash));

    // loader batches under the operation, each with its store and key count, and a database
    // call under each with a statement that has placeholders and no values
    for (loader, system) in [("load UserById", "postgresql"), ("load CategoryById", "postgresql")] {
        let batch = ours.iter().find(|s| s.name == loader).unwrap_or_else(|| panic!("no {loader}: {names:?}"));
        assert!(descends(&by_id, batch, operation), "{loader} is not under the operation");
        assert_eq!(attr(batch, "db.system.name").as_deref(), Some(system));
        let keys: u64 = attr(batch, "loader.keys").and_then(|k| k.parse().ok()).unwrap_or(0);
        assert!((1..=5).contains(&keys), "{loader}: {keys} keys");
        let call = ours
            .iter()
            .find(|s| s.parent_span_id == batch.span_id && s.kind == 3)
            .unwrap_or_else(|| panic!("no database call under {loader}"));
        assert_eq!(attr(call, "db.system.name").as_deref(), Some("postgresql"));
        let statement = attr(call, "db.query.text").unwrap_or_default();
        assert!(statement.starts_with("SELECT") && statement.contains("$1"), "{statement}");
    }
    // the course page: a MongoDB read-model batch with its find
    let mongo = ours
        .iter()
        .find(|s| s.name.starts_with("load CourseDoc") && attr(s, "db.system.name").as_deref() == Some("mongodb"))
        .unwrap_or_else(|| panic!("no Mongo batch: {names:?}"));
    assert!(descends(&by_id, mongo, operation));
    let find = ours
        .iter()
        .find(|s| s.kind == 3 && descends(&by_id, s, mongo) && attr(s, "db.system.name").as_deref() == Some("mongodb"))
        .unwrap_or_else(|| panic!("no Mongo call under the batch"));
    assert!(attr(find, "db.query.text").is_some_and(|q| q.starts_with("find ")), "{find:?}");
    // the list's own query, under the operation
    let discover = ours.iter().find(|s| s.name == "discover_courses").unwrap_or_else(|| panic!("{names:?}"));
    assert!(descends(&by_id, discover, operation));
    // nothing of this trace hangs outside the request
    for span in &ours {
        assert!(
            span.span_id == request.span_id || descends(&by_id, span, request),
            "{} is outside the request's tree",
            span.name
        );
    }

    // the other request started a trace of its own, and nothing it carried was exported
    let leak = received.spans.iter().find(|s| s.name == "query Leak").expect("the Leak operation");
    assert_ne!(hex(&leak.trace_id), trace);
    assert_ne!(hex(&leak.trace_id), UNTRUSTED, "an untrusted caller's trace was continued");
    let leak_request = received.spans.iter().find(|s| s.span_id == leak.parent_span_id).expect("the Leak request span");
    assert!(leak_request.parent_span_id.is_empty(), "the untrusted request starts a trace");
    assert!(leak_request.links.iter().any(|l| hex(&l.trace_id) == UNTRUSTED), "linked to the caller's trace");
    // spans only: log events (which may carry a store's error text) are never exported
    assert!(received.spans.iter().all(|s| s.events.is_empty()), "a log event was exported");
    for body in &received.bodies {
        let text = String::from_utf8_lossy(body);
        for needle in [secret, "needle-inline-77ab", bearer.as_str(), &slug] {
            assert!(!text.contains(needle), "{needle} was exported");
        }
    }
    drop(service);
}

#[tokio::test]
async fn slow_calls_are_json_log_lines_with_the_trace_id_and_no_values() {
    let db = TestDb::seeded_ci().await;
    let log = std::env::temp_dir().join(format!("learngraph-slow-{}.log", std::process::id()));
    // 0: every call counts as slow, so each one is logged
    let service = ServiceProcess::start_logging(
        &db,
        &[("LOG_FORMAT", "json"), ("SLOW_QUERY_THRESHOLD", "0"), ("RUST_LOG", "warn")],
        Some(&log),
    )
    .await;
    let slug =
        crate::support::first_row(&db, "SELECT slug FROM courses WHERE is_published ORDER BY slug LIMIT 1").await;
    let trace = "5bd66ef5095369c7b0d1f8f4bd33716a";
    let secret = "needle-in-a-log-91fe";
    let answer = send_json(
        reqwest::Client::new()
            .post(&service.url)
            .header("traceparent", format!("00-{trace}-1111111111111111-01"))
            .json(&json!({
                "query": "query($s: String, $slug: String) { courses(filter: { search: $s }) { totalCount } \
                          course(slug: $slug) { title } }",
                "variables": { "s": secret, "slug": slug }
            })),
    )
    .await;
    assert!(answer.get("errors").is_none(), "{answer}");
    service.stop().await;
    let text = std::fs::read_to_string(&log).expect("log");
    let _ = std::fs::remove_file(&log);
    let lines: Vec<serde_json::Value> = text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    assert!(!lines.is_empty() && lines.len() == text.lines().count(), "every line is JSON:\n{text}");
    let of_request: Vec<&serde_json::Value> =
        lines.iter().filter(|l| l["span"]["trace_id"] == trace || l.to_string().contains(trace)).collect();
    let statement = of_request
        .iter()
        .find(|l| l["fields"]["message"] == "slow statement")
        .unwrap_or_else(|| panic!("no slow statement of the request:\n{text}"));
    let sql = statement["fields"]["statement"].as_str().unwrap_or_default();
    assert!(sql.contains("$1"), "{sql}");
    // a loader batch's statement (run in a task of its own) carries the id too
    assert!(
        of_request.iter().any(|l| l["fields"]["statement"].as_str().is_some_and(|s| s.contains("slug = ANY($1)"))),
        "the batch's statement is not linked to the request:\n{text}"
    );
    assert!(
        of_request
            .iter()
            .any(|l| l["fields"]["message"] == "slow MongoDB command" && l["fields"]["command"] == "find courses"),
        "no slow Mongo call with its command:\n{text}"
    );
    for needle in [secret, slug.as_str()] {
        assert!(!text.contains(needle), "{needle} is in the log:\n{text}");
    }
}
