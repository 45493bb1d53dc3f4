//! `/healthz` and `/readyz`: readiness names the store that is down, and recovers by itself.

use std::time::{Duration, Instant};

use crate::support::{free_port, tool, wait_for_port, Child, TestApp, TestDb};

pub(crate) fn start_secantus(port: u16) -> Child {
    let child = std::process::Command::new(tool("LG_SECANTUS_BIN"))
        .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--storage-path", ":memory:"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start SecantusDB");
    Child(child)
}

#[tokio::test]
async fn readyz_names_mongo_when_it_is_down_and_recovers_within_five_seconds() {
    // Setup: a Mongo server of this test's own
    let port = free_port();
    let mongo = start_secantus(port);
    wait_for_port(port, Duration::from_secs(20)).await;
    let db = TestDb::migrated().await;
    let uri = format!("mongodb://127.0.0.1:{port}/");
    let app = TestApp::spawn_with(db.config(&[("MONGODB_URI", &uri)])).await;
    app.warm_mongo().await;

    let (status, body) = app.get_json("/healthz").await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));
    let (status, body) = app.get_json("/readyz").await;
    assert_eq!(status, 200, "{body}");

    // Exec: Mongo goes away
    drop(mongo);
    let (status, body) = app.get_json("/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["down"], serde_json::json!(["mongo"]));
    assert_eq!(body["checks"]["postgres"], "up");
    // the liveness probe does not depend on the stores
    assert_eq!(app.get_json("/healthz").await.0, 200);
    // a probe that needs PostgreSQL alone (reads fall back to it) stays ready, and still says
    // which store is down; an unknown store is a bad request
    let (status, body) = app.get_json("/readyz?require=postgres").await;
    assert_eq!((status, &body["down"]), (200, &serde_json::json!(["mongo"])), "{body}");
    assert_eq!(app.get_json("/readyz?require=postgres,mongo").await.0, 503);
    let (status, body) = app.get_json("/readyz?require=redis").await;
    assert_eq!((status, body["code"].as_str()), (400, Some("BAD_REQUEST")), "{body}");

    // Mongo comes back on the same port: ready again within 5 s
    let _mongo = start_secantus(port);
    wait_for_port(port, Duration::from_secs(20)).await;
    let back = Instant::now();
    loop {
        let (status, body) = app.get_json("/readyz").await;
        if status == 200 {
            break;
        }
        assert!(back.elapsed() < Duration::from_secs(5), "still {status} {body} after {:?}", back.elapsed());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("readyz recovered {:?} after Mongo was back", back.elapsed());
    app.stop().await;
}

#[tokio::test]
async fn shutdown_lets_in_flight_requests_finish() {
    // Setup: a slow loader (half a second per batch) makes a request that is still running
    // when shutdown starts
    let db = TestDb::seeded_ci().await;
    let app = TestApp::spawn_with(db.config(&[("LOADER_DELAY_MICROS", "500000")])).await;
    let client = app.client().clone();
    let url = app.url("/graphql");
    let in_flight = tokio::spawn(async move {
        client
            .post(url)
            .json(&serde_json::json!({ "query": "{ courses(first: 3) { nodes { category { name } } } }" }))
            .send()
            .await
    });
    app.wait_for_requests_in_flight(1).await;

    // Exec: shut down while it runs
    let addr = app.addr;
    let started = Instant::now();
    app.stop().await;

    // Check: the request got its full answer, and new connections are refused
    let response = in_flight.await.expect("task").expect("the in-flight request was answered");
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["data"]["courses"]["nodes"].as_array().map(Vec::len), Some(3), "{body}");
    assert!(started.elapsed() >= Duration::from_millis(200), "shutdown waited for the request");
    assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "still accepting after shutdown");
}

#[tokio::test]
async fn metrics_count_statements_mongo_commands_and_read_model_hits() {
    let db = TestDb::seeded_ci().await;
    let app = TestApp::spawn(&db).await;
    let scrape = || async {
        let text = app.client().get(app.url("/metrics")).send().await.expect("send").text().await.expect("text");
        let value = |name: &str| -> u64 {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{name} ")))
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{name} missing from {text}"))
        };
        (
            value("learngraph_pg_statements_total"),
            value("learngraph_mongo_commands_total"),
            value("learngraph_read_model_mongo_hits_total") + value("learngraph_read_model_fallbacks_total"),
        )
    };
    let before = scrape().await;
    let slug = crate::support::sql_column(&db.direct_url, "SELECT slug FROM courses WHERE is_published LIMIT 1")
        .await
        .remove(0);
    let body = app
        .graphql(
            "query($s: String!) { course(slug: $s) { title category { name } } }",
            serde_json::json!({ "s": slug }),
        )
        .await;
    assert!(body["data"]["course"]["title"].is_string(), "{body}");
    let after = scrape().await;
    assert!(after.0 > before.0, "statements counted: {before:?} → {after:?}");
    assert!(after.1 > before.1, "Mongo commands counted: {before:?} → {after:?}");
    assert_eq!(after.2, before.2 + 1, "one course document, from Mongo or built");
    app.stop().await;
}
