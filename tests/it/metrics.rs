//! `/metrics`: each family is there and moves under traffic.

use serde_json::json;

use crate::support::{sql_exec, TestApp, TestDb};

/// The value of the first sample line that starts with `series` (0 when absent).
/// The value of `series`, 0 when it is not there.
fn sample(text: &str, series: &str) -> f64 {
    value(text, series).unwrap_or(0.0)
}

/// The value of `series`, if the scrape has it.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

async fn scrape(app: &TestApp) -> String {
    let r = app.client().get(app.url("/metrics")).send().await.expect("send");
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"].to_str().unwrap_or("").starts_with("text/plain"));
    r.text().await.expect("text")
}

#[tokio::test]
async fn every_family_is_there_and_moves_under_traffic() {
    let db = TestDb::seeded_ci().await;
    // the projector gets this test's change only (not the seed's rows: the Mongo test server is
    // slow and shared)
    sql_exec(&db.direct_url, "DELETE FROM outbox").await;
    let app = TestApp::spawn_with(db.config(&[("PROJECTOR_ENABLED", "true")])).await;
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
        "learngraph_graphql_operations_total",
        "learngraph_loader_batch_keys",
        "learngraph_mongo_pool_connections",
        "learngraph_mongo_pool_checkouts_total",
        "learngraph_mongo_pool_wait_seconds_total",
        "learngraph_pg_pool_acquire_timeouts_total",
        "learngraph_limit_rejections_total",
        "learngraph_projector_rows_total",
        "learngraph_projector_lag_seconds",
        "learngraph_projector_backlog_rows",
        "learngraph_projector_backlog_oldest_seconds",
    ] {
        assert!(before.contains(&format!("# TYPE {family} ")), "{family} missing:\n{before}");
    }

    // traffic: 3 good queries, one that fails in execution, one refused by a limit
    for _ in 0..3 {
        app.graphql("{ categories { name } }", json!({})).await;
    }
    app.graphql("{ me { id } }", json!({})).await;
    // named: a list with batched lookups, and a course page (MongoDB's read model)
    let listed = app
        .graphql(
            "query MetricsList { courses(first: 5) { nodes { slug instructor { displayName } category { name } } } }",
            json!({}),
        )
        .await;
    let slug = listed["data"]["courses"]["nodes"][0]["slug"].as_str().expect("a course").to_owned();
    app.graphql("query MetricsPage($slug: String) { course(slug: $slug) { title } }", json!({ "slug": slug })).await;
    // a change for the projector to carry into the read models
    sql_exec(&db.direct_url, &format!("UPDATE courses SET title = title || ' (updated)' WHERE slug = '{slug}'")).await;
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
    let inf = "learngraph_graphql_request_duration_seconds_bucket{operation_type=\"query\",outcome=\"ok\",le=\"+Inf\"}";
    assert_eq!(sample(&after, inf), sample(&after, ok), "+Inf is the count");
    assert!(sample(&after, inf) >= sample(&after, under_10s), "buckets are cumulative");
    for code in ["UNAUTHENTICATED", "TOO_MANY_ALIASES"] {
        let series = format!("learngraph_errors_total{{code=\"{code}\"}}");
        assert!(sample(&after, &series) - sample(&before, &series) >= 1.0, "{series}:\n{after}");
    }
    let statements = "learngraph_pg_statements_total";
    assert!(sample(&after, statements) > sample(&before, statements), "{after}");
    assert!(after.contains("learngraph_pg_pool_connections{state=\"idle\"}"), "{after}");

    let list = "learngraph_graphql_operations_total{operation=\"MetricsList\",operation_type=\"query\",outcome=\"ok\"}";
    assert_eq!(sample(&after, list) - sample(&before, list), 1.0, "{after}");
    let anonymous =
        "learngraph_graphql_operations_total{operation=\"anonymous\",operation_type=\"query\",outcome=\"ok\"}";
    assert!(sample(&after, anonymous) - sample(&before, anonymous) >= 3.0, "{after}");
    for loader in ["UserById", "CategoryById"] {
        let batches = format!("learngraph_loader_batch_keys_count{{loader=\"{loader}\"}}");
        let keys = format!("learngraph_loader_batch_keys_sum{{loader=\"{loader}\"}}");
        assert!(sample(&after, &batches) > sample(&before, &batches), "{batches}:\n{after}");
        assert!(sample(&after, &keys) > sample(&before, &keys), "{keys}:\n{after}");
    }
    let checkouts = "learngraph_mongo_pool_checkouts_total{outcome=\"ok\"}";
    assert!(sample(&after, checkouts) > sample(&before, checkouts), "{after}");
    let rejected = "learngraph_limit_rejections_total{code=\"TOO_MANY_ALIASES\"}";
    assert!(sample(&after, rejected) - sample(&before, rejected) >= 1.0, "{after}");

    // the projector takes the change: its rows move and the backlog drains to 0
    let mut projected = scrape(&app).await;
    for _ in 0..100 {
        if sample(&projected, "learngraph_projector_rows_total") > sample(&before, "learngraph_projector_rows_total")
            && value(&projected, "learngraph_projector_backlog_rows") == Some(0.0)
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        projected = scrape(&app).await;
    }
    assert!(
        sample(&projected, "learngraph_projector_rows_total") > sample(&before, "learngraph_projector_rows_total"),
        "{projected}"
    );
    assert_eq!(value(&projected, "learngraph_projector_backlog_rows"), Some(0.0), "{projected}");
    assert!(projected.contains("learngraph_projector_lag_seconds{quantile=\"0.5\"}"), "{projected}");
    app.stop().await;
}
