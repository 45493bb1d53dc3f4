//! GraphQL's null propagation, which async-graphql 7.2 leaves out: it drops a failed field
//! from its object and goes on. The spec says the failed field is null, and when its type is
//! non-null the null moves up to the nearest nullable field or list item (or to `data`).
//!
//! For each error with a path, the path is walked through the operation (response keys to
//! fields, through fragments) and the schema's types (from the SDL), giving the nullability of
//! every position on it; then the null is placed where the spec puts it. A path that cannot be
//! walked (an `_entities` path without an index) only gets null at its own position.

use std::{collections::HashMap, sync::OnceLock};

use async_graphql::{
    parser::types::{
        BaseType, DocumentOperations, ExecutableDocument, OperationType, SelectionSet, Type, TypeKind,
        TypeSystemDefinition,
    },
    PathSegment, ServerError, Value,
};

/// Field types by type and field name, from the schema's SDL.
struct Types {
    fields: HashMap<String, HashMap<String, Type>>,
}

fn types() -> &'static Types {
    static TYPES: OnceLock<Types> = OnceLock::new();
    TYPES.get_or_init(|| {
        let mut fields: HashMap<String, HashMap<String, Type>> = HashMap::new();
        if let Ok(document) = async_graphql::parser::parse_schema(crate::graphql::sdl()) {
            for definition in document.definitions {
                let TypeSystemDefinition::Type(ty) = definition else { continue };
                let ty = ty.node;
                let defined = match ty.kind {
                    TypeKind::Object(o) => o.fields,
                    TypeKind::Interface(i) => i.fields,
                    _ => continue,
                };
                let of = fields.entry(ty.name.node.to_string()).or_default();
                for f in defined {
                    of.insert(f.node.name.node.to_string(), f.node.ty.node);
                }
            }
        }
        Types { fields }
    })
}

/// Puts the nulls of `errors` where GraphQL puts them.
pub fn propagate(
    data: &mut Value,
    errors: &[ServerError],
    document: &ExecutableDocument,
    operation_name: Option<&str>,
) {
    let operation = match (&document.operations, operation_name) {
        (DocumentOperations::Single(op), _) => Some(&op.node),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name).map(|op| &op.node),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops.values().next().map(|op| &op.node),
        _ => None,
    };
    let Some(operation) = operation else { return };
    let root = match operation.ty {
        OperationType::Query => "Query",
        OperationType::Mutation => "Mutation",
        OperationType::Subscription => "Subscription",
    };
    for error in errors {
        if error.path.is_empty() || *data == Value::Null {
            continue;
        }
        match nullability(types(), document, root, &operation.selection_set.node, &error.path) {
            Some(nullable) => {
                // the nearest nullable position at or above the error's takes the null
                match (1..=error.path.len()).rev().find(|&k| nullable[k - 1]) {
                    Some(k) => set_null(data, &error.path[..k]),
                    None => *data = Value::Null,
                }
            }
            None => set_null(data, &error.path),
        }
    }
}

/// Whether each position of `path` (its prefixes, shortest first) may be null; None when the
/// path cannot be followed through the operation and the schema.
fn nullability(
    types: &Types,
    document: &ExecutableDocument,
    root: &str,
    selection: &SelectionSet,
    path: &[PathSegment],
) -> Option<Vec<bool>> {
    let mut out = Vec::with_capacity(path.len());
    let mut parent = root.to_owned();
    let mut sets: Vec<&SelectionSet> = vec![selection];
    let mut current: Option<Type> = None;
    for segment in path {
        match segment {
            PathSegment::Field(key) => {
                let mut found: Vec<(&async_graphql::parser::types::Field, String)> = Vec::new();
                for set in &sets {
                    collect(document, set, key, &parent, &mut found);
                }
                let (field, on) = found.first()?;
                let ty = types.fields.get(on)?.get(field.name.node.as_str())?.clone();
                out.push(ty.nullable);
                parent = named(&ty).to_owned();
                sets = found.iter().map(|(f, _)| &f.selection_set.node).collect();
                current = Some(ty);
            }
            PathSegment::Index(_) => {
                let BaseType::List(item) = current?.base else { return None };
                out.push(item.nullable);
                current = Some(*item);
            }
        }
    }
    Some(out)
}

/// The fields of `set` answering at response key `key`, with the type they are selected on.
fn collect<'a>(
    document: &'a ExecutableDocument,
    set: &'a SelectionSet,
    key: &str,
    on: &str,
    found: &mut Vec<(&'a async_graphql::parser::types::Field, String)>,
) {
    crate::http::limits::any_field(document, set, on, &mut |field, on| {
        let response_key = field.alias.as_ref().map_or(field.name.node.as_str(), |a| a.node.as_str());
        if response_key == key {
            found.push((field, on.to_owned()));
        }
        false
    });
}

fn named(ty: &Type) -> &str {
    match &ty.base {
        BaseType::Named(name) => name.as_str(),
        BaseType::List(inner) => named(inner),
    }
}

/// Null at `path`, when its parent is there (a field absent from its object is added).
fn set_null(data: &mut Value, path: &[PathSegment]) {
    let Some((last, parents)) = path.split_last() else {
        *data = Value::Null;
        return;
    };
    let mut at = data;
    for segment in parents {
        let next = match (segment, at) {
            (PathSegment::Field(name), Value::Object(fields)) => fields.get_mut(name.as_str()),
            (PathSegment::Index(i), Value::List(items)) => items.get_mut(*i),
            _ => None,
        };
        match next {
            Some(next) => at = next,
            None => return,
        }
    }
    match (last, at) {
        (PathSegment::Field(name), Value::Object(fields)) => {
            fields.insert(async_graphql::Name::new(name), Value::Null);
        }
        (PathSegment::Index(i), Value::List(items)) => {
            if let Some(item) = items.get_mut(*i) {
                *item = Value::Null;
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(query: &str, data: serde_json::Value, path: serde_json::Value) -> serde_json::Value {
        let document = async_graphql::parser::parse_query(query).expect("parses");
        let mut data = Value::from_json(data).expect("value");
        let mut error = ServerError::new("failed", None);
        error.path = serde_json::from_value(path).expect("path");
        propagate(&mut data, &[error], &document, None);
        data.into_json().expect("json")
    }

    #[test]
    fn a_nullable_field_is_null_in_place() {
        let got = run(
            "{ course(slug: \"x\") { title stats { enrollments } } }",
            serde_json::json!({ "course": { "title": "T" } }),
            serde_json::json!(["course", "stats"]),
        );
        assert_eq!(got, serde_json::json!({ "course": { "title": "T", "stats": null } }));
    }

    #[test]
    fn a_non_null_field_nulls_its_nearest_nullable_parent() {
        // `me: Learner!` at the root: data itself
        assert_eq!(
            run(
                "{ me { id } categories { name } }",
                serde_json::json!({ "categories": [] }),
                serde_json::json!(["me"])
            ),
            serde_json::Value::Null
        );
        // `lessonCount: Int!` under `course: Course` (nullable): the course
        let got = run(
            "{ c: course(slug: \"x\") { title n: lessonCount } }",
            serde_json::json!({ "c": { "title": "T" } }),
            serde_json::json!(["c", "n"]),
        );
        assert_eq!(got, serde_json::json!({ "c": null }));
        // in a list of non-null items inside a non-null connection under a non-null root
        // field: everything up to `data`
        let got = run(
            "{ courses { nodes { ...F } } } fragment F on Course { title lessonCount }",
            serde_json::json!({ "courses": { "nodes": [{ "title": "A", "lessonCount": 1 }, { "title": "B" }] } }),
            serde_json::json!(["courses", "nodes", 1, "lessonCount"]),
        );
        assert_eq!(got, serde_json::Value::Null);
    }

    #[test]
    fn an_entities_path_without_an_index_gets_null_in_place_only() {
        let got = run(
            "query($r: [_Any!]!) { _entities(representations: $r) { ... on Course { title } } }",
            serde_json::json!({ "_entities": [{ "title": "A" }] }),
            serde_json::json!(["_entities", "title"]),
        );
        assert_eq!(got, serde_json::json!({ "_entities": [{ "title": "A" }] }));
    }
}
