//! The read models: outbox → projector → MongoDB, rebuild and verify, the PostgreSQL fallback.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use futures::TryStreamExt;
use learngraph::{
    projection::{
        maintain::{self, Difference},
        projector::Projector,
    },
    store::{mongo::MongoStore, pg::PgStore},
};
use mongodb::bson::{doc, Bson, Document};
use rand::{Rng, SeedableRng};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use serde_json::{json, Value};

use crate::support::{data, free_port, sql_column, stack, tool, wait_for_port, Child, TestApp, TestDb};

/// The stores of a test database, with Mongo's collections and validators in place.
async fn stores(db: &TestDb, mongo_uri: &str) -> (DatabaseConnection, MongoStore) {
    let config = db.config(&[("MONGODB_URI", mongo_uri)]);
    let pg = PgStore::connect(&config.postgres).await.expect("postgres");
    let mongo = MongoStore::connect(&config.mongo, "learngraph-test").await.expect("mongo");
    mongo.apply_setup().await.expect("validators and indexes");
    (pg.db().clone(), mongo)
}

async fn assert_verified(pg: &DatabaseConnection, mongo: &MongoStore) -> u64 {
    let (checked, differences) = maintain::verify(pg, mongo).await.expect("verify runs");
    assert!(
        differences.is_empty(),
        "{} differences, first: {:?}",
        differences.len(),
        &differences[..differences.len().min(5)]
    );
    checked
}

async fn outbox_len(db: &TestDb) -> i64 {
    sql_column(&db.direct_url, "SELECT count(*)::text FROM outbox").await[0].parse().expect("count")
}

#[tokio::test]
async fn rebuild_then_verify_and_verify_finds_every_kind_of_difference() {
    let db = TestDb::seeded_ci().await;
    let (pg, mongo) = stores(&db, &stack().mongo_uri).await;
    let report = maintain::rebuild(&pg, &mongo).await.expect("rebuild");
    let counts: Vec<u64> = report.kinds.iter().map(|(_, n, _)| *n).collect();
    assert_eq!(counts, [130, 1285, 845], "courses, progress documents (one per enrolment), attempts");
    let checked = assert_verified(&pg, &mongo).await;
    assert_eq!(checked, 130 + 1285 + 845);

    // the projector then finds every outbox row already projected
    let projector = Projector::new(pg.clone(), mongo.clone(), 500, Duration::from_secs(10));
    projector.drain().await.expect("drain");
    assert_eq!(projector.stats.documents_written.load(Ordering::Relaxed), 0, "nothing left to write");
    assert_eq!(outbox_len(&db).await, 0);

    // break the read models three ways
    let courses = mongo.database().collection::<Document>("courses");
    let one = courses.find_one(doc! {}).await.expect("find").expect("a course");
    courses
        .update_one(doc! { "_id": one.get("_id").cloned() }, doc! { "$set": { "title": "tampered" } })
        .await
        .expect("update");
    let progress = mongo.database().collection::<Document>("user_progress");
    let gone = progress.find_one(doc! {}).await.expect("find").expect("progress");
    progress.delete_one(doc! { "_id": gone.get("_id").cloned() }).await.expect("delete");
    let mut orphan = one.clone();
    orphan.insert("_id", Bson::from(learngraph::projection::docs::bin(uuid::Uuid::from_u128(7))));
    orphan.insert("slug", "orphan-course");
    courses.insert_one(orphan).await.expect("insert orphan");

    let (_, differences) = maintain::verify(&pg, &mongo).await.expect("verify");
    assert_eq!(differences.len(), 3, "{differences:?}");
    assert!(differences.iter().any(|d| matches!(d, Difference::Stale { fields, .. } if fields == &["title"])));
    assert!(differences.iter().any(|d| matches!(d, Difference::Missing { .. })));
    assert!(differences
        .iter()
        .any(|d| matches!(d, Difference::Orphan { key, .. } if key == &uuid::Uuid::from_u128(7).to_string())));

    let report = maintain::rebuild(&pg, &mongo).await.expect("rebuild");
    assert_eq!(report.removed, 1);
    assert_verified(&pg, &mongo).await;
}

/// Single-statement changes to a small set of shared aggregates, as `writers` concurrent tasks.
async fn write_load(db: &TestDb, writers: usize, changes_each: usize, seed: u64) {
    paced_write_load(db, writers, changes_each, seed, None).await
}

/// The same, each writer pausing `pace` between changes.
async fn paced_write_load(db: &TestDb, writers: usize, changes_each: usize, seed: u64, pace: Option<Duration>) {
    let courses = sql_column(&db.direct_url, "SELECT id::text FROM courses ORDER BY id LIMIT 8").await;
    let progress = sql_column(
        &db.direct_url,
        "SELECT user_id::text || ',' || lesson_id::text FROM user_progress ORDER BY id LIMIT 24",
    )
    .await;
    let attempts = sql_column(&db.direct_url, "SELECT id::text FROM quiz_attempts ORDER BY id LIMIT 8").await;
    let url = db.pooled_url.clone();
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let (courses, progress, attempts, url) = (courses.clone(), progress.clone(), attempts.clone(), url.clone());
            tokio::spawn(async move {
                let db = sea_orm::Database::connect(&url).await.expect("connect");
                let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed + w as u64);
                for i in 0..changes_each {
                    let sql = match rng.gen_range(0..4) {
                        0 => {
                            let c = &courses[rng.gen_range(0..courses.len())];
                            format!("UPDATE courses SET title = 'Title {w}-{i}' WHERE id = '{c}'")
                        }
                        1 | 2 => {
                            let p = &progress[rng.gen_range(0..progress.len())];
                            let (u, l) = p.split_once(',').expect("pair");
                            format!(
                                "UPDATE user_progress SET time_spent_minutes = time_spent_minutes + 1, \
                                 completion_percentage = {}, last_accessed_at = now() \
                                 WHERE user_id = '{u}' AND lesson_id = '{l}'",
                                rng.gen_range(0..=100)
                            )
                        }
                        _ => {
                            let a = &attempts[rng.gen_range(0..attempts.len())];
                            format!("UPDATE quiz_attempts SET score = {} WHERE id = '{a}'", rng.gen_range(0..=100))
                        }
                    };
                    // a store restarting under the load: retry the change until it commits
                    let mut tries = 0;
                    while let Err(e) = db.execute_unprepared(&sql).await {
                        tries += 1;
                        assert!(tries < 200, "{sql}: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    if let Some(pause) = pace {
                        tokio::time::sleep(pause).await;
                    }
                }
                db.close().await.expect("close");
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("writer");
    }
}

#[tokio::test]
async fn concurrent_writers_and_two_projectors_end_with_the_last_committed_version() {
    // Setup
    let db = TestDb::seeded_ci().await;
    let (pg, mongo) = stores(&db, &stack().mongo_uri).await;
    maintain::rebuild(&pg, &mongo).await.expect("rebuild");
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let projectors: Vec<Projector> =
        (0..2).map(|_| Projector::new(pg.clone(), mongo.clone(), 500, Duration::from_secs(10))).collect();
    let running: Vec<_> =
        projectors.iter().map(|p| tokio::spawn(p.clone().run(Duration::from_millis(20), stopped.clone()))).collect();

    // a watcher: no document's version ever goes backwards
    let (watching, watcher) = watch_versions(&mongo);

    // Exec: 8 writers, 5,200 changes to shared aggregates
    let started = Instant::now();
    write_load(&db, 8, 650, 1).await;
    let wrote_for = started.elapsed();
    let caught_up = Instant::now();
    while outbox_len(&db).await > 0 {
        assert!(caught_up.elapsed() < Duration::from_secs(60), "the projectors do not catch up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let drained_after = caught_up.elapsed();
    let _ = stop.send(true);
    for r in running {
        r.await.expect("projector");
    }
    watching.store(false, Ordering::Relaxed);
    let regressions = watcher.await.expect("watcher");

    // Check
    assert!(regressions.is_empty(), "versions went backwards: {regressions:?}");
    assert_verified(&pg, &mongo).await;
    let both_worked = projectors.iter().all(|p| p.stats.rounds.load(Ordering::Relaxed) > 0);
    assert!(both_worked, "both projectors took rounds");
    let (p50, p99) = (projectors[0].stats.lag_quantile(0.5), projectors[0].stats.lag_quantile(0.99));
    eprintln!(
        "projection: 5200 changes in {wrote_for:?}, outbox empty {drained_after:?} after the last; lag p50 {p50:?} ms, p99 {p99:?} ms"
    );
}

fn start_secantus(port: u16, storage: &std::path::Path) -> Child {
    Child(
        std::process::Command::new(tool("LG_SECANTUS_BIN"))
            .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--storage-path"])
            .arg(storage)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start SecantusDB"),
    )
}

#[tokio::test]
async fn reads_fall_back_while_mongo_is_down_and_the_projector_catches_up_after() {
    // Setup: a Mongo of this test's own, on disk so that it keeps its data across a restart
    let port = free_port();
    let storage = std::env::temp_dir().join(format!("lg-mongo-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&storage).expect("mkdir");
    let mut mongo_server = Some(start_secantus(port, &storage));
    wait_for_port(port, Duration::from_secs(20)).await;
    let uri = format!("mongodb://127.0.0.1:{port}/");
    let db = TestDb::seeded_ci().await;
    let (pg, mongo) = stores(&db, &uri).await;
    maintain::rebuild(&pg, &mongo).await.expect("rebuild");
    let app = TestApp::spawn_with(db.config(&[
        ("MONGODB_URI", &uri),
        ("PROJECTOR_ENABLED", "true"),
        ("PROJECTOR_POLL_INTERVAL", "20"),
        ("MONGO_READ_TIMEOUT", "300"),
    ]))
    .await;
    app.warm_mongo().await;
    // (the write load below renames the first courses by id: this one is not among them)
    let slug = sql_column(&db.direct_url, "SELECT slug FROM courses WHERE is_published ORDER BY id DESC LIMIT 1")
        .await
        .remove(0);
    let page = "query($slug: String) { course(slug: $slug) { title lessons { title } } }";
    let stats = app.state.read_models.stats.clone();
    let first = app.graphql(page, json!({ "slug": slug })).await;
    assert!(data(&first)["course"]["title"].is_string());
    assert!(stats.mongo_hits.load(Ordering::Relaxed) >= 1, "served from Mongo");

    // Exec: Mongo stops; writes go on; reads keep answering
    drop(mongo_server.take());
    let before = stats.fallbacks.load(Ordering::Relaxed);
    sql_exec_all(&db, &[&format!("UPDATE courses SET title = 'Renamed during the outage' WHERE slug = '{slug}'")])
        .await;
    write_load(&db, 4, 100, 2).await;
    for _ in 0..5 {
        let body = app.graphql(page, json!({ "slug": slug })).await;
        assert_eq!(data(&body)["course"]["title"], "Renamed during the outage", "{body}");
    }
    assert!(stats.fallbacks.load(Ordering::Relaxed) > before, "answered by the fallback");
    assert!(outbox_len(&db).await > 0, "changes wait in the outbox while Mongo is down");

    // Mongo is back: the projector catches up, and verify passes
    let _mongo_server = start_secantus(port, &storage);
    wait_for_port(port, Duration::from_secs(20)).await;
    let back = Instant::now();
    while outbox_len(&db).await > 0 {
        assert!(back.elapsed() < Duration::from_secs(60), "the projector does not catch up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_verified(&pg, &mongo).await;
    let hits = stats.mongo_hits.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(1100)).await; // past the fallback's retry window
    let body = app.graphql(page, json!({ "slug": slug })).await;
    assert_eq!(data(&body)["course"]["title"], "Renamed during the outage");
    assert!(stats.mongo_hits.load(Ordering::Relaxed) > hits, "served from Mongo again");
    app.stop().await;
    let _ = std::fs::remove_dir_all(&storage);
}

async fn sql_exec_all(db: &TestDb, statements: &[&str]) {
    for s in statements {
        crate::support::sql_exec(&db.direct_url, s).await;
    }
}

#[tokio::test]
async fn a_service_killed_during_a_write_load_loses_nothing() {
    // Setup: a seeded database whose outbox holds every seeded change (~6,000 rows)
    let db = TestDb::seeded_ci().await;
    let (pg, mongo) = stores(&db, &stack().mongo_uri).await;
    let waiting = outbox_len(&db).await;
    assert!(waiting > 1000, "{waiting}");
    let serve = || spawn_serve(&db);

    // Exec: writers keep changing shared aggregates; the service is SIGKILLed mid-drain
    let load = {
        let db = TestDb { name: db.name.clone(), direct_url: db.direct_url.clone(), pooled_url: db.pooled_url.clone() };
        tokio::spawn(async move { paced_write_load(&db, 4, 250, 5, Some(Duration::from_millis(4))).await })
    };
    let (mut first, _) = serve();
    let started = Instant::now();
    loop {
        let left = outbox_len(&db).await;
        if left < waiting * 3 / 4 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "no progress: {left} rows left");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.0.kill().expect("SIGKILL");
    let _ = first.0.wait();
    assert!(outbox_len(&db).await > 0, "killed before the end");
    let (_second, port) = serve();
    wait_for_port(port, Duration::from_secs(20)).await;
    load.await.expect("writers");

    // Check: the restarted service drains the rest; every document matches PostgreSQL
    let back = Instant::now();
    while outbox_len(&db).await > 0 {
        assert!(back.elapsed() < Duration::from_secs(90), "the restarted service does not drain the outbox");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_verified(&pg, &mongo).await;
}

// Tests that disturb the shared stack run alone, after the others: `scripts/test` runs
// `cargo test --test it -- --ignored --test-threads=1`.

#[tokio::test]
#[ignore = "restarts the stack's PostgreSQL: scripts/test runs it alone"]
async fn the_projector_resumes_by_itself_after_postgres_restarts() {
    let db = TestDb::seeded_ci().await;
    let (pg, mongo) = stores(&db, &stack().mongo_uri).await;
    maintain::rebuild(&pg, &mongo).await.expect("rebuild");
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let projector = Projector::new(pg.clone(), mongo.clone(), 500, Duration::from_secs(10));
    let running = tokio::spawn(projector.clone().run(Duration::from_millis(20), stopped));

    let load = {
        let db = TestDb { name: db.name.clone(), direct_url: db.direct_url.clone(), pooled_url: db.pooled_url.clone() };
        tokio::spawn(async move { paced_write_load(&db, 4, 300, 3, Some(Duration::from_millis(5))).await })
    };
    tokio::time::sleep(Duration::from_millis(700)).await;
    let restarted = std::process::Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/stack"))
        .arg("restart-postgres")
        .status()
        .expect("scripts/stack restart-postgres");
    assert!(restarted.success());
    load.await.expect("the writers finish (retrying through the restart)");

    let back = Instant::now();
    while outbox_len(&db).await > 0 {
        assert!(back.elapsed() < Duration::from_secs(60), "the projector does not resume");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = stop.send(true);
    running.await.expect("projector");
    assert!(projector.stats.errors.load(Ordering::Relaxed) > 0, "the restart was felt");
    assert_verified(&pg, &mongo).await;
}

#[tokio::test]
#[ignore = "a measurement: scripts/test runs it alone, so that the figure means something"]
async fn projection_lag_under_a_steady_write_load() {
    let db = TestDb::seeded_ci().await;
    let (pg, mongo) = stores(&db, &stack().mongo_uri).await;
    maintain::rebuild(&pg, &mongo).await.expect("rebuild");
    // the seed's outbox rows first, so that the figure is about the load below only
    Projector::new(pg.clone(), mongo.clone(), 500, Duration::from_secs(10)).drain().await.expect("drain");
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let projector = Projector::new(pg.clone(), mongo.clone(), 500, Duration::from_secs(10));
    let running = tokio::spawn(projector.clone().run(Duration::from_millis(20), stopped));
    // about 100 changes a second for 10 seconds: 2 writers, a change every 20 ms each
    let started = Instant::now();
    paced_write_load(&db, 2, 500, 4, Some(Duration::from_millis(20))).await;
    let rate = 1000.0 / started.elapsed().as_secs_f64();
    while outbox_len(&db).await > 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = stop.send(true);
    running.await.expect("projector");
    assert_verified(&pg, &mongo).await;
    let (p50, p99) = (projector.stats.lag_quantile(0.5), projector.stats.lag_quantile(0.99));
    eprintln!("projection lag at {rate:.0} changes/s: p50 {p50:?} ms, p99 {p99:?} ms (commit to Mongo upsert)");
    assert!(p50.is_some());
}

#[tokio::test]
async fn a_learner_reads_their_own_changes_before_they_are_projected() {
    use learngraph::projection::read::ReadModels;
    let db = TestDb::seeded_ci().await;
    let (pg, mongo) = stores(&db, &stack().mongo_uri).await;
    maintain::rebuild(&pg, &mongo).await.expect("rebuild");
    let projector = Projector::new(pg.clone(), mongo.clone(), 500, Duration::from_secs(10));
    projector.drain().await.expect("drain");
    let row = sql_column(
        &db.direct_url,
        "SELECT user_id::text || ',' || course_id::text || ',' || lesson_id::text FROM user_progress ORDER BY id LIMIT 1",
    )
    .await
    .remove(0);
    let ids: Vec<uuid::Uuid> = row.split(',').map(|s| s.parse().expect("uuid")).collect();
    let (user, course, lesson) = (ids[0], ids[1], ids[2]);
    let reads = ReadModels::new(
        pg.clone(),
        mongo.clone(),
        Duration::from_secs(1),
        Duration::from_secs(1),
        Duration::from_secs(10),
    );

    let before = reads.progress_of(user, &[course]).await.expect("read")[&course].clone();
    assert_eq!(reads.stats.fallbacks.load(Ordering::Relaxed), 0, "projected: served by Mongo");

    // the learner's write, not projected yet (no projector runs)
    crate::support::sql_exec(
        &db.direct_url,
        &format!("UPDATE user_progress SET time_spent_minutes = time_spent_minutes + 7 WHERE user_id = '{user}' AND lesson_id = '{lesson}'"),
    )
    .await;
    let fresh = reads.progress_of(user, &[course]).await.expect("read")[&course].clone();
    assert_eq!(fresh.total_time_spent, before.total_time_spent + 7, "read-your-writes");
    assert_eq!(fresh.version, before.version + 1);
    assert_eq!(reads.stats.fallbacks.load(Ordering::Relaxed), 1, "built from PostgreSQL");

    // once projected, Mongo answers with the same document
    projector.drain().await.expect("drain");
    let projected = reads.progress_of(user, &[course]).await.expect("read")[&course].clone();
    assert_eq!(projected, fresh);
    assert_eq!(reads.stats.fallbacks.load(Ordering::Relaxed), 1, "no further fallback");
    // a course the learner is not enrolled in has no document
    let none = reads.progress_of(user, &[uuid::Uuid::from_u128(1)]).await.expect("read");
    assert!(none.is_empty());
}

#[tokio::test]
async fn deletes_moves_and_renames_reach_every_document_they_change() {
    let db = TestDb::seeded_ci().await;
    let (pg, mongo) = stores(&db, &stack().mongo_uri).await;
    maintain::rebuild(&pg, &mongo).await.expect("rebuild");
    let projector = Projector::new(pg.clone(), mongo.clone(), 500, Duration::from_secs(10));
    projector.drain().await.expect("drain");

    // a course with learners is deleted (its lessons, enrolments, progress and attempts cascade)
    let gone = sql_column(
        &db.direct_url,
        "SELECT course_id::text FROM enrollments GROUP BY course_id ORDER BY count(*) DESC, course_id LIMIT 1",
    )
    .await
    .remove(0);
    // the lessons of another course are reordered, and one is moved to a third course
    let reordered = sql_column(&db.direct_url, &format!(
        "SELECT course_id::text FROM enrollments WHERE course_id <> '{gone}' GROUP BY course_id ORDER BY count(*) DESC, course_id LIMIT 2"
    ))
    .await;
    crate::support::sql_exec(
        &db.direct_url,
        &format!(
            "DELETE FROM courses WHERE id = '{gone}';
             BEGIN;
             SET CONSTRAINTS ALL DEFERRED;
             UPDATE lessons SET order_position = -order_position WHERE course_id = '{a}';
             UPDATE lessons SET order_position = -order_position + 1000 WHERE course_id = '{a}';
             COMMIT;
             UPDATE lessons SET course_id = '{b}', order_position = 5000
               WHERE id = (SELECT id FROM lessons WHERE course_id = '{a}' ORDER BY order_position DESC LIMIT 1);
             UPDATE categories SET name = name || ' (renamed)' WHERE parent_id IS NOT NULL;
             UPDATE users SET first_name = 'Renamed' WHERE role = 'instructor';",
            a = reordered[0],
            b = reordered[1]
        ),
    )
    .await;
    projector.drain().await.expect("drain");
    assert_verified(&pg, &mongo).await;

    let gone_id = learngraph::projection::docs::bin(gone.parse().expect("uuid"));
    let courses = mongo.database().collection::<Document>("courses");
    assert_eq!(courses.count_documents(doc! { "_id": gone_id }).await.expect("count"), 0, "the deleted course is gone");
    let progress = mongo.database().collection::<Document>("user_progress");
    assert_eq!(progress.count_documents(doc! { "course_id": gone_id }).await.expect("count"), 0);
    let renamed = courses.count_documents(doc! { "instructor.first_name": "Renamed" }).await.expect("count");
    assert_eq!(renamed, 129, "every remaining course shows its instructor's new name");
}

/// `learngraph serve` on the test database, with its projector polling every 20 ms.
fn spawn_serve(db: &TestDb) -> (Child, u16) {
    let port = free_port();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_learngraph"))
        .arg("serve")
        .env_clear()
        .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
        .env("DATABASE_URL", &db.pooled_url)
        .env("DATABASE_DIRECT_URL", &db.direct_url)
        .env("MONGODB_URI", &stack().mongo_uri)
        .env("MONGODB_DATABASE", &db.name)
        .env("PROJECTOR_BATCH", "50")
        .env("PROJECTOR_POLL_INTERVAL", "20")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("learngraph serve");
    (Child(child), port)
}

type Regressions = Vec<((String, String), i64, i64)>;

/// Polls every document's version until told to stop; returns every version that went backwards.
fn watch_versions(mongo: &MongoStore) -> (Arc<AtomicBool>, tokio::task::JoinHandle<Regressions>) {
    let watching = Arc::new(AtomicBool::new(true));
    let (mongo, flag) = (mongo.clone(), watching.clone());
    let task = tokio::spawn(async move {
        let mut seen: HashMap<(String, String), i64> = HashMap::new();
        let mut regressions = Vec::new();
        while flag.load(Ordering::Relaxed) {
            for coll in ["courses", "user_progress", "quiz_attempts"] {
                let c = mongo.database().collection::<Document>(coll);
                let docs: Vec<Document> = match c.find(doc! {}).projection(doc! { "version": 1 }).await {
                    Ok(cursor) => cursor.try_collect().await.unwrap_or_default(),
                    Err(_) => continue,
                };
                for d in docs {
                    let (Some(id), Some(v)) = (d.get("_id"), d.get_i64("version").ok()) else { continue };
                    let key = (coll.to_owned(), id.to_string());
                    if let Some(old) = seen.insert(key.clone(), v) {
                        if v < old {
                            regressions.push((key, old, v));
                        }
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        regressions
    });
    (watching, task)
}

#[tokio::test]
async fn two_serve_processes_project_the_same_stores_without_going_backwards() {
    let db = TestDb::seeded_ci().await;
    let (pg, mongo) = stores(&db, &stack().mongo_uri).await;
    maintain::rebuild(&pg, &mongo).await.expect("rebuild");
    let (watching, watcher) = watch_versions(&mongo);
    let (_first, port_a) = spawn_serve(&db);
    let (_second, port_b) = spawn_serve(&db);
    wait_for_port(port_a, Duration::from_secs(20)).await;
    wait_for_port(port_b, Duration::from_secs(20)).await;

    paced_write_load(&db, 4, 300, 6, Some(Duration::from_millis(2))).await;
    let started = Instant::now();
    while outbox_len(&db).await > 0 {
        assert!(started.elapsed() < Duration::from_secs(90), "the two services do not drain the outbox");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    watching.store(false, Ordering::Relaxed);
    let regressions = watcher.await.expect("watcher");
    assert!(regressions.is_empty(), "versions went backwards: {regressions:?}");
    assert_verified(&pg, &mongo).await;
}

#[tokio::test]
async fn every_read_answers_the_same_with_mongo_stopped() {
    // a Mongo of this test's own, stopped halfway
    let port = free_port();
    let mongo_server = start_secantus(port, std::path::Path::new(":memory:"));
    wait_for_port(port, Duration::from_secs(20)).await;
    let uri = format!("mongodb://127.0.0.1:{port}/");
    let db = TestDb::seeded_ci().await;
    let (pg, mongo) = stores(&db, &uri).await;
    maintain::rebuild(&pg, &mongo).await.expect("rebuild");
    // nothing kept in memory: every read of the second run goes to a store (tests/it/cache.rs
    // has the kept documents)
    let app = TestApp::spawn_with(db.config(&[
        ("MONGODB_URI", &uri),
        ("MONGO_READ_TIMEOUT", "300"),
        ("AUTH_JWT_HS256_SECRET", crate::support::TEST_JWT_SECRET),
        ("READ_MODEL_CACHE_COURSES", "0"),
        ("READ_MODEL_CACHE_PROGRESS", "0"),
        ("READ_MODEL_CACHE_ATTEMPTS", "0"),
    ]))
    .await;
    app.warm_mongo().await;
    let one = |sql: &'static str| {
        let url = db.direct_url.clone();
        async move { sql_column(&url, sql).await.remove(0) }
    };
    let learner = one("SELECT a.user_id::text FROM quiz_attempts a JOIN users u ON u.id = a.user_id AND u.is_active \
         GROUP BY a.user_id ORDER BY count(*) DESC, a.user_id LIMIT 1")
    .await;
    let course = sql_column(
        &db.direct_url,
        &format!("SELECT course_id::text FROM enrollments WHERE user_id = '{learner}' ORDER BY course_id LIMIT 1"),
    )
    .await
    .remove(0);
    let slug = sql_column(&db.direct_url, &format!("SELECT slug FROM courses WHERE id = '{course}'")).await.remove(0);
    let quiz = sql_column(
        &db.direct_url,
        &format!("SELECT quiz_id::text FROM quiz_attempts WHERE user_id = '{learner}' ORDER BY quiz_id LIMIT 1"),
    )
    .await
    .remove(0);
    let instructor =
        sql_column(&db.direct_url, &format!("SELECT instructor_id::text FROM courses WHERE id = '{course}'"))
            .await
            .remove(0);
    let as_learner = crate::support::token(&learner, "student", 600);
    let as_instructor = crate::support::token(&instructor, "instructor", 600);
    let reads: Vec<(&str, String, Value)> = vec![
        (&as_learner, "{ courses(first: 20, orderBy: RATING) { totalCount nodes { id title category { name } instructor { displayName } lessonCount } } }".into(), json!({})),
        (&as_learner, "query($id: ID!) { course(id: $id) { title tags lessons { title position isLocked content quizzes { title } } myProgress { overallCompletionPercentage lessons { lessonId completionPercentage } } } }".into(), json!({ "id": course })),
        (&as_learner, "query($slug: String!) { course(slug: $slug) { id title lessonCount } }".into(), json!({ "slug": slug })),
        (&as_learner, "{ me { enrollments(first: 50) { totalCount nodes { course { title } progress { overallCompletionPercentage totalTimeSpentMinutes lessons { lessonId } } } } continueLearning { course { id } } recentQuizAttempts { id score } } }".into(), json!({})),
        (&as_learner, "query($id: ID!) { quiz(id: $id) { title questions { id prompt } myAttempts { attemptNumber score feedback { questionId correct } } myBestScore } }".into(), json!({ "id": quiz })),
        (&as_instructor, "query($id: ID!) { user(id: $id) { enrollments { nodes { course { id } progress { overallCompletionPercentage } } } } }".into(), json!({ "id": learner })),
        (&as_instructor, "query($id: ID!) { course(id: $id) { stats { enrollments completionRate lessons { started } } } }".into(), json!({ "id": course })),
    ];
    let run = || async {
        let mut bodies = Vec::new();
        for (bearer, query, variables) in &reads {
            let body = crate::support::ask(&app, Some(bearer), query, variables.clone()).await;
            assert!(body.get("errors").is_none(), "{query}: {body}");
            bodies.push(body);
        }
        bodies
    };
    let stats = app.state.read_models.stats.clone();
    let with_mongo = run().await;
    assert!(stats.mongo_hits.load(Ordering::Relaxed) > 0, "Mongo answered while up");
    let fallbacks = stats.fallbacks.load(Ordering::Relaxed);

    drop(mongo_server);
    let without_mongo = run().await;
    for (i, (a, b)) in with_mongo.iter().zip(&without_mongo).enumerate() {
        assert_eq!(a, b, "read {i} answers the same from PostgreSQL");
    }
    assert!(stats.fallbacks.load(Ordering::Relaxed) > fallbacks, "the fallback answered");
    app.stop().await;
}

/// A request waits for MongoDB no longer than MONGO_HEDGE_AFTER: past it, the request builds
/// the same documents from PostgreSQL (counted as hedged), and Mongo is not marked down for it.
#[tokio::test]
async fn a_read_that_waits_past_the_hedge_answers_from_postgresql() {
    let db = TestDb::seeded_ci().await;
    let patient = TestApp::spawn(&db).await;
    maintain::rebuild(patient.state.pg.db(), &patient.state.mongo).await.expect("rebuild");
    // a hedge of 0: no Mongo read can answer within it (it needs a round trip)
    // (the reads it stops waiting for go on: a long read timeout keeps a slow one from
    // counting as Mongo being down)
    let hasty = TestApp::spawn_with(db.config(&[("MONGO_HEDGE_AFTER", "0"), ("MONGO_READ_TIMEOUT", "30000")])).await;
    hasty.warm_mongo().await;
    let slug = crate::support::first_row(&db, "SELECT slug FROM courses WHERE is_published ORDER BY id LIMIT 1").await;
    let page = "query($slug: String) { course(slug: $slug) { id title level lessons { title durationMinutes } } }";
    let from_mongo = patient.graphql(page, json!({ "slug": slug })).await;
    assert!(data(&from_mongo)["course"]["title"].is_string(), "{from_mongo}");
    assert!(patient.state.read_models.stats.mongo_hits.load(Ordering::Relaxed) >= 1, "the patient app read Mongo");

    let stats = hasty.state.read_models.stats.clone();
    for _ in 0..3 {
        assert_eq!(hasty.graphql(page, json!({ "slug": slug })).await, from_mongo);
    }
    assert_eq!(stats.hedged.load(Ordering::Relaxed), 3, "each request stopped waiting once");
    assert_eq!(stats.mongo_hits.load(Ordering::Relaxed), 0);
    assert!(stats.fallbacks.load(Ordering::Relaxed) >= 3, "built from PostgreSQL");
    // the reads it stopped waiting for went on and succeeded: Mongo is not marked down
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!hasty.state.read_models.skipping_mongo());
    let metrics = hasty.client().get(hasty.url("/metrics")).send().await.expect("send").text().await.expect("text");
    assert!(metrics.contains("learngraph_read_model_hedged_total 3"), "{metrics}");
    hasty.stop().await;
    patient.stop().await;
}
