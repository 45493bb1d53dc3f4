//! Quizzes: typed questions for everyone who may see the course; the answer key only for the
//! course's instructor and admins, through no other path.

use serde_json::{json, Value};

use crate::support::{ask, data, error_codes, sql_column, TestApp, TestDb};

fn token(sub: &str, role: &str) -> String {
    crate::support::token(sub, role, 600)
}

const QUIZ: &str =
    "query($id: ID!) { quiz(id: $id) { id title passingScore timeLimitMinutes questions { __typename id prompt points \
    ... on SingleChoiceQuestion { options { id text } } ... on MultipleChoiceQuestion { options { id text } } } } }";

#[tokio::test]
async fn questions_are_typed_and_the_answer_key_reaches_only_authors() {
    let db = TestDb::seeded_ci().await;
    let app = TestApp::spawn_authed(&db).await;
    let row = sql_column(
        &db.direct_url,
        "SELECT q.id::text || '|' || c.instructor_id::text || '|' || (q.questions -> 2 -> 'accepted' ->> 0) \
         FROM quizzes q JOIN lessons l ON l.id = q.lesson_id JOIN courses c ON c.id = l.course_id \
         WHERE c.is_published AND jsonb_array_length(q.questions) >= 3 ORDER BY q.id LIMIT 1",
    )
    .await
    .remove(0);
    let parts: Vec<&str> = row.split('|').collect();
    let (quiz, owner, secret_answer) = (parts[0], parts[1], parts[2]);
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

    // anyone: the questions, typed, in order
    let body = ask(&app, None, QUIZ, json!({ "id": quiz })).await;
    let questions = data(&body)["quiz"]["questions"].as_array().expect("questions").clone();
    let kinds: Vec<&str> = questions.iter().map(|q| q["__typename"].as_str().expect("type")).collect();
    assert_eq!(&kinds[..3], ["SingleChoiceQuestion", "MultipleChoiceQuestion", "ShortAnswerQuestion"]);
    assert_eq!(questions[0]["options"].as_array().map(Vec::len), Some(4));
    assert!(questions[2].get("options").is_none());

    // the answer key: authors only; every other path is refused without leaking it
    let key_query = "query($id: ID!) { quiz(id: $id) { answerKey { questionId correctOptionIds acceptedAnswers } } }";
    let sneaky = [
        key_query,
        "query($id: ID!) { quiz(id: $id) { k: answerKey { a: acceptedAnswers } } }",
        "query($id: ID!) { quiz(id: $id) { ...K } } fragment K on Quiz { answerKey { acceptedAnswers correctOptionIds } }",
        "query($id: ID!) { quiz(id: $id) { questions { ... on ShortAnswerQuestion { accepted } } } }",
        "query($id: ID!) { quiz(id: $id) { questions { ... on SingleChoiceQuestion { correct } } } }",
    ];
    let learner_token = token(&learner, "student");
    let other_token = token(&other, "instructor");
    for bearer in [None, Some(learner_token.as_str()), Some(other_token.as_str())] {
        for q in sneaky {
            let body = ask(&app, bearer, q, json!({ "id": quiz })).await;
            let text = body.to_string();
            assert!(
                !text.contains(&format!("\"{secret_answer}\"")),
                "the key leaked to {bearer:?} through {q}: {text}"
            );
            assert!(body.get("errors").is_some(), "{q}: {text}");
            let codes = error_codes(&body);
            assert!(codes.iter().all(|c| c == "FORBIDDEN" || c == "GRAPHQL_VALIDATION_FAILED"), "{codes:?}");
        }
    }
    for bearer in [token(owner, "instructor"), token(&admin, "admin")] {
        let body = ask(&app, Some(&bearer), key_query, json!({ "id": quiz })).await;
        let key = data(&body)["quiz"]["answerKey"].as_array().expect("key").clone();
        assert_eq!(key.len(), questions.len());
        assert_eq!(key[2]["acceptedAnswers"], json!([secret_answer]));
    }
    app.stop().await;
}

#[tokio::test]
async fn lesson_quizzes_load_in_one_batch_per_page() {
    let db = TestDb::seeded_ci().await;
    let app = TestApp::spawn_authed(&db).await;
    let stats = app.pg_stats();
    let q = "query($s: String) { course(slug: $s) { lessons { title quizzes { title questions { id } } } } }";
    let mut per_page = Vec::new();
    for slug in sql_column(&db.direct_url, "SELECT slug FROM courses WHERE is_published ORDER BY id LIMIT 3").await {
        let before = stats.statements();
        let body = ask(&app, None, q, json!({ "s": slug })).await;
        let lessons = data(&body)["course"]["lessons"].as_array().expect("lessons").clone();
        let expected: i64 = sql_column(&db.direct_url, &format!(
            "SELECT count(*)::text FROM quizzes q JOIN lessons l ON l.id = q.lesson_id JOIN courses c ON c.id = l.course_id WHERE c.slug = '{slug}' AND q.is_active"
        )).await[0].parse().expect("n");
        let got: usize = lessons.iter().map(|l| l["quizzes"].as_array().map_or(0, Vec::len)).sum();
        assert_eq!(got as i64, expected, "{slug}");
        per_page.push(stats.statements() - before);
    }
    // the course page (read model, PostgreSQL fallback here) and one batch of quizzes, whatever the lesson count
    assert!(per_page.windows(2).all(|w| w[0] == w[1]), "{per_page:?}");
    app.stop().await;
}

#[tokio::test]
async fn attempts_are_numbered_graded_once_and_never_reveal_the_key() {
    let db = TestDb::seeded_ci().await;
    let app = TestApp::spawn_authed(&db).await;
    // a learner enrolled in a course with a quiz of three or more questions
    let row = sql_column(
        &db.direct_url,
        "SELECT e.user_id::text || '|' || q.id::text || '|' || (q.questions -> 0 -> 'correct' ->> 0) || '|' || (q.questions -> 2 -> 'accepted' ->> 0) \
         FROM quizzes q JOIN lessons l ON l.id = q.lesson_id JOIN courses c ON c.id = l.course_id \
         JOIN enrollments e ON e.course_id = c.id \
         WHERE c.is_published AND jsonb_array_length(q.questions) = 3 ORDER BY q.id, e.user_id LIMIT 1",
    )
    .await
    .remove(0);
    let p: Vec<&str> = row.split('|').collect();
    let (learner, quiz, right_option, accepted) = (p[0], p[1], p[2], p[3]);
    let wrong_option = ["a", "b", "c", "d"].into_iter().find(|o| *o != right_option).expect("option");
    let bearer = token(learner, "student");
    let start = "mutation($q: ID!) { startQuizAttempt(quizId: $q) { id attemptNumber score } }";
    let submit = "mutation($a: ID!, $ans: [AnswerInput!]!, $k: String!) { submitQuizAttempt(attemptId: $a, answers: $ans, idempotencyKey: $k) \
                  { id attemptNumber score isPassed feedback { questionId correct pointsAwarded pointsPossible } } }";
    let before: i64 = sql_column(&db.direct_url, &format!("SELECT COALESCE(max(attempt_number), 0)::text FROM quiz_attempts WHERE user_id = '{learner}' AND quiz_id = '{quiz}'")).await[0].parse().expect("n");

    // starting twice while open: the same attempt
    let first = ask(&app, Some(&bearer), start, json!({ "q": quiz })).await;
    let again = ask(&app, Some(&bearer), start, json!({ "q": quiz })).await;
    assert_eq!(data(&first)["startQuizAttempt"], data(&again)["startQuizAttempt"]);
    assert_eq!(data(&first)["startQuizAttempt"]["attemptNumber"], before + 1);
    assert_eq!(data(&first)["startQuizAttempt"]["score"], Value::Null);
    let attempt = data(&first)["startQuizAttempt"]["id"].as_str().expect("id").to_owned();

    // a wrong submission: feedback says wrong, never what is right
    let answers =
        json!([{ "questionId": "q1", "optionIds": [wrong_option] }, { "questionId": "q3", "text": "no idea" }]);
    // submitted concurrently twice with two keys: graded once
    let (a, b) = tokio::join!(
        ask(&app, Some(&bearer), submit, json!({ "a": attempt, "ans": answers, "k": "s1" })),
        ask(&app, Some(&bearer), submit, json!({ "a": attempt, "ans": answers, "k": "s2" })),
    );
    let (graded, refused) = if a.get("errors").is_none() { (a, b) } else { (b, a) };
    assert_eq!(error_codes(&refused), ["BAD_USER_INPUT"], "{refused}");
    let result = &data(&graded)["submitQuizAttempt"];
    assert_eq!(result["score"], 0);
    assert_eq!(result["isPassed"], false);
    assert_eq!(result["feedback"].as_array().map(Vec::len), Some(3));
    assert!(result["feedback"].as_array().expect("list").iter().all(|f| f["correct"] == false));
    let text = graded.to_string();
    assert!(
        !text.contains(&format!("\"{accepted}\"")) && !text.contains(&format!("[\"{right_option}\"]")),
        "the key leaked: {text}"
    );

    // the next attempt is number +2, and a right submission scores 100
    let next = ask(&app, Some(&bearer), start, json!({ "q": quiz })).await;
    assert_eq!(data(&next)["startQuizAttempt"]["attemptNumber"], before + 2);
    let next_id = data(&next)["startQuizAttempt"]["id"].as_str().expect("id").to_owned();
    let multi: Vec<String> = serde_json::from_str(
        &sql_column(
            &db.direct_url,
            &format!("SELECT (questions -> 1 -> 'correct')::text FROM quizzes WHERE id = '{quiz}'"),
        )
        .await[0],
    )
    .expect("json");
    let right = json!([
        { "questionId": "q1", "optionIds": [right_option] },
        { "questionId": "q2", "optionIds": multi },
        { "questionId": "q3", "text": format!("  {}  ", accepted.to_uppercase()) },
    ]);
    let body = ask(&app, Some(&bearer), submit, json!({ "a": next_id, "ans": right, "k": "s3" })).await;
    assert_eq!(data(&body)["submitQuizAttempt"]["score"], 100);
    assert_eq!(data(&body)["submitQuizAttempt"]["isPassed"], true);
    let again = ask(&app, Some(&bearer), submit, json!({ "a": next_id, "ans": right, "k": "s3" })).await;
    assert_eq!(again, body, "a replayed key answers the same");

    // the learner's attempts and best score on the quiz
    let mine = ask(
        &app,
        Some(&bearer),
        "query($q: ID!) { quiz(id: $q) { myBestScore myAttempts { attemptNumber score } } }",
        json!({ "q": quiz }),
    )
    .await;
    assert_eq!(data(&mine)["quiz"]["myBestScore"], 100);
    assert_eq!(data(&mine)["quiz"]["myAttempts"][0]["attemptNumber"], before + 2);

    // someone else's attempt does not exist for another learner; bad answers name the field
    let other = sql_column(
        &db.direct_url,
        &format!("SELECT id::text FROM users WHERE role = 'student' AND id <> '{learner}' ORDER BY id LIMIT 1"),
    )
    .await
    .remove(0);
    let body = ask(&app, Some(&token(&other, "student")), submit, json!({ "a": next_id, "ans": [], "k": "x1" })).await;
    assert_eq!(error_codes(&body), ["BAD_USER_INPUT"]);
    let third = ask(&app, Some(&bearer), start, json!({ "q": quiz })).await;
    let third_id = data(&third)["startQuizAttempt"]["id"].as_str().expect("id").to_owned();
    for bad in [
        json!([{ "questionId": "q9" }]),
        json!([{ "questionId": "q1", "optionIds": ["zz"] }]),
        json!([{ "questionId": "q1", "optionIds": ["a"] }, { "questionId": "q1", "optionIds": ["b"] }]),
        json!([{ "questionId": "q3", "text": "nul \u{0000} inside" }]),
        json!([{ "questionId": "q".repeat(500) }]),
    ] {
        let body =
            ask(&app, Some(&bearer), submit, json!({ "a": third_id, "ans": bad, "k": format!("b-{bad}") })).await;
        assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{bad}");
        assert!(body["errors"][0]["message"].as_str().is_some_and(|m| m.contains("answers")), "{body}");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_retried_start_with_its_key_does_not_open_another_attempt() {
    let db = TestDb::seeded_ci().await;
    let app = TestApp::spawn_authed(&db).await;
    let row = sql_column(
        &db.direct_url,
        "SELECT e.user_id::text || '|' || q.id::text FROM quizzes q JOIN lessons l ON l.id = q.lesson_id \
         JOIN courses c ON c.id = l.course_id JOIN enrollments e ON e.course_id = c.id \
         WHERE c.is_published AND q.is_active ORDER BY q.id DESC, e.user_id LIMIT 1",
    )
    .await
    .remove(0);
    let (learner, quiz) = row.split_once('|').expect("pair");
    let bearer = token(learner, "student");
    let start =
        "mutation($q: ID!, $k: String) { startQuizAttempt(quizId: $q, idempotencyKey: $k) { id attemptNumber } }";
    let submit =
        "mutation($a: ID!) { submitQuizAttempt(attemptId: $a, answers: [], idempotencyKey: \"submit-1\") { score } }";
    let first = ask(&app, Some(&bearer), start, json!({ "q": quiz, "k": "start-1" })).await;
    let attempt = data(&first)["startQuizAttempt"].clone();
    let submitted = ask(&app, Some(&bearer), submit, json!({ "a": attempt["id"] })).await;
    assert_eq!(data(&submitted)["submitQuizAttempt"]["score"], 0);
    // the client did not see the first answer and retries: the same attempt, not a new one
    let retry = ask(&app, Some(&bearer), start, json!({ "q": quiz, "k": "start-1" })).await;
    assert_eq!(data(&retry)["startQuizAttempt"]["id"], attempt["id"]);
    // a new key starts the next attempt
    let next = ask(&app, Some(&bearer), start, json!({ "q": quiz, "k": "start-2" })).await;
    assert_eq!(data(&next)["startQuizAttempt"]["attemptNumber"], attempt["attemptNumber"].as_i64().expect("n") + 1);
    app.stop().await;
}
