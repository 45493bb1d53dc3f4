//! GraphiQL, served by the service itself: in a real browser with every other host blocked,
//! and its switch and asset headers over plain HTTP.

use crate::support::{ServiceProcess, TestApp, TestDb};

#[tokio::test]
async fn graphiql_runs_the_discovery_example_in_a_real_browser_with_no_other_host() {
    let modules = std::env::var("LG_NODE_MODULES")
        .expect("LG_NODE_MODULES is not set: run the tests with scripts/test (it installs playwright-core)");
    let db = TestDb::seeded_ci().await;
    let service = ServiceProcess::start(&db, &[("GRAPHIQL", "true")]).await;
    let origin = service.url.trim_end_matches("/graphql").to_owned();
    // kept as the test's artifact
    let artifacts = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
    std::fs::create_dir_all(&artifacts).expect("artifacts folder");
    let shot = artifacts.join("graphiql.png");
    let _ = std::fs::remove_file(&shot);
    let output = tokio::process::Command::new("node")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/node/graphiql.cjs"))
        .arg(&origin)
        .arg(&shot)
        .env("LG_NODE_MODULES", modules)
        .output()
        .await
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report: serde_json::Value = stdout
        .lines()
        .last()
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("no report: {stdout}\n{}", String::from_utf8_lossy(&output.stderr)));
    println!(
        "graphiql: screenshot {}; {} requests; tabs {}",
        shot.display(),
        report["requests"].as_array().map_or(0, Vec::len),
        report["tabs"]
    );
    assert_eq!(report["errors"], serde_json::json!([]), "{report:#}");
    assert_eq!(report["blocked"], serde_json::json!([]), "the page asked another host: {report:#}");
    assert_eq!(report["status"], 200);
    assert!(report["csp"]
        .as_str()
        .is_some_and(|c| c.contains("default-src 'none'") && c.contains("script-src 'self'")));
    // its scripts came from the service
    let version = learngraph::http::graphiql_version();
    let requests: Vec<&str> =
        report["requests"].as_array().map(|r| r.iter().filter_map(|u| u.as_str()).collect()).unwrap_or_default();
    assert!(requests.contains(&format!("/graphiql/{version}/graphiql.min.js").as_str()), "{requests:?}");
    // one example per domain, and the discovery one answered with the seeded courses
    assert!(report["tabs"].as_array().is_some_and(|t| t.len() >= 4), "{}", report["tabs"]);
    // the first tab opens with its variables as well as its query
    assert!(report["variables"].as_str().is_some_and(|v| v.contains("\"first\": 10")), "{}", report["variables"]);
    let result = report["result"].as_str().unwrap_or_default();
    let total = crate::support::first_row(&db, "SELECT count(*)::text FROM courses WHERE is_published").await;
    assert!(result.contains(&format!("\"totalCount\": {total}")), "{result}");
    let size = std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0);
    assert!(size > 20_000, "screenshot of {size} bytes");
}

#[tokio::test]
async fn graphiql_is_switched_off_with_its_assets_and_assets_are_cached() {
    let db = TestDb::migrated().await;
    let version = learngraph::http::graphiql_version();
    let asset = format!("/graphiql/{version}/graphiql.min.js");
    let on = TestApp::spawn_with(db.config(&[("GRAPHIQL", "true")])).await;
    let page = on.client().get(on.url("/graphql")).header("accept", "text/html").send().await.expect("page");
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-security-policy"].to_str().unwrap_or("").contains("connect-src 'self'"));
    let js = on.client().get(on.url(&asset)).send().await.expect("asset");
    assert_eq!(js.status(), 200);
    assert_eq!(js.headers()["cache-control"], "public, max-age=31536000, immutable");
    assert!(js.bytes().await.expect("body").len() > 100_000, "the bundle is embedded");
    assert_eq!(on.client().get(on.url("/graphiql/0.0.0/graphiql.min.js")).send().await.expect("old").status(), 404);
    assert_eq!(
        on.client().get(on.url(&format!("/graphiql/{version}/../Cargo.toml"))).send().await.expect("x").status(),
        404
    );
    on.stop().await;

    let off = TestApp::spawn_with(db.config(&[("GRAPHIQL", "false")])).await;
    let page = off.client().get(off.url("/graphql")).header("accept", "text/html").send().await.expect("page");
    assert_eq!(page.status(), 404);
    assert_eq!(off.client().get(off.url(&asset)).send().await.expect("asset").status(), 404);
    off.stop().await;
}
