//! Instructor authoring: courses, lessons in a gapless order, quizzes; who may, and what is refused.

use serde_json::{json, Value};

use crate::support::{ask, data, error_codes, first_row, sql_column, token, TestApp, TestDb};

const CREATE: &str = r#"mutation($input: CreateCourseInput!, $key: String!) {
  createCourse(input: $input, idempotencyKey: $key) { id slug title description level price isFree tags isPublished lessonCount }
}"#;
const UPDATE: &str = r#"mutation($id: ID!, $input: UpdateCourseInput!, $key: String!) {
  updateCourse(id: $id, input: $input, idempotencyKey: $key) { id slug title description category { id } price tags metadata }
}"#;
const PUBLISH: &str = r#"mutation($id: ID!, $published: Boolean, $key: String!) {
  publishCourse(id: $id, published: $published, idempotencyKey: $key) { id }
}"#;
const LESSON: &str = r#"mutation($course: ID!, $input: LessonInput!, $key: String!) {
  upsertLesson(courseId: $course, input: $input, idempotencyKey: $key) { id slug title position isFree }
}"#;
const QUIZ: &str = r#"mutation($lesson: ID!, $input: QuizInput!, $key: String!) {
  upsertQuiz(lessonId: $lesson, input: $input, idempotencyKey: $key) { id title passingScore questions { id prompt } answerKey { questionId } }
}"#;

fn questions() -> Value {
    json!([
        { "id": "q1", "type": "SINGLE_CHOICE", "prompt": "2 + 2?", "options": [{ "id": "a", "text": "3" }, { "id": "b", "text": "4" }], "correct": ["b"] },
        { "id": "q2", "type": "MULTIPLE_CHOICE", "prompt": "Primes?", "points": 2, "options": [{ "id": "a", "text": "2" }, { "id": "b", "text": "4" }, { "id": "c", "text": "5" }], "correct": ["a", "c"] },
        { "id": "q3", "type": "SHORT_ANSWER", "prompt": "Capital of France?", "accepted": ["Paris"] },
    ])
}

/// The course's lesson titles in order, and whether positions are exactly 1..n.
async fn order(db: &TestDb, course: &str) -> (Vec<String>, bool) {
    let rows = sql_column(
        &db.direct_url,
        &format!("SELECT order_position::text || ':' || title FROM lessons WHERE course_id = '{course}' ORDER BY order_position"),
    )
    .await;
    let gapless = rows.iter().enumerate().all(|(i, r)| r.starts_with(&format!("{}:", i + 1)));
    (rows.into_iter().map(|r| r.split_once(':').map(|(_, t)| t.to_owned()).unwrap_or_default()).collect(), gapless)
}

#[tokio::test]
async fn an_instructor_writes_a_course_with_ordered_lessons_and_a_quiz_then_publishes_it() {
    let db = TestDb::seeded_ci().await;
    let app = TestApp::spawn_authed(&db).await;
    let instructor = first_row(&db, "SELECT id::text FROM users WHERE role = 'instructor' ORDER BY id LIMIT 1").await;
    let me = token(&instructor, "instructor", 600);
    let me = Some(me.as_str());

    // a draft; the slug comes from the title, and is made unique
    let input = json!({ "title": "Async Rust in Practice", "description": "Tokio, futures.", "price": "19.5", "tags": ["Rust", "rust", "async"] });
    let body = ask(&app, me, CREATE, json!({ "input": input, "key": "c-1" })).await;
    let course = data(&body)["createCourse"].clone();
    assert_eq!(course["slug"], "async-rust-in-practice");
    assert_eq!(course["price"], "19.50");
    assert_eq!(course["tags"], json!(["rust", "async"]));
    let id = course["id"].as_str().expect("id").to_owned();
    let again = ask(&app, me, CREATE, json!({ "input": { "title": "Async Rust in Practice" }, "key": "c-2" })).await;
    assert_eq!(data(&again)["createCourse"]["slug"], "async-rust-in-practice-2");
    // the same key: the same course, no second one
    let replay = ask(&app, me, CREATE, json!({ "input": input, "key": "c-1" })).await;
    assert_eq!(data(&replay)["createCourse"]["id"], id.as_str());
    assert_eq!(first_row(&db, "SELECT count(*)::text FROM courses WHERE title = 'Async Rust in Practice'").await, "2");

    // drafts: hidden from others, and it cannot be published without a lesson
    let page = "query($id: ID!) { course(id: $id) { title isPublished lessons { title position } } }";
    assert_eq!(data(&ask(&app, None, page, json!({ "id": id })).await)["course"], Value::Null);
    let body = ask(&app, me, PUBLISH, json!({ "id": id, "key": "p-0" })).await;
    assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{body}");

    // lessons: appended, inserted first, moved; positions stay 1..n
    let mut lessons = Vec::new();
    for (i, t) in ["Futures", "Tasks", "Pinning"].iter().enumerate() {
        let body = ask(
            &app,
            me,
            LESSON,
            json!({ "course": id, "input": { "title": t, "isFree": i == 0 }, "key": format!("l-{i}") }),
        )
        .await;
        assert_eq!(data(&body)["upsertLesson"]["position"], json!(i + 1), "{body}");
        lessons.push(data(&body)["upsertLesson"]["id"].as_str().expect("id").to_owned());
    }
    ask(&app, me, LESSON, json!({ "course": id, "input": { "title": "Why async", "position": 1 }, "key": "l-3" }))
        .await;
    assert_eq!(
        order(&db, &id).await,
        (vec!["Why async".into(), "Futures".into(), "Tasks".into(), "Pinning".into()], true)
    );
    let moved = ask(&app, me, LESSON, json!({ "course": id, "input": { "id": lessons[2], "title": "Pinning, explained", "position": 2 }, "key": "l-4" })).await;
    assert_eq!(data(&moved)["upsertLesson"]["position"], 2, "{moved}");
    assert_eq!(
        order(&db, &id).await,
        (vec!["Why async".into(), "Pinning, explained".into(), "Futures".into(), "Tasks".into()], true)
    );
    // a change without a position keeps the lesson where it is
    ask(&app, me, LESSON, json!({ "course": id, "input": { "id": lessons[0], "title": "Futures!" }, "key": "l-5" }))
        .await;
    assert_eq!(order(&db, &id).await.0[2], "Futures!");
    // past the end: last
    ask(&app, me, LESSON, json!({ "course": id, "input": { "title": "Streams", "position": 99 }, "key": "l-6" })).await;
    assert_eq!(
        order(&db, &id).await,
        (
            vec!["Why async".into(), "Pinning, explained".into(), "Futures!".into(), "Tasks".into(), "Streams".into()],
            true
        )
    );

    // a quiz, whose key its author reads back
    let body = ask(&app, me, QUIZ, json!({ "lesson": lessons[0], "input": { "title": "Check", "questions": questions(), "passingScore": 60 }, "key": "q-1" })).await;
    let quiz = &data(&body)["upsertQuiz"];
    assert_eq!(quiz["passingScore"], 60);
    assert_eq!(quiz["answerKey"].as_array().map(Vec::len), Some(3));
    let quiz_id = quiz["id"].as_str().expect("id").to_owned();
    let body = ask(&app, me, QUIZ, json!({ "lesson": lessons[0], "input": { "id": quiz_id, "title": "Check again", "questions": questions() }, "key": "q-2" })).await;
    assert_eq!(data(&body)["upsertQuiz"]["title"], "Check again");
    assert_eq!(
        first_row(&db, &format!("SELECT count(*)::text FROM quizzes WHERE lesson_id = '{}'", lessons[0])).await,
        "1"
    );

    // update: a field cleared with null, others changed, the rest kept
    let category = first_row(&db, "SELECT id::text FROM categories ORDER BY id LIMIT 1").await;
    let body = ask(&app, me, UPDATE, json!({ "id": id, "input": { "description": null, "title": "Async Rust", "categoryId": category, "metadata": { "language": "en" } }, "key": "u-1" })).await;
    let updated = &data(&body)["updateCourse"];
    assert_eq!((updated["title"].clone(), updated["description"].clone()), (json!("Async Rust"), Value::Null));
    assert_eq!(updated["category"]["id"], category.as_str());
    assert_eq!(updated["price"], "19.50", "kept");
    assert_eq!(updated["metadata"], json!({ "language": "en" }));

    // published: everyone finds it, with its lessons in order
    let body = ask(&app, me, PUBLISH, json!({ "id": id, "key": "p-1" })).await;
    assert!(body.get("errors").is_none(), "{body}");
    let body = ask(&app, None, page, json!({ "id": id })).await;
    let titles: Vec<&str> = data(&body)["course"]["lessons"]
        .as_array()
        .expect("lessons")
        .iter()
        .map(|l| l["title"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(titles, ["Why async", "Pinning, explained", "Futures!", "Tasks", "Streams"]);
    let found = ask(&app, None, "{ courses(filter: { search: \"async rust\" }) { nodes { id } } }", json!({})).await;
    assert!(
        data(&found)["courses"]["nodes"].as_array().expect("nodes").iter().any(|n| n["id"] == id.as_str()),
        "{found}"
    );
    app.stop().await;
}

#[tokio::test]
async fn concurrent_lesson_inserts_keep_positions_gapless() {
    let db = TestDb::seeded_ci().await;
    let app = TestApp::spawn_authed(&db).await;
    let (course, instructor) = {
        let row = first_row(&db, "SELECT id::text || ' ' || instructor_id::text FROM courses WHERE instructor_id IS NOT NULL ORDER BY id LIMIT 1").await;
        let (c, i) = row.split_once(' ').expect("two ids");
        (c.to_owned(), i.to_owned())
    };
    let before = order(&db, &course).await.0.len();
    let bearer = token(&instructor, "instructor", 600);
    let writes = (0..8).map(|i| {
        let (app, bearer, course) = (&app, bearer.clone(), course.clone());
        async move {
            ask(app, Some(&bearer), LESSON, json!({ "course": course, "input": { "title": format!("Inserted {i}"), "position": 1 + i % 3 }, "key": format!("race-{i}") })).await
        }
    });
    for body in futures::future::join_all(writes).await {
        assert!(body.get("errors").is_none(), "{body}");
    }
    let (titles, gapless) = order(&db, &course).await;
    assert_eq!(titles.len(), before + 8);
    assert!(gapless, "{titles:?}");
    app.stop().await;
}

#[tokio::test]
async fn only_the_courses_instructor_and_admins_author_it_and_bad_input_names_its_field() {
    let db = TestDb::seeded_ci().await;
    let app = TestApp::spawn_authed(&db).await;
    let row = first_row(&db, "SELECT c.id::text || ' ' || c.instructor_id::text || ' ' || l.id::text FROM courses c JOIN lessons l ON l.course_id = c.id ORDER BY c.id, l.order_position LIMIT 1").await;
    let parts: Vec<&str> = row.split(' ').collect();
    let (course, owner, lesson) = (parts[0], parts[1], parts[2]);
    let other =
        first_row(&db, &format!("SELECT id::text FROM users WHERE role = 'instructor' AND id <> '{owner}' LIMIT 1"))
            .await;
    let learner = first_row(&db, "SELECT id::text FROM users WHERE role = 'student' LIMIT 1").await;
    let admin = first_row(&db, "SELECT id::text FROM users WHERE role = 'admin' LIMIT 1").await;
    let title_before = first_row(&db, &format!("SELECT title FROM courses WHERE id = '{course}'")).await;

    let writes = [
        (UPDATE, json!({ "id": course, "input": { "title": "Taken over" } })),
        (PUBLISH, json!({ "id": course, "published": false })),
        (LESSON, json!({ "course": course, "input": { "title": "Intruder" } })),
        (QUIZ, json!({ "lesson": lesson, "input": { "title": "Intruder", "questions": questions() } })),
    ];
    for (i, (mutation, variables)) in writes.iter().enumerate() {
        let mut variables = variables.clone();
        variables["key"] = json!(format!("authz-{i}"));
        let body = ask(&app, None, mutation, variables.clone()).await;
        assert_eq!(error_codes(&body), ["UNAUTHENTICATED"], "anonymous {mutation}");
        for (who, role) in [(&learner, "student"), (&other, "instructor")] {
            let body = ask(&app, Some(&token(who, role, 600)), mutation, variables.clone()).await;
            assert_eq!(error_codes(&body), ["FORBIDDEN"], "{role} {mutation}: {body}");
        }
    }
    let body =
        ask(&app, Some(&token(&learner, "student", 600)), CREATE, json!({ "input": { "title": "Mine" }, "key": "k" }))
            .await;
    assert_eq!(error_codes(&body), ["FORBIDDEN"]);
    assert_eq!(
        first_row(&db, &format!("SELECT title FROM courses WHERE id = '{course}'")).await,
        title_before,
        "nothing changed"
    );
    assert_eq!(first_row(&db, "SELECT count(*)::text FROM lessons WHERE title = 'Intruder'").await, "0");
    // an admin may
    let body = ask(
        &app,
        Some(&token(&admin, "admin", 600)),
        UPDATE,
        json!({ "id": course, "input": { "title": "Edited by an admin" }, "key": "a" }),
    )
    .await;
    assert_eq!(data(&body)["updateCourse"]["title"], "Edited by an admin");

    let owner = token(owner, "instructor", 600);
    let bad = [
        (CREATE, json!({ "input": { "title": "  " } }), "input.title"),
        (CREATE, json!({ "input": { "title": "T", "slug": "Not A Slug" } }), "input.slug"),
        (CREATE, json!({ "input": { "title": "T", "price": "-1" } }), "input.price"),
        (CREATE, json!({ "input": { "title": "T", "price": "1.999" } }), "input.price"),
        (CREATE, json!({ "input": { "title": "T", "tags": vec!["x"; 21] } }), "input.tags"),
        (CREATE, json!({ "input": { "title": "T", "metadata": [1, 2] } }), "input.metadata"),
        (
            CREATE,
            json!({ "input": { "title": "T", "categoryId": "00000000-0000-4000-8000-000000000000" } }),
            "input.categoryId",
        ),
        (
            UPDATE,
            json!({ "id": course, "input": { "slug": first_row(&db, &format!("SELECT slug FROM courses WHERE id <> '{course}' LIMIT 1")).await } }),
            "input.slug",
        ),
        (UPDATE, json!({ "id": "00000000-0000-4000-8000-000000000000", "input": {} }), "id"),
        (
            LESSON,
            json!({ "course": course, "input": { "title": "V", "videoUrl": "javascript:alert(1)" } }),
            "input.videoUrl",
        ),
        (LESSON, json!({ "course": course, "input": { "title": "V", "position": 0 } }), "input.position"),
        (
            LESSON,
            json!({ "course": course, "input": { "title": "V", "resources": { "not": "a list" } } }),
            "input.resources",
        ),
        (
            LESSON,
            json!({ "course": course, "input": { "id": "00000000-0000-4000-8000-000000000000", "title": "V" } }),
            "input.id",
        ),
        (QUIZ, json!({ "lesson": lesson, "input": { "title": "Q", "questions": [] } }), "input.questions"),
        (
            QUIZ,
            json!({ "lesson": lesson, "input": { "title": "Q", "passingScore": 101, "questions": questions() } }),
            "input.passingScore",
        ),
        (
            QUIZ,
            json!({ "lesson": lesson, "input": { "title": "Q", "questions": [{ "id": "q", "type": "SINGLE_CHOICE", "prompt": "P", "options": [{ "id": "a", "text": "A" }, { "id": "b", "text": "B" }], "correct": ["a", "b"] }] } }),
            "input.questions[0].correct",
        ),
        (
            QUIZ,
            json!({ "lesson": lesson, "input": { "title": "Q", "questions": [{ "id": "q", "type": "MULTIPLE_CHOICE", "prompt": "P", "options": [{ "id": "a", "text": "A" }, { "id": "b", "text": "B" }], "correct": ["z"] }] } }),
            "input.questions[0].correct",
        ),
        (
            QUIZ,
            json!({ "lesson": lesson, "input": { "title": "Q", "questions": [{ "id": "q", "type": "SHORT_ANSWER", "prompt": "P" }] } }),
            "input.questions[0].accepted",
        ),
        (
            QUIZ,
            json!({ "lesson": lesson, "input": { "title": "Q", "questions": [{ "id": "q", "type": "SHORT_ANSWER", "prompt": "P", "accepted": ["x"] }, { "id": "q", "type": "SHORT_ANSWER", "prompt": "P", "accepted": ["x"] }] } }),
            "input.questions[1].id",
        ),
    ];
    for (i, (mutation, variables, field)) in bad.into_iter().enumerate() {
        let mut variables = variables;
        variables["key"] = json!(format!("bad-{i}"));
        let body = ask(&app, Some(&owner), mutation, variables.clone()).await;
        assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{variables}: {body}");
        let message = body["errors"][0]["message"].as_str().unwrap_or("");
        assert!(message.contains(&format!("`{field}`")), "{variables}: {message}");
    }
    // a key reused for other arguments
    let body =
        ask(&app, Some(&owner), UPDATE, json!({ "id": course, "input": { "title": "One" }, "key": "same" })).await;
    assert!(body.get("errors").is_none(), "{body}");
    let body =
        ask(&app, Some(&owner), UPDATE, json!({ "id": course, "input": { "title": "Two" }, "key": "same" })).await;
    assert_eq!(error_codes(&body), ["BAD_USER_INPUT"]);
    app.stop().await;
}
