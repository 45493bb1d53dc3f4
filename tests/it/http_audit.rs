//! GraphQL over HTTP, as the `graphql-http` package audits a server (its `auditServer`, run
//! by node against the running service): no MUST fails, and a SHOULD warns only where this
//! file lists it with the reason (the README repeats them).

use serde_json::Value;

use crate::support::{TestApp, TestDb};

/// SHOULD audits the service does not follow, by audit id, and why.
const ACCEPTED_WARNINGS: &[(&str, &str)] = &[];

#[tokio::test]
async fn graphql_over_http_audits_pass() {
    let db = TestDb::migrated().await;
    let app = TestApp::spawn(&db).await;
    let modules = std::env::var("LG_NODE_MODULES")
        .expect("LG_NODE_MODULES is not set: run the tests with scripts/test (it installs graphql-http)");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/node/http_audit.cjs");
    let url = app.url("/graphql");
    // node runs beside the service, which answers on this test's runtime: not on its thread
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("node").arg(script).arg(url).env("LG_NODE_MODULES", modules).output()
    })
    .await
    .expect("join")
    .expect("node runs");
    assert!(output.status.success(), "the audit failed to run: {}", String::from_utf8_lossy(&output.stderr));
    let results: Vec<Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    assert!(results.len() >= 30, "the audits ran: {}", results.len());
    let accepted = |id: &Value| ACCEPTED_WARNINGS.iter().any(|(a, _)| id == a);
    let failing: Vec<&Value> =
        results.iter().filter(|r| r["status"] == "error" || (r["status"] == "warn" && !accepted(&r["id"]))).collect();
    let passed = results.iter().filter(|r| r["status"] == "ok").count();
    println!("graphql-http audits: {passed} of {} ok", results.len());
    assert!(
        failing.is_empty(),
        "failing audits:\n{}",
        failing.iter().map(|r| r.to_string()).collect::<Vec<_>>().join("\n")
    );
    // and the one MAY this service promises: a mutation over GET is refused
    let get_mutation = results.iter().find(|r| r["id"] == "9C48").expect("the GET mutation audit ran");
    assert_eq!(get_mutation["status"], "ok", "{get_mutation}");
    app.stop().await;
}
