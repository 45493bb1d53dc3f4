//! Request limits, checked before a document is validated or run, so that nothing a client
//! sends can occupy a core or reach a store beyond what these numbers allow.
//!
//! In order: the document's size, then its tokens and bracket nesting (before parsing: the
//! parser recurses on nesting), then, on the parsed document, one pass that expands fragments
//! with a memo per fragment and measures what execution and validation would face: the
//! selections the document expands to, depth, complexity (a paged field multiplies its
//! selection by its page size), aliases, root fields and directives per field. The memo makes
//! the pass linear in the document's size, however its fragments fan out.

use std::{
    collections::HashMap,
    num::NonZeroUsize,
    sync::{Arc, Mutex},
};

use async_graphql::{
    parser::types::{ExecutableDocument, Field, Selection, SelectionSet},
    Variables,
};

use crate::config::LimitsConfig;

/// Paged fields and their page size when the client gives none (`first`/`last` otherwise):
/// a paged field's selection counts once per item of a page. A test checks this table
/// against the schema.
pub const PAGED_FIELDS: &[(&str, u64)] =
    &[("courses", 20), ("taughtCourses", 20), ("enrollments", 20), ("continueLearning", 5), ("recentQuizAttempts", 10)];

/// The largest page a paged field serves (a larger `first` is refused by the field itself).
const MAX_PAGE: u64 = 100;

/// A request over a limit: the error code and what to tell the client.
#[derive(Debug, PartialEq, Eq)]
pub struct OverLimit {
    pub code: &'static str,
    pub message: String,
}

impl OverLimit {
    fn new(code: &'static str, message: String) -> Self {
        Self { code, message }
    }
}

/// Size, tokens and nesting of the document's text, before it is parsed.
pub fn check_text(query: &str, limits: &LimitsConfig) -> Result<(), OverLimit> {
    if query.len() > limits.document_bytes {
        return Err(OverLimit::new(
            "DOCUMENT_TOO_LARGE",
            format!("the document is {} bytes; the limit is {}", query.len(), limits.document_bytes),
        ));
    }
    let (tokens, nesting) = scan(query);
    if tokens > limits.tokens {
        return Err(OverLimit::new("TOO_MANY_TOKENS", format!("the document has more than {} tokens", limits.tokens)));
    }
    if nesting > limits.nesting {
        return Err(OverLimit::new(
            "DOCUMENT_TOO_DEEP",
            format!("the document nests brackets more than {} deep", limits.nesting),
        ));
    }
    Ok(())
}

/// Counts GraphQL tokens (names, numbers, strings, punctuators; not commas, whitespace or
/// comments) and the deepest nesting of `{`, `[` and `(`; stops counting past `u32::MAX`.
fn scan(text: &str) -> (usize, usize) {
    let bytes = text.as_bytes();
    let (mut tokens, mut depth, mut deepest) = (0usize, 0usize, 0usize);
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b' ' | b'\t' | b'\n' | b'\r' | b',' => i += 1,
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'"' => {
                tokens += 1;
                if bytes[i..].starts_with(b"\"\"\"") {
                    i += 3;
                    while i < bytes.len() && !bytes[i..].starts_with(b"\"\"\"") {
                        i += if bytes[i] == b'\\' { 2 } else { 1 };
                    }
                    i += 3;
                } else {
                    i += 1;
                    while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                        i += if bytes[i] == b'\\' { 2 } else { 1 };
                    }
                    i += 1;
                }
            }
            b'{' | b'[' | b'(' => {
                tokens += 1;
                depth += 1;
                deepest = deepest.max(depth);
                i += 1;
            }
            b'}' | b']' | b')' => {
                tokens += 1;
                depth = depth.saturating_sub(1);
                i += 1;
            }
            b'.' if bytes[i..].starts_with(b"...") => {
                tokens += 1;
                i += 3;
            }
            _ if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' => {
                tokens += 1;
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric() || matches!(bytes[i], b'_' | b'.' | b'-' | b'+'))
                {
                    i += 1;
                }
            }
            _ => {
                tokens += 1;
                i += 1;
            }
        }
    }
    (tokens, deepest)
}

/// What a selection set expands to.
#[derive(Clone, Copy, Default)]
struct Measure {
    selections: u64,
    depth: u64,
    complexity: u64,
    aliases: u64,
    /// Fields at this level (root fields, for the operation's set).
    fields: u64,
}

struct Walk<'a> {
    document: &'a ExecutableDocument,
    variables: &'a Variables,
    directives: usize,
    memo: HashMap<&'a str, Measure>,
    /// Fragments being expanded (a cycle is invalid: validation reports it; here it counts as
    /// nothing more).
    open: Vec<&'a str>,
    too_many_directives: bool,
}

impl<'a> Walk<'a> {
    fn set(&mut self, set: &'a SelectionSet) -> Measure {
        let mut m = Measure::default();
        for item in &set.items {
            let inner = match &item.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    if field.directives.len() > self.directives {
                        self.too_many_directives = true;
                    }
                    let child = self.set(&field.selection_set.node);
                    let per_item = self.page_size(field);
                    Measure {
                        selections: child.selections.saturating_add(1),
                        depth: child.depth.saturating_add(1),
                        complexity: child.complexity.saturating_mul(per_item).saturating_add(1),
                        aliases: child.aliases.saturating_add(u64::from(field.alias.is_some())),
                        fields: 1,
                    }
                }
                Selection::InlineFragment(inline) => self.set(&inline.node.selection_set.node),
                Selection::FragmentSpread(spread) => self.fragment(spread.node.fragment_name.node.as_str()),
            };
            m.selections = m.selections.saturating_add(inner.selections);
            m.depth = m.depth.max(inner.depth);
            m.complexity = m.complexity.saturating_add(inner.complexity);
            m.aliases = m.aliases.saturating_add(inner.aliases);
            m.fields = m.fields.saturating_add(inner.fields);
        }
        m
    }

    fn fragment(&mut self, name: &'a str) -> Measure {
        if let Some(m) = self.memo.get(name) {
            return *m;
        }
        let Some((key, definition)) = self.document.fragments.get_key_value(name) else {
            return Measure::default();
        };
        if self.open.contains(&name) {
            return Measure::default();
        }
        self.open.push(name);
        let m = self.set(&definition.node.selection_set.node);
        self.open.pop();
        self.memo.insert(key.as_str(), m);
        m
    }

    /// How many times a field's selection runs per call: a paged field's page size.
    fn page_size(&self, field: &async_graphql::parser::types::Field) -> u64 {
        let Some(&(_, default)) = PAGED_FIELDS.iter().find(|(name, _)| *name == field.name.node.as_str()) else {
            return 1;
        };
        let given = ["first", "last"].iter().find_map(|arg| {
            let value = field.arguments.iter().find(|(n, _)| n.node.as_str() == *arg).map(|(_, v)| &v.node)?;
            match value.clone().into_const_with(|name| self.variables.get(&name).cloned().ok_or(())) {
                Ok(async_graphql::Value::Number(n)) => n.as_u64(),
                _ => None,
            }
        });
        given.unwrap_or(default).clamp(1, MAX_PAGE)
    }
}

/// The whole document expanded: every operation and every fragment (validation visits them
/// all, not only the operation that runs), and whether a field carries more than
/// `directives` directives.
fn expand(document: &ExecutableDocument, variables: &Variables, directives: usize) -> (Measure, bool) {
    let mut walk =
        Walk { document, variables, directives, memo: HashMap::new(), open: Vec::new(), too_many_directives: false };
    let mut total = Measure::default();
    for (_, operation) in document.operations.iter() {
        let m = walk.set(&operation.node.selection_set.node);
        total.selections = total.selections.saturating_add(m.selections);
        total.depth = total.depth.max(m.depth);
        total.complexity = total.complexity.max(m.complexity);
        total.aliases = total.aliases.saturating_add(m.aliases);
        total.fields = total.fields.max(m.fields);
    }
    for name in document.fragments.keys() {
        total.depth = total.depth.max(walk.fragment(name.as_str()).depth);
    }
    (total, walk.too_many_directives)
}

/// What a document measures (for the README's table and the tests): selections, depth,
/// complexity, aliases, root fields.
pub fn measure(document: &ExecutableDocument, variables: &Variables) -> [u64; 5] {
    let (m, _) = expand(document, variables, usize::MAX);
    [m.selections, m.depth, m.complexity, m.aliases, m.fields]
}

/// The parsed document's expansion against the limits, in this order.
pub fn check_document(
    document: &ExecutableDocument,
    variables: &Variables,
    limits: &LimitsConfig,
) -> Result<(), OverLimit> {
    let (m, too_many_directives) = expand(document, variables, limits.directives_per_field);
    let checks: [(&'static str, u64, u64, &str); 5] = [
        ("TOO_MANY_SELECTIONS", m.selections, limits.selections, "selections the document expands to"),
        ("QUERY_TOO_DEEP", m.depth, limits.depth, "field depth"),
        (
            "QUERY_TOO_COMPLEX",
            m.complexity,
            limits.complexity,
            "complexity (a paged field counts its selection once per item)",
        ),
        ("TOO_MANY_ALIASES", m.aliases, limits.aliases, "aliases"),
        ("TOO_MANY_ROOT_FIELDS", m.fields, limits.root_fields, "root fields of an operation"),
    ];
    if let Some((code, value, limit, what)) = checks.into_iter().find(|(_, value, limit, _)| value > limit) {
        return Err(OverLimit::new(code, format!("{what}: {value}; the limit is {limit}")));
    }
    if too_many_directives {
        return Err(OverLimit::new(
            "TOO_MANY_DIRECTIVES",
            format!("a field carries more than {} directives", limits.directives_per_field),
        ));
    }
    Ok(())
}

/// Calls `visit` with each field of `set` and the type it is selected on (`on`, or the type
/// condition of the fragment it sits in), through inline fragments and fragment spreads, until
/// `visit` returns true. Fragment cycles (invalid, reported by validation) end at 64 levels.
pub(crate) fn any_field<'a>(
    document: &'a ExecutableDocument,
    set: &'a SelectionSet,
    on: &str,
    visit: &mut dyn FnMut(&'a Field, &str) -> bool,
) -> bool {
    fn walk<'a>(
        document: &'a ExecutableDocument,
        set: &'a SelectionSet,
        on: &str,
        depth: usize,
        visit: &mut dyn FnMut(&'a Field, &str) -> bool,
    ) -> bool {
        depth <= 64
            && set.items.iter().any(|item| match &item.node {
                Selection::Field(field) => visit(&field.node, on),
                Selection::InlineFragment(inline) => {
                    let on = inline.node.type_condition.as_ref().map_or(on, |c| c.node.on.node.as_str());
                    walk(document, &inline.node.selection_set.node, on, depth + 1, visit)
                }
                Selection::FragmentSpread(spread) => {
                    document.fragments.get(&spread.node.fragment_name.node).is_some_and(|f| {
                        let on = f.node.type_condition.node.on.node.as_str();
                        walk(document, &f.node.selection_set.node, on, depth + 1, visit)
                    })
                }
            })
    }
    walk(document, set, on, 0, visit)
}

/// Whether any operation of the document selects one of `names` at its root (through
/// fragments and inline fragments).
pub fn selects_root_field(document: &ExecutableDocument, names: &[&str]) -> bool {
    document.operations.iter().any(|(_, op)| {
        any_field(document, &op.node.selection_set.node, "", &mut |field, _| names.contains(&field.name.node.as_str()))
    })
}

/// What the schema shows this caller, beyond the limits.
#[derive(Clone, Copy)]
pub struct Surface {
    /// `__schema` and `__type` answer.
    pub introspection: bool,
    /// `_service` and `_entities` answer (the gateway, or no ROUTER_SECRET set).
    pub subgraph: bool,
}

/// Why a request does not run.
pub enum Refused {
    /// The document does not parse (`GRAPHQL_PARSE_FAILED`).
    Parse(String),
    /// Over a limit, or outside the caller's surface.
    Over(OverLimit),
}

/// Documents parsed recently, by their text. Clients send the same few documents again and
/// again: one seen before skips the text checks and the parse (a copy of the parsed document
/// is cheaper than parsing). The expansion limits still run for every request: they depend on
/// the variables.
pub struct ParsedDocuments(Mutex<lru::LruCache<String, Arc<ExecutableDocument>>>);

impl ParsedDocuments {
    /// Keeps the `n` documents used most recently.
    pub fn new(n: usize) -> Self {
        Self(Mutex::new(lru::LruCache::new(NonZeroUsize::new(n).unwrap_or(NonZeroUsize::MIN))))
    }

    /// A copy of the document `text` parses to, if kept (copied outside the lock).
    fn get(&self, text: &str) -> Option<ExecutableDocument> {
        let kept = self.0.lock().ok()?.get(text).cloned()?;
        Some(ExecutableDocument::clone(&kept))
    }

    fn put(&self, text: &str, document: &ExecutableDocument) {
        let document = Arc::new(document.clone());
        if let Ok(mut documents) = self.0.lock() {
            documents.put(text.to_owned(), document);
        }
    }
}

/// The checks before execution, in order: the text, parsing (once: execution reuses the
/// parsed document; a document in `parsed` skips both), the expansion limits, then what the
/// caller may select. The handler and the fuzz target both run requests through here.
pub fn admit(
    request: &mut async_graphql::Request,
    limits: &LimitsConfig,
    surface: Surface,
    parsed: Option<&ParsedDocuments>,
) -> Result<(), Refused> {
    let known = parsed.and_then(|p| p.get(&request.query));
    let fresh = known.is_none();
    match known {
        Some(document) => request.set_parsed_query(document),
        None => check_text(&request.query, limits).map_err(Refused::Over)?,
    }
    let variables = std::mem::take(&mut request.variables);
    let checked = match request.parsed_query() {
        Err(e) => Err(Refused::Parse(e.message)),
        Ok(document) => check_document(document, &variables, limits)
            .and_then(|()| {
                if !surface.introspection && selects_root_field(document, &["__schema", "__type"]) {
                    return Err(OverLimit::new(
                        "GRAPHQL_VALIDATION_FAILED",
                        "introspection is turned off on this server (`__schema`, `__type`)".into(),
                    ));
                }
                if !surface.subgraph && selects_root_field(document, &["_service", "_entities"]) {
                    return Err(OverLimit::new(
                        "FORBIDDEN",
                        "`_service` and `_entities` are for the gateway (Router-Authorization)".into(),
                    ));
                }
                Ok(())
            })
            .map_err(Refused::Over),
    };
    request.variables = variables;
    // a document that passed is kept for its next use (a small one: the cache is bounded by
    // count, so its entries must be bounded in size)
    if let (true, Some(parsed), Ok(())) = (fresh, parsed, &checked) {
        if request.query.len() <= KEPT_DOCUMENT_BYTES {
            let text = request.query.clone();
            if let Ok(document) = request.parsed_query() {
                parsed.put(&text, document);
            }
        }
    }
    checked
}

/// The largest document text `ParsedDocuments` keeps (a client's usual query is a few KiB).
const KEPT_DOCUMENT_BYTES: usize = 16 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    /// What GraphiQL sends to learn the schema (graphql-js's introspection query: types nine
    /// levels of `ofType` deep).
    const INTROSPECTION: &str = r#"
      query IntrospectionQuery {
        __schema {
          queryType { name } mutationType { name } subscriptionType { name }
          types { ...FullType }
          directives { name description locations args { ...InputValue } }
        }
      }
      fragment FullType on __Type {
        kind name description
        fields(includeDeprecated: true) { name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason }
        inputFields { ...InputValue }
        interfaces { ...TypeRef }
        enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
        possibleTypes { ...TypeRef }
      }
      fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
      fragment TypeRef on __Type {
        kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType {
        kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } }
      }
    "#;

    fn limits() -> LimitsConfig {
        LimitsConfig::default()
    }

    fn check(query: &str) -> Result<(), OverLimit> {
        check_text(query, &limits())?;
        let document = async_graphql::parser::parse_query(query).expect("parses");
        check_document(&document, &Variables::default(), &limits())
    }

    fn code(query: &str) -> &'static str {
        check(query).err().map_or("ok", |e| e.code)
    }

    #[test]
    fn ordinary_queries_pass() {
        assert_eq!(code("{ courses(first: 20) { edges { node { id title instructor { displayName } } } pageInfo { hasNextPage } } }"), "ok");
        assert_eq!(code(INTROSPECTION), "ok");
    }

    #[test]
    fn every_benchmark_query_is_within_the_limits() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/bench/queries");
        let mut files: Vec<_> = std::fs::read_dir(dir).expect("bench/queries").filter_map(Result::ok).collect();
        files.sort_by_key(|f| f.file_name());
        assert!(files.len() >= 8);
        for file in files {
            let text = std::fs::read_to_string(file.path()).expect("read");
            check_text(&text, &limits()).expect("text within limits");
            let document = async_graphql::parser::parse_query(&text).expect("parses");
            let [selections, depth, complexity, aliases, roots] = measure(&document, &Variables::default());
            println!(
                "{:?}: {} bytes, {} tokens, selections {selections}, depth {depth}, complexity {complexity}, aliases {aliases}, root fields {roots}",
                file.file_name(),
                text.len(),
                scan(&text).0
            );
            check_document(&document, &Variables::default(), &limits()).expect("within limits");
        }
        let document = async_graphql::parser::parse_query(INTROSPECTION).expect("parses");
        println!("introspection: {:?}", measure(&document, &Variables::default()));
    }

    #[test]
    fn fragments_that_fan_out_are_counted_expanded_without_expanding_them() {
        // each fragment spreads the next one ten times: 10^12 selections from a few hundred bytes
        let mut query = String::from("{ ...F0 }\n");
        for i in 0..12 {
            let spreads = (0..10).map(|_| format!("...F{}", i + 1)).collect::<Vec<_>>().join(" ");
            query.push_str(&format!("fragment F{i} on Query {{ {spreads} }}\n"));
        }
        query.push_str("fragment F12 on Query { categories { name } }\n");
        let started = std::time::Instant::now();
        assert_eq!(code(&query), "TOO_MANY_SELECTIONS");
        println!("a {}-byte document expanding to 10^12 selections refused in {:?}", query.len(), started.elapsed());
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
    }

    #[test]
    fn each_limit_has_its_code() {
        let deep = format!("{{ {}x{} }}", "a { ".repeat(20), " }".repeat(20));
        assert_eq!(code(&deep), "QUERY_TOO_DEEP");
        let nested = format!("{{ a(x: {}1{}) }}", "[".repeat(100), "]".repeat(100));
        assert_eq!(code(&nested), "DOCUMENT_TOO_DEEP");
        let aliases = format!("{{ {} }}", (0..40).map(|i| format!("a{i}: __typename")).collect::<Vec<_>>().join(" "));
        assert_eq!(code(&aliases), "TOO_MANY_ALIASES");
        let roots = format!("{{ {} }}", (0..25).map(|i| format!("f{i}")).collect::<Vec<_>>().join(" "));
        assert_eq!(code(&roots), "TOO_MANY_ROOT_FIELDS");
        let directives = "{ a @skip(if: false) @skip(if: false) @skip(if: false) @skip(if: false) @skip(if: false) @skip(if: false) }";
        assert_eq!(code(directives), "TOO_MANY_DIRECTIVES");
        // 100 courses × 100 enrolments × ... : a page of pages
        let complex =
            "{ courses(first: 100) { nodes { instructor { taughtCourses(first: 100) { nodes { id title } } } } } }";
        assert_eq!(code(complex), "QUERY_TOO_COMPLEX");
        let tokens = format!("{{ a(x: [{}]) }}", "1 ".repeat(6000));
        assert_eq!(code(&tokens), "TOO_MANY_TOKENS");
        let big = format!("{{ a(x: \"{}\") }}", "x".repeat(40_000));
        assert_eq!(code(&big), "DOCUMENT_TOO_LARGE");
    }

    #[test]
    fn a_variable_page_size_counts() {
        let query = "query($n: Int) { courses(first: $n) { nodes { instructor { taughtCourses(first: $n) { nodes { id title } } } } } }";
        let document = async_graphql::parser::parse_query(query).expect("parses");
        let vars = |n: u64| Variables::from_json(serde_json::json!({ "n": n }));
        assert!(check_document(&document, &vars(5), &limits()).is_ok());
        assert_eq!(check_document(&document, &vars(100), &limits()).map_err(|e| e.code), Err("QUERY_TOO_COMPLEX"));
    }

    #[test]
    fn root_fields_are_found_through_fragments() {
        let doc = |q: &str| async_graphql::parser::parse_query(q).expect("parses");
        let names = &["_service", "_entities"];
        assert!(selects_root_field(&doc("{ _service { sdl } }"), names));
        assert!(selects_root_field(
            &doc("{ ... on Query { ...F } } fragment F on Query { _entities(representations: []) { __typename } }"),
            names
        ));
        assert!(!selects_root_field(&doc("{ courses { nodes { _service: id } } }"), names));
    }

    #[test]
    fn the_scanner_skips_strings_and_comments() {
        assert_eq!(scan("{ a(x: \"{{{{ [[[ \") # {{{{\n }"), (8, 2));
        assert_eq!(scan("\"\"\" block { \"\"\" { b }"), (4, 1));
    }
}
