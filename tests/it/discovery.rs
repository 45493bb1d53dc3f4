//! Course discovery: filters, search, five orders, both paging directions, counts and facets,
//! each compared with a hand-written SQL query over the same data.

use serde_json::{json, Value};

use crate::support::{data, error_codes, sql_column, sql_exec, TestApp, TestDb};

const LIST: &str = r#"query List($filter: CourseFilterInput, $orderBy: CourseOrderBy, $first: Int, $after: String, $last: Int, $before: String) {
  courses(filter: $filter, orderBy: $orderBy, first: $first, after: $after, last: $last, before: $before) {
    edges { cursor node { id } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}"#;

/// Every id of a list, read forward in pages of `size`.
async fn forward(app: &TestApp, filter: &Value, order: &Value, size: i32) -> Vec<String> {
    let mut ids = Vec::new();
    let mut after = Value::Null;
    for _ in 0..1000 {
        let body =
            app.graphql(LIST, json!({ "filter": filter, "orderBy": order, "first": size, "after": after })).await;
        let page = &data(&body)["courses"];
        ids.extend(
            page["edges"].as_array().expect("edges").iter().map(|e| e["node"]["id"].as_str().expect("id").to_owned()),
        );
        assert_eq!(page["pageInfo"]["hasPreviousPage"], json!(!after.is_null()), "{filter} {order}");
        if page["pageInfo"]["hasNextPage"] != json!(true) {
            return ids;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
    panic!("paging forward does not end for {filter} {order}");
}

/// Every id of a list, read backward from its end in pages of `size`, returned in list order.
async fn backward(app: &TestApp, filter: &Value, order: &Value, size: i32) -> Vec<String> {
    let mut pages: Vec<Vec<String>> = Vec::new();
    let mut before = Value::Null;
    for _ in 0..1000 {
        let body =
            app.graphql(LIST, json!({ "filter": filter, "orderBy": order, "last": size, "before": before })).await;
        let page = &data(&body)["courses"];
        pages.push(
            page["edges"]
                .as_array()
                .expect("edges")
                .iter()
                .map(|e| e["node"]["id"].as_str().expect("id").to_owned())
                .collect(),
        );
        assert_eq!(page["pageInfo"]["hasNextPage"], json!(!before.is_null()), "{filter} {order}");
        if page["pageInfo"]["hasPreviousPage"] != json!(true) {
            return pages.into_iter().rev().flatten().collect();
        }
        before = page["pageInfo"]["startCursor"].clone();
    }
    panic!("paging backward does not end for {filter} {order}");
}

/// One value of a column, for picking filter values out of the seeded data.
async fn one(db: &TestDb, sql: &str) -> String {
    sql_column(&db.direct_url, sql).await.into_iter().next().expect("a value")
}

#[tokio::test]
async fn every_filter_and_order_matches_a_hand_written_sql_query_in_both_directions() {
    let db = TestDb::seeded_ci().await;
    let app = TestApp::spawn(&db).await;

    // values that select a real part of the seeded catalog
    let parent = one(&db, "SELECT p.id::text FROM categories p JOIN categories k ON k.parent_id = p.id JOIN courses c ON c.category_id = k.id WHERE c.is_published GROUP BY p.id ORDER BY count(*) DESC, p.id LIMIT 1").await;
    let leaf = one(&db, "SELECT category_id::text FROM courses WHERE is_published GROUP BY category_id ORDER BY count(*) DESC, category_id LIMIT 1").await;
    let instructor = one(&db, "SELECT instructor_id::text FROM courses WHERE is_published GROUP BY instructor_id ORDER BY count(*) DESC, instructor_id LIMIT 1").await;
    let tag = one(
        &db,
        "SELECT t FROM courses, unnest(tags) t WHERE is_published GROUP BY t ORDER BY count(*) DESC, t LIMIT 1",
    )
    .await;
    let tag2 = one(&db, "SELECT t FROM courses, unnest(tags) t WHERE is_published GROUP BY t ORDER BY count(*) DESC, t OFFSET 1 LIMIT 1").await;
    let word = one(&db, "SELECT w FROM courses, regexp_split_to_table(lower(title), '[^a-z]+') w WHERE is_published AND length(w) > 5 GROUP BY w ORDER BY count(*) DESC, w LIMIT 1").await;

    let doc = "to_tsvector('english', title || ' ' || COALESCE(description, ''))";
    let relevance = |q: &str| {
        format!("(ts_rank_cd({doc}, websearch_to_tsquery('english', '{q}'))::float8 + word_similarity('{q}', title)::float8) DESC, id DESC")
    };
    let matches = |q: &str| format!("({doc} @@ websearch_to_tsquery('english', '{q}') OR '{q}' <% title)");
    let subtree = format!("category_id IN (WITH RECURSIVE s(id) AS (SELECT '{parent}'::uuid UNION SELECT k.id FROM categories k JOIN s ON k.parent_id = s.id) SELECT id FROM s)");
    // (filter, orderBy, WHERE beyond is_published, ORDER BY)
    let cases: Vec<(Value, Value, String, String)> = vec![
        (json!(null), json!(null), "true".into(), "created_at DESC, id DESC".into()),
        (json!({ "categoryId": parent }), json!("NEWEST"), subtree.clone(), "created_at DESC, id DESC".into()),
        (
            json!({ "categoryId": leaf }),
            json!("RATING"),
            format!("category_id = '{leaf}'"),
            "rating DESC, enrollment_count DESC, id DESC".into(),
        ),
        (
            json!({ "levels": ["BEGINNER", "ADVANCED"] }),
            json!("ENROLLMENTS"),
            "level IN ('beginner', 'advanced')".into(),
            "enrollment_count DESC, id DESC".into(),
        ),
        (
            json!({ "instructorId": instructor }),
            json!("PRICE"),
            format!("instructor_id = '{instructor}'"),
            "price, id".into(),
        ),
        (
            json!({ "free": true }),
            json!("RATING"),
            "price = 0".into(),
            "rating DESC, enrollment_count DESC, id DESC".into(),
        ),
        (
            json!({ "free": false, "minPrice": "50", "maxPrice": "120.99" }),
            json!("PRICE"),
            "price > 0 AND price >= 50 AND price <= 120.99".into(),
            "price, id".into(),
        ),
        (json!({ "minRating": 4.5 }), json!("NEWEST"), "rating >= 4.5".into(), "created_at DESC, id DESC".into()),
        (
            json!({ "tags": [tag] }),
            json!("ENROLLMENTS"),
            format!("'{tag}' = ANY(tags)"),
            "enrollment_count DESC, id DESC".into(),
        ),
        (
            json!({ "tags": [tag, tag2] }),
            json!(null),
            format!("'{tag}' = ANY(tags) AND '{tag2}' = ANY(tags)"),
            "created_at DESC, id DESC".into(),
        ),
        (json!({ "search": word }), json!(null), matches(&word), relevance(&word)),
        (
            json!({ "search": word, "levels": ["INTERMEDIATE"] }),
            json!("PRICE"),
            format!("{} AND level = 'intermediate'", matches(&word)),
            "price, id".into(),
        ),
        (
            json!({ "search": word, "categoryId": parent, "minRating": 3 }),
            json!("RELEVANCE"),
            format!("{} AND {subtree} AND rating >= 3", matches(&word)),
            relevance(&word),
        ),
    ];

    for (filter, order, predicate, order_sql) in &cases {
        let expected = sql_column(
            &db.direct_url,
            &format!("SELECT id::text FROM courses WHERE is_published AND {predicate} ORDER BY {order_sql}"),
        )
        .await;
        assert!(!expected.is_empty(), "the case selects something: {filter}");
        assert_eq!(forward(&app, filter, order, 9).await, expected, "forward {filter} {order}");
        assert_eq!(backward(&app, filter, order, 4).await, expected, "backward {filter} {order}");

        // the count and the facets cover the whole list
        let counts = app
            .graphql(
                "query($f: CourseFilterInput, $o: CourseOrderBy) { courses(filter: $f, orderBy: $o, first: 1) { totalCount facets { levels { level count } categories { category { id } count } } } }",
                json!({ "f": filter, "o": order }),
            )
            .await;
        let list = &data(&counts)["courses"];
        assert_eq!(list["totalCount"], json!(expected.len()), "{filter}");
        let levels = sql_column(&db.direct_url, &format!("SELECT upper(level) || ':' || count(*) FROM courses WHERE is_published AND {predicate} GROUP BY level ORDER BY count(*) DESC, level")).await;
        let got: Vec<String> = list["facets"]["levels"]
            .as_array()
            .expect("levels")
            .iter()
            .map(|l| format!("{}:{}", l["level"].as_str().unwrap_or(""), l["count"]))
            .collect();
        assert_eq!(got, levels, "level facets {filter}");
        let categories = sql_column(&db.direct_url, &format!("SELECT category_id::text || ':' || count(*) FROM courses WHERE is_published AND {predicate} GROUP BY category_id ORDER BY count(*) DESC, category_id")).await;
        let got: Vec<String> = list["facets"]["categories"]
            .as_array()
            .expect("categories")
            .iter()
            .map(|c| format!("{}:{}", c["category"]["id"].as_str().unwrap_or(""), c["count"]))
            .collect();
        assert_eq!(got, categories, "category facets {filter}");
    }
    app.stop().await;
}

#[tokio::test]
async fn search_ranks_the_best_match_first_and_tolerates_typos() {
    let db = TestDb::seeded_ci().await;
    let app = TestApp::spawn(&db).await;
    let instructor = one(&db, "SELECT id::text FROM users WHERE role = 'instructor' LIMIT 1").await;
    sql_exec(
        &db.direct_url,
        &format!(
            "INSERT INTO courses (title, slug, description, instructor_id, level, price, is_published, tags) VALUES \
             ('Quaternion Kinematics for Robot Arms', 'quaternion-kinematics', 'Rotations without gimbal lock.', '{instructor}', 'advanced', 30, true, '{{robotics}}'), \
             ('Linear Algebra Refresher', 'linear-algebra-refresher', 'Matrices, and a short look at quaternion rotations.', '{instructor}', 'beginner', 0, true, '{{math}}'), \
             ('Quaternion Drafts', 'quaternion-drafts', 'Not published.', '{instructor}', 'beginner', 0, false, '{{}}')"
        ),
    )
    .await;
    let titles = |body: &Value| -> Vec<String> {
        data(body)["courses"]["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .map(|n| n["title"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    let search = "query($q: String!) { courses(filter: { search: $q }) { nodes { title } totalCount } }";

    // the title match ranks above the description match; the draft never shows
    let body = app.graphql(search, json!({ "q": "quaternion" })).await;
    assert_eq!(titles(&body), ["Quaternion Kinematics for Robot Arms", "Linear Algebra Refresher"]);
    // stemming: "rotation" finds "Rotations"
    let body = app.graphql(search, json!({ "q": "rotation" })).await;
    assert!(titles(&body).contains(&"Quaternion Kinematics for Robot Arms".to_owned()), "{body}");
    // typos in a title word still find it
    for typo in ["quaternoin", "quaterion kinematic", "kinematcs"] {
        let body = app.graphql(search, json!({ "q": typo })).await;
        assert_eq!(
            titles(&body).first().map(String::as_str),
            Some("Quaternion Kinematics for Robot Arms"),
            "{typo}: {body}"
        );
    }
    // websearch syntax: quoted phrases and exclusions
    let body = app.graphql(search, json!({ "q": "quaternion -kinematics" })).await;
    assert!(!titles(&body).contains(&"Quaternion Kinematics for Robot Arms".to_owned()), "{body}");
    // SQL and tsquery metacharacters are plain text
    for q in ["'; DROP TABLE courses; --", "a & b | !c", "%_\\", ":*"] {
        let body = app.graphql(search, json!({ "q": q })).await;
        assert!(body.get("errors").is_none(), "{q}: {body}");
    }
    assert_eq!(sql_column(&db.direct_url, "SELECT count(*)::text FROM courses").await.len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn pages_stay_stable_in_every_order_while_courses_change() {
    let db = TestDb::seeded_ci().await;
    let app = TestApp::spawn(&db).await;
    for (i, order) in ["RATING", "ENROLLMENTS", "NEWEST", "PRICE"].into_iter().enumerate() {
        let first = app.graphql(LIST, json!({ "orderBy": order, "first": 10 })).await;
        let end = data(&first)["courses"]["pageInfo"]["endCursor"].clone();
        let next = app.graphql(LIST, json!({ "orderBy": order, "after": end, "first": 10 })).await;
        // a new course that sorts first in every order arrives, and one already seen goes away
        let seen = data(&first)["courses"]["edges"][0]["node"]["id"].as_str().expect("id").to_owned();
        sql_exec(
            &db.direct_url,
            &format!(
                "INSERT INTO courses (id, title, slug, instructor_id, price, rating, is_published, enrollment_count) \
                 SELECT '00000000-0000-4000-8000-00000000000{i}', 'Top {order}', 'top-{order}', instructor_id, 0, 5, \
                 true, 1000000 FROM courses WHERE id = '{seen}'; \
                 UPDATE courses SET is_published = false WHERE id = '{seen}'"
            ),
        )
        .await;
        let again = app.graphql(LIST, json!({ "orderBy": order, "after": end, "first": 10 })).await;
        assert_eq!(data(&again)["courses"]["edges"], data(&next)["courses"]["edges"], "{order}");
    }
    app.stop().await;
}

#[tokio::test]
async fn bad_discovery_arguments_are_refused_with_the_field_named() {
    let db = TestDb::seeded_ci().await;
    let app = TestApp::spawn(&db).await;
    let newest = app.graphql(LIST, json!({ "first": 1 })).await;
    let newest_cursor = data(&newest)["courses"]["pageInfo"]["endCursor"].clone();
    let cases = [
        (json!({ "filter": { "minPrice": "-1" } }), "filter.minPrice"),
        (json!({ "filter": { "minPrice": "20", "maxPrice": "10" } }), "filter.minPrice"),
        (json!({ "filter": { "minRating": 5.5 } }), "filter.minRating"),
        (json!({ "filter": { "search": "   " } }), "filter.search"),
        (json!({ "filter": { "search": "x".repeat(201) } }), "filter.search"),
        (json!({ "filter": { "tags": vec!["t"; 21] } }), "filter.tags"),
        (json!({ "filter": { "tags": [""] } }), "filter.tags"),
        (json!({ "filter": { "categoryId": "not-a-uuid" } }), "category"),
        (json!({ "orderBy": "RELEVANCE" }), "filter.search"),
        (json!({ "first": 0 }), "first"),
        (json!({ "last": 101 }), "last"),
        (json!({ "first": 5, "last": 5 }), "not both"),
        (json!({ "first": 5, "before": newest_cursor }), "before"),
        (json!({ "orderBy": "PRICE", "after": newest_cursor }), "after"),
        (json!({ "after": "bm90LWEtY3Vyc29y" }), "after"),
    ];
    for (variables, field) in cases {
        let body = app.graphql(LIST, variables.clone()).await;
        assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{variables}: {body}");
        let message = body["errors"][0]["message"].as_str().unwrap_or("");
        assert!(message.contains(field), "{variables}: {message}");
        assert!(body["data"].is_null(), "{body}");
    }
    app.stop().await;
}
