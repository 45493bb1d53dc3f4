//! The GraphQL endpoint: GET and POST on `/graphql`, GraphiQL for browsers, and the response
//! media type negotiated from `Accept` (GraphQL over HTTP).

use async_graphql_axum::GraphQLRequest;
use axum::{
    extract::State,
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use serde_json::json;

use crate::{app::AppState, graphql::ftv1};

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";
const JSON: &str = "application/json";

/// Runs a GraphQL request's handling within the request limits: shed with 503 and
/// `Retry-After` when MAX_CONCURRENT_REQUESTS are in progress, 503 past REQUEST_TIMEOUT.
async fn bounded<F: std::future::Future<Output = Response>>(
    state: &AppState,
    headers: &HeaderMap,
    method: &'static str,
    handling: impl FnOnce(TraceId) -> F,
) -> Response {
    use std::sync::atomic::Ordering;
    use tracing::Instrument as _;
    // the request's span: an OpenTelemetry server span continuing the caller's trace
    let span = tracing::info_span!(
        "request",
        otel.name = %format_args!("{method} /graphql"),
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        http.request.method = method,
        http.route = "/graphql",
        http.response.status_code = tracing::field::Empty,
        trace_id = tracing::field::Empty,
    );
    let trace_id = TraceId(crate::telemetry::adopt(&span, headers, router_allowed(state, headers)));
    span.record("trace_id", trace_id.0.as_str());
    let unavailable = |message: &str| {
        let mut out = error_response(headers, StatusCode::SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE", message);
        // as for every SERVICE_UNAVAILABLE: the id that finds the request's log lines
        let body = json!({ "errors": [{ "message": message,
            "extensions": { "code": "SERVICE_UNAVAILABLE", "traceId": trace_id.0.as_str() } }] });
        *out.body_mut() = axum::body::Body::from(body.to_string());
        out
    };
    let response = match state.in_flight.try_acquire() {
        Err(_) => {
            super::metrics::REQUESTS_SHED.fetch_add(1, Ordering::Relaxed);
            let mut out = unavailable("the service is at capacity: retry in a second");
            out.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            out
        }
        Ok(_permit) => {
            let handled = handling(trace_id.clone()).instrument(span.clone());
            match tokio::time::timeout(state.config.transport.request_timeout, handled).await {
                Ok(response) => response,
                Err(_) => {
                    super::metrics::REQUESTS_TIMED_OUT.fetch_add(1, Ordering::Relaxed);
                    unavailable(
                        "the request did not finish in time (a mutation still completes: retry with its idempotency key)",
                    )
                }
            }
        }
    };
    span.record("http.response.status_code", response.status().as_u16());
    if response.status().is_server_error() {
        span.record("otel.status_code", "ERROR");
    }
    response
}

/// GraphiQL when a browser opens the endpoint; otherwise a query sent as URL parameters.
pub async fn get(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    request: Result<GraphQLRequest, async_graphql_axum::rejection::GraphQLRejection>,
) -> Response {
    let no_query = uri.query().is_none_or(str::is_empty);
    if no_query && wants_html(&headers) {
        if state.config.graphiql {
            return super::graphiql::page();
        }
        return error_response(&headers, StatusCode::NOT_FOUND, "NOT_FOUND", "GraphiQL is turned off (GRAPHIQL=false)");
    }
    match request {
        Ok(request) => {
            let request = request.into_inner();
            bounded(&state, &headers, "GET", |trace| execute(&state, &headers, request, Via::Get, trace)).await
        }
        Err(_) => error_response(
            &headers,
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            "the request is not a GraphQL request (`query`, and optionally `variables`, `operationName`, `extensions`)",
        ),
    }
}

/// A POST: a JSON body of one GraphQL request, at most MAX_BODY_BYTES.
pub async fn post(State(state): State<AppState>, headers: HeaderMap, body: axum::body::Body) -> Response {
    bounded(&state, &headers, "POST", |trace| post_body(&state, &headers, body, trace)).await
}

async fn post_body(state: &AppState, headers: &HeaderMap, body: axum::body::Body, trace: TraceId) -> Response {
    // JSON only: a form or text/plain POST is what a page on another site can send without a
    // CORS preflight (CSRF); it runs nothing
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case(JSON) {
        return error_response(
            headers,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            "send the request as application/json",
        );
    }
    let limit = state.config.limits.body_bytes;
    let Some(bytes) = read_body(headers, body, limit).await else {
        return error_response(
            headers,
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
            &format!("the request body is larger than {limit} bytes"),
        );
    };
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return error_response(
            headers,
            StatusCode::BAD_REQUEST,
            "BATCH_NOT_SUPPORTED",
            "batched requests are not supported: send one request per POST",
        );
    }
    match serde_json::from_slice::<async_graphql::Request>(&bytes) {
        Ok(request) => execute(state, headers, request, Via::Post, trace).await,
        Err(_) => error_response(
            headers,
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            "the body is not a GraphQL request: a JSON object with `query` (a string), and optionally `variables`, `operationName` and `extensions`",
        ),
    }
}

/// The body, or None when it is (or says it is) larger than `limit` bytes. A body that breaks
/// off is read as far as it came (it then fails to parse).
async fn read_body(headers: &HeaderMap, body: axum::body::Body, limit: usize) -> Option<Vec<u8>> {
    use futures::StreamExt as _;
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return None;
    }
    let mut out = Vec::with_capacity(declared.map_or(1024, |n| n as usize));
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let Ok(chunk) = chunk else { break };
        if out.len() + chunk.len() > limit {
            return None;
        }
        out.extend_from_slice(&chunk);
    }
    Some(out)
}

/// The HTTP method a request came with.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Via {
    Get,
    Post,
}

/// The trace a request belongs to: the caller's (W3C `traceparent`) or a new one. Errors a
/// client cannot act on carry it (`extensions.traceId`), and so does every log line of the
/// request, so one can be found from the other.
#[derive(Clone)]
pub(crate) struct TraceId(pub String);

async fn execute(
    state: &AppState,
    headers: &HeaderMap,
    mut request: async_graphql::Request,
    via: Via,
    trace: TraceId,
) -> Response {
    // a gateway asking for a federated trace: timed from here, on the traced schema
    let recorder = match &state.traced_schema {
        Some(traced) if headers.get(ftv1::HEADER).is_some_and(|v| v == ftv1::HEADER_VALUE) => {
            Some((ftv1::Recorder::start(), traced))
        }
        _ => None,
    };
    // Who is asking: a bad token is refused here, before any work.
    let authorization = headers.get(header::AUTHORIZATION).map(|v| v.to_str().unwrap_or("\u{fffd}"));
    let viewer = match state.auth.viewer(authorization) {
        Ok(viewer) => viewer,
        Err(e) => {
            tracing::info!(reason = %e.0, "refused a bearer token");
            let mut out = error_response(
                headers,
                StatusCode::UNAUTHORIZED,
                "UNAUTHENTICATED",
                "the bearer token is invalid or expired",
            );
            out.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return out;
        }
    };
    request = request.data(viewer);
    let signed_in = matches!(viewer, crate::auth::Viewer::User { .. });
    // persisted documents: the query a hash stands for, registration, trusted documents
    let staff = matches!(viewer, crate::auth::Viewer::User { role: crate::auth::Role::Admin, .. });
    if let Err(refusal) = state.persisted.resolve(&mut request, staff).await {
        let status = if negotiate(headers) == GRAPHQL_RESPONSE { StatusCode::BAD_REQUEST } else { StatusCode::OK };
        return error_response(headers, status, refusal.code, &refusal.message);
    }
    // Limits, parsing and what this caller may select, before validation and any store work
    let surface =
        super::limits::Surface { introspection: state.config.introspection, subgraph: router_allowed(state, headers) };
    match super::limits::admit(&mut request, &state.config.limits, surface) {
        Ok(()) => {}
        Err(super::limits::Refused::Parse(message)) => {
            let status = if negotiate(headers) == GRAPHQL_RESPONSE { StatusCode::BAD_REQUEST } else { StatusCode::OK };
            return error_response(headers, status, "GRAPHQL_PARSE_FAILED", &message);
        }
        Err(super::limits::Refused::Over(over)) => {
            let status = match over.code {
                "FORBIDDEN" => StatusCode::FORBIDDEN,
                // a validation error: as any other (GraphQL over HTTP)
                "GRAPHQL_VALIDATION_FAILED" if negotiate(headers) == JSON => StatusCode::OK,
                _ => StatusCode::BAD_REQUEST,
            };
            return error_response(headers, status, over.code, &over.message);
        }
    }
    let (mutation, operation) = operation_of(&mut request);
    if mutation && via == Via::Get {
        // GET is for reads (it may be cached, prefetched, retried): GraphQL over HTTP says 405
        let mut out = error_response(
            headers,
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            "a mutation must be sent with POST",
        );
        out.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST"));
        return out;
    }
    let started = std::time::Instant::now();
    // kept for null propagation, should the answer carry field errors (execution runs the
    // parsed document: the text is not read again)
    let (query_text, operation_name) = (std::mem::take(&mut request.query), request.operation_name.clone());
    let schema = match &recorder {
        Some((recorder, traced)) => {
            request = request.data(recorder.clone());
            *traced
        }
        None => &state.schema,
    };
    let kind = if mutation { "mutation" } else { "query" };
    let operation_span = tracing::info_span!(
        "operation",
        otel.name = %format_args!("{kind} {}", operation.as_deref().unwrap_or("anonymous")),
        graphql.operation.type = kind,
        graphql.operation.name = operation.as_deref().unwrap_or(""),
        // the document's hash, not its text (inline literals may carry learner data)
        graphql.document.hash = tracing::field::Empty,
    );
    if crate::telemetry::exporting() {
        let hash = format!("{:x}", <sha2::Sha256 as sha2::Digest>::digest(query_text.as_bytes()));
        operation_span.record("graphql.document.hash", hash.as_str());
    }
    let mut response = if mutation {
        // A mutation runs to its end even when the client goes away: dropping it between two
        // statements of a transaction would hand the pooled connection back mid-transaction.
        // (Its idempotency key lets the client ask again for the answer it missed.)
        let schema = schema.clone();
        match tokio::spawn(tracing::Instrument::instrument(
            async move { schema.execute(request).await },
            operation_span,
        ))
        .await
        {
            Ok(response) => response,
            Err(e) => {
                tracing::error!(error = %e, "a mutation's task failed");
                return error_response(
                    headers,
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "INTERNAL_SERVER_ERROR",
                    "the request failed",
                );
            }
        }
    } else {
        tracing::Instrument::instrument(schema.execute(request), operation_span).await
    };
    // Errors without a path never reached execution (validation, variables, operation name).
    let request_error = response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty());
    for error in &mut response.errors {
        let extensions = error.extensions.get_or_insert_with(Default::default);
        if extensions.get("code").is_none() {
            // async-graphql's own errors for argument values the client sent carry no code
            // ("Variable x is not defined": a required variable left out is found while resolving)
            let bad_argument = ["Failed to parse", "Invalid value for argument", "Expected input type", "Variable "]
                .iter()
                .any(|p| error.message.starts_with(p));
            let code = match (request_error, bad_argument) {
                (true, _) => "GRAPHQL_VALIDATION_FAILED",
                (false, true) => "BAD_USER_INPUT",
                (false, false) => "INTERNAL_SERVER_ERROR",
            };
            extensions.set("code", code);
        }
        let server_side = matches!(extensions.get("code"),
            Some(async_graphql::Value::String(c)) if c == "INTERNAL_SERVER_ERROR" || c == "SERVICE_UNAVAILABLE");
        if server_side {
            extensions.set("traceId", trace.0.as_str());
        }
    }
    if response.errors.iter().any(|e| !e.path.is_empty()) {
        // async-graphql leaves failed fields out; GraphQL nulls them, up to a nullable parent
        if let Ok(document) = async_graphql::parser::parse_query(&query_text) {
            super::nulls::propagate(&mut response.data, &response.errors, &document, operation_name.as_deref());
        }
    }
    if let (Some((recorder, _)), false) = (&recorder, request_error) {
        let trace = recorder.finish(&response.errors, state.config.ftv1.errors);
        response.extensions.insert("ftv1".to_owned(), async_graphql::Value::String(trace));
    }
    // a name counts once the operation was valid (a client cannot fill the series with junk names)
    let named = if request_error { None } else { operation.as_deref() };
    super::metrics::request(mutation, named, response.errors.is_empty(), started.elapsed());
    for error in &response.errors {
        if let Some(async_graphql::Value::String(code)) = error.extensions.as_ref().and_then(|e| e.get("code")) {
            super::metrics::error(code);
        }
    }
    let media = negotiate(headers);
    let body = if request_error {
        // a request error has no `data` entry at all
        serde_json::to_vec(&json!({ "errors": response.errors }))
    } else {
        serde_json::to_vec(&response)
    };
    // With the GraphQL response media type a request error is a 400; with
    // application/json every well-formed request gets 200.
    let status = if request_error && media == GRAPHQL_RESPONSE { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    let mut out = match body {
        Ok(body) => (status, body).into_response(),
        Err(_) => {
            return error_response(
                headers,
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL_SERVER_ERROR",
                "internal error",
            )
        }
    };
    out.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(media_with_charset(media)));
    let public = !(mutation || signed_in || !response.errors.is_empty());
    let cache = cache_control(public, response.cache_control);
    out.headers_mut().insert(header::CACHE_CONTROL, cache);
    if public {
        // what a shared cache stores for anonymous callers is not for signed-in ones
        out.headers_mut().insert(header::VARY, HeaderValue::from_static("Authorization"));
    }
    out
}

/// The response's `Cache-Control`: the strictest hint of the types and fields it selected
/// (every object type carries one: catalog types public with a max-age, learner-specific ones
/// private), and `private, no-store` for anything a signed-in caller asked, any mutation and
/// any answer with errors. A selection whose types give no max-age is not stored either.
fn cache_control(public: bool, hints: async_graphql::CacheControl) -> HeaderValue {
    if public && hints.public && hints.max_age > 0 {
        HeaderValue::from_str(&format!("public, max-age={}", hints.max_age))
            .unwrap_or(HeaderValue::from_static("private, no-store"))
    } else {
        HeaderValue::from_static("private, no-store")
    }
}

fn wants_html(headers: &HeaderMap) -> bool {
    headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("text/html"))
}

/// `application/graphql-response+json` unless the client only accepts `application/json`.
fn negotiate(headers: &HeaderMap) -> &'static str {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return JSON;
    };
    let types: Vec<&str> = accept.split(',').map(|t| t.split(';').next().unwrap_or("").trim()).collect();
    if types.contains(&GRAPHQL_RESPONSE) {
        GRAPHQL_RESPONSE
    } else {
        JSON
    }
}

fn media_with_charset(media: &str) -> &'static str {
    if media == GRAPHQL_RESPONSE {
        "application/graphql-response+json; charset=utf-8"
    } else {
        "application/json; charset=utf-8"
    }
}

/// A GraphQL-shaped error for requests that never reached execution.
fn error_response(headers: &HeaderMap, status: StatusCode, code: &str, message: &str) -> Response {
    super::metrics::error(code);
    let body = json!({ "errors": [{ "message": message, "extensions": { "code": code } }] });
    let mut out = (status, body.to_string()).into_response();
    out.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(media_with_charset(negotiate(headers))));
    out.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    out
}

/// Whether the operation a request runs is a mutation, and its name (false and None when it
/// names no operation of the document: execution reports that).
fn operation_of(request: &mut async_graphql::Request) -> (bool, Option<String>) {
    use async_graphql::parser::types::{DocumentOperations, OperationType};
    let name = request.operation_name.clone();
    let Ok(document) = request.parsed_query() else { return (false, None) };
    let operation = match (&document.operations, name) {
        (DocumentOperations::Single(op), _) => Some((op, None)),
        (DocumentOperations::Multiple(ops), Some(name)) => {
            ops.get_key_value(name.as_str()).map(|(n, op)| (op, Some(n)))
        }
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops.iter().next().map(|(n, op)| (op, Some(n))),
        _ => None,
    };
    operation.map_or((false, None), |(op, name)| (op.node.ty == OperationType::Mutation, name.map(|n| n.to_string())))
}

/// Whether the caller may use the subgraph fields: always when no ROUTER_SECRET is set;
/// otherwise when `Router-Authorization` carries it (compared in constant time).
fn router_allowed(state: &AppState, headers: &HeaderMap) -> bool {
    let Some(secret) = &state.config.router_secret else { return true };
    let Some(given) = headers.get("router-authorization") else { return false };
    let (given, secret) = (given.as_bytes(), secret.0.as_bytes());
    given.len() == secret.len() && given.iter().zip(secret).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}
