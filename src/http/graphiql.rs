//! GraphiQL, served by the service itself: its JavaScript and CSS come from npm at build time
//! (scripts/graphiql-assets, build.rs) and are embedded in the binary, so it works without
//! any route to the internet, under a Content-Security-Policy that allows only this origin.

use axum::{
    extract::{Path, State},
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};

use super::AppState;

/// The embedded assets' version, `<GraphiQL's version>-<hash of init.js and page.css>` (part of
/// every asset URL, so they can be cached for good: a change to any of them changes it).
pub const VERSION: &str = env!("LG_GRAPHIQL_VERSION");

const GRAPHIQL_JS: &[u8] = include_bytes!(env!("LG_GRAPHIQL_JS"));
const GRAPHIQL_CSS: &[u8] = include_bytes!(env!("LG_GRAPHIQL_CSS"));
const REACT_JS: &[u8] = include_bytes!(env!("LG_REACT_JS"));
const REACT_DOM_JS: &[u8] = include_bytes!(env!("LG_REACT_DOM_JS"));
const INIT_JS: &[u8] = include_bytes!("../../graphiql/init.js");
const PAGE_CSS: &[u8] = include_bytes!("../../graphiql/page.css");
const PAGE: &str = include_str!("../../graphiql/index.html");

/// Only this origin, for everything the page loads or sends.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
                   img-src 'self' data:; font-src 'self' data:; base-uri 'none'; form-action 'none'; \
                   frame-ancestors 'none'";

/// The GraphiQL page (GET /graphql from a browser, when GRAPHIQL is on).
pub fn page() -> Response {
    if GRAPHIQL_JS.is_empty() {
        let text = "GraphiQL's assets were not built into this binary: run scripts/graphiql-assets, then build again.";
        return (StatusCode::SERVICE_UNAVAILABLE, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text)
            .into_response();
    }
    let mut out = PAGE.replace("{{VERSION}}", VERSION).into_response();
    let headers = out.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    out
}

/// GET /graphiql/{version}/{file}: the embedded assets, cached for a year (the version is in
/// the URL). 404 when GRAPHIQL is off, for another version, or for any other name.
pub async fn asset(State(state): State<AppState>, Path((version, file)): Path<(String, String)>) -> Response {
    let found = match file.as_str() {
        "graphiql.min.js" => Some((GRAPHIQL_JS, "text/javascript; charset=utf-8")),
        "graphiql.min.css" => Some((GRAPHIQL_CSS, "text/css; charset=utf-8")),
        "react.production.min.js" => Some((REACT_JS, "text/javascript; charset=utf-8")),
        "react-dom.production.min.js" => Some((REACT_DOM_JS, "text/javascript; charset=utf-8")),
        "init.js" => Some((INIT_JS, "text/javascript; charset=utf-8")),
        "page.css" => Some((PAGE_CSS, "text/css; charset=utf-8")),
        _ => None,
    };
    match found {
        Some((body, content_type)) if state.config.graphiql && version == VERSION && !body.is_empty() => (
            [
                (header::CONTENT_TYPE, content_type),
                (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            body,
        )
            .into_response(),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_asset_version_changes_with_our_own_files() {
        // as build.rs: FNV-1a over init.js then page.css
        let hash = INIT_JS
            .iter()
            .chain(PAGE_CSS)
            .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3));
        assert!(VERSION.ends_with(&format!("-{hash:016x}")), "{VERSION}");
        let npm = VERSION.rsplit_once('-').map_or("", |(v, _)| v);
        assert!(npm == "missing" || npm.split('.').all(|part| part.parse::<u32>().is_ok()), "{VERSION}");
    }
}
