//! A GraphQL request's stages, in order. Each takes what the one before produced and either
//! passes it on or answers the request itself (a refusal, as a `Response`):
//!
//! ```text
//! authenticate → resolve_persisted → admit → execute → finish → respond
//! ```
//!
//! `graphql.rs` brings a request here from GET or POST; `run` is the whole sequence.

use axum::{
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use serde_json::json;

use super::{
    limits::{self, Refused},
    media::{self, error_response, GRAPHQL_RESPONSE, JSON},
    AppState,
};
use crate::{
    auth::{Role, Viewer},
    graphql::{ftv1, LearnGraphSchema},
};

/// The HTTP method a request came with.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Get,
    Post,
}

/// The trace a request belongs to: the caller's (W3C `traceparent`) or a new one. Errors a
/// client cannot act on carry it (`extensions.traceId`), and so does every log line of the
/// request, so one can be found from the other.
#[derive(Clone)]
pub struct TraceId(pub String);

/// A stage's outcome: what the next stage takes, or the request's answer (boxed: a refusal is
/// the rare path).
type Stage<T> = Result<T, Box<Response>>;

/// Runs one GraphQL request through its stages.
pub async fn run(
    state: &AppState,
    headers: &HeaderMap,
    request: async_graphql::Request,
    via: Via,
    trace: TraceId,
) -> Response {
    // a gateway asking for a federated trace: timed from here, on the traced schema
    let recorder = traced(state, headers);
    let stages = async {
        let viewer = authenticate(state, headers)?;
        let mut request = request.data(viewer);
        resolve_persisted(state, headers, &mut request, viewer).await?;
        let operation = admit(state, headers, &mut request, via)?;
        let response = execute(state, headers, request, &operation, recorder.as_ref()).await?;
        let finished = finish(state, response, &operation, recorder.as_ref(), &trace);
        Stage::Ok(respond(headers, finished, &operation, viewer))
    };
    stages.await.unwrap_or_else(|refusal| *refusal)
}

/// The federated-trace recorder and the schema that fills it, when a gateway asks for a trace.
fn traced(state: &AppState, headers: &HeaderMap) -> Option<(std::sync::Arc<ftv1::Recorder>, LearnGraphSchema)> {
    let traced = state.traced_schema.as_ref()?;
    headers
        .get(ftv1::HEADER)
        .is_some_and(|v| v == ftv1::HEADER_VALUE)
        .then(|| (ftv1::Recorder::start(), traced.clone()))
}

/// Who is asking: a bad token is refused here, before any work.
fn authenticate(state: &AppState, headers: &HeaderMap) -> Stage<Viewer> {
    let authorization = headers.get(header::AUTHORIZATION).map(|v| v.to_str().unwrap_or("\u{fffd}"));
    state.auth.viewer(authorization).map_err(|e| {
        tracing::info!(reason = %e.0, "refused a bearer token");
        let message = "the bearer token is invalid or expired";
        let out = error_response(headers, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", message);
        with_header(out, header::WWW_AUTHENTICATE, "Bearer")
    })
}

/// A refusal that tells the client what to send instead (`WWW-Authenticate`, `Allow`).
fn with_header(mut out: Response, name: header::HeaderName, value: &'static str) -> Box<Response> {
    out.headers_mut().insert(name, HeaderValue::from_static(value));
    Box::new(out)
}

/// Persisted documents: the query a hash stands for, registration, trusted documents.
async fn resolve_persisted(
    state: &AppState,
    headers: &HeaderMap,
    request: &mut async_graphql::Request,
    viewer: Viewer,
) -> Stage<()> {
    let staff = matches!(viewer, Viewer::User { role: Role::Admin, .. });
    state.persisted.resolve(request, staff).await.map_err(|refusal| {
        Box::new(error_response(headers, media::request_error_status(headers), refusal.code, &refusal.message))
    })
}

/// What `admit` learned of the operation a request runs.
pub struct Operation {
    pub mutation: bool,
    /// The operation's name, when the document names it.
    pub name: Option<String>,
    /// The document's text, kept for null propagation and the trace's document hash
    /// (execution runs the parsed document: the text is not read again).
    pub text: String,
    /// The operation name the request asked for.
    pub requested: Option<String>,
}

/// Limits, parsing and what this caller may select, before validation and any store work;
/// and the GET rule: GET is for reads (it may be cached, prefetched, retried).
fn admit(state: &AppState, headers: &HeaderMap, request: &mut async_graphql::Request, via: Via) -> Stage<Operation> {
    let surface =
        limits::Surface { introspection: state.config.introspection, subgraph: router_allowed(state, headers) };
    match limits::admit(request, &state.config.limits, surface, Some(&state.parsed)) {
        Ok(()) => {}
        Err(Refused::Parse(message)) => {
            let status = media::request_error_status(headers);
            return Err(Box::new(error_response(headers, status, "GRAPHQL_PARSE_FAILED", &message)));
        }
        Err(Refused::Over(over)) => {
            let status = match over.code {
                "FORBIDDEN" => StatusCode::FORBIDDEN,
                // a validation error: as any other (GraphQL over HTTP)
                "GRAPHQL_VALIDATION_FAILED" if media::negotiate(headers) == JSON => StatusCode::OK,
                _ => StatusCode::BAD_REQUEST,
            };
            return Err(Box::new(error_response(headers, status, over.code, &over.message)));
        }
    }
    let (mutation, name) = operation_of(request);
    if mutation && via == Via::Get {
        // GraphQL over HTTP says 405
        let message = "a mutation must be sent with POST";
        let out = error_response(headers, StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED", message);
        return Err(with_header(out, header::ALLOW, "POST"));
    }
    let (text, requested) = (std::mem::take(&mut request.query), request.operation_name.clone());
    Ok(Operation { mutation, name, text, requested })
}

/// An executed request, timed from the start of execution.
struct Executed {
    response: async_graphql::Response,
    started: std::time::Instant,
}

/// Runs the operation on the schema, in the operation's span. A mutation runs to its end even
/// when the client goes away: dropping it between two statements of a transaction would hand
/// the pooled connection back mid-transaction (its idempotency key lets the client ask again
/// for the answer it missed).
async fn execute(
    state: &AppState,
    headers: &HeaderMap,
    mut request: async_graphql::Request,
    operation: &Operation,
    recorder: Option<&(std::sync::Arc<ftv1::Recorder>, LearnGraphSchema)>,
) -> Stage<Executed> {
    let started = std::time::Instant::now();
    // an `_entities` call loads each type's representations together
    if let Some(batches) = crate::graphql::entity_batches(&mut request, &operation.text) {
        request = request.data(batches);
    }
    let schema = match recorder {
        Some((recorder, traced)) => {
            request = request.data(recorder.clone());
            traced.clone()
        }
        None => state.schema.clone(),
    };
    let span = operation_span(operation);
    let response = if operation.mutation {
        tokio::spawn(tracing::Instrument::instrument(async move { schema.execute(request).await }, span))
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "a mutation's task failed");
                error_response(
                    headers,
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "INTERNAL_SERVER_ERROR",
                    "the request failed",
                )
            })?
    } else {
        tracing::Instrument::instrument(schema.execute(request), span).await
    };
    Ok(Executed { response, started })
}

fn operation_span(operation: &Operation) -> tracing::Span {
    let kind = if operation.mutation { "mutation" } else { "query" };
    let name = operation.name.as_deref();
    let span = tracing::info_span!(
        "operation",
        otel.name = %format_args!("{kind} {}", name.unwrap_or("anonymous")),
        graphql.operation.type = kind,
        graphql.operation.name = name.unwrap_or(""),
        // the document's hash, not its text (inline literals may carry learner data)
        graphql.document.hash = tracing::field::Empty,
    );
    if crate::telemetry::exporting() {
        let hash = format!("{:x}", <sha2::Sha256 as sha2::Digest>::digest(operation.text.as_bytes()));
        span.record("graphql.document.hash", hash.as_str());
    }
    span
}

/// A response ready to be sent.
struct Finished {
    response: async_graphql::Response,
    /// The request never reached execution (validation, variables, operation name).
    request_error: bool,
}

/// Every error gets a code (and the trace id when the fault is ours); failed fields are nulled
/// up to a nullable parent; the federated trace is attached; the request is counted.
fn finish(
    state: &AppState,
    executed: Executed,
    operation: &Operation,
    recorder: Option<&(std::sync::Arc<ftv1::Recorder>, LearnGraphSchema)>,
    trace: &TraceId,
) -> Finished {
    let Executed { mut response, started } = executed;
    // Errors without a path never reached execution.
    let request_error = response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty());
    for error in &mut response.errors {
        add_code(error, request_error, trace);
    }
    if response.errors.iter().any(|e| !e.path.is_empty()) {
        // async-graphql leaves failed fields out; GraphQL nulls them, up to a nullable parent
        if let Ok(document) = async_graphql::parser::parse_query(&operation.text) {
            super::nulls::propagate(&mut response.data, &response.errors, &document, operation.requested.as_deref());
        }
    }
    if let (Some((recorder, _)), false) = (recorder, request_error) {
        let trace = recorder.finish(&response.errors, state.config.ftv1.errors);
        response.extensions.insert("ftv1".to_owned(), async_graphql::Value::String(trace));
    }
    // a name counts once the operation was valid (a client cannot fill the series with junk names)
    let named = if request_error { None } else { operation.name.as_deref() };
    crate::metrics::request(operation.mutation, named, response.errors.is_empty(), started.elapsed());
    for error in &response.errors {
        if let Some(async_graphql::Value::String(code)) = error.extensions.as_ref().and_then(|e| e.get("code")) {
            crate::metrics::error(code);
        }
    }
    Finished { response, request_error }
}

/// Gives an error without a code one: async-graphql's own errors carry none.
fn add_code(error: &mut async_graphql::ServerError, request_error: bool, trace: &TraceId) {
    let extensions = error.extensions.get_or_insert_with(Default::default);
    if extensions.get("code").is_none() {
        // errors for argument values the client sent ("Variable x is not defined": a required
        // variable left out is found while resolving)
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

/// The body in the negotiated media type, its status, and `Cache-Control`.
fn respond(headers: &HeaderMap, finished: Finished, operation: &Operation, viewer: Viewer) -> Response {
    let Finished { response, request_error } = finished;
    let media = media::negotiate(headers);
    let body = if request_error {
        // a request error has no `data` entry at all
        serde_json::to_vec(&json!({ "errors": response.errors }))
    } else {
        serde_json::to_vec(&response)
    };
    // With the GraphQL response media type a request error is a 400; with
    // application/json every well-formed request gets 200.
    let status = if request_error && media == GRAPHQL_RESPONSE { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    let Ok(body) = body else {
        return error_response(headers, StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_SERVER_ERROR", "internal error");
    };
    let mut out = (status, body).into_response();
    out.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(media::with_charset(media)));
    let signed_in = matches!(viewer, Viewer::User { .. });
    let public = !(operation.mutation || signed_in || !response.errors.is_empty());
    out.headers_mut().insert(header::CACHE_CONTROL, cache_control(public, response.cache_control));
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
pub fn router_allowed(state: &AppState, headers: &HeaderMap) -> bool {
    let Some(secret) = &state.config.router_secret else { return true };
    let Some(given) = headers.get("router-authorization") else { return false };
    let (given, secret) = (given.as_bytes(), secret.0.as_bytes());
    given.len() == secret.len() && given.iter().zip(secret).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}
