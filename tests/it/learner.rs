//! The signed-in learner: tokens, `me`, `enroll` and `unenroll` with idempotency keys.

use jsonwebtoken::{encode, EncodingKey, Header};
use serde_json::{json, Value};

use crate::support::{ask, data, error_codes, first_row, sql_column, token, TestApp, TestDb};

async fn app(db: &TestDb) -> TestApp {
    TestApp::spawn_authed(db).await
}

async fn as_user(app: &TestApp, bearer: &str, query: &str, variables: Value) -> (u16, Value) {
    let r = app
        .client()
        .post(app.url("/graphql"))
        .bearer_auth(bearer)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .expect("send");
    (r.status().as_u16(), r.json().await.expect("json"))
}

const ME: &str = "{ me { id email role enrollments(first: 100) { nodes { course { id title } progress { overallCompletionPercentage lessons { lessonId } } } } } }";

#[tokio::test]
async fn me_needs_a_valid_token_and_shows_only_the_signed_in_learner() {
    let db = TestDb::seeded_ci().await;
    let app = app(&db).await;
    let learner = sql_column(
        &db.direct_url,
        "SELECT u.id::text FROM users u JOIN enrollments e ON e.user_id = u.id WHERE u.role = 'student' \
         GROUP BY u.id ORDER BY count(*) DESC, u.id LIMIT 1",
    )
    .await
    .remove(0);

    // anonymous: UNAUTHENTICATED, no data
    let body = app.graphql(ME, json!({})).await;
    assert_eq!(error_codes(&body), ["UNAUTHENTICATED"]);
    assert!(body["data"].is_null(), "{body}");

    // a bad, a forged and an expired token: 401 before anything runs
    let forged = encode(
        &Header::default(),
        &json!({ "sub": learner, "role": "admin", "exp": 4_000_000_000u64 }),
        &EncodingKey::from_secret(b"some-other-secret-of-sufficient-length!!"),
    )
    .expect("token");
    for bad in [
        "garbage",
        forged.as_str(),
        token(&learner, "student", -3600).as_str(),
        token("not-a-uuid", "student", 600).as_str(),
        token(&learner, "emperor", 600).as_str(),
    ] {
        let (status, body) = as_user(&app, bad, ME, json!({})).await;
        assert_eq!((status, error_codes(&body)), (401, vec!["UNAUTHENTICATED".to_owned()]), "{bad}");
    }

    // the learner: their own enrolments, as the database has them
    let (status, body) = as_user(&app, &token(&learner, "student", 600), ME, json!({})).await;
    assert_eq!(status, 200);
    let me = &data(&body)["me"];
    assert_eq!(me["id"], learner.as_str());
    assert_eq!(me["role"], "STUDENT");
    let expected = sql_column(
        &db.direct_url,
        &format!(
            "SELECT course_id::text FROM enrollments WHERE user_id = '{learner}' ORDER BY enrolled_at DESC, course_id DESC"
        ),
    )
    .await;
    let got: Vec<&str> = me["enrollments"]["nodes"]
        .as_array()
        .expect("list")
        .iter()
        .map(|e| e["course"]["id"].as_str().expect("id"))
        .collect();
    assert_eq!(got, expected);
    assert!(me["enrollments"]["nodes"]
        .as_array()
        .expect("list")
        .iter()
        .all(|e| e["progress"]["overallCompletionPercentage"].is_i64()));
    app.stop().await;
}

#[tokio::test]
async fn enroll_is_idempotent_and_reads_its_own_write() {
    let db = TestDb::seeded_ci().await;
    let app = app(&db).await;
    let learner = sql_column(&db.direct_url, "SELECT id::text FROM users WHERE role = 'student' ORDER BY id LIMIT 1")
        .await
        .remove(0);
    let course = sql_column(
        &db.direct_url,
        &format!("SELECT id::text FROM courses WHERE is_published AND id NOT IN (SELECT course_id FROM enrollments WHERE user_id = '{learner}') ORDER BY id LIMIT 1"),
    )
    .await
    .remove(0);
    let draft = sql_column(&db.direct_url, "SELECT id::text FROM courses WHERE NOT is_published ORDER BY id LIMIT 1")
        .await
        .remove(0);
    let count_sql = format!("SELECT enrollment_count::text FROM courses WHERE id = '{course}'");
    let count = || sql_column(&db.direct_url, &count_sql);
    let before: i64 = count().await[0].parse().expect("int");
    let bearer = token(&learner, "student", 600);
    let enroll = "mutation($c: ID!, $k: String!) { enroll(courseId: $c, idempotencyKey: $k) { enrolledAt course { id } progress { overallCompletionPercentage totalTimeSpentMinutes lessons { lessonId } } } }";

    // anonymous: refused
    let body = app.graphql(enroll, json!({ "c": course, "k": "k1" })).await;
    assert_eq!(error_codes(&body), ["UNAUTHENTICATED"]);

    let (_, first) = as_user(&app, &bearer, enroll, json!({ "c": course, "k": "k1" })).await;
    let enrolled = &data(&first)["enroll"];
    assert_eq!(enrolled["course"]["id"], course.as_str());
    // read-your-writes: the progress document exists although nothing projected it
    assert_eq!(enrolled["progress"]["overallCompletionPercentage"], 0);
    assert_eq!(enrolled["progress"]["lessons"], json!([]));

    // the same key again: the same answer, one enrolment
    let (_, again) = as_user(&app, &bearer, enroll, json!({ "c": course, "k": "k1" })).await;
    assert_eq!(data(&again)["enroll"]["enrolledAt"], enrolled["enrolledAt"]);
    assert_eq!(count().await[0].parse::<i64>().expect("int"), before + 1);

    // concurrent retries of one new key: one effect, one answer
    let other = sql_column(
        &db.direct_url,
        &format!("SELECT id::text FROM courses WHERE is_published AND id NOT IN (SELECT course_id FROM enrollments WHERE user_id = '{learner}') ORDER BY id LIMIT 1"),
    )
    .await
    .remove(0);
    let answers =
        futures::future::join_all((0..8).map(|_| as_user(&app, &bearer, enroll, json!({ "c": other, "k": "k2" }))))
            .await;
    let at: Vec<&Value> = answers.iter().map(|(_, b)| &data(b)["enroll"]["enrolledAt"]).collect();
    assert!(at.windows(2).all(|w| w[0] == w[1]), "{at:?}");
    let rows = sql_column(
        &db.direct_url,
        &format!("SELECT count(*)::text FROM enrollments WHERE user_id = '{learner}' AND course_id = '{other}'"),
    )
    .await;
    assert_eq!(rows, ["1"]);

    // bad input names the field; a key cannot be reused for something else
    for (vars, needle) in [
        (json!({ "c": course, "k": "k2" }), "idempotencyKey"),
        (json!({ "c": draft, "k": "k3" }), "courseId"),
        (json!({ "c": "nope", "k": "k4" }), "courseId"),
        (json!({ "c": course, "k": "" }), "idempotencyKey"),
        (json!({ "c": course, "k": "x".repeat(200) }), "idempotencyKey"),
    ] {
        let (_, body) = as_user(&app, &bearer, enroll, vars.clone()).await;
        assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{vars}: {body}");
        assert!(body["errors"][0]["message"].as_str().is_some_and(|m| m.contains(needle)), "{body}");
    }

    // unenroll: the first time it was enrolled, the second (a new key) it was not
    let unenroll =
        "mutation($c: ID!, $k: String!) { unenroll(courseId: $c, idempotencyKey: $k) { courseId wasEnrolled } }";
    let (_, body) = as_user(&app, &bearer, unenroll, json!({ "c": course, "k": "u1" })).await;
    assert_eq!(data(&body)["unenroll"], json!({ "courseId": course, "wasEnrolled": true }));
    let (_, body) = as_user(&app, &bearer, unenroll, json!({ "c": course, "k": "u1" })).await;
    assert_eq!(data(&body)["unenroll"]["wasEnrolled"], true, "a replay answers as the first time");
    let (_, body) = as_user(&app, &bearer, unenroll, json!({ "c": course, "k": "u2" })).await;
    assert_eq!(data(&body)["unenroll"]["wasEnrolled"], false);
    assert_eq!(count().await[0].parse::<i64>().expect("int"), before);
    app.stop().await;
}

#[tokio::test]
async fn lesson_progress_never_goes_back_accumulates_time_and_answers_with_the_fresh_progress() {
    let db = TestDb::seeded_ci().await;
    let app = app(&db).await;
    // an enrolment, and a lesson of that course the learner has not started
    let row = sql_column(
        &db.direct_url,
        "SELECT e.user_id::text || ',' || l.id::text || ',' || e.course_id::text FROM enrollments e \
         JOIN lessons l ON l.course_id = e.course_id \
         WHERE NOT EXISTS (SELECT 1 FROM user_progress p WHERE p.user_id = e.user_id AND p.lesson_id = l.id) \
         ORDER BY e.user_id, l.order_position LIMIT 1",
    )
    .await
    .remove(0);
    let ids: Vec<&str> = row.split(',').collect();
    let (learner, lesson, course) = (ids[0], ids[1], ids[2]);
    let bearer = token(learner, "student", 600);
    let record = "mutation($l: ID!, $c: Int!, $t: Int!, $k: String!) { recordLessonProgress(lessonId: $l, \
                  completionPercentage: $c, timeSpentMinutes: $t, idempotencyKey: $k) { \
                  overallCompletionPercentage totalTimeSpentMinutes lessons { lessonId completionPercentage timeSpentMinutes isCompleted } } }";
    let mine = |body: &Value| -> Value {
        data(body)["recordLessonProgress"]["lessons"]
            .as_array()
            .expect("lessons")
            .iter()
            .find(|l| l["lessonId"] == lesson)
            .cloned()
            .unwrap_or(Value::Null)
    };

    let (_, first) = as_user(&app, &bearer, record, json!({ "l": lesson, "c": 40, "t": 5, "k": "p1" })).await;
    assert_eq!(
        mine(&first),
        json!({ "lessonId": lesson, "completionPercentage": 40, "timeSpentMinutes": 5, "isCompleted": false })
    );
    let (_, lower) = as_user(&app, &bearer, record, json!({ "l": lesson, "c": 30, "t": 7, "k": "p2" })).await;
    assert_eq!(mine(&lower)["completionPercentage"], 40, "completion never goes backwards");
    assert_eq!(mine(&lower)["timeSpentMinutes"], 12, "time accumulates");
    // a retried report: the same answer, counted once
    let (_, replay) = as_user(&app, &bearer, record, json!({ "l": lesson, "c": 30, "t": 7, "k": "p2" })).await;
    assert_eq!(replay, lower);
    let spent = sql_column(
        &db.direct_url,
        &format!(
            "SELECT time_spent_minutes::text FROM user_progress WHERE user_id = '{learner}' AND lesson_id = '{lesson}'"
        ),
    )
    .await;
    assert_eq!(spent, ["12"]);
    // completing the lesson moves the course's completion
    let before = data(&lower)["recordLessonProgress"]["overallCompletionPercentage"].as_i64().expect("int");
    let (_, done) = as_user(&app, &bearer, record, json!({ "l": lesson, "c": 100, "t": 1, "k": "p3" })).await;
    assert_eq!(mine(&done)["isCompleted"], true);
    let lessons: f64 =
        sql_column(&db.direct_url, &format!("SELECT count(*)::text FROM lessons WHERE course_id = '{course}'")).await
            [0]
        .parse()
        .expect("n");
    let completed: f64 = sql_column(&db.direct_url, &format!("SELECT count(*)::text FROM user_progress WHERE user_id = '{learner}' AND course_id = '{course}' AND is_completed")).await[0].parse().expect("n");
    let overall = data(&done)["recordLessonProgress"]["overallCompletionPercentage"].as_i64().expect("int");
    assert_eq!(overall, (completed * 100.0 / lessons).round() as i64);
    assert!(overall > before);
    // and `me` reads the same, although nothing projected it
    let (_, me) = as_user(
        &app,
        &bearer,
        "{ me { enrollments { nodes { course { id } progress { totalTimeSpentMinutes overallCompletionPercentage } } } } }",
        json!({}),
    )
    .await;
    let enrolment = data(&me)["me"]["enrollments"]["nodes"]
        .as_array()
        .expect("list")
        .iter()
        .find(|e| e["course"]["id"] == course)
        .cloned()
        .expect("enrolled");
    assert_eq!(enrolment["progress"]["overallCompletionPercentage"], overall);

    // refused: anonymous, not enrolled, bad values
    let body = app.graphql(record, json!({ "l": lesson, "c": 10, "t": 1, "k": "a" })).await;
    assert_eq!(error_codes(&body), ["UNAUTHENTICATED"]);
    let outsider = sql_column(&db.direct_url, &format!(
        "SELECT id::text FROM users WHERE role = 'student' AND id NOT IN (SELECT user_id FROM enrollments WHERE course_id = '{course}') ORDER BY id LIMIT 1"
    )).await.remove(0);
    let (_, body) =
        as_user(&app, &token(&outsider, "student", 600), record, json!({ "l": lesson, "c": 10, "t": 1, "k": "o1" }))
            .await;
    assert_eq!(error_codes(&body), ["FORBIDDEN"]);
    for (vars, field) in [
        (json!({ "l": lesson, "c": 101, "t": 1, "k": "b1" }), "completionPercentage"),
        (json!({ "l": lesson, "c": -1, "t": 1, "k": "b2" }), "completionPercentage"),
        (json!({ "l": lesson, "c": 10, "t": -5, "k": "b3" }), "timeSpentMinutes"),
        (json!({ "l": lesson, "c": 10, "t": 100000, "k": "b4" }), "timeSpentMinutes"),
        (json!({ "l": "00000000-0000-4000-8000-000000000000", "c": 10, "t": 1, "k": "b5" }), "lessonId"),
    ] {
        let (_, body) = as_user(&app, &bearer, record, vars.clone()).await;
        assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{vars}");
        assert!(body["errors"][0]["message"].as_str().is_some_and(|m| m.contains(field)), "{body}");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_draft_is_seen_by_its_instructor_and_admins_only() {
    let db = TestDb::seeded_ci().await;
    let app = app(&db).await;
    let row = sql_column(
        &db.direct_url,
        "SELECT id::text || ',' || instructor_id::text FROM courses WHERE NOT is_published ORDER BY id LIMIT 1",
    )
    .await
    .remove(0);
    let (draft, owner) = row.split_once(',').expect("pair");
    let other = sql_column(
        &db.direct_url,
        &format!("SELECT id::text FROM users WHERE role = 'instructor' AND id <> '{owner}' ORDER BY id LIMIT 1"),
    )
    .await
    .remove(0);
    let admin = sql_column(&db.direct_url, "SELECT id::text FROM users WHERE role = 'admin' ORDER BY id LIMIT 1")
        .await
        .remove(0);
    let learner = sql_column(&db.direct_url, "SELECT id::text FROM users WHERE role = 'student' ORDER BY id LIMIT 1")
        .await
        .remove(0);
    let q = "query($id: ID) { course(id: $id) { id } }";
    let anonymous = app.graphql(q, json!({ "id": draft })).await;
    assert_eq!(data(&anonymous)["course"], Value::Null);
    for (who, role, sees) in [
        (learner.as_str(), "student", false),
        (other.as_str(), "instructor", false),
        (owner, "instructor", true),
        (admin.as_str(), "admin", true),
    ] {
        let (_, body) = as_user(&app, &token(who, role, 600), q, json!({ "id": draft })).await;
        assert_eq!(!data(&body)["course"].is_null(), sees, "{role} {who}");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_deactivated_learner_and_an_unpublished_course_drop_out_of_view() {
    let db = TestDb::seeded_ci().await;
    let app = app(&db).await;
    let row = sql_column(
        &db.direct_url,
        "SELECT user_id::text || ',' || course_id::text FROM enrollments ORDER BY user_id, course_id LIMIT 1",
    )
    .await
    .remove(0);
    let (learner, course) = row.split_once(',').expect("pair");
    let bearer = token(learner, "student", 600);
    let q = "{ me { enrollments { nodes { course { id } } } } }";
    let (_, body) = as_user(&app, &bearer, q, json!({})).await;
    assert!(data(&body)["me"]["enrollments"]["nodes"]
        .as_array()
        .expect("list")
        .iter()
        .any(|e| e["course"]["id"] == course));

    // the course is unpublished: the enrolment stays, the course is no longer shown
    crate::support::sql_exec(&db.direct_url, &format!("UPDATE courses SET is_published = false WHERE id = '{course}'"))
        .await;
    let (_, body) = as_user(&app, &bearer, q, json!({})).await;
    let shown: Vec<&Value> =
        data(&body)["me"]["enrollments"]["nodes"].as_array().expect("list").iter().map(|e| &e["course"]).collect();
    assert!(shown.iter().all(|c| c.is_null() || c["id"] != course), "{shown:?}");

    // the learner is deactivated: their unexpired token no longer signs them in
    crate::support::sql_exec(&db.direct_url, &format!("UPDATE users SET is_active = false WHERE id = '{learner}'"))
        .await;
    let (_, body) = as_user(&app, &bearer, q, json!({})).await;
    assert_eq!(error_codes(&body), ["UNAUTHENTICATED"]);
    let enroll = "mutation($c: ID!) { enroll(courseId: $c, idempotencyKey: \"k\") { enrolledAt } }";
    let (_, body) = as_user(&app, &bearer, enroll, json!({ "c": course })).await;
    assert_eq!(error_codes(&body), ["UNAUTHENTICATED"]);
    // and a token for a user that does not exist is no better
    let (_, body) = as_user(&app, &token("00000000-0000-4000-8000-000000000001", "admin", 600), q, json!({})).await;
    assert_eq!(error_codes(&body), ["UNAUTHENTICATED"]);
    app.stop().await;
}

#[tokio::test]
async fn lesson_content_is_for_free_lessons_enrolled_learners_and_authors() {
    let db = TestDb::seeded_ci().await;
    let app = app(&db).await;
    let row = sql_column(
        &db.direct_url,
        "SELECT c.slug || '|' || e.user_id::text || '|' || c.instructor_id::text FROM courses c \
         JOIN enrollments e ON e.course_id = c.id WHERE c.is_published ORDER BY c.id, e.user_id LIMIT 1",
    )
    .await
    .remove(0);
    let p: Vec<&str> = row.split('|').collect();
    let (slug, enrolled, instructor) = (p[0], p[1], p[2]);
    let outsider = sql_column(&db.direct_url, &format!(
        "SELECT id::text FROM users WHERE role = 'student' AND id NOT IN \
         (SELECT user_id FROM enrollments e JOIN courses c ON c.id = e.course_id WHERE c.slug = '{slug}') ORDER BY id LIMIT 1"
    )).await.remove(0);
    let q = "query($s: String) { course(slug: $s) { lessons { isFree isLocked content videoUrl } } }";
    let lessons = |body: &Value| data(body)["course"]["lessons"].as_array().expect("lessons").clone();

    // anonymous and a learner who is not enrolled: free lessons only
    for bearer in [None, Some(token(&outsider, "student", 600))] {
        let body = match &bearer {
            None => app.graphql(q, json!({ "s": slug })).await,
            Some(b) => as_user(&app, b, q, json!({ "s": slug })).await.1,
        };
        for l in lessons(&body) {
            let free = l["isFree"] == true;
            assert_eq!(l["isLocked"], !free, "{l}");
            assert_eq!(l["content"].is_string(), free, "{l}");
            assert_eq!(l["videoUrl"].is_string(), free, "{l}");
        }
    }
    // the enrolled learner, the course's instructor and an admin: everything
    let admin = sql_column(&db.direct_url, "SELECT id::text FROM users WHERE role = 'admin' LIMIT 1").await.remove(0);
    for (who, role) in [(enrolled, "student"), (instructor, "instructor"), (admin.as_str(), "admin")] {
        let (_, body) = as_user(&app, &token(who, role, 600), q, json!({ "s": slug })).await;
        assert!(lessons(&body).iter().all(|l| l["isLocked"] == false && l["content"].is_string()), "{role}: {body}");
    }
    app.stop().await;
}

/// A mutation runs to its end when its client goes away: the enrolment is made and its key
/// holds the answer (a retry replays it), and no pooled connection is left inside a transaction.
#[tokio::test]
async fn a_mutation_completes_when_its_client_gives_up() {
    use sea_orm::{ConnectionTrait, Database, TransactionTrait};
    let db = TestDb::migrated().await;
    let learner = first_row(
        &db,
        "INSERT INTO users (email, password_hash, first_name, last_name) VALUES ('gone@example.org', 'x', 'Gone', 'Away') RETURNING id::text",
    )
    .await;
    let course = first_row(
        &db,
        "INSERT INTO courses (title, slug, is_published) VALUES ('Held', 'held', true) RETURNING id::text",
    )
    .await;
    let app = TestApp::spawn_authed(&db).await;
    let bearer = token(&learner, "student", 600);
    let enroll = "mutation($c: ID!) { enroll(courseId: $c, idempotencyKey: \"gone-1\") { enrolledAt course { id } } }";

    // hold the idempotency table so the mutation waits inside its transaction
    let holder = Database::connect(&db.direct_url).await.expect("connect");
    let tx = holder.begin().await.expect("begin");
    tx.execute_unprepared("LOCK TABLE idempotency_keys IN EXCLUSIVE MODE").await.expect("lock");
    let gave_up = app
        .client()
        .post(app.url("/graphql"))
        .bearer_auth(&bearer)
        .timeout(std::time::Duration::from_millis(500))
        .json(&json!({ "query": enroll, "variables": { "c": course } }))
        .send()
        .await;
    assert!(gave_up.is_err_and(|e| e.is_timeout()), "the client gave up while the mutation waited");
    tx.commit().await.expect("release");
    holder.close().await.expect("close");

    // the mutation goes on without its client
    let mut done = String::new();
    for _ in 0..100 {
        done = first_row(
            &db,
            &format!(
                "SELECT (SELECT count(*) FROM enrollments WHERE user_id = '{learner}') || ':' || \
                 (SELECT count(*) FROM idempotency_keys WHERE key = 'gone-1' AND response IS NOT NULL)"
            ),
        )
        .await;
        if done == "1:1" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(done, "1:1", "enrolments : answered keys");
    let idle_in_tx = first_row(
        &db,
        &format!(
            "SELECT count(*)::text FROM pg_stat_activity WHERE datname = '{}' AND state LIKE 'idle in transaction%'",
            db.name
        ),
    )
    .await;
    assert_eq!(idle_in_tx, "0");
    // the retry replays the answer the client missed
    let body = ask(&app, Some(&bearer), enroll, json!({ "c": course })).await;
    assert_eq!(data(&body)["enroll"]["course"]["id"], json!(course), "{body}");
    app.stop().await;
}
