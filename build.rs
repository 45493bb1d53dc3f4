//! Embeds GraphiQL's browser bundle (installed from npm by scripts/graphiql-assets into
//! .cache/graphiql, or LEARNGRAPH_GRAPHIQL_DIR) in the binary. Without it the build still
//! succeeds, and the GraphiQL page says how to install it.
//!
//! The assets are served under `/graphiql/<version>/` and cached for a year, so the version
//! names their content: GraphiQL's npm version and a hash of our own page script and style.

use std::{env, fs, path::PathBuf};

/// Environment variable the code reads with `include_bytes!(env!(..))`, and the file under
/// node_modules.
const ASSETS: [(&str, &str); 4] = [
    ("LG_GRAPHIQL_JS", "graphiql/graphiql.min.js"),
    ("LG_GRAPHIQL_CSS", "graphiql/graphiql.min.css"),
    ("LG_REACT_JS", "react/umd/react.production.min.js"),
    ("LG_REACT_DOM_JS", "react-dom/umd/react-dom.production.min.js"),
];

/// Our own files the page loads from `/graphiql/<version>/`.
const OURS: [&str; 2] = ["graphiql/init.js", "graphiql/page.css"];

/// FNV-1a, 64 bits: enough to tell versions of two small files apart.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3))
}

fn main() {
    println!("cargo:rerun-if-env-changed=LEARNGRAPH_GRAPHIQL_DIR");
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let dir =
        env::var("LEARNGRAPH_GRAPHIQL_DIR").map(PathBuf::from).unwrap_or_else(|_| manifest.join(".cache/graphiql"));
    let modules = dir.join("node_modules");
    println!("cargo:rerun-if-changed={}", dir.join("installed").display());
    let complete = ASSETS.iter().all(|(_, file)| modules.join(file).is_file());
    for (var, file) in ASSETS {
        let path = if complete {
            modules.join(file)
        } else {
            let empty = out.join(var);
            fs::write(&empty, b"").expect("OUT_DIR is writable");
            empty
        };
        println!("cargo:rustc-env={var}={}", path.display());
    }
    let version = fs::read_to_string(modules.join("graphiql/package.json"))
        .ok()
        .and_then(|text| {
            let at = text.find("\"version\"")?;
            let rest = &text[at + 9..];
            let start = rest.find('"')? + 1;
            let end = start + rest[start..].find('"')?;
            Some(rest[start..end].to_owned())
        })
        .filter(|_| complete)
        .unwrap_or_else(|| "missing".to_owned());
    let mut ours = Vec::new();
    for file in OURS {
        let path = manifest.join(file);
        println!("cargo:rerun-if-changed={}", path.display());
        ours.extend(fs::read(&path).expect("the GraphiQL page's own files are in the repository"));
    }
    println!("cargo:rustc-env=LG_GRAPHIQL_VERSION={version}-{:016x}", fnv1a(&ours));
    if !complete {
        println!("cargo:warning=GraphiQL's assets are not installed (run scripts/graphiql-assets): the GraphiQL page will say so");
    }
}
