//! GraphQL over HTTP's media types: the response type negotiated from `Accept`, and the
//! GraphQL-shaped error a request gets when it is refused before execution.

use axum::{
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use serde_json::json;

pub const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";
pub const JSON: &str = "application/json";

/// Whether a browser is asking for a page (GraphiQL).
pub fn wants_html(headers: &HeaderMap) -> bool {
    headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("text/html"))
}

/// `application/graphql-response+json` unless the client only accepts `application/json`.
pub fn negotiate(headers: &HeaderMap) -> &'static str {
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

/// The `Content-Type` of a response in `media`.
pub fn with_charset(media: &str) -> &'static str {
    if media == GRAPHQL_RESPONSE {
        "application/graphql-response+json; charset=utf-8"
    } else {
        "application/json; charset=utf-8"
    }
}

/// The status of a request error (it never ran): 400 with the GraphQL response media type;
/// with `application/json` a well-formed request gets 200.
pub fn request_error_status(headers: &HeaderMap) -> StatusCode {
    if negotiate(headers) == GRAPHQL_RESPONSE {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    }
}

/// A GraphQL-shaped error for requests that never reached execution.
pub fn error_response(headers: &HeaderMap, status: StatusCode, code: &str, message: &str) -> Response {
    crate::metrics::error(code);
    let body = json!({ "errors": [{ "message": message, "extensions": { "code": code } }] });
    let mut out = (status, body.to_string()).into_response();
    out.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(with_charset(negotiate(headers))));
    out.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    out
}
