//! `Cache-Control` on GraphQL answers: public catalog reads may be stored by shared caches for
//! a while; anything learner-specific or signed-in, any mutation and any error is
//! `private, no-store`; an answer's header is the strictest of what it selected, `_entities`
//! answers included.

use serde_json::{json, Value};

use crate::support::{first_row, token, TestApp, TestDb};

async fn headers_of(
    app: &TestApp,
    bearer: Option<&str>,
    query: &str,
    variables: Value,
) -> (String, Option<String>, Value) {
    let mut request = app.client().post(app.url("/graphql")).json(&json!({ "query": query, "variables": variables }));
    if let Some(bearer) = bearer {
        request = request.bearer_auth(bearer);
    }
    let response = request.send().await.expect("send");
    let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let (cache, vary) = (header("cache-control").unwrap_or_default(), header("vary"));
    (cache, vary, response.json().await.expect("json"))
}

#[tokio::test]
async fn cache_control_is_the_strictest_of_what_an_answer_selected() {
    let db = TestDb::seeded_ci().await;
    let app = TestApp::spawn_authed(&db).await;
    let course = first_row(&db, "SELECT id::text FROM courses WHERE is_published ORDER BY id LIMIT 1").await;
    let quiz = first_row(
        &db,
        "SELECT q.id::text FROM quizzes q JOIN lessons l ON l.id = q.lesson_id JOIN courses c ON c.id = l.course_id \
         WHERE q.is_active AND c.is_published ORDER BY q.id LIMIT 1",
    )
    .await;
    let (learner, instructor) = (
        first_row(&db, "SELECT id::text FROM users WHERE role = 'student' AND is_active ORDER BY id LIMIT 1").await,
        first_row(&db, "SELECT instructor_id::text FROM courses WHERE id = (SELECT id FROM courses WHERE is_published ORDER BY id LIMIT 1)").await,
    );
    let signed_in = token(&learner, "student", 600);
    const PRIVATE: &str = "private, no-store";

    let cases: Vec<(&str, Option<&str>, String, Value, &str)> = vec![
        // the catalog, anonymously: public, as long as its shortest-lived type allows
        ("catalog", None, "{ courses(first: 3) { nodes { title category { name } instructor { displayName } lessonCount } pageInfo { hasNextPage } } }".into(), json!({}), "public, max-age=60"),
        ("categories", None, "{ categories { name } }".into(), json!({}), "public, max-age=300"),
        ("course page", None, "query($id: ID!) { course(id: $id) { title lessons { title isLocked quizzes { title questions { prompt } } } } }".into(), json!({ "id": course }), "public, max-age=60"),
        ("entities", None, "query($r: [_Any!]!) { _entities(representations: $r) { ... on Course { title } ... on User { displayName } } }".into(),
            json!({ "r": [{ "__typename": "Course", "id": course }, { "__typename": "User", "id": instructor }] }), "public, max-age=60"),
        ("entities of users only", None, "query($r: [_Any!]!) { _entities(representations: $r) { ... on User { displayName } } }".into(),
            json!({ "r": [{ "__typename": "User", "id": instructor }] }), "public, max-age=300"),
        // one learner-specific field makes the whole answer private, even anonymously
        ("mixed: my best score", None, "query($id: ID!) { quiz(id: $id) { title myBestScore } }".into(), json!({ "id": quiz }), PRIVATE),
        ("mixed: my progress", None, "query($id: ID!) { course(id: $id) { title myProgress { overallCompletionPercentage } } }".into(), json!({ "id": course }), PRIVATE),
        ("private", Some(signed_in.as_str()), "{ me { enrollments(first: 2) { totalCount } } }".into(), json!({}), PRIVATE),
        // signed in, even the catalog is not for shared caches
        ("signed-in catalog", Some(signed_in.as_str()), "{ courses(first: 3) { nodes { title } } }".into(), json!({}), PRIVATE),
        ("mutation", Some(signed_in.as_str()), "mutation($c: ID!) { enroll(courseId: $c, idempotencyKey: \"cc-1\") { enrolledAt } }".into(), json!({ "c": course }), PRIVATE),
        ("error", None, "{ course(id: \"nope\") { title } }".into(), json!({}), PRIVATE),
        ("no hints", None, "{ __typename }".into(), json!({}), PRIVATE),
    ];
    for (name, bearer, query, variables, expected) in cases {
        let (cache, vary, body) = headers_of(&app, bearer, &query, variables).await;
        assert_eq!(cache, expected, "{name}: {body}");
        if expected.starts_with("public") {
            assert!(body.get("errors").is_none(), "{name}: {body}");
            assert_eq!(vary.as_deref(), Some("Authorization"), "{name}");
        }
    }
    // a request refused before execution is not stored either
    let refused = app
        .client()
        .post(app.url("/graphql"))
        .bearer_auth("forged")
        .json(&json!({ "query": "{ __typename }" }))
        .send()
        .await
        .expect("send");
    assert_eq!(refused.headers().get("cache-control").and_then(|v| v.to_str().ok()), Some(PRIVATE));
    app.stop().await;
}
