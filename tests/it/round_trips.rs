//! Round trips depend on a request's shape, never on how many rows it touches: four typical
//! requests run the same number of SQL statements (counted by `pg_stat_statements`, and by the
//! service's own hook) and MongoDB commands (the driver's command events) over 10 rows as over
//! 1,000.

use learngraph::projection::maintain;
use serde_json::{json, Value};

use crate::support::{data, sql_column, sql_exec, token, TestApp, TestDb};

const I1: &str = "10000000-0000-4000-8000-000000000001";
const I2: &str = "10000000-0000-4000-8000-000000000002";
const ROOT: &str = "20000000-0000-4000-8000-000000000001";
const CHILD: &str = "20000000-0000-4000-8000-000000000002";

/// A deterministic id for `what` in world `label`.
fn id_sql(label: &str, what: &str) -> String {
    format!("md5('{label}' || {what})::uuid")
}

/// One world of size `n`: `n` catalog courses tagged `label`; a course page with `n` lessons,
/// each with a quiz, all of them done by the learner; a dashboard of 10 enrolments holding `n`
/// lesson progress rows in all; a quiz the learner tried `n` times.
async fn world(db: &TestDb, label: &str, n: i32) {
    let learner = id_sql(label, "'learner'");
    let course = |i: &str| id_sql(label, &format!("'catalog' || {i}"));
    let page = id_sql(label, "'page'");
    let dash = |i: &str| id_sql(label, &format!("'dash' || {i}"));
    let per_course = n / 10;
    sql_exec(
        &db.direct_url,
        &format!(
            "INSERT INTO users (id, email, password_hash, first_name, last_name, role) VALUES \
               ({learner}, '{label}@example.org', 'x', 'Lee', '{label}', 'student'); \
             INSERT INTO courses (id, title, slug, category_id, instructor_id, level, price, is_published, tags) \
               SELECT {c}, 'Catalog {label} ' || i, '{label}-c-' || i, CASE WHEN i % 2 = 0 THEN '{ROOT}'::uuid ELSE '{CHILD}'::uuid END, \
                      CASE WHEN i % 2 = 0 THEN '{I1}'::uuid ELSE '{I2}'::uuid END, (ARRAY['beginner','intermediate','advanced'])[1 + i % 3], \
                      i % 5, true, ARRAY['{label}'] FROM generate_series(1, {n}) i; \
             INSERT INTO lessons (course_id, title, slug, order_position) \
               SELECT c.id, 'Lesson ' || k, 'l-' || k, k FROM courses c, generate_series(1, 2) k WHERE '{label}' = ANY(c.tags); \
             INSERT INTO courses (id, title, slug, category_id, instructor_id, is_published) \
               VALUES ({page}, 'Page {label}', '{label}-page', '{CHILD}', '{I1}', true); \
             INSERT INTO lessons (id, course_id, title, slug, content, order_position) \
               SELECT {l}, {page}, 'Page lesson ' || k, 'p-' || k, 'Text ' || k, k FROM generate_series(1, {n}) k; \
             INSERT INTO quizzes (id, lesson_id, title, questions) \
               SELECT {q}, {l}, 'Quiz ' || k, '[{{\"id\": \"q1\", \"type\": \"short_answer\", \"prompt\": \"P\", \"accepted\": [\"a\"]}}]' \
               FROM generate_series(1, {n}) k; \
             INSERT INTO enrollments (user_id, course_id, enrolled_at) VALUES ({learner}, {page}, now() - interval '30 days'); \
             INSERT INTO user_progress (user_id, course_id, lesson_id, completion_percentage, is_completed, last_accessed_at) \
               SELECT {learner}, {page}, {l}, 100, true, now() - k * interval '1 minute' FROM generate_series(1, {n}) k; \
             INSERT INTO quiz_attempts (user_id, quiz_id, score, answers, is_passed, attempt_number, started_at, completed_at) \
               SELECT {learner}, {q1}, k % 101, '[{{\"questionId\": \"q1\", \"feedback\": {{\"question_id\": \"q1\", \"correct\": true, \"points_awarded\": 1, \"points_possible\": 1}}}}]', \
                      true, k, now() - k * interval '1 hour', now() - k * interval '1 hour' + interval '5 minutes' \
               FROM generate_series(1, {n}) k; \
             INSERT INTO courses (id, title, slug, instructor_id, is_published) \
               SELECT {d}, 'Dash {label} ' || i, '{label}-d-' || i, '{I2}', true FROM generate_series(1, 10) i; \
             INSERT INTO lessons (id, course_id, title, slug, order_position) \
               SELECT {dl}, {d}, 'Dash lesson ' || k, 'd-' || k, k FROM generate_series(1, 10) i, generate_series(1, {per_course}) k; \
             INSERT INTO enrollments (user_id, course_id, enrolled_at) SELECT {learner}, {d}, now() - i * interval '1 day' FROM generate_series(1, 10) i; \
             INSERT INTO user_progress (user_id, course_id, lesson_id, completion_percentage, time_spent_minutes, last_accessed_at) \
               SELECT {learner}, {d}, {dl}, 50, 3, now() - (i * 100 + k) * interval '1 second' \
               FROM generate_series(1, 10) i, generate_series(1, {per_course}) k;",
            c = course("i"),
            l = id_sql(label, "'page-lesson' || k"),
            q = id_sql(label, "'page-quiz' || k"),
            q1 = id_sql(label, "'page-quiz' || 1"),
            d = dash("i"),
            dl = id_sql(label, "'dash-lesson' || i || '-' || k"),
        ),
    )
    .await;
}

const DISCOVERY: &str = r#"query($tag: String!) { courses(filter: { tags: [$tag] }, first: 20) {
  totalCount facets { levels { level count } categories { category { name } count } }
  nodes { title category { name parent { name } } instructor { displayName } lessonCount }
} }"#;
const PAGE: &str = r#"query($id: ID!) { course(id: $id) {
  title category { name } instructor { displayName }
  lessons { title content isLocked quizzes { title questions { id prompt } } }
  myProgress { overallCompletionPercentage lessons { lessonId completionPercentage } }
} }"#;
const DASHBOARD: &str = r#"{ me {
  enrollments(first: 10) { totalCount nodes { course { title lessonCount instructor { displayName } } progress { overallCompletionPercentage lessons { lessonId completionPercentage } } } }
  continueLearning(first: 10) { course { title } }
  recentQuizAttempts(first: 10) { score quiz { title } }
} }"#;
const QUIZ: &str = r#"query($id: ID!) { quiz(id: $id) {
  title questions { id prompt } myAttempts { attemptNumber score feedback { questionId correct } } myBestScore
} }"#;

/// Statements this database has run, from `pg_stat_statements`: the counting query excluded,
/// and so are the `SET`s PgBouncer sends when it hands a client a server connection whose
/// parameters (application_name, TimeZone) differ — the pooler's, not the request's.
pub(crate) async fn pg_calls(db: &TestDb) -> i64 {
    let sql = format!(
        "SELECT COALESCE(sum(calls), 0)::bigint::text FROM pg_stat_statements \
         WHERE dbid = (SELECT oid FROM pg_database WHERE datname = '{}') AND query NOT LIKE '%pg_stat_statements%' AND query NOT LIKE 'SET %'",
        db.name
    );
    sql_column(&db.direct_url, &sql).await[0].parse().expect("a count")
}

/// What one request cost: (pg_stat_statements calls, statements the service counted, Mongo commands).
pub(crate) async fn cost(
    app: &TestApp,
    db: &TestDb,
    bearer: &str,
    query: &str,
    variables: Value,
) -> ((i64, u64, u64), Value) {
    let request = || {
        app.client()
            .post(app.url("/graphql"))
            .bearer_auth(bearer)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
    };
    // once to warm up the pools and the driver's type caches
    request().await.expect("send");
    // The most of three runs. Every list loads each relation once for all its items
    // (`loaders::Batch`), so a busy machine cannot split a batch and add a statement; two
    // batches of the same loader may still share one statement when they meet (fewer, never
    // more): the shape bounds the count, timing can only lower it.
    let mut most: Option<((i64, u64, u64), Value)> = None;
    for _ in 0..3 {
        let (pg0, ours0, mongo0) =
            (pg_calls(db).await, app.pg_stats().statements(), app.state.mongo.stats().commands());
        let body: Value = request().await.expect("send").json().await.expect("json");
        let (pg1, ours1, mongo1) =
            (pg_calls(db).await, app.pg_stats().statements(), app.state.mongo.stats().commands());
        assert!(body.get("errors").is_none(), "{body}");
        let counts = (pg1 - pg0, ours1 - ours0, mongo1 - mongo0);
        if most.as_ref().is_none_or(|(m, _)| counts.1 + counts.2 > m.1 + m.2) {
            most = Some((counts, body));
        }
    }
    most.expect("three runs")
}

fn count(body: &Value, pointer: &str) -> usize {
    body.pointer(pointer).and_then(Value::as_array).map_or(0, Vec::len)
}

#[tokio::test]
async fn statements_and_mongo_commands_per_request_do_not_grow_with_rows() {
    let db = TestDb::migrated().await;
    sql_exec(
        &db.direct_url,
        &format!(
            "INSERT INTO users (id, email, password_hash, first_name, last_name, role) VALUES \
               ('{I1}', 'i1@example.org', 'x', 'Ada', 'One', 'instructor'), ('{I2}', 'i2@example.org', 'x', 'Bo', 'Two', 'instructor'); \
             INSERT INTO categories (id, name, slug) VALUES ('{ROOT}', 'Root', 'root'); \
             INSERT INTO categories (id, parent_id, name, slug) VALUES ('{CHILD}', '{ROOT}', 'Child', 'child');"
        ),
    )
    .await;
    world(&db, "small", 10).await;
    world(&db, "large", 1000).await;
    // the test server answers a find of 1,000 documents slowly: give it time, so that what is
    // counted is the healthy path (a timeout would answer from PostgreSQL, correctly, but that
    // is another shape)
    let app = TestApp::spawn_with(
        db.config(&[("AUTH_JWT_HS256_SECRET", crate::support::TEST_JWT_SECRET), ("MONGO_READ_TIMEOUT", "20000")]),
    )
    .await;
    maintain::rebuild(app.state.pg.db(), &app.state.mongo).await.expect("rebuild");

    let fallbacks = || app.state.read_models.stats.fallbacks.load(std::sync::atomic::Ordering::Relaxed);
    let fallbacks_before = fallbacks();
    let mut costs = Vec::new();
    for label in ["small", "large"] {
        let ids = sql_column(
            &db.direct_url,
            &format!(
                "SELECT md5('{label}' || 'learner')::uuid::text UNION ALL SELECT md5('{label}' || 'page')::uuid::text \
                 UNION ALL SELECT md5('{label}' || 'page-quiz' || 1)::uuid::text"
            ),
        )
        .await;
        let bearer = token(&ids[0], "student", 600);
        let (discovery, d) = cost(&app, &db, &bearer, DISCOVERY, json!({ "tag": label })).await;
        let (page, p) = cost(&app, &db, &bearer, PAGE, json!({ "id": ids[1] })).await;
        let (dashboard, b) = cost(&app, &db, &bearer, DASHBOARD, json!({})).await;
        let (quiz, q) = cost(&app, &db, &bearer, QUIZ, json!({ "id": ids[2] })).await;

        // the answers really are that big
        let n = if label == "small" { 10 } else { 1000 };
        assert_eq!(data(&d)["courses"]["totalCount"], json!(n));
        assert_eq!(count(&d, "/data/courses/nodes"), n.min(20));
        assert_eq!(count(&p, "/data/course/lessons"), n);
        assert_eq!(count(&p, "/data/course/myProgress/lessons"), n);
        let progress_rows: usize =
            (0..10).map(|i| count(&b, &format!("/data/me/enrollments/nodes/{i}/progress/lessons"))).sum();
        assert_eq!(progress_rows, n);
        assert_eq!(count(&q, "/data/quiz/myAttempts"), n);
        costs.push([discovery, page, dashboard, quiz]);
    }
    assert_eq!(fallbacks(), fallbacks_before, "every read model came from MongoDB");
    println!(
        "per request (pg_stat_statements, service hook, mongo commands): small {:?} / large {:?}",
        costs[0], costs[1]
    );
    // each shape's statements and commands at most, counted relation by relation:
    // - discovery: the page, totalCount, two facets, the facets' categories, the courses'
    //   categories, their parents, instructors, lesson counts (9; the two category batches may
    //   share one statement);
    // - course page: the document (kept after the first read, else one find), its category,
    //   instructor, the lessons' quizzes, whether the learner may read the content, the version
    //   of the learner's progress (its document kept);
    // - dashboard: the signed-in check, the enrolments page, totalCount, their courses, the
    //   courses' lesson counts and instructors, continueLearning and its courses, the recent
    //   attempts and their quizzes (10; progress documents come with the page's versions, kept
    //   or one find);
    // - quiz: the quiz, the learner's attempts with their versions (kept, or one find).
    let bounds = [("discovery", (9, 0)), ("course page", (5, 1)), ("dashboard", (10, 1)), ("quiz", (2, 1))];
    for ((shape, bound), (small, large)) in bounds.iter().zip(costs[0].iter().zip(&costs[1])) {
        for (rows, cost) in [(10, small), (1000, large)] {
            assert!(cost.1 <= bound.0 && cost.2 <= bound.1, "{shape} over {rows} rows: {cost:?}, bound {bound:?}");
            // both counters see every statement the request ran
            assert_eq!(cost.0, cost.1 as i64, "{shape}: pg_stat_statements agrees with the service's count");
        }
    }
    app.stop().await;
}

/// What one request of each benchmark shape costs at most, once its documents are in MongoDB
/// and kept: (SQL statements, MongoDB commands), the query's shape counted relation by relation;
/// a list's relation is one statement whatever its length (`loaders::Batch`). Two batches of
/// one loader that meet share a statement, so a run may cost less, never more.
const SHAPES: [(&str, &str, (u64, u64)); 5] = [
    // the page; then category, the categories' parents, instructor, lesson count: one each
    ("Q1 discovery", "query($first: Int) { courses(first: $first, orderBy: NEWEST) { nodes { id title price rating category { name parent { name } } instructor { firstName lastName } lessonCount } pageInfo { endCursor } } }", (5, 0)),
    // the page is kept in memory: its category, its instructor, and whether the learner may
    // read its lessons' content (enrolled?), one statement each
    ("Q4 course page", "query($course: ID!) { course(id: $course) { id title description price rating tags category { name } instructor { firstName lastName } lessons { id title position durationMinutes isFree content } } }", (3, 0)),
    // the signed-in check; the enrolments page with its progress versions; their courses;
    // the progress documents are kept at those versions
    ("Q5 dashboard", "{ me { enrollments(first: 10) { nodes { course { id title } progress { lessons { lessonId completionPercentage } } } } } }", (3, 0)),
    // the quiz; the learner's attempts and their versions; the documents are kept
    ("Q6 quiz", "query($quiz: ID!) { quiz(id: $quiz) { id title passingScore questions { id prompt } myAttempts { attemptNumber score isPassed } } }", (2, 0)),
    // courses and users, one statement per type; the courses' instructors and lesson counts
    ("Q7 _entities", "query($reps: [_Any!]!) { _entities(representations: $reps) { ... on Course { id title instructor { firstName } lessonCount } ... on User { id displayName } } }", (4, 0)),
];

#[tokio::test]
async fn each_benchmark_shape_costs_its_count_at_every_page_size_and_under_load() {
    let db = TestDb::seeded_ci().await;
    let app = TestApp::spawn_with(db.config(&[("AUTH_JWT_HS256_SECRET", crate::support::TEST_JWT_SECRET)])).await;
    maintain::rebuild(app.state.pg.db(), &app.state.mongo).await.expect("rebuild");
    let pick = |sql: &'static str| {
        let url = db.direct_url.clone();
        async move { sql_column(&url, sql).await.remove(0) }
    };
    let learner = pick(
        "SELECT a.user_id::text FROM quiz_attempts a JOIN enrollments e ON e.user_id = a.user_id JOIN users u ON u.id = a.user_id AND u.is_active \
         GROUP BY a.user_id HAVING count(DISTINCT e.course_id) >= 3 ORDER BY count(DISTINCT a.id) DESC, a.user_id LIMIT 1",
    )
    .await;
    let quiz = sql_column(
        &db.direct_url,
        &format!(
            "SELECT a.quiz_id::text FROM quiz_attempts a JOIN quizzes q ON q.id = a.quiz_id AND q.is_active \
             JOIN lessons l ON l.id = q.lesson_id JOIN courses c ON c.id = l.course_id AND c.is_published \
             WHERE a.user_id = '{learner}' GROUP BY a.quiz_id ORDER BY count(*) DESC, a.quiz_id LIMIT 1"
        ),
    )
    .await
    .remove(0);
    let course =
        pick("SELECT id::text FROM courses WHERE is_published AND category_id IS NOT NULL ORDER BY id LIMIT 1").await;
    let courses =
        sql_column(&db.direct_url, "SELECT id::text FROM courses WHERE is_published ORDER BY id LIMIT 100").await;
    let users = sql_column(&db.direct_url, "SELECT id::text FROM users WHERE is_active ORDER BY id LIMIT 100").await;
    assert_eq!((courses.len(), users.len()), (100, 100));
    let reps: Vec<Value> = courses
        .iter()
        .map(|id| json!({ "__typename": "Course", "id": id }))
        .chain(users.iter().map(|id| json!({ "__typename": "User", "id": id })))
        .collect();
    let bearer = token(&learner, "student", 600);
    let variables = json!({ "first": 20, "course": course, "quiz": quiz, "reps": reps });
    let counters = || (app.pg_stats().statements(), app.state.mongo.stats().commands());
    let ask = |query: &'static str, variables: Value| {
        let (app, bearer) = (&app, &bearer);
        async move {
            let body = crate::support::ask(app, Some(bearer), query, variables).await;
            assert!(body.get("errors").is_none(), "{body}");
            body
        }
    };

    for (name, query, expected) in SHAPES {
        // the first run fills what a replica keeps; then every run costs the same
        let body = ask(query, variables.clone()).await;
        let lists = [
            "/data/courses/nodes",
            "/data/course/lessons",
            "/data/me/enrollments/nodes",
            "/data/quiz/myAttempts",
            "/data/_entities",
        ];
        assert!(lists.iter().any(|l| count(&body, l) > 0), "{name} answers with something: {body}");
        for run in 0..3 {
            let before = counters();
            ask(query, variables.clone()).await;
            let after = counters();
            let cost = (after.0 - before.0, after.1 - before.1);
            assert!(cost.0 <= expected.0 && cost.1 <= expected.1, "{name}, run {run}: {cost:?}, shape {expected:?}");
        }
    }

    // a discovery page costs the same whatever its size
    let (_, discovery, expected) = SHAPES[0];
    for first in [1, 5, 50, 100] {
        let before = counters();
        let body = ask(discovery, json!({ "first": first })).await;
        assert_eq!(count(&body, "/data/courses/nodes"), first as usize);
        let after = counters();
        let cost = (after.0 - before.0, after.1 - before.1);
        assert!(cost.0 <= expected.0 && cost.1 <= expected.1, "discovery, first: {first}: {cost:?}");
    }

    // under load (16 at once, on every shape) no request costs more than its shape: batches
    // may be shared between requests, never split within one
    for (name, query, expected) in SHAPES {
        let before = counters();
        let answers = futures::future::join_all((0..16).map(|_| ask(query, variables.clone()))).await;
        let after = counters();
        assert_eq!(answers.len(), 16);
        assert!(after.0 - before.0 <= 16 * expected.0, "{name}: {} statements for 16 requests", after.0 - before.0);
        assert!(after.1 - before.1 <= 16 * expected.1, "{name}: {} commands for 16 requests", after.1 - before.1);
    }
    app.stop().await;
}
