//! `/metrics`: each family is there and moves under traffic.

use serde_json::json;

use crate::support::{TestApp, TestDb};

/// The value of the first sample line that starts with `series` (0 when absent).
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

async fn scrape(app: &TestApp) -> String {
    let r = app.client().get(app.url("/metrics")).send().await.expect("send");
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"].to_str().unwrap_or("").starts_with("text/plain"));
    r.text().await.expect("text")
}

#[tokio::test]
async fn every_family_is_there_and_moves_under_traffic() {
    let db = TestDb::migrated().await;
    let app = TestApp::spawn(&db).await;
    let before = scrape(&app).await;
    for family in [
        "learngraph_graphql_request_duration_seconds",
        "learngraph_errors_total",
        "learngraph_pg_pool_connections",
        "learngraph_pg_statements_total",
        "learngraph_mongo_commands_total",
        "learngraph_read_model_fallbacks_total",
        "learngraph_requests_shed_total",
        "learngraph_connections_refused_total",
    ] {
        assert!(before.contains(&format!("# TYPE {family} ")), "{family} missing:\n{before}");
    }

    // traffic: 3 good queries, one that fails in execution, one refused by a limit
    for _ in 0..3 {
        app.graphql("{ categories { name } }", json!({})).await;
    }
    app.graphql("{ me { id } }", json!({})).await;
    let aliases = (0..31).map(|i| format!("a{i}: __typename")).collect::<Vec<_>>().join(" ");
    app.client()
        .post(app.url("/graphql"))
        .json(&json!({ "query": format!("{{ {aliases} }}") }))
        .send()
        .await
        .expect("send");
    let after = scrape(&app).await;

    let ok = "learngraph_graphql_request_duration_seconds_count{operation_type=\"query\",outcome=\"ok\"}";
    let failed = "learngraph_graphql_request_duration_seconds_count{operation_type=\"query\",outcome=\"error\"}";
    let under_10s =
        "learngraph_graphql_request_duration_seconds_bucket{operation_type=\"query\",outcome=\"ok\",le=\"10\"}";
    let sum = "learngraph_graphql_request_duration_seconds_sum{operation_type=\"query\",outcome=\"ok\"}";
    assert!(sample(&after, ok) - sample(&before, ok) >= 3.0, "{after}");
    assert!(sample(&after, failed) - sample(&before, failed) >= 1.0, "{after}");
    assert!(sample(&after, under_10s) - sample(&before, under_10s) >= 3.0, "{after}");
    assert!(sample(&after, sum) > sample(&before, sum), "{after}");
    for code in ["UNAUTHENTICATED", "TOO_MANY_ALIASES"] {
        let series = format!("learngraph_errors_total{{code=\"{code}\"}}");
        assert!(sample(&after, &series) - sample(&before, &series) >= 1.0, "{series}:\n{after}");
    }
    let statements = "learngraph_pg_statements_total";
    assert!(sample(&after, statements) > sample(&before, statements), "{after}");
    assert!(after.contains("learngraph_pg_pool_connections{state=\"idle\"}"), "{after}");
    app.stop().await;
}
