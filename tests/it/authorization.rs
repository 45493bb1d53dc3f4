//! The authorization matrix: six kinds of caller × every sensitive field and mutation.

use serde_json::{json, Value};

use crate::support::{ask, error_codes, first_row, sql_exec, token, TestApp, TestDb};

/// What a caller gets.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Sees {
    /// The data, without errors (and the check below holds).
    Data,
    /// No error, and nothing: null, an empty list, or `isLocked` content.
    Nothing,
    Forbidden,
    Unauthenticated,
}

use Sees::{Data, Forbidden, Nothing, Unauthenticated};

#[tokio::test]
async fn every_caller_sees_exactly_what_their_role_allows() {
    let db = TestDb::seeded_ci().await;
    let app = TestApp::spawn_authed(&db).await;
    // a published course with a paid lesson that has an active quiz, and a learner enrolled in it
    let row = first_row(
        &db,
        "SELECT c.id::text || ' ' || c.instructor_id::text || ' ' || l.id::text || ' ' || q.id::text || ' ' || e.user_id::text \
         FROM courses c JOIN lessons l ON l.course_id = c.id AND NOT l.is_free JOIN quizzes q ON q.lesson_id = l.id AND q.is_active \
         JOIN enrollments e ON e.course_id = c.id JOIN users u ON u.id = e.user_id AND u.role = 'student' AND u.is_active \
         WHERE c.is_published ORDER BY c.id, l.order_position, q.id, e.user_id LIMIT 1",
    )
    .await;
    let ids: Vec<String> = row.split(' ').map(str::to_owned).collect();
    let (course, owner, lesson, quiz, learner) = (&ids[0], &ids[1], &ids[2], &ids[3], &ids[4]);
    let other_instructor = first_row(
        &db,
        &format!("SELECT id::text FROM users WHERE role = 'instructor' AND id <> '{owner}' ORDER BY id LIMIT 1"),
    )
    .await;
    let other_learner = first_row(
        &db,
        &format!(
            "SELECT id::text FROM users WHERE role = 'student' AND is_active AND id NOT IN \
             (SELECT user_id FROM enrollments WHERE course_id = '{course}') ORDER BY id LIMIT 1"
        ),
    )
    .await;
    let admin =
        first_row(&db, "SELECT id::text FROM users WHERE role = 'admin' AND is_active ORDER BY id LIMIT 1").await;
    let draft = "30000000-0000-4000-8000-000000000001";
    sql_exec(
        &db.direct_url,
        &format!(
            "INSERT INTO courses (id, title, slug, instructor_id, is_published) VALUES ('{draft}', 'Secret draft', 'secret-draft', '{owner}', false); \
             INSERT INTO quiz_attempts (user_id, quiz_id, score, answers, is_passed, attempt_number, completed_at) \
             VALUES ('{learner}', '{quiz}', 55, '[]', false, 1000, now())"
        ),
    )
    .await;

    let callers: [(&str, Option<String>); 6] = [
        ("anonymous", None),
        ("learner", Some(token(learner, "student", 600))),
        ("another learner", Some(token(&other_learner, "student", 600))),
        ("the instructor", Some(token(owner, "instructor", 600))),
        ("another instructor", Some(token(&other_instructor, "instructor", 600))),
        ("admin", Some(token(&admin, "admin", 600))),
    ];
    // (what, query, variables, JSON pointer to the guarded value, expected per caller in the order above)
    let cases: Vec<(&str, String, Value, &str, [Sees; 6])> = vec![
        ("a draft course", "query($id: ID!) { course(id: $id) { title } }".into(), json!({ "id": draft }), "/data/course/title",
            [Nothing, Nothing, Nothing, Data, Nothing, Data]),
        ("a draft in discovery", "{ courses(filter: { search: \"secret draft\" }) { nodes { id } } }".into(), json!({}), "/data/courses/nodes/0/id",
            [Nothing, Nothing, Nothing, Nothing, Nothing, Nothing]),
        ("paid lesson content", "query($id: ID!) { course(id: $id) { lessons { id content } } }".into(), json!({ "id": course }),
            "/data/course/lessons/*/content", [Nothing, Data, Nothing, Data, Nothing, Data]),
        ("the answer key", "query($id: ID!) { quiz(id: $id) { answerKey { questionId } } }".into(), json!({ "id": quiz }), "/data/quiz/answerKey",
            [Forbidden, Forbidden, Forbidden, Data, Forbidden, Data]),
        ("course statistics", "query($id: ID!) { course(id: $id) { stats { enrollments } } }".into(), json!({ "id": course }), "/data/course/stats",
            [Forbidden, Forbidden, Forbidden, Data, Forbidden, Data]),
        ("a learner's dashboard", "query($id: ID!) { user(id: $id) { enrollments { nodes { course { id } } } } }".into(), json!({ "id": learner }),
            "/data/user/enrollments", [Unauthenticated, Data, Forbidden, Data, Forbidden, Data]),
        ("the learner's attempts", "query($id: ID!) { quiz(id: $id) { myAttempts { attemptNumber } } }".into(), json!({ "id": quiz }),
            "/data/quiz/myAttempts/0", [Nothing, Data, Nothing, Nothing, Nothing, Nothing]),
        ("me", "{ me { id } }".into(), json!({}), "/data/me/id", [Unauthenticated, Data, Data, Data, Data, Data]),
        ("updateCourse", "mutation($id: ID!) { updateCourse(id: $id, input: { description: \"changed\" }, idempotencyKey: \"authz-update\") { id } }".into(),
            json!({ "id": course }), "/data/updateCourse/id", [Unauthenticated, Forbidden, Forbidden, Data, Forbidden, Data]),
        ("upsertQuiz", format!("mutation($id: ID!) {{ upsertQuiz(lessonId: $id, input: {{ id: \"{quiz}\", title: \"T\", questions: [{{ id: \"q\", type: SHORT_ANSWER, prompt: \"P\", accepted: [\"a\"] }}] }}, idempotencyKey: \"authz-quiz\") {{ id }} }}"),
            json!({ "id": lesson }), "/data/upsertQuiz/id", [Unauthenticated, Forbidden, Forbidden, Data, Forbidden, Data]),
        ("recordLessonProgress", "mutation($id: ID!) { recordLessonProgress(lessonId: $id, completionPercentage: 10, timeSpentMinutes: 1, idempotencyKey: \"authz-progress\") { overallCompletionPercentage } }".into(),
            json!({ "id": lesson }), "/data/recordLessonProgress", [Unauthenticated, Data, Forbidden, Forbidden, Forbidden, Forbidden]),
        ("startQuizAttempt", "mutation($id: ID!) { startQuizAttempt(quizId: $id) { attemptNumber } }".into(),
            json!({ "id": quiz }), "/data/startQuizAttempt", [Unauthenticated, Data, Forbidden, Forbidden, Forbidden, Forbidden]),
    ];

    let mut failures = Vec::new();
    for (what, query, variables, pointer, expected) in &cases {
        for ((caller, bearer), want) in callers.iter().zip(expected) {
            let body = ask(&app, bearer.as_deref(), query, variables.clone()).await;
            let codes = if body.get("errors").is_some() { error_codes(&body) } else { Vec::new() };
            // `list/*/field`: that field of the guarded lesson in the list
            let values: Vec<&Value> = match pointer.split_once("/*/") {
                Some((list, field)) => body
                    .pointer(list)
                    .and_then(Value::as_array)
                    .map(|items| {
                        items.iter().filter(|i| i["id"] == lesson.as_str()).filter_map(|i| i.get(field)).collect()
                    })
                    .unwrap_or_default(),
                None => body.pointer(pointer).into_iter().collect(),
            };
            let present = values.iter().any(|v| !v.is_null() && v.as_array().is_none_or(|a| !a.is_empty()));
            let got = match codes.as_slice() {
                [] if present => Data,
                [] => Nothing,
                [c] if c == "FORBIDDEN" => Forbidden,
                [c] if c == "UNAUTHENTICATED" => Unauthenticated,
                _ => {
                    failures.push(format!("{what} as {caller}: unexpected {body}"));
                    continue;
                }
            };
            if got != *want {
                failures.push(format!("{what} as {caller}: want {want:?}, got {got:?}: {body}"));
            }
            // a refusal carries nothing of what it guards
            if matches!(got, Forbidden | Unauthenticated) && present {
                failures.push(format!("{what} as {caller}: refused but data leaked: {body}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    app.stop().await;
}
