//! The request path up to execution, for the fuzz target (`fuzz/`): the body as the handler
//! reads it (JSON, or the bytes taken as the document), the text limits, parsing, the
//! expansion limits, then validation and execution against a schema with no stores. Nothing
//! here may panic, hang or allocate without bound, whatever the bytes.

use std::sync::OnceLock;

use crate::{config::LimitsConfig, graphql};

struct Harness {
    runtime: tokio::runtime::Runtime,
    schema: graphql::LearnGraphSchema,
    limits: LimitsConfig,
}

fn harness() -> Option<&'static Harness> {
    static HARNESS: OnceLock<Option<Harness>> = OnceLock::new();
    HARNESS
        .get_or_init(|| {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            let limits = LimitsConfig::default();
            let options = graphql::SchemaOptions {
                introspection: true,
                suggestions: true,
                nesting: limits.nesting,
                resolver_spans: false,
            };
            Some(Harness { runtime, schema: graphql::bare(options), limits })
        })
        .as_ref()
}

/// Runs one input through the request path; returns whether it reached execution.
pub fn request_path(data: &[u8]) -> bool {
    let Some(h) = harness() else { return false };
    if data.len() > h.limits.body_bytes {
        return false;
    }
    let mut request = match serde_json::from_slice::<async_graphql::Request>(data) {
        Ok(request) => request,
        Err(_) => async_graphql::Request::new(String::from_utf8_lossy(data)),
    };
    // the whole surface open, so execution reaches introspection and `_entities` too
    let surface = super::limits::Surface { introspection: true, subgraph: true };
    if super::limits::admit(&mut request, &h.limits, surface, None).is_err() {
        return false;
    }
    let response = h.runtime.block_on(h.schema.execute(request.data(crate::auth::Viewer::Anonymous)));
    let _ = serde_json::to_vec(&response);
    true
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_harness_takes_anything() {
        for input in [
            &b"{ categories { name } }"[..],
            b"{\"query\": \"{ courses(first: 3) { nodes { title } } }\"}",
            b"\xff\xfe{{{{",
            b"{\"query\": \"query($a: Int) { courses(first: $a) { totalCount } }\", \"variables\": {\"a\": \"x\"}}",
            b"",
        ] {
            let _ = super::request_path(input);
        }
        assert!(super::request_path(b"{ __typename }"));
    }
}
