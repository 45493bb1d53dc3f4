//! The admin-only `ops` query: after a load run it reports real figures from PostgreSQL
//! (pg_stat_statements, index use, connections), MongoDB (collections, indexes) and the
//! projector.

use serde_json::{json, Value};

use crate::support::{ask, error_codes, first_row, sql_exec, token, TestApp, TestDb, TEST_JWT_SECRET};

const OPS: &str = "{ ops { \
    statements(first: 100) { query calls totalMs meanMs rows cacheHitRatio } \
    cacheHitRatio \
    indexes { table index scans tuplesRead sizeBytes } \
    connections { state application connections longestSeconds } \
    collections { name documents indexes { name key accesses } } \
    projector { backlog oldestPendingSeconds runningHere rowsProjected documentsWritten lagP50Seconds } } }";

#[tokio::test]
async fn ops_reports_real_figures_after_a_load_run_to_admins_only() {
    let db = TestDb::seeded_ci().await;
    // only this test's change for the projector (not the seed's thousands of rows: the shared
    // Mongo test server is slow, and other tests use it)
    sql_exec(&db.direct_url, "DELETE FROM outbox").await;
    let config = db.config(&[("AUTH_JWT_HS256_SECRET", TEST_JWT_SECRET), ("PROJECTOR_ENABLED", "true")]);
    // the read models' validators and indexes, as `migrate up` makes them (before the app's
    // projector creates the collections by writing to them)
    let mongo = learngraph::store::mongo::MongoStore::connect(&config.mongo, "learngraph-test").await.expect("mongo");
    mongo.apply_setup().await.expect("mongo setup");
    let app = TestApp::spawn_with(config).await;
    let admin =
        first_row(&db, "SELECT id::text FROM users WHERE role = 'admin' AND is_active ORDER BY id LIMIT 1").await;
    let student =
        first_row(&db, "SELECT id::text FROM users WHERE role = 'student' AND is_active ORDER BY id LIMIT 1").await;

    // only admins
    assert_eq!(error_codes(&ask(&app, None, OPS, json!({})).await), ["UNAUTHENTICATED"]);
    assert_eq!(error_codes(&ask(&app, Some(&token(&student, "student", 600)), OPS, json!({})).await), ["FORBIDDEN"]);

    // a load run: 30 course lists and 10 course pages, and a change for the projector
    let mut slugs = Vec::new();
    for _ in 0..30 {
        let page = app
            .graphql(
                "{ courses(first: 10) { nodes { slug title instructor { displayName } category { name } } } }",
                json!({}),
            )
            .await;
        assert!(page.get("errors").is_none(), "{page}");
        slugs = page["data"]["courses"]["nodes"]
            .as_array()
            .map(|n| n.iter().filter_map(|c| c["slug"].as_str().map(str::to_owned)).collect())
            .unwrap_or_default();
    }
    for slug in slugs.iter().take(10) {
        app.graphql("query($s: String) { course(slug: $s) { title lessons { title } } }", json!({ "s": slug })).await;
    }
    sql_exec(&db.direct_url, &format!("UPDATE courses SET title = title || '.' WHERE slug = '{}'", slugs[0])).await;
    let mut projected = Value::Null;
    for _ in 0..100 {
        let body = ask(&app, Some(&token(&admin, "admin", 600)), OPS, json!({})).await;
        assert!(body.get("errors").is_none(), "{body}");
        projected = body["data"]["ops"].clone();
        if projected["projector"]["rowsProjected"].as_i64() > Some(0) && projected["projector"]["backlog"] == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let ops = projected;

    // PostgreSQL: the list's statement, run at least 30 times, normalised (no literals)
    let statements = ops["statements"].as_array().expect("statements");
    assert!(!statements.is_empty(), "{ops}");
    let busiest = statements
        .iter()
        .filter(|s| s["query"].as_str().is_some_and(|q| q.contains("FROM \"courses\"") || q.contains("FROM courses")))
        .map(|s| s["calls"].as_i64().unwrap_or(0))
        .max()
        .unwrap_or(0);
    let listed: Vec<String> = statements
        .iter()
        .map(|s| format!("{} × {:.80}", s["calls"], s["query"].as_str().unwrap_or_default()))
        .collect();
    assert!(busiest >= 30, "no courses statement with 30 calls: {listed:#?}");
    for s in statements {
        let query = s["query"].as_str().unwrap_or_default();
        assert!(!query.contains(&slugs[0]), "a value in {query}");
        assert!(s["totalMs"].as_f64().is_some_and(|t| t >= 0.0) && s["calls"].as_i64() >= Some(1), "{s}");
        if let Some(ratio) = s["cacheHitRatio"].as_f64() {
            assert!((0.0..=1.0).contains(&ratio), "{s}");
        }
    }
    let ratio = ops["cacheHitRatio"].as_f64().expect("the database has read blocks");
    assert!(ratio > 0.0 && ratio <= 1.0, "{ratio}");

    // every index of the schema is listed, and the load used some
    let indexes = ops["indexes"].as_array().expect("indexes");
    for expected in ["courses_pkey", "users_pkey"] {
        assert!(indexes.iter().any(|i| i["index"] == expected), "{expected} missing: {indexes:#?}");
    }
    let scans: i64 = indexes.iter().filter_map(|i| i["scans"].as_i64()).sum();
    assert!(scans > 0, "{indexes:#?}");
    assert!(indexes.iter().all(|i| i["sizeBytes"].as_i64() > Some(0)), "{indexes:#?}");

    // connections: this very query's is active
    let connections = ops["connections"].as_array().expect("connections");
    assert!(
        connections.iter().any(|c| c["state"] == "active" && c["connections"].as_i64() >= Some(1)),
        "{connections:#?}"
    );

    // MongoDB: the read-model collections with their documents and indexes
    let collections = ops["collections"].as_array().expect("collections");
    let courses = collections.iter().find(|c| c["name"] == "courses").unwrap_or_else(|| panic!("{collections:#?}"));
    // what MongoDB itself counts (the projected course)
    let stored = mongo
        .database()
        .collection::<mongodb::bson::Document>("courses")
        .count_documents(mongodb::bson::doc! {})
        .await
        .expect("count");
    assert!(stored >= 1, "the projected course");
    assert_eq!(courses["documents"].as_i64(), Some(stored as i64), "{courses}");
    let names: Vec<&str> = courses["indexes"]
        .as_array()
        .map(|ix| ix.iter().filter_map(|i| i["name"].as_str()).collect())
        .unwrap_or_default();
    assert!(names.contains(&"_id_") && names.len() > 1, "{names:?}");

    // the projector took the change
    let projector = &ops["projector"];
    println!(
        "ops: {} statements (courses list: {busiest} calls), cache hit {ratio:.3}, {} indexes with {scans} scans, \
         {} connection groups, courses collection {} documents / {} indexes, projector {projector}",
        statements.len(),
        indexes.len(),
        connections.len(),
        courses["documents"],
        names.len()
    );
    assert_eq!(projector["runningHere"], true);
    assert_eq!(projector["backlog"], 0, "{projector}");
    assert!(projector["rowsProjected"].as_i64() > Some(0), "{projector}");
    assert!(projector["lagP50Seconds"].as_f64().is_some_and(|s| s >= 0.0), "{projector}");
    app.stop().await;
}
