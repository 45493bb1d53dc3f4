//! Instructor statistics and the instructor's own course list.

use serde_json::{json, Value};

use crate::support::{ask, data, error_codes, first_row, sql_column, token, TestApp, TestDb};

const STATS: &str = r#"query($id: ID!) { course(id: $id) { stats {
  enrollments activeLearners completedLearners completionRate averageQuizScore submittedQuizAttempts
  lessons { lessonId position started completed completionRate dropOffRate }
} } }"#;

#[tokio::test]
async fn course_statistics_match_sql_and_are_for_the_instructor_and_admins_only() {
    let db = TestDb::seeded_ci().await;
    let app = TestApp::spawn_authed(&db).await;
    // the course with the most submitted attempts
    let course = first_row(
        &db,
        "SELECT l.course_id::text FROM quiz_attempts a JOIN quizzes q ON q.id = a.quiz_id JOIN lessons l ON l.id = q.lesson_id \
         JOIN courses c ON c.id = l.course_id WHERE a.completed_at IS NOT NULL AND c.is_published \
         GROUP BY l.course_id ORDER BY count(*) DESC, l.course_id LIMIT 1",
    )
    .await;
    let owner = first_row(&db, &format!("SELECT instructor_id::text FROM courses WHERE id = '{course}'")).await;
    let other =
        first_row(&db, &format!("SELECT id::text FROM users WHERE role = 'instructor' AND id <> '{owner}' LIMIT 1"))
            .await;
    let learner = first_row(&db, "SELECT id::text FROM users WHERE role = 'student' LIMIT 1").await;
    let admin = first_row(&db, "SELECT id::text FROM users WHERE role = 'admin' LIMIT 1").await;
    let vars = json!({ "id": course });

    for (who, role) in [(&learner, "student"), (&other, "instructor")] {
        let body = ask(&app, Some(&token(who, role, 600)), STATS, vars.clone()).await;
        assert_eq!(error_codes(&body), ["FORBIDDEN"], "{role}: {body}");
    }
    assert_eq!(error_codes(&ask(&app, None, STATS, vars.clone()).await), ["FORBIDDEN"]);

    let owner_view = ask(&app, Some(&token(&owner, "instructor", 600)), STATS, vars.clone()).await;
    let admin_view = ask(&app, Some(&token(&admin, "admin", 600)), STATS, vars.clone()).await;
    assert_eq!(owner_view, admin_view);
    let stats = &data(&owner_view)["course"]["stats"];

    // the same figures, written another way
    let expect = |sql: String| {
        let db = &db;
        async move { first_row(db, &sql).await }
    };
    let enrolled = expect(format!("SELECT count(*)::text FROM enrollments WHERE course_id = '{course}'")).await;
    let active = expect(format!(
        "SELECT count(DISTINCT e.user_id)::text FROM enrollments e JOIN user_progress up USING (user_id, course_id) WHERE e.course_id = '{course}'"
    ))
    .await;
    let completed = expect(format!(
        "SELECT count(*)::text FROM enrollments e WHERE e.course_id = '{course}' AND NOT EXISTS \
         (SELECT 1 FROM lessons l WHERE l.course_id = e.course_id AND NOT EXISTS \
          (SELECT 1 FROM user_progress up WHERE up.lesson_id = l.id AND up.user_id = e.user_id AND up.is_completed))"
    ))
    .await;
    let average = expect(format!(
        "SELECT round(avg(a.score), 6)::text FROM quiz_attempts a JOIN quizzes q ON q.id = a.quiz_id JOIN lessons l ON l.id = q.lesson_id \
         WHERE l.course_id = '{course}' AND a.completed_at IS NOT NULL"
    ))
    .await;
    assert_eq!(stats["enrollments"].to_string(), enrolled);
    assert_eq!(stats["activeLearners"].to_string(), active);
    assert_eq!(stats["completedLearners"].to_string(), completed);
    let rate = stats["completionRate"].as_f64().expect("rate");
    assert!((rate - completed.parse::<f64>().unwrap_or(-1.0) / enrolled.parse::<f64>().unwrap_or(1.0)).abs() < 1e-9);
    let got = stats["averageQuizScore"].as_f64().expect("average");
    assert!((got - average.parse::<f64>().unwrap_or(-1.0)).abs() < 1e-5, "{got} vs {average}");

    // the funnel: one entry per lesson, in order, counting enrolled learners only
    let lessons = stats["lessons"].as_array().expect("lessons");
    let started = sql_column(
        &db.direct_url,
        &format!(
            "SELECT l.id::text || ':' || (SELECT count(*) FROM user_progress up JOIN enrollments e USING (user_id, course_id) \
             WHERE up.lesson_id = l.id)::text FROM lessons l WHERE l.course_id = '{course}' ORDER BY l.order_position"
        ),
    )
    .await;
    let got: Vec<String> =
        lessons.iter().map(|l| format!("{}:{}", l["lessonId"].as_str().unwrap_or(""), l["started"])).collect();
    assert_eq!(got, started);
    for l in lessons {
        let drop = l["dropOffRate"].as_f64().expect("rate");
        assert!((0.0..=1.0).contains(&drop), "{l}");
        assert!(l["completed"].as_i64() <= l["started"].as_i64(), "{l}");
    }
    app.stop().await;
}

#[tokio::test]
async fn an_instructor_lists_their_courses_with_drafts_and_others_see_the_published_ones() {
    let db = TestDb::seeded_ci().await;
    let app = TestApp::spawn_authed(&db).await;
    let instructor = first_row(
        &db,
        "SELECT instructor_id::text FROM courses GROUP BY instructor_id HAVING bool_or(NOT is_published) AND bool_or(is_published) \
         ORDER BY count(*) DESC, instructor_id LIMIT 1",
    )
    .await;
    let all = sql_column(
        &db.direct_url,
        &format!("SELECT id::text FROM courses WHERE instructor_id = '{instructor}' ORDER BY created_at DESC, id DESC"),
    )
    .await;
    let published = sql_column(
        &db.direct_url,
        &format!("SELECT id::text FROM courses WHERE instructor_id = '{instructor}' AND is_published ORDER BY created_at DESC, id DESC"),
    )
    .await;
    let ids = |body: &Value, root: &str| -> Vec<String> {
        data(body)[root]["taughtCourses"]["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .map(|n| n["id"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    let mine = ask(
        &app,
        Some(&token(&instructor, "instructor", 600)),
        "{ me { taughtCourses(first: 100) { totalCount nodes { id isPublished } } } }",
        json!({}),
    )
    .await;
    assert_eq!(ids(&mine, "me"), all);
    assert_eq!(data(&mine)["me"]["taughtCourses"]["totalCount"], json!(all.len()));

    let admin = first_row(&db, "SELECT id::text FROM users WHERE role = 'admin' LIMIT 1").await;
    let q = "query($id: ID!) { user(id: $id) { taughtCourses(first: 100) { nodes { id } } } }";
    let by_admin = ask(&app, Some(&token(&admin, "admin", 600)), q, json!({ "id": instructor })).await;
    assert_eq!(ids(&by_admin, "user"), all);
    // discovery by instructor: the published ones only
    let body = ask(
        &app,
        None,
        "query($i: ID!) { courses(filter: { instructorId: $i }, first: 100) { nodes { id } } }",
        json!({ "i": instructor }),
    )
    .await;
    let found: Vec<String> = data(&body)["courses"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| n["id"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(found, published);
    assert!(published.len() < all.len());
    app.stop().await;
}
