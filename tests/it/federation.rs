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

const TRACED: &str = r#"query Traced($reps: [_Any!]!) {
  courses(first: 2) { edges { node { id heading: title } } }
  user(id: "60000000-0000-4000-8000-000000000001") { id }
  _entities(representations: $reps) { ... on Course { title } }
}"#;

/// POSTs `TRACED` with or without the ftv1 header.
async fn traced(app: &TestApp, ask_for_trace: bool) -> Value {
    let mut request = app.client().post(app.url("/graphql")).json(&json!({
        "query": TRACED,
        "variables": { "reps": [{ "__typename": "Course", "id": course_id(4) }, { "__typename": "Course", "id": course_id(9) }] },
    }));
    if ask_for_trace {
        request = request.header("apollo-federation-include-trace", "ftv1");
    }
    crate::support::send_json(request).await
}

/// The trace as Apollo's protobuf package decodes it (node, as a router would).
fn decode_ftv1(trace: &str) -> Value {
    use std::io::Write as _;
    let modules = std::env::var("LG_NODE_MODULES")
        .expect("LG_NODE_MODULES is not set: run the tests with scripts/test (it installs Apollo's packages)");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/node/ftv1_decode.cjs");
    let mut child = std::process::Command::new("node")
        .arg(script)
        .env("LG_NODE_MODULES", modules)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("node runs");
    child.stdin.take().expect("stdin").write_all(trace.as_bytes()).expect("write");
    let output = child.wait_with_output().expect("node ends");
    assert!(output.status.success(), "Apollo's decoder refused the trace: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("JSON")
}

fn child(node: &Value, id: impl Into<Value>) -> &Value {
    let id = id.into();
    let key = if id.is_string() { "responseName" } else { "index" };
    node["child"]
        .as_array()
        .and_then(|children| children.iter().find(|c| c[key] == id))
        .unwrap_or_else(|| panic!("no child {id} in {node}"))
}

/// Every timed node starts no later than it ends, within the trace; returns how many.
fn check_timings(node: &Value, duration: f64) -> usize {
    let mut timed = 0;
    if node.get("responseName").is_some() {
        let (start, end) = (node["startTime"].as_f64().unwrap_or(0.0), node["endTime"].as_f64().unwrap_or(0.0));
        assert!(end > 0.0 && start <= end && end <= duration, "timings of {node}");
        assert!(node["type"].is_string() && node["parentType"].is_string(), "types of {node}");
        timed += 1;
    }
    for c in node["child"].as_array().into_iter().flatten() {
        timed += check_timings(c, duration);
    }
    timed
}

#[tokio::test]
async fn ftv1_traces_carry_field_timings_and_errors_at_their_paths() {
    let db = TestDb::migrated().await;
    world(&db).await;
    let app = TestApp::spawn(&db).await;
    maintain::rebuild(app.state.pg.db(), &app.state.mongo).await.expect("rebuild");

    let plain = traced(&app, false).await;
    assert!(plain.get("extensions").and_then(|e| e.get("ftv1")).is_none(), "no trace unless asked: {plain}");

    let body = traced(&app, true).await;
    let answer = &body["data"];
    assert_eq!(answer["_entities"], json!([{ "title": "Course 4" }, { "title": "Course 9" }]), "{body}");
    assert_eq!(answer["courses"]["edges"].as_array().map(Vec::len), Some(2), "{body}");
    let trace = decode_ftv1(body["extensions"]["ftv1"].as_str().expect("extensions.ftv1 is a string"));

    let duration = trace["durationNs"].as_f64().expect("durationNs");
    assert!(duration > 0.0, "{trace}");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs_f64();
    let started = trace["startTime"]["seconds"].as_f64().expect("startTime");
    let ended = trace["endTime"]["seconds"].as_f64().expect("endTime");
    assert!(started <= ended && (now - started).abs() < 60.0, "{trace}");

    let root = &trace["root"];
    let courses = child(root, "courses");
    assert_eq!((courses["type"].as_str(), courses["parentType"].as_str()), (Some("CourseConnection!"), Some("Query")));
    let edges = child(courses, "edges");
    for i in 0..2 {
        let item = child(edges, i);
        assert!(item.get("startTime").is_none(), "an index node has no timing: {item}");
        let heading = child(child(item, "node"), "heading");
        assert_eq!(heading["originalFieldName"], "title", "an alias keeps its field's name: {heading}");
        assert_eq!((heading["type"].as_str(), heading["parentType"].as_str()), (Some("String!"), Some("Course")));
    }
    // async-graphql resolves every representation at the path `_entities` (no index): each
    // entity's fields are their own nodes there
    let entities = child(root, "_entities");
    let titles: Vec<&Value> = entities["child"].as_array().map(|c| c.iter().collect()).unwrap_or_default();
    assert_eq!(titles.len(), 2, "{entities}");
    assert!(titles.iter().all(|t| t["responseName"] == "title" && t["parentType"] == "Course"), "{entities}");
    // the anonymous `user` read is refused: its error sits on its node, masked
    let user = child(root, "user");
    let errors = user["error"].as_array().expect("the refused field carries its error");
    assert_eq!(errors.len(), 1, "{user}");
    assert_eq!(errors[0]["message"], "<masked>");
    assert!(errors[0]["location"][0]["line"].as_f64() > Some(0.0), "{user}");
    let json: Value = serde_json::from_str(errors[0]["json"].as_str().expect("json")).expect("error json");
    assert_eq!(json["path"], json!(["user"]));
    assert!(json["extensions"].get("code").is_none(), "masked errors keep no extensions: {json}");
    let timed = check_timings(root, duration);
    // courses, edges, 2 × (node, id, heading), user, _entities, 2 × title
    assert_eq!(timed, 12, "timed fields in {trace}");
    app.stop().await;

    // turned off, the header is ignored
    let app = TestApp::spawn_with(db.config(&[("FTV1_ENABLED", "false")])).await;
    let body = traced(&app, true).await;
    assert!(body.get("extensions").and_then(|e| e.get("ftv1")).is_none(), "FTV1_ENABLED=false: {body}");
    app.stop().await;
}

/// Apollo's gateway in front of this service and a second subgraph (tests/node/gateway.cjs),
/// running until dropped.
struct Gateway {
    url: String,
    _node: tokio::process::Child,
}

impl Gateway {
    async fn start(app: &TestApp, world: Value) -> Gateway {
        use tokio::io::AsyncBufReadExt as _;
        let modules = std::env::var("LG_NODE_MODULES")
            .expect("LG_NODE_MODULES is not set: run the tests with scripts/test (it installs Apollo's packages)");
        let mut node = tokio::process::Command::new("node")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/node/gateway.cjs"))
            .arg(app.url("/graphql"))
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql"))
            .arg(world.to_string())
            .env("LG_NODE_MODULES", modules)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("node runs");
        let stdout = node.stdout.take().expect("stdout");
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let first = tokio::time::timeout(std::time::Duration::from_secs(60), lines.next_line())
            .await
            .expect("the gateway starts within 60 s")
            .expect("read")
            .expect("the gateway composed the supergraph and started (its stderr says why not)");
        let started: Value = serde_json::from_str(&first).expect("JSON line");
        assert_eq!(started["hints"], json!([]), "composition hints: {started}");
        // the staff-only fields keep their tags in the supergraph (for a contract without them)
        let tagged = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql"))
            .expect("schema.graphql")
            .matches("@tag(name: \"staff\")")
            .count();
        assert!(tagged >= 7, "schema.graphql tags the staff-only fields");
        assert_eq!(started["staffTags"], json!(tagged), "{started}");
        Gateway { url: started["gateway"].as_str().expect("url").to_owned(), _node: node }
    }

    async fn ask(&self, app: &TestApp, bearer: Option<&str>, query: &str) -> Value {
        let mut request = app.client().post(&self.url).json(&json!({ "query": query }));
        if let Some(bearer) = bearer {
            request = request.bearer_auth(bearer);
        }
        crate::support::send_json(request).await
    }
}

/// The gateway's requests to this service, from `extensions.fetches`.
fn our_fetches(body: &Value) -> Vec<&Value> {
    body["extensions"]["fetches"]
        .as_array()
        .map(|f| f.iter().filter(|f| f["subgraph"] == "learngraph").collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_gateway_composes_this_subgraph_with_another_and_resolves_entities_in_batches() {
    let db = TestDb::migrated().await;
    world(&db).await;
    let app = TestApp::spawn_authed(&db).await;
    maintain::rebuild(app.state.pg.db(), &app.state.mongo).await.expect("rebuild");
    // 20 courses and 30 learners: 60 reviews, then one of the draft course
    let courses: Vec<String> = (0..20).map(course_id).collect();
    let users: Vec<String> = (0..30).map(user_id).collect();
    let gateway = Gateway::start(&app, json!({ "courses": courses, "users": users, "draft": DRAFT })).await;

    // reviews (the other subgraph) → their courses and authors (our entities)
    let query = "{ topReviews(first: 61) { body stars course { id title instructor { displayName } lessonCount } author { id displayName } } }";
    let statements_before = app.pg_stats().statements();
    let body = gateway.ask(&app, None, query).await;
    let statements = app.pg_stats().statements() - statements_before;
    assert!(body.get("errors").is_none(), "{body}");
    let reviews = data(&body)["topReviews"].as_array().cloned().unwrap_or_default();
    assert_eq!(reviews.len(), 61, "{body}");
    for (i, review) in reviews.iter().take(60).enumerate() {
        let (c, u) = (i % 20, i % 30);
        let instructor = if c % 2 == 0 { "Ada One" } else { "Bo Two" };
        assert_eq!(
            review,
            &json!({ "body": format!("Review {i}"), "stars": 1 + i % 5,
                     "course": { "id": course_id(c), "title": format!("Course {c}"), "instructor": { "displayName": instructor }, "lessonCount": 2 },
                     "author": { "id": user_id(u), "displayName": format!("Learner No{u}") } }),
            "review {i}"
        );
    }
    // the draft is hidden from an anonymous caller, through the gateway as at the root
    assert_eq!(reviews[60]["course"], Value::Null, "{}", reviews[60]);
    // one _entities batch per entity type, whatever the number of reviews
    let fetches = our_fetches(&body);
    let batches = |typename: &str| fetches.iter().filter(|f| f["entities"][typename].is_u64()).count();
    assert_eq!((batches("Course"), batches("User")), (1, 1), "the gateway's requests to us: {fetches:?}");
    let represented: u64 = fetches
        .iter()
        .filter_map(|f| f["entities"].as_object())
        .flat_map(|e| e.values())
        .filter_map(Value::as_u64)
        .sum();
    assert!(represented >= 51, "20 courses, 30 users and the draft were asked for: {fetches:?}");
    // courses, users (authors and instructors), lesson counts: a handful, not one per entity
    println!("gateway query: {} requests to us, {represented} representations, {statements} statements", fetches.len());
    assert!(statements <= 6, "{statements} statements for {represented} representations");

    // the draft's instructor sees it: the gateway passes the token on
    let instructor = token(I1, "instructor", 600);
    let body = gateway.ask(&app, Some(&instructor), "{ topReviews(first: 61) { course { title } } }").await;
    assert_eq!(data(&body)["topReviews"][60]["course"]["title"], "Draft", "{body}");

    // our root field, extended by the other subgraph's fields on Course and User
    let body = gateway
        .ask(
            &app,
            None,
            r#"{ course(slug: "fed-3") { title averageStars reviews { stars author { displayName reviews { body } } } } }"#,
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    let course = &data(&body)["course"];
    assert_eq!(course["title"], "Course 3");
    // course 3's reviews are reviews 3, 23 and 43
    let expected: Vec<usize> = (0..60).filter(|i| i % 20 == 3).collect();
    let stars: Vec<u64> = expected.iter().map(|i| 1 + (*i as u64) % 5).collect();
    assert_eq!(
        course["reviews"].as_array().map(|r| r.iter().map(|r| r["stars"].as_u64().unwrap_or(0)).collect::<Vec<_>>()),
        Some(stars.clone())
    );
    let average = stars.iter().sum::<u64>() as f64 / stars.len() as f64;
    assert_eq!(course["averageStars"].as_f64(), Some(average), "{body}");
    let first_author = &course["reviews"][0]["author"];
    assert_eq!(first_author["displayName"], "Learner No3");
    assert_eq!(first_author["reviews"], json!([{ "body": "Review 3" }, { "body": "Review 33" }]), "{body}");
    let fetches = our_fetches(&body);
    assert_eq!(fetches.len(), 2, "the course, then its reviews' authors in one batch: {fetches:?}");
    assert_eq!(fetches[1]["entities"], json!({ "User": 3 }), "{fetches:?}");
    app.stop().await;
}

#[tokio::test]
async fn a_refused_field_of_one_entity_leaves_the_others_standing() {
    let db = TestDb::migrated().await;
    world(&db).await;
    let app = TestApp::spawn_authed(&db).await;
    maintain::rebuild(app.state.pg.db(), &app.state.mongo).await.expect("rebuild");
    // the first instructor teaches the even courses: statistics of the odd ones are refused
    let instructor = token(I1, "instructor", 600);
    let query = "query($reps: [_Any!]!) { _entities(representations: $reps) { ... on Course { title stats { enrollments } } } }";
    let reps = json!([{ "__typename": "Course", "id": course_id(0) }, { "__typename": "Course", "id": course_id(1) }]);
    let body = ask(&app, Some(&instructor), query, json!({ "reps": reps })).await;
    let entities = &body["data"]["_entities"];
    assert_eq!(entities[0], json!({ "title": "Course 0", "stats": { "enrollments": 0 } }), "{body}");
    // (async-graphql 7.2 leaves the refused field out of an entity instead of null: `_entities`
    // error paths carry no index, so the handler cannot say which entity to fill in)
    assert_eq!((&entities[1]["title"], &entities[1]["stats"]), (&json!("Course 1"), &Value::Null), "{body}");
    assert_eq!(crate::support::error_codes(&body), ["FORBIDDEN"], "{body}");

    // and the same at the root: a page of courses keeps every course
    let body =
        ask(&app, Some(&instructor), "{ courses(first: 4) { nodes { title stats { enrollments } } } }", json!({}))
            .await;
    let nodes = body["data"]["courses"]["nodes"].as_array().cloned().unwrap_or_default();
    assert_eq!(nodes.len(), 4, "{body}");
    // a refused field is null, present in its object, as GraphQL says
    let refused: Vec<&Value> = nodes.iter().filter(|n| n["stats"].is_null()).collect();
    assert_eq!(refused.len(), 2, "{body}");
    assert!(refused.iter().all(|n| n.get("stats") == Some(&Value::Null)), "{body}");
    assert_eq!(crate::support::error_codes(&body), ["FORBIDDEN", "FORBIDDEN"], "{body}");
    app.stop().await;
}
