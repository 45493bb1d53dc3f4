//! `schema.graphql` is generated from the code; this fails when they drift.

#[test]
fn schema_graphql_matches_the_code() {
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql")).expect("schema.graphql");
    let generated = learngraph::graphql::sdl();
    assert!(
        committed == generated,
        "schema.graphql is out of date: run `cargo run -- sdl > schema.graphql` and review the diff"
    );
}

/// Every type, field, input field and enum value of the schema carries a description (the
/// built-in scalars excepted). Read from the SDL: a description is the string right above.
#[test]
fn every_type_and_field_is_documented() {
    let sdl = learngraph::graphql::sdl();
    let builtin_scalars = ["Decimal", "DateTime", "JSON", "UUID"];
    let mut undocumented = Vec::new();
    let mut described = false;
    let mut in_description = false;
    let mut current: Option<String> = None;
    for line in sdl.lines().map(str::trim) {
        if line.starts_with("\"\"\"") {
            let one_line = line.len() > 3 && line.ends_with("\"\"\"");
            if !one_line {
                in_description = !in_description;
            }
            if one_line || !in_description {
                described = true;
            }
            continue;
        }
        if in_description || line.is_empty() {
            continue;
        }
        if line.starts_with('"') {
            described = true;
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [kind, name, ..] if ["type", "input", "enum", "interface", "union", "scalar"].contains(kind) => {
                let name = name.trim_end_matches('{');
                if !(described || *kind == "scalar" && builtin_scalars.contains(&name)) {
                    undocumented.push(format!("{kind} {name}"));
                }
                current = Some(name.to_owned());
            }
            ["}"] => current = None,
            [first, ..] if current.is_some() && !first.starts_with("schema") && !first.starts_with("directive") => {
                let field: String = first.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                if !described && !field.is_empty() {
                    undocumented.push(format!("{}.{field}", current.as_deref().unwrap_or("?")));
                }
            }
            _ => {}
        }
        described = false;
    }
    assert!(undocumented.is_empty(), "undocumented: {undocumented:?}");
}
