//! Federated tracing (ftv1): a gateway that sends `apollo-federation-include-trace: ftv1` gets
//! `extensions.ftv1`, the base64 of an Apollo `Trace` protobuf (reports.proto): when the
//! request ran and, per resolved field, its response path, types and timings, and the errors
//! at their paths. Routers turn these into field-level statistics.
//!
//! Only requests that ask are traced: they run on a second schema built with [`Ftv1`]
//! (async-graphql's per-field hook costs every field of every request, so the usual schema has
//! none). A field's time runs from its resolver's start to the end of its value, selection
//! included (async-graphql resolves a field's selection inside the field's future).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Instant, SystemTime, UNIX_EPOCH},
};

use async_graphql::{
    async_trait::async_trait,
    extensions::{Extension, ExtensionContext, ExtensionFactory, NextResolve, ResolveInfo},
    PathSegment, QueryPathSegment, ServerError, ServerResult, Value,
};
use base64::Engine as _;

/// The request header a gateway sends to ask for a trace, and the value it sends.
pub const HEADER: &str = "apollo-federation-include-trace";
pub const HEADER_VALUE: &str = "ftv1";

pub use crate::config::ErrorDetail;

/// The recording of one traced request: the handler makes it, the extension fills it in.
pub struct Recorder {
    started: Instant,
    started_at: SystemTime,
    fields: Mutex<Vec<FieldTiming>>,
}

struct FieldTiming {
    path: Vec<Seg>,
    original_name: Option<String>,
    return_type: String,
    parent_type: String,
    start_ns: u64,
    end_ns: u64,
}

/// A step of a response path.
#[derive(Clone, PartialEq, Eq, Hash)]
enum Seg {
    Name(String),
    Index(u32),
}

impl Recorder {
    pub fn start() -> Arc<Self> {
        Arc::new(Self { started: Instant::now(), started_at: SystemTime::now(), fields: Mutex::new(Vec::new()) })
    }

    fn since_start(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// The trace, base64-encoded, with the response's errors (their final form) at their paths.
    pub fn finish(&self, errors: &[ServerError], detail: ErrorDetail) -> String {
        let duration_ns = self.since_start();
        let mut fields = match self.fields.lock() {
            Ok(mut fields) => std::mem::take(&mut *fields),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        };
        // parents start before their children: each node's parent is placed before it
        fields.sort_by_key(|f| f.start_ns);
        let mut tree = Tree::new(duration_ns);
        for field in fields {
            let at = tree.field(&field.path, (field.start_ns, field.end_ns));
            tree.nodes[at].timing = Some(field);
        }
        for error in errors {
            let path: Vec<Seg> = error
                .path
                .iter()
                .map(|s| match s {
                    PathSegment::Field(name) => Seg::Name(name.clone()),
                    PathSegment::Index(i) => Seg::Index(u32::try_from(*i).unwrap_or(u32::MAX)),
                })
                .collect();
            let at = tree.last_at(&path);
            tree.nodes[at].errors.push(error_message(error, detail));
        }
        let end_at = self.started_at + std::time::Duration::from_nanos(duration_ns);
        let mut out = Vec::with_capacity(256);
        message(&mut out, 3, |m| timestamp(m, end_at));
        message(&mut out, 4, |m| timestamp(m, self.started_at));
        uint(&mut out, 11, duration_ns);
        message(&mut out, 14, |m| tree.encode(0, m));
        base64::engine::general_purpose::STANDARD.encode(out)
    }
}

/// The trace tree: node 0 is the root (the response); the others are fields and list indexes.
///
/// One path can name several nodes: async-graphql resolves every representation of an
/// `_entities` call at the path `_entities` (no index), so the fields of different entities
/// share paths. A field goes under the latest node at its parent path whose time span holds
/// its own (an index node has its list field's span), so each entity keeps its own subtree
/// (when two entities' fields overlap in time a field may land under its sibling entity: the
/// per-field counts and timings a router aggregates are right either way).
struct Tree {
    nodes: Vec<Node>,
    by_path: HashMap<Vec<Seg>, Vec<usize>>,
}

#[derive(Default)]
struct Node {
    id: Option<Seg>,
    /// When this node's field ran (its list field's, for an index node): for placing children.
    span: (u64, u64),
    timing: Option<FieldTiming>,
    errors: Vec<Vec<u8>>,
    children: Vec<usize>,
}

impl Tree {
    fn new(duration_ns: u64) -> Self {
        Self { nodes: vec![Node { span: (0, duration_ns), ..Node::default() }], by_path: HashMap::new() }
    }

    /// A new node for a field at `path` that ran during `span`.
    fn field(&mut self, path: &[Seg], span: (u64, u64)) -> usize {
        let Some((last, parent_path)) = path.split_last() else { return 0 };
        let parent = self.within(parent_path, span);
        self.add(parent, path, last.clone(), span)
    }

    /// The latest node at `path` whose span holds `span`; made (with any missing ancestors)
    /// when there is none.
    fn within(&mut self, path: &[Seg], span: (u64, u64)) -> usize {
        let Some((last, parent_path)) = path.split_last() else { return 0 };
        let holds = |n: &Node| n.span.0 <= span.0 && span.1 <= n.span.1;
        let found = self.by_path.get(path).and_then(|at| at.iter().rev().copied().find(|&i| holds(&self.nodes[i])));
        if let Some(at) = found {
            return at;
        }
        let parent = self.within(parent_path, span);
        // a node made for its children takes its parent's span (an index node: its list's)
        let parent_span = self.nodes[parent].span;
        self.add(parent, path, last.clone(), parent_span)
    }

    /// The latest node at `path` (for an error), made if there is none.
    fn last_at(&mut self, path: &[Seg]) -> usize {
        if let Some(&at) = self.by_path.get(path).and_then(|at| at.last()) {
            return at;
        }
        let Some((last, parent_path)) = path.split_last() else { return 0 };
        let parent = self.last_at(parent_path);
        let span = self.nodes[parent].span;
        self.add(parent, path, last.clone(), span)
    }

    fn add(&mut self, parent: usize, path: &[Seg], id: Seg, span: (u64, u64)) -> usize {
        let at = self.nodes.len();
        self.nodes.push(Node { id: Some(id), span, ..Node::default() });
        self.nodes[parent].children.push(at);
        self.by_path.entry(path.to_vec()).or_default().push(at);
        at
    }

    /// Trace.Node: response_name 1 | index 2, type 3, start_time 8, end_time 9, error 11,
    /// child 12, parent_type 13, original_field_name 14.
    fn encode(&self, at: usize, out: &mut Vec<u8>) {
        let Some(node) = self.nodes.get(at) else { return };
        match &node.id {
            Some(Seg::Name(name)) => bytes(out, 1, name.as_bytes()),
            Some(Seg::Index(i)) => {
                // a oneof member is written even when it is zero
                tag(out, 2, 0);
                varint(out, u64::from(*i));
            }
            None => {}
        }
        if let Some(t) = &node.timing {
            string(out, 3, &t.return_type);
            uint(out, 8, t.start_ns);
            uint(out, 9, t.end_ns);
            string(out, 13, &t.parent_type);
            if let Some(name) = &t.original_name {
                string(out, 14, name);
            }
        }
        for error in &node.errors {
            bytes(out, 11, error);
        }
        for &child in &node.children {
            message(out, 12, |m| self.encode(child, m));
        }
    }
}

/// Trace.Error: message 1, location 2 (line 1, column 2), json 4.
fn error_message(error: &ServerError, detail: ErrorDetail) -> Vec<u8> {
    let mut out = Vec::new();
    let json = match detail {
        ErrorDetail::Unmodified => serde_json::to_string(error).unwrap_or_default(),
        ErrorDetail::Masked => serde_json::json!({
            "message": "<masked>",
            "locations": error.locations,
            "path": error.path,
            "extensions": { "maskedBy": "learngraph" },
        })
        .to_string(),
    };
    let text = match detail {
        ErrorDetail::Unmodified => error.message.as_str(),
        ErrorDetail::Masked => "<masked>",
    };
    bytes(&mut out, 1, text.as_bytes());
    for pos in &error.locations {
        message(&mut out, 2, |m| {
            uint(m, 1, pos.line as u64);
            uint(m, 2, pos.column as u64);
        });
    }
    string(&mut out, 4, &json);
    out
}

/// google.protobuf.Timestamp: seconds 1, nanos 2.
fn timestamp(out: &mut Vec<u8>, at: SystemTime) {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    uint(out, 1, since.as_secs());
    uint(out, 2, u64::from(since.subsec_nanos()));
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn tag(out: &mut Vec<u8>, field: u32, wire_type: u8) {
    varint(out, (u64::from(field) << 3) | u64::from(wire_type));
}

fn uint(out: &mut Vec<u8>, field: u32, v: u64) {
    if v != 0 {
        tag(out, field, 0);
        varint(out, v);
    }
}

fn bytes(out: &mut Vec<u8>, field: u32, b: &[u8]) {
    tag(out, field, 2);
    varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

fn string(out: &mut Vec<u8>, field: u32, s: &str) {
    if !s.is_empty() {
        bytes(out, field, s.as_bytes());
    }
}

fn message(out: &mut Vec<u8>, field: u32, fill: impl FnOnce(&mut Vec<u8>)) {
    let mut inner = Vec::new();
    fill(&mut inner);
    bytes(out, field, &inner);
}

/// The extension of the traced schema: times each field resolver into the request's
/// [`Recorder`] (a request without one is not traced).
pub struct Ftv1;

impl ExtensionFactory for Ftv1 {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Ftv1)
    }
}

#[async_trait]
impl Extension for Ftv1 {
    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        let recorder = ctx.data_opt::<Arc<Recorder>>();
        // list items come through here too: they are index nodes, not resolvers
        let is_item = matches!(info.path_node.segment, QueryPathSegment::Index(_));
        let (Some(recorder), false) = (recorder, is_item) else {
            return next.run(ctx, info).await;
        };
        let mut path: Vec<Seg> = std::iter::once(info.path_node)
            .chain(info.path_node.parents())
            .map(|n| match n.segment {
                QueryPathSegment::Name(name) => Seg::Name(name.to_owned()),
                QueryPathSegment::Index(i) => Seg::Index(u32::try_from(i).unwrap_or(u32::MAX)),
            })
            .collect();
        path.reverse();
        let original_name = info.alias.map(|_| info.name.to_owned());
        let return_type = info.return_type.to_owned();
        let parent_type = info.parent_type.to_owned();
        let start_ns = recorder.since_start();
        let result = next.run(ctx, info).await;
        let end_ns = recorder.since_start();
        let timing = FieldTiming { path, original_name, return_type, parent_type, start_ns, end_ns };
        match recorder.fields.lock() {
            Ok(mut fields) => fields.push(timing),
            Err(poisoned) => poisoned.into_inner().push(timing),
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_are_little_endian_base_128() {
        let mut out = Vec::new();
        varint(&mut out, 300);
        assert_eq!(out, [0xac, 0x02]);
        out.clear();
        varint(&mut out, 0);
        assert_eq!(out, [0]);
    }

    #[test]
    fn an_index_node_writes_index_zero() {
        let mut tree = Tree::new(10);
        let at = tree.within(&[Seg::Name("courses".into()), Seg::Index(0)], (1, 2));
        let mut out = Vec::new();
        tree.encode(at, &mut out);
        assert_eq!(out, [0x10, 0x00]);
    }

    #[test]
    fn fields_sharing_a_path_go_under_the_node_that_ran_around_them() {
        // two entities resolved at `_entities`, each with `instructor { name }`
        let at = |p: &[&str]| p.iter().map(|s| Seg::Name((*s).to_owned())).collect::<Vec<_>>();
        let mut tree = Tree::new(100);
        let entities = tree.field(&at(&["_entities"]), (1, 90));
        let first = tree.field(&at(&["_entities", "instructor"]), (2, 40));
        let first_name = tree.field(&at(&["_entities", "instructor", "name"]), (30, 35));
        let second = tree.field(&at(&["_entities", "instructor"]), (41, 80));
        let second_name = tree.field(&at(&["_entities", "instructor", "name"]), (50, 60));
        assert_eq!(tree.nodes[entities].children, [first, second]);
        assert_eq!(tree.nodes[first].children, [first_name]);
        assert_eq!(tree.nodes[second].children, [second_name]);
    }

    #[test]
    fn errors_are_masked_unless_asked() {
        let mut error = ServerError::new("the course is not yours", Some(async_graphql::Pos { line: 2, column: 3 }));
        error.path = vec![PathSegment::Field("course".into())];
        let mut extensions = async_graphql::ErrorExtensionValues::default();
        extensions.set("code", "FORBIDDEN");
        error.extensions = Some(extensions);
        let masked = String::from_utf8_lossy(&error_message(&error, ErrorDetail::Masked)).into_owned();
        assert!(masked.contains("<masked>") && !masked.contains("not yours") && !masked.contains("FORBIDDEN"));
        assert!(masked.contains(r#""path":["course"]"#), "{masked}");
        let full = String::from_utf8_lossy(&error_message(&error, ErrorDetail::Unmodified)).into_owned();
        assert!(full.contains("not yours") && full.contains(r#""code":"FORBIDDEN""#), "{full}");
    }
}
