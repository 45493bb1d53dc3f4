//! The GraphQL endpoint's transport: GET and POST on `/graphql` (GraphiQL for browsers), the
//! request limits that hold before a request is read (capacity, deadline, body size, JSON
//! only), then `pipeline::run` for the request's stages.

use async_graphql_axum::GraphQLRequest;
use axum::{
    extract::State,
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::Response,
};
use serde_json::json;

use super::{
    media::{error_response, wants_html, JSON},
    pipeline::{self, router_allowed, TraceId, Via},
    AppState,
};

/// Runs a GraphQL request's handling within the request limits: shed with 503 and
/// `Retry-After` when MAX_CONCURRENT_REQUESTS are in progress, 503 past REQUEST_TIMEOUT.
async fn bounded<F: std::future::Future<Output = Response>>(
    state: &AppState,
    headers: &HeaderMap,
    method: &'static str,
    handling: impl FnOnce(TraceId) -> F,
) -> Response {
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
            crate::metrics::request_shed();
            let mut out = unavailable("the service is at capacity: retry in a second");
            out.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            out
        }
        Ok(_permit) => {
            let handled = handling(trace_id.clone()).instrument(span.clone());
            match tokio::time::timeout(state.config.transport.request_timeout, handled).await {
                Ok(response) => response,
                Err(_) => {
                    crate::metrics::request_timed_out();
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
            bounded(&state, &headers, "GET", |trace| pipeline::run(&state, &headers, request, Via::Get, trace)).await
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
        Ok(request) => pipeline::run(state, headers, request, Via::Post, trace).await,
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
