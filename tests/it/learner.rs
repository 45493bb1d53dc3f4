//! The signed-in learner: tokens, `me`, `enroll` and `unenroll` with idempotency keys.

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{encode, EncodingKey, Header};
use serde_json::{json, Value};

use crate::support::{data, error_codes, sql_column, TestApp, TestDb};

const SECRET: &str = "a-test-secret-that-is-long-enough-for-hs256";

fn token(sub: &str, role: &str, expires_in: i64) -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs() as i64;
    encode(
        &Header::default(),
        &json!({ "sub": sub, "role": role, "exp": now + expires_in }),
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .expect("token")
}

async fn app(db: &TestDb) -> TestApp {
    TestApp::spawn_with(db.config(&[("AUTH_JWT_HS256_SECRET", SECRET)])).await
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

const ME: &str = "{ me { id email role enrollments { course { id title } progress { overallCompletionPercentage lessons { lessonId } } } } }";

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
            "SELECT course_id::text FROM enrollments WHERE user_id = '{learner}' ORDER BY enrolled_at DESC, course_id"
        ),
    )
    .await;
    let got: Vec<&str> =
        me["enrollments"].as_array().expect("list").iter().map(|e| e["course"]["id"].as_str().expect("id")).collect();
    assert_eq!(got, expected);
    assert!(me["enrollments"]
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
