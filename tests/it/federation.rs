//! The Federation v2 subgraph: `_service { sdl }` is `schema.graphql`, and `_entities` answers
//! in order, in batches (its statements do not grow with the number of representations), with
//! null for a key that names nothing the caller may see.

use learngraph::projection::maintain;
use serde_json::{json, Value};

use crate::{
    round_trips::cost,
    support::{ask, data, first_row, sql_exec, token, TestApp, TestDb},
};

const I1: &str = "10000000-0000-4000-8000-000000000001";
const I2: &str = "10000000-0000-4000-8000-000000000002";
const DRAFT: &str = "30000000-0000-4000-8000-000000000001";
const DRAFT_LESSON: &str = "40000000-0000-4000-8000-000000000001";

const ENTITIES: &str = r#"query($reps: [_Any!]!) { _entities(representations: $reps) {
  __typename
  ... on Course { id slug title isPublished instructor { displayName } lessonCount }
  ... on User { id displayName }
  ... on Lesson { id title }
  ... on Quiz { id title }
} }"#;

fn course_id(i: usize) -> String {
    format!("50000000-0000-4000-8000-{i:012}")
}

fn user_id(i: usize) -> String {
    format!("60000000-0000-4000-8000-{i:012}")
}

/// Two instructors, 100 published courses with two lessons each and a quiz on the first
/// course's first lesson, 100 learners, and a draft course of the first instructor.
async fn world(db: &TestDb) {
    sql_exec(
        &db.direct_url,
        &format!(
            "INSERT INTO users (id, email, password_hash, first_name, last_name, role) VALUES \
               ('{I1}', 'i1@example.org', 'x', 'Ada', 'One', 'instructor'), ('{I2}', 'i2@example.org', 'x', 'Bo', 'Two', 'instructor'); \
             INSERT INTO users (id, email, password_hash, first_name, last_name, role) \
               SELECT ('60000000-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid, 'u' || i || '@example.org', 'x', 'Learner', 'No' || i, 'student' \
               FROM generate_series(0, 99) i; \
             INSERT INTO courses (id, title, slug, instructor_id, is_published) \
               SELECT ('50000000-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid, 'Course ' || i, 'fed-' || i, \
                      CASE WHEN i % 2 = 0 THEN '{I1}'::uuid ELSE '{I2}'::uuid END, true FROM generate_series(0, 99) i; \
             INSERT INTO lessons (course_id, title, slug, order_position) \
               SELECT c.id, 'Lesson ' || k, 'l-' || k, k FROM courses c, generate_series(1, 2) k; \
             INSERT INTO quizzes (lesson_id, title, questions) \
               SELECT id, 'Quiz one', '[{{\"id\": \"q1\", \"type\": \"short_answer\", \"prompt\": \"P\", \"accepted\": [\"a\"]}}]' FROM lessons WHERE course_id = '{c0}' AND order_position = 1; \
             INSERT INTO courses (id, title, slug, instructor_id, is_published) VALUES ('{DRAFT}', 'Draft', 'fed-draft', '{I1}', false); \
             INSERT INTO lessons (id, course_id, title, slug, order_position) VALUES ('{DRAFT_LESSON}', '{DRAFT}', 'Draft lesson', 'd-1', 1);",
            c0 = course_id(0),
        ),
    )
    .await;
}

fn reps(n: usize) -> Value {
    let courses = (0..n).map(|i| json!({ "__typename": "Course", "id": course_id(i) }));
    let users = (0..n).map(|i| json!({ "__typename": "User", "id": user_id(i) }));
    Value::Array(courses.chain(users).collect())
}

#[tokio::test]
async fn entities_resolve_in_batches_in_order_with_null_for_unknown_keys() {
    let db = TestDb::migrated().await;
    world(&db).await;
    let app = TestApp::spawn_authed(&db).await;
    maintain::rebuild(app.state.pg.db(), &app.state.mongo).await.expect("rebuild");
    let learner = token(&user_id(0), "student", 600);

    // statements: the same for 10 + 10 representations as for 100 + 100
    let (small, answer) = cost(&app, &db, &learner, ENTITIES, json!({ "reps": reps(10) })).await;
    assert_eq!(data(&answer)["_entities"].as_array().map(Vec::len), Some(20));
    let (large, answer) = cost(&app, &db, &learner, ENTITIES, json!({ "reps": reps(100) })).await;
    let entities = data(&answer)["_entities"].as_array().cloned().unwrap_or_default();
    assert_eq!(entities.len(), 200);
    println!("_entities per request (pg_stat_statements, service hook, mongo commands): 20 reps {small:?} / 200 reps {large:?}");
    // courses, users, lesson counts, and the instructors (users again, unless their keys
    // reach the loader while the first batch of users is still gathering): a bound that does
    // not move with the number of representations
    for (n, counts) in [(20, small), (200, large)] {
        assert!((3..=4).contains(&counts.1) && counts.2 == 0, "{n} representations: {counts:?}");
        assert_eq!(counts.0, counts.1 as i64, "pg_stat_statements agrees with the service's count");
    }
    for (i, entity) in entities.iter().enumerate() {
        let (typename, id) = if i < 100 { ("Course", course_id(i)) } else { ("User", user_id(i - 100)) };
        assert_eq!(entity["__typename"], json!(typename), "{i}: {entity}");
        assert_eq!(entity["id"], json!(id), "{i}: {entity}");
    }
    assert_eq!(
        entities[1],
        json!({ "__typename": "Course", "id": course_id(1), "slug": "fed-1", "title": "Course 1", "isPublished": true,
                "instructor": { "displayName": "Bo Two" }, "lessonCount": 2 })
    );
    assert_eq!(entities[107], json!({ "__typename": "User", "id": user_id(7), "displayName": "Learner No7" }));

    // unknown, malformed and hidden keys come back as null in their places
    let lesson = first_row(
        &db,
        &format!("SELECT id::text FROM lessons WHERE course_id = '{}' AND order_position = 2", course_id(3)),
    )
    .await;
    let quiz = first_row(&db, "SELECT id::text FROM quizzes").await;
    let mixed = json!([
        { "__typename": "Course", "id": course_id(0) },
        { "__typename": "Course", "id": "70000000-0000-4000-8000-000000000000" },
        { "__typename": "Course", "id": "not-an-id" },
        { "__typename": "Course", "id": DRAFT },
        { "__typename": "Course", "slug": "fed-5" },
        { "__typename": "Course", "slug": "fed-draft" },
        { "__typename": "Course", "slug": "no-such-course" },
        { "__typename": "Lesson", "id": lesson },
        { "__typename": "Lesson", "id": DRAFT_LESSON },
        { "__typename": "Quiz", "id": quiz },
        { "__typename": "User", "id": "70000000-0000-4000-8000-000000000000" },
    ]);
    let names = |body: &Value| -> Vec<Value> {
        data(body)["_entities"]
            .as_array()
            .map(|list| {
                list.iter()
                    .map(|e| e.get("title").or_else(|| e.get("__typename")).cloned().unwrap_or(Value::Null))
                    .collect()
            })
            .unwrap_or_default()
    };
    let anonymous = ask(&app, None, ENTITIES, json!({ "reps": mixed })).await;
    assert!(anonymous.get("errors").is_none(), "{anonymous}");
    assert_eq!(
        names(&anonymous),
        [
            json!("Course 0"),
            Value::Null,
            Value::Null,
            Value::Null,
            json!("Course 5"),
            Value::Null,
            Value::Null,
            json!("Lesson 2"),
            Value::Null,
            json!("Quiz one"),
            Value::Null
        ]
    );
    // the draft's instructor sees the draft and its lesson, by id and by slug; the other does not
    for (who, sees) in [(I1, true), (I2, false)] {
        let body = ask(&app, Some(&token(who, "instructor", 600)), ENTITIES, json!({ "reps": mixed })).await;
        let got = names(&body);
        let draft = if sees { json!("Draft") } else { Value::Null };
        let draft_lesson = if sees { json!("Draft lesson") } else { Value::Null };
        assert_eq!((&got[3], &got[5], &got[8]), (&draft, &draft, &draft_lesson), "{who}: {body}");
    }
    app.stop().await;
}

#[tokio::test]
async fn service_sdl_is_the_committed_schema() {
    let db = TestDb::migrated().await;
    let app = TestApp::spawn(&db).await;
    let body = ask(&app, None, "{ _service { sdl } }", json!({})).await;
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql")).expect("schema.graphql");
    assert_eq!(data(&body)["_service"]["sdl"].as_str(), Some(committed.as_str()));
    for directive in
        ["@link(", "type Course @key(fields: \"id\") @key(fields: \"slug\")", "type User @key(fields: \"id\")"]
    {
        assert!(committed.contains(directive), "schema.graphql lacks {directive}");
    }
    app.stop().await;
}
