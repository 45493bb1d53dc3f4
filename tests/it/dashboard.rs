//! A learner's dashboard: enrolments page by page, continue learning, recent attempts, and
//! `user(id)` for the learner, their instructors and admins.

use serde_json::{json, Value};

use crate::support::{ask, data, error_codes, first_row, sql_column, token, TestApp, TestDb};

fn ids(list: &Value, path: &[&str]) -> Vec<String> {
    list.as_array()
        .expect("a list")
        .iter()
        .map(|item| path.iter().fold(item, |v, p| &v[*p]).as_str().expect("an id").to_owned())
        .collect()
}

const DASHBOARD: &str = r#"query($first: Int, $after: String) { me {
  enrollments(first: $first, after: $after) { totalCount nodes { course { id } } pageInfo { hasNextPage hasPreviousPage endCursor } }
  continueLearning(first: 3) { course { id } progress { lastAccessedAt } }
  recentQuizAttempts(first: 4) { id attemptNumber quiz { id } }
} }"#;

#[tokio::test]
async fn the_dashboard_pages_enrolments_and_lists_where_to_continue_and_recent_attempts() {
    let db = TestDb::seeded_ci().await;
    let app = TestApp::spawn_authed(&db).await;
    let learner = first_row(
        &db,
        "SELECT a.user_id::text FROM quiz_attempts a JOIN enrollments e ON e.user_id = a.user_id \
         GROUP BY a.user_id ORDER BY count(DISTINCT e.course_id) DESC, count(DISTINCT a.id) DESC, a.user_id LIMIT 1",
    )
    .await;
    let bearer = token(&learner, "student", 600);

    // every enrolment once, newest first, two at a time
    let expected = sql_column(
        &db.direct_url,
        &format!("SELECT course_id::text FROM enrollments WHERE user_id = '{learner}' ORDER BY enrolled_at DESC, course_id DESC"),
    )
    .await;
    assert!(expected.len() > 2, "the learner has several pages of enrolments");
    let mut seen = Vec::new();
    let mut after = Value::Null;
    loop {
        let body = ask(&app, Some(&bearer), DASHBOARD, json!({ "first": 2, "after": after })).await;
        let page = &data(&body)["me"]["enrollments"];
        assert_eq!(page["totalCount"], json!(expected.len()));
        assert_eq!(page["pageInfo"]["hasPreviousPage"], json!(!after.is_null()));
        seen.extend(ids(&page["nodes"], &["course", "id"]));
        if page["pageInfo"]["hasNextPage"] == json!(false) {
            break;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(seen, expected);

    // continue learning: unfinished courses, by the last lesson opened
    let body = ask(&app, Some(&bearer), DASHBOARD, json!({ "first": 1 })).await;
    let resume = sql_column(
        &db.direct_url,
        &format!(
            "SELECT e.course_id::text FROM enrollments e JOIN user_progress up ON up.user_id = e.user_id AND up.course_id = e.course_id \
             WHERE e.user_id = '{learner}' GROUP BY e.course_id \
             HAVING NOT (bool_and(up.is_completed) AND count(*) >= (SELECT count(*) FROM lessons l WHERE l.course_id = e.course_id)) \
             ORDER BY max(up.last_accessed_at) DESC, e.course_id DESC LIMIT 3"
        ),
    )
    .await;
    assert!(!resume.is_empty(), "the learner has something to continue");
    assert_eq!(ids(&data(&body)["me"]["continueLearning"], &["course", "id"]), resume);

    // recent attempts, newest first, with their quiz
    let attempts = sql_column(
        &db.direct_url,
        &format!(
            "SELECT id::text FROM quiz_attempts WHERE user_id = '{learner}' ORDER BY started_at DESC, id DESC LIMIT 4"
        ),
    )
    .await;
    let got = &data(&body)["me"]["recentQuizAttempts"];
    assert_eq!(ids(got, &["id"]), attempts);
    assert!(got.as_array().expect("list").iter().all(|a| a["quiz"]["id"].is_string()), "{got}");

    // bad arguments
    for variables in [json!({ "first": 0 }), json!({ "first": 101 }), json!({ "after": "bm9wZQ" })] {
        let body = ask(&app, Some(&bearer), DASHBOARD, variables.clone()).await;
        assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{variables}: {body}");
    }
    app.stop().await;
}

const USER: &str = r#"query($id: ID!) { user(id: $id) {
  id email firstName role
  enrollments(first: 100) { totalCount nodes { course { id } } }
  recentQuizAttempts(first: 100) { id }
} }"#;

#[tokio::test]
async fn user_shows_a_learner_to_themself_their_instructors_and_admins_only() {
    let db = TestDb::seeded_ci().await;
    let app = TestApp::spawn_authed(&db).await;
    // a learner enrolled with two instructors at least, who has attempts in both
    let learner = first_row(
        &db,
        "SELECT e.user_id::text FROM enrollments e JOIN courses c ON c.id = e.course_id JOIN users u ON u.id = e.user_id \
         WHERE u.role = 'student' GROUP BY e.user_id HAVING count(DISTINCT c.instructor_id) >= 2 \
         ORDER BY count(*) DESC, e.user_id LIMIT 1",
    )
    .await;
    let teacher = first_row(
        &db,
        &format!(
            "SELECT c.instructor_id::text FROM enrollments e JOIN courses c ON c.id = e.course_id \
             WHERE e.user_id = '{learner}' GROUP BY c.instructor_id ORDER BY count(*) DESC, c.instructor_id LIMIT 1"
        ),
    )
    .await;
    let stranger = first_row(
        &db,
        &format!(
            "SELECT id::text FROM users WHERE role = 'instructor' AND id NOT IN \
             (SELECT c.instructor_id FROM enrollments e JOIN courses c ON c.id = e.course_id WHERE e.user_id = '{learner}') LIMIT 1"
        ),
    )
    .await;
    let other_learner =
        first_row(&db, &format!("SELECT id::text FROM users WHERE role = 'student' AND id <> '{learner}' LIMIT 1"))
            .await;
    let admin = first_row(&db, "SELECT id::text FROM users WHERE role = 'admin' LIMIT 1").await;
    let all_courses = sql_column(
        &db.direct_url,
        &format!("SELECT course_id::text FROM enrollments WHERE user_id = '{learner}' ORDER BY enrolled_at DESC, course_id DESC"),
    )
    .await;
    let taught = sql_column(
        &db.direct_url,
        &format!(
            "SELECT e.course_id::text FROM enrollments e JOIN courses c ON c.id = e.course_id \
             WHERE e.user_id = '{learner}' AND c.instructor_id = '{teacher}' ORDER BY e.enrolled_at DESC, e.course_id DESC"
        ),
    )
    .await;
    assert!(!taught.is_empty() && taught.len() < all_courses.len(), "the teacher sees part of it");
    let email = first_row(&db, &format!("SELECT email FROM users WHERE id = '{learner}'")).await;
    let vars = json!({ "id": learner });

    // nobody signed in, another learner, an instructor who does not teach them
    let body = ask(&app, None, USER, vars.clone()).await;
    assert_eq!(error_codes(&body), ["UNAUTHENTICATED"]);
    for (who, role) in [(&other_learner, "student"), (&stranger, "instructor")] {
        let body = ask(&app, Some(&token(who, role, 600)), USER, vars.clone()).await;
        assert_eq!(error_codes(&body), ["FORBIDDEN"], "{role}: {body}");
        assert!(body["data"].is_null() || body["data"]["user"].is_null(), "{body}");
        assert!(!body.to_string().contains(&email), "no trace of the learner: {body}");
    }

    // the learner themself and an admin: everything
    for (who, role) in [(&learner, "student"), (&admin, "admin")] {
        let body = ask(&app, Some(&token(who, role, 600)), USER, vars.clone()).await;
        let user = &data(&body)["user"];
        assert_eq!(user["email"], email.as_str(), "{role}");
        assert_eq!(user["role"], "STUDENT");
        assert_eq!(ids(&user["enrollments"]["nodes"], &["course", "id"]), all_courses, "{role}");
        assert_eq!(user["enrollments"]["totalCount"], json!(all_courses.len()));
    }

    // their instructor: only the courses they teach, and no email
    let body = ask(&app, Some(&token(&teacher, "instructor", 600)), USER, vars.clone()).await;
    let user = &data(&body)["user"];
    assert_eq!(user["email"], Value::Null);
    assert_eq!(ids(&user["enrollments"]["nodes"], &["course", "id"]), taught);
    assert_eq!(user["enrollments"]["totalCount"], json!(taught.len()));
    let attempts = sql_column(
        &db.direct_url,
        &format!(
            "SELECT a.id::text FROM quiz_attempts a JOIN quizzes q ON q.id = a.quiz_id JOIN lessons l ON l.id = q.lesson_id \
             JOIN courses c ON c.id = l.course_id WHERE a.user_id = '{learner}' AND c.instructor_id = '{teacher}' \
             ORDER BY a.started_at DESC, a.id DESC LIMIT 100"
        ),
    )
    .await;
    assert_eq!(ids(&user["recentQuizAttempts"], &["id"]), attempts);

    // an admin asking for nobody gets null; a malformed id is bad input
    let admin_token = token(&admin, "admin", 600);
    let body = ask(&app, Some(&admin_token), USER, json!({ "id": "00000000-0000-4000-8000-000000000000" })).await;
    assert_eq!(data(&body)["user"], Value::Null);
    let body = ask(&app, Some(&admin_token), USER, json!({ "id": "nope" })).await;
    assert_eq!(error_codes(&body), ["BAD_USER_INPUT"]);
    app.stop().await;
}
