//! Faults under a write load: PostgreSQL restarted, a backend SIGKILLed (crash recovery),
//! PgBouncer killed and restarted, PostgreSQL frozen with SIGSTOP, MongoDB killed; clients
//! retry each write under its idempotency key until it is acknowledged. Afterwards every
//! learner's stored minutes equal the sum of their acknowledged reports: nothing acknowledged
//! was lost and nothing was applied twice.
//!
//! These disturb the shared stack: `scripts/test` runs them alone (`--ignored`).

use std::{
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use serde_json::{json, Value};

use crate::support::{free_port, sql_column, sql_exec, token, wait_for_port, TestApp, TestDb};

const COURSE: &str = "51000000-0000-4000-8000-000000000001";
const WRITERS: usize = 8;

fn learner(i: usize) -> String {
    format!("61000000-0000-4000-8000-{i:012}")
}

fn lesson(k: usize) -> String {
    format!("41000000-0000-4000-8000-{k:012}")
}

async fn world(db: &TestDb) {
    sql_exec(
        &db.direct_url,
        &format!(
            "INSERT INTO users (id, email, password_hash, first_name, last_name, role) VALUES \
               ('11000000-0000-4000-8000-000000000001', 'fi@example.org', 'x', 'Fault', 'Teacher', 'instructor'); \
             INSERT INTO users (id, email, password_hash, first_name, last_name, role) \
               SELECT ('61000000-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid, 'fl' || i || '@example.org', 'x', 'L', 'No' || i, 'student' \
               FROM generate_series(0, {last}) i; \
             INSERT INTO courses (id, title, slug, instructor_id, is_published) \
               VALUES ('{COURSE}', 'Faults', 'faults', '11000000-0000-4000-8000-000000000001', true); \
             INSERT INTO lessons (id, course_id, title, slug, order_position) \
               SELECT ('41000000-0000-4000-8000-' || lpad(k::text, 12, '0'))::uuid, '{COURSE}', 'Lesson ' || k, 'l-' || k, k \
               FROM generate_series(1, 3) k; \
             INSERT INTO enrollments (user_id, course_id) SELECT id, '{COURSE}' FROM users WHERE role = 'student';",
            last = WRITERS - 1
        ),
    )
    .await;
}

/// What the writers saw.
#[derive(Default)]
struct Ledger {
    /// Acknowledged minutes per learner.
    minutes: Mutex<Vec<i64>>,
    acknowledged: AtomicU64,
    retries: AtomicU64,
    /// Milliseconds since the test's start of the latest acknowledgement.
    last_ack_ms: AtomicU64,
}

/// One writer: reports progress under fresh idempotency keys, each retried until acknowledged.
async fn writer(i: usize, url: String, started: Instant, stop: Arc<AtomicBool>, ledger: Arc<Ledger>) {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().expect("client");
    let bearer = token(&learner(i), "student", 3600);
    let mut n = 0usize;
    while !stop.load(Ordering::Relaxed) {
        let minutes = 1 + (n % 3) as i64;
        let body = json!({
            "query": "mutation($l: ID!, $m: Int!, $k: String!) { recordLessonProgress(lessonId: $l, completionPercentage: 50, timeSpentMinutes: $m, idempotencyKey: $k) { overallCompletionPercentage } }",
            "variables": { "l": lesson(1 + n % 3), "m": minutes, "k": format!("fault-{i}-{n}") },
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            assert!(Instant::now() < deadline, "writer {i}: report {n} not acknowledged within 60 s");
            let answer = client.post(&url).bearer_auth(&bearer).json(&body).send().await;
            let parsed: Option<Value> = match answer {
                Ok(r) => r.json().await.ok(),
                Err(_) => None,
            };
            match parsed {
                Some(v) if v["data"]["recordLessonProgress"].is_object() && v.get("errors").is_none() => break,
                Some(v) => {
                    let code = v["errors"][0]["extensions"]["code"].as_str().unwrap_or("");
                    assert!(
                        matches!(code, "SERVICE_UNAVAILABLE" | "INTERNAL_SERVER_ERROR"),
                        "writer {i}: an answer a retry cannot fix: {v}"
                    );
                }
                None => {}
            }
            ledger.retries.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if let Ok(mut minutes_of) = ledger.minutes.lock() {
            minutes_of[i] += minutes;
        }
        ledger.acknowledged.fetch_add(1, Ordering::Relaxed);
        ledger.last_ack_ms.store(started.elapsed().as_millis() as u64, Ordering::Relaxed);
        n += 1;
    }
}

/// How long after `since` (ms from the start) writes were acknowledged again.
async fn recovery(ledger: &Ledger, started: Instant, since: u64) -> Duration {
    let waiting = Instant::now();
    while ledger.last_ack_ms.load(Ordering::Relaxed) <= since {
        assert!(waiting.elapsed() < Duration::from_secs(30), "writes did not resume within 30 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Duration::from_millis(ledger.last_ack_ms.load(Ordering::Relaxed).saturating_sub(since)).min(started.elapsed())
}

fn stack_command(args: &[&str]) {
    let status = std::process::Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/stack"))
        .args(args)
        .status()
        .expect("scripts/stack");
    assert!(status.success(), "scripts/stack {args:?}");
}

#[tokio::test]
#[ignore = "restarts, kills and freezes the stack's PostgreSQL and PgBouncer: scripts/test runs it alone"]
async fn acknowledged_writes_survive_database_faults_exactly_once() {
    let db = TestDb::migrated().await;
    world(&db).await;
    let durable = sql_column(&db.direct_url, "SHOW synchronous_commit").await;
    assert_eq!(
        durable,
        ["on"],
        "the cluster must acknowledge a commit only once its WAL is written (a SIGKILLed backend loses it otherwise)"
    );
    // a Mongo server of this test's own, to kill
    let mongo_port = free_port();
    let mut mongo = crate::readiness::start_secantus(mongo_port);
    wait_for_port(mongo_port, Duration::from_secs(20)).await;
    let mongo_uri = format!("mongodb://127.0.0.1:{mongo_port}/");
    // deadlines short enough that a frozen database turns into errors, not a wait
    let app = TestApp::spawn_with(db.config(&[
        ("AUTH_JWT_HS256_SECRET", crate::support::TEST_JWT_SECRET),
        ("MONGODB_URI", &mongo_uri),
        ("DB_STATEMENT_TIMEOUT", "1500"),
        ("DB_ACQUIRE_TIMEOUT", "1500"),
        ("REQUEST_TIMEOUT", "5000"),
        ("PROJECTOR_ENABLED", "true"),
    ]))
    .await;
    let started = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let ledger = Arc::new(Ledger { minutes: Mutex::new(vec![0; WRITERS]), ..Ledger::default() });
    let writers: Vec<_> = (0..WRITERS)
        .map(|i| tokio::spawn(writer(i, app.url("/graphql"), started, stop.clone(), ledger.clone())))
        .collect();
    let since_start = || started.elapsed().as_millis() as u64;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut report = Vec::new();

    // 1. a fast restart of PostgreSQL
    tokio::task::spawn_blocking(|| stack_command(&["restart-postgres"])).await.expect("restart");
    let back = recovery(&ledger, started, since_start()).await;
    report.push(format!("postgres restart: writes back {back:?} after it was up"));
    assert!(back <= Duration::from_secs(3), "writes resumed {back:?} after the restart");
    tokio::time::sleep(Duration::from_secs(1)).await;

    // 2. a backend SIGKILLed: the postmaster resets every connection and recovers
    let pids = sql_column(
        &crate::support::stack().direct_url,
        &format!(
            "SELECT pid::text FROM pg_stat_activity WHERE datname = '{}' AND backend_type = 'client backend' AND pid <> pg_backend_pid()",
            db.name
        ),
    )
    .await;
    let pid = pids.first().expect("a backend serves the writers").clone();
    let retries = ledger.retries.load(Ordering::Relaxed);
    let killed = std::process::Command::new("kill").args(["-KILL", &pid]).status().expect("kill");
    assert!(killed.success());
    // measured from the first failed write (the postmaster resets every connection)
    let felt = Instant::now();
    while ledger.retries.load(Ordering::Relaxed) == retries && felt.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let felt_after = felt.elapsed();
    let at = since_start();
    let back = recovery(&ledger, started, at).await;
    report
        .push(format!("backend {pid} SIGKILLed: first failed write after {felt_after:?}, writes back {back:?} later"));
    tokio::time::sleep(Duration::from_secs(1)).await;

    // 3. PgBouncer killed and started again
    tokio::task::spawn_blocking(|| stack_command(&["restart-pgbouncer"])).await.expect("pgbouncer");
    let back = recovery(&ledger, started, since_start()).await;
    report.push(format!("pgbouncer killed and restarted: writes back {back:?} after it was up"));
    tokio::time::sleep(Duration::from_secs(1)).await;

    // 4. PostgreSQL frozen for 5 s: requests fail within their deadline; a read that needs
    //    PostgreSQL is answered (with an error) within REQUEST_TIMEOUT
    let freeze = tokio::task::spawn_blocking(|| stack_command(&["freeze-postgres", "5"]));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let asked = Instant::now();
    let frozen = app
        .client()
        .post(app.url("/graphql"))
        .json(&json!({ "query": "{ categories { name } }" }))
        .send()
        .await
        .expect("an answer while frozen");
    let waited = asked.elapsed();
    let body: Value = frozen.json().await.unwrap_or(Value::Null);
    report.push(format!("postgres frozen: a read answered in {waited:?}: {body}"));
    assert!(waited < Duration::from_millis(5_500), "a request waited {waited:?} on a frozen database");
    assert!(body["errors"][0]["extensions"]["code"].is_string(), "{body}");
    freeze.await.expect("freeze");
    let back = recovery(&ledger, started, since_start()).await;
    report.push(format!("postgres thawed: writes back after {back:?}"));
    let (status, health) = app.get_json("/readyz").await;
    assert_eq!(status, 200, "ready again after the freeze: {health}");

    // 5. MongoDB killed: course pages keep answering (from PostgreSQL), writes go on
    drop(mongo);
    let mut pages = 0;
    for _ in 0..20 {
        let body =
            app.graphql(&format!("{{ course(id: \"{COURSE}\") {{ title lessons {{ title }} }} }}"), json!({})).await;
        assert_eq!(body["data"]["course"]["title"], "Faults", "a read with MongoDB down: {body}");
        pages += 1;
    }
    let at = since_start();
    let back = recovery(&ledger, started, at).await;
    report.push(format!("mongo killed: {pages} course pages answered, writes acknowledged {back:?} later"));
    mongo = crate::readiness::start_secantus(mongo_port);
    wait_for_port(mongo_port, Duration::from_secs(20)).await;

    // the writers finish their report in progress
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.expect("writer");
    }

    // Check: stored minutes per learner = acknowledged minutes (none lost, none twice)
    let acknowledged = ledger.minutes.lock().map(|m| m.clone()).unwrap_or_default();
    let stored = sql_column(
        &db.direct_url,
        "SELECT u.id::text || '=' || coalesce(sum(p.time_spent_minutes), 0)::text FROM users u \
         LEFT JOIN user_progress p ON p.user_id = u.id WHERE u.role = 'student' GROUP BY u.id ORDER BY u.id",
    )
    .await;
    let expected: Vec<String> = (0..WRITERS).map(|i| format!("{}={}", learner(i), acknowledged[i])).collect();
    let keys = sql_column(&db.direct_url, "SELECT count(*)::text FROM idempotency_keys WHERE key LIKE 'fault-%'").await;
    for line in &report {
        println!("{line}");
    }
    println!(
        "{} reports acknowledged ({} retries); {} keys stored",
        ledger.acknowledged.load(Ordering::Relaxed),
        ledger.retries.load(Ordering::Relaxed),
        keys.first().map_or("?", String::as_str)
    );
    assert_eq!(stored, expected, "stored minutes per learner vs acknowledged: lost or doubled writes");
    assert_eq!(
        keys,
        [ledger.acknowledged.load(Ordering::Relaxed).to_string()],
        "one stored key per acknowledged report"
    );
    assert!(ledger.retries.load(Ordering::Relaxed) > 0, "the faults were felt");
    drop(mongo);
    app.stop().await;
}

#[tokio::test]
async fn an_exhausted_pool_answers_quickly_and_recovers() {
    use sea_orm::{ConnectionTrait, Database, TransactionTrait};
    let db = TestDb::migrated().await;
    world(&db).await;
    sql_exec(&db.direct_url, "DELETE FROM enrollments").await;
    let app = TestApp::spawn_with(db.config(&[
        ("AUTH_JWT_HS256_SECRET", crate::support::TEST_JWT_SECRET),
        ("DB_POOL_MAX", "2"),
        ("DB_ACQUIRE_TIMEOUT", "500"),
    ]))
    .await;
    let enroll = |i: usize| {
        let request = app
            .client()
            .post(app.url("/graphql"))
            .bearer_auth(token(&learner(i), "student", 600))
            .json(&json!({ "query": format!("mutation {{ enroll(courseId: \"{COURSE}\", idempotencyKey: \"pool-{i}\") {{ enrolledAt }} }}") }));
        async move { request.send().await.expect("send").json::<Value>().await.expect("json") }
    };

    // hold the idempotency table: two enrolments take both connections and wait on it
    let holder = Database::connect(&db.direct_url).await.expect("connect");
    let tx = holder.begin().await.expect("begin");
    tx.execute_unprepared("LOCK TABLE idempotency_keys IN EXCLUSIVE MODE").await.expect("lock");
    let waiting: Vec<_> = (0..2).map(|i| tokio::spawn(enroll(i))).collect();
    let blocked = "SELECT count(*)::text FROM pg_stat_activity \
                   WHERE datname = current_database() AND wait_event_type = 'Lock'";
    let since = Instant::now();
    while sql_column(&db.direct_url, blocked).await != ["2"] {
        assert!(since.elapsed() < Duration::from_secs(20), "the two enrolments never waited on the lock");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // anything else finds no connection: SERVICE_UNAVAILABLE within the acquire timeout
    let asked = Instant::now();
    let (third, read) = tokio::join!(enroll(2), app.graphql("{ categories { name } }", json!({})));
    let waited = asked.elapsed();
    for body in [&third, &read] {
        assert_eq!(body["errors"][0]["extensions"]["code"], "SERVICE_UNAVAILABLE", "{body}");
    }
    assert!(waited < Duration::from_secs(3), "answered in {waited:?}");
    println!("with the pool exhausted, refused in {waited:?}");

    // released: the waiting ones finish, a retry of the refused one under its key succeeds
    tx.commit().await.expect("release");
    holder.close().await.expect("close");
    for w in waiting {
        let body = w.await.expect("enrol");
        assert!(body["data"]["enroll"]["enrolledAt"].is_string(), "{body}");
    }
    let again = enroll(2).await;
    assert!(again["data"]["enroll"]["enrolledAt"].is_string(), "{again}");
    let read = app.graphql("{ categories { name } }", json!({})).await;
    assert!(read.get("errors").is_none(), "{read}");
    let count = sql_column(&db.direct_url, "SELECT count(*)::text FROM enrollments").await;
    assert_eq!(count, ["3"]);
    app.stop().await;
}
