//! Read-model documents kept in a replica's memory: a hot read costs no round trip; a course
//! page is dropped when a change to it commits (whichever replica or tool made it); a learner's
//! own writes are read back through kept progress on any replica, with MongoDB behind.

use std::{
    sync::atomic::Ordering,
    time::{Duration, Instant},
};

use serde_json::{json, Value};

use crate::support::{ask, data, first_row, sql_exec, token, TestApp, TestDb, TEST_JWT_SECRET};

async fn live(app: &TestApp) {
    let started = Instant::now();
    while !app.state.feed.is_live() {
        assert!(started.elapsed() < Duration::from_secs(20), "the change feed never went live");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// (SQL statements, MongoDB commands, documents served from memory) so far.
fn counters(app: &TestApp) -> (u64, u64, u64) {
    (
        app.pg_stats().statements(),
        app.state.mongo.stats().commands(),
        app.state.read_models.cache.hits.load(Ordering::Relaxed),
    )
}

const PAGE: &str = "query($id: ID!) { course(id: $id) { title lessons { title } } }";

#[tokio::test]
async fn a_kept_course_page_is_served_from_memory_until_a_change_to_it_commits() {
    let db = TestDb::seeded_ci().await;
    // this test's change only (the seed's rows would keep the projector busy)
    sql_exec(&db.direct_url, "DELETE FROM outbox").await;
    let writer =
        TestApp::spawn_with(db.config(&[("PROJECTOR_ENABLED", "true"), ("PROJECTOR_POLL_INTERVAL", "20")])).await;
    let reader = TestApp::spawn(&db).await;
    live(&reader).await;
    let course = first_row(&db, "SELECT id::text FROM courses WHERE is_published ORDER BY id LIMIT 1").await;
    // the page gets into MongoDB (the projector on the other replica writes it), then into this
    // replica's memory: pages built from PostgreSQL are not kept
    sql_exec(&db.direct_url, &format!("UPDATE courses SET updated_at = now() WHERE id = '{course}'")).await;
    let started = Instant::now();
    let first = loop {
        let first = ask(&reader, None, PAGE, json!({ "id": course })).await;
        let before = counters(&reader);
        let second = ask(&reader, None, PAGE, json!({ "id": course })).await;
        let after = counters(&reader);
        if after.2 > before.2 {
            assert_eq!(data(&second), data(&first));
            // served from memory: no statement, no MongoDB command
            assert_eq!((after.0 - before.0, after.1 - before.1, after.2 - before.2), (0, 0, 1));
            break first;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "the page was never kept");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(data(&first)["course"]["title"].is_string());

    // a change committed in PostgreSQL announces itself: this replica drops its copy at once,
    // serves MongoDB's older page without keeping it, and keeps the new one once the projector
    // has written it
    sql_exec(&db.direct_url, &format!("UPDATE courses SET title = 'Renamed by the cache test' WHERE id = '{course}'"))
        .await;
    let started = Instant::now();
    loop {
        let body = ask(&reader, None, PAGE, json!({ "id": course })).await;
        if data(&body)["course"]["title"] == json!("Renamed by the cache test") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the kept page was never dropped (course pages are kept up to 60 s): {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // and keeps the new one
    let before = counters(&reader);
    let body = ask(&reader, None, PAGE, json!({ "id": course })).await;
    assert_eq!(data(&body)["course"]["title"], json!("Renamed by the cache test"));
    assert_eq!(counters(&reader).2 - before.2, 1, "served from memory again");

    // a lost feed drops every kept page and keeps none until it is back
    reader.state.feed.stop();
    let before = counters(&reader);
    ask(&reader, None, PAGE, json!({ "id": course })).await;
    assert_eq!(counters(&reader).2, before.2, "nothing is served from memory without the feed");
    reader.stop().await;
    writer.stop().await;
}

const DASHBOARD: &str = "{ me { enrollments(first: 100) { nodes { course { id } progress { lessons { lessonId completionPercentage } } } } } }";

fn completion(body: &Value, course: &str, lesson: &str) -> Option<i64> {
    data(body)["me"]["enrollments"]["nodes"].as_array()?.iter().find(|n| n["course"]["id"] == json!(course))?
        ["progress"]["lessons"]
        .as_array()?
        .iter()
        .find(|l| l["lessonId"] == json!(lesson))?["completionPercentage"]
        .as_i64()
}

#[tokio::test]
async fn a_learners_write_through_one_replica_is_read_back_through_kept_progress_on_another() {
    let db = TestDb::seeded_ci().await;
    // MongoDB never catches up here: no projector runs, the documents stay as the seed left them
    let config = || db.config(&[("AUTH_JWT_HS256_SECRET", TEST_JWT_SECRET)]);
    let (writer, reader) = (TestApp::spawn_with(config()).await, TestApp::spawn_with(config()).await);
    let row = first_row(
        &db,
        "SELECT e.user_id::text || ' ' || e.course_id::text || ' ' || l.id::text FROM enrollments e \
         JOIN courses c ON c.id = e.course_id AND c.is_published JOIN lessons l ON l.course_id = e.course_id \
         WHERE NOT EXISTS (SELECT 1 FROM user_progress p WHERE p.user_id = e.user_id AND p.lesson_id = l.id) \
         ORDER BY e.user_id, l.id LIMIT 1",
    )
    .await;
    let [learner, course, lesson] = row.split(' ').collect::<Vec<_>>()[..] else { panic!("{row}") };
    let bearer = token(learner, "student", 600);

    // the reader keeps the learner's progress documents
    let first = ask(&reader, Some(&bearer), DASHBOARD, json!({})).await;
    assert_ne!(completion(&first, course, lesson), Some(40), "{first}");
    let before = counters(&reader);
    let again = ask(&reader, Some(&bearer), DASHBOARD, json!({})).await;
    assert_eq!(data(&again), data(&first));
    let after = counters(&reader);
    assert_eq!(after.1, before.1, "no MongoDB command: the progress documents were kept");
    assert!(after.2 > before.2, "served from memory");

    // the learner writes through the other replica, and reads through this one at once
    let wrote = ask(
        &writer,
        Some(&bearer),
        "mutation($l: ID!) { recordLessonProgress(lessonId: $l, completionPercentage: 40, timeSpentMinutes: 3, idempotencyKey: \"cache-ryw-1\") { overallCompletionPercentage } }",
        json!({ "l": lesson }),
    )
    .await;
    assert!(wrote.get("errors").is_none(), "{wrote}");
    let read = ask(&reader, Some(&bearer), DASHBOARD, json!({})).await;
    assert_eq!(completion(&read, course, lesson), Some(40), "the learner's own write, on the other replica: {read}");
    // the document built for the new version is kept too
    let before = counters(&reader);
    let read = ask(&reader, Some(&bearer), DASHBOARD, json!({})).await;
    assert_eq!(completion(&read, course, lesson), Some(40));
    assert_eq!(counters(&reader).1, before.1, "no MongoDB command");
    reader.stop().await;
    writer.stop().await;
}
