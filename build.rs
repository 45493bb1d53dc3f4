//! Embeds GraphiQL's browser bundle in the binary. A plain `cargo build` brings it: when
//! `.cache/graphiql` (or LEARNGRAPH_GRAPHIQL_DIR) does not hold the versions
//! `graphiql/package-lock.json` pins, this runs `npm ci` there (what scripts/graphiql-assets
//! does). Without npm, or offline, the build still succeeds and the GraphiQL page says how
//! to install the assets; a failed install is not retried on every build (a `failed` marker,
//! which scripts/graphiql-assets removes); LEARNGRAPH_GRAPHIQL_OFFLINE=1 skips the install.
//!
//! The assets are served under `/graphiql/<version>/` and cached for a year, so the version
//! names their content: GraphiQL's npm version and a hash of our own page script and style.

use std::{
    env, fs,
    path::{Path, PathBuf},
    process::Command,
};

use sha2::{Digest, Sha256};

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

/// What the bundle is installed from (pinned versions and integrity hashes).
const MANIFESTS: [&str; 2] = ["graphiql/package.json", "graphiql/package-lock.json"];

/// FNV-1a, 64 bits: enough to tell versions of two small files apart.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3))
}

fn main() {
    println!("cargo:rerun-if-env-changed=LEARNGRAPH_GRAPHIQL_DIR");
    println!("cargo:rerun-if-env-changed=LEARNGRAPH_GRAPHIQL_OFFLINE");
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let dir =
        env::var("LEARNGRAPH_GRAPHIQL_DIR").map(PathBuf::from).unwrap_or_else(|_| manifest.join(".cache/graphiql"));
    // only files that exist are watched: a missing one would rerun this script on every build
    let mut pinned = Vec::new();
    for file in MANIFESTS {
        let path = manifest.join(file);
        println!("cargo:rerun-if-changed={}", path.display());
        pinned.extend(fs::read(&path).expect("GraphiQL's package files are in the repository"));
    }
    let want = format!("{:x}", Sha256::digest(&pinned));
    let modules = dir.join("node_modules");
    let complete = |modules: &Path| ASSETS.iter().all(|(_, file)| modules.join(file).is_file());
    let installed = fs::read_to_string(dir.join("installed")).is_ok_and(|have| have.trim() == want);
    // An install that failed is not tried again on every build (offline, each would wait for
    // npm's timeouts): `failed` remembers it for these pins; scripts/graphiql-assets (or
    // deleting the file) retries.
    let failed = dir.join("failed");
    let mut problem = None;
    if !(installed && complete(&modules)) {
        if env::var_os("LEARNGRAPH_GRAPHIQL_OFFLINE").is_some() {
            problem = Some("LEARNGRAPH_GRAPHIQL_OFFLINE is set".to_owned());
            mark(&failed, &format!("offline {want}"));
        } else if fs::read_to_string(&failed).is_ok_and(|f| f.trim() == want) {
            problem = Some(format!(
                "an earlier install failed; run scripts/graphiql-assets (or delete {})",
                failed.display()
            ));
        } else if let Err(e) = install(&manifest, &dir, &want) {
            mark(&failed, &want);
            problem = Some(e);
        } else {
            let _ = fs::remove_file(&failed);
        }
    }
    let complete = complete(&modules);
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
    if complete {
        // a later install (scripts/graphiql-assets) or a removed folder rebuilds the embed
        println!("cargo:rerun-if-changed={}", dir.join("installed").display());
    } else {
        // the failure's marker is watched: scripts/graphiql-assets removes it when it installs
        if failed.exists() {
            println!("cargo:rerun-if-changed={}", failed.display());
        }
        let why = problem.unwrap_or_else(|| "the install left files missing".to_owned());
        println!("cargo:warning=GraphiQL's assets could not be installed ({why}): the GraphiQL page will say so");
    }
}

/// Writes a marker file (its folder made first); a marker that cannot be written is no worse
/// than none.
fn mark(path: &Path, text: &str) {
    let text = format!("{text}\n");
    if fs::read_to_string(path).is_ok_and(|have| have == text) {
        return; // unchanged: rewriting it would make cargo run this script again
    }
    if let Some(parent) = path.parent() {
        let _ = fs::create_dir_all(parent);
    }
    let _ = fs::write(path, text);
}

/// `npm ci` of the pinned bundle into `dir`, marked with the manifests' hash when it succeeds.
fn install(manifest: &Path, dir: &Path, want: &str) -> Result<(), String> {
    fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    for file in MANIFESTS {
        let name = Path::new(file).file_name().unwrap_or_default();
        let (from, to) = (manifest.join(file), dir.join(name));
        if fs::read(&from).ok() != fs::read(&to).ok() {
            fs::copy(&from, &to).map_err(|e| format!("cannot copy {file}: {e}"))?;
        }
    }
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"])
        .current_dir(dir)
        .status()
        .map_err(|e| format!("npm could not run: {e}"))?;
    if !status.success() {
        return Err(format!("npm ci failed ({status})"));
    }
    fs::write(dir.join("installed"), format!("{want}\n")).map_err(|e| format!("cannot mark the install: {e}"))
}
