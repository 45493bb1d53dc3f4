//! Migrations: up, down to zero and up again leave the same schema; MongoDB's validators
//! reject what they should, and the indexes exist.

use mongodb::bson::{doc, Binary, Document};
use sea_orm::Database;

use crate::support::{sql_column, sql_exec, stack, TestDb};

fn pg_dump(url: &str) -> String {
    let bin = std::env::var("LG_PG_BIN").unwrap_or_else(|_| "/usr/lib/postgresql/15/bin".into());
    let out = std::process::Command::new(format!("{bin}/pg_dump"))
        .args(["--schema-only", "--no-owner", "--restrict-key=learngraph", url])
        .output()
        .expect("pg_dump runs");
    assert!(out.status.success(), "pg_dump failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf8")
}

async fn tables(url: &str) -> Vec<String> {
    sql_column(url, "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY 1").await
}

#[tokio::test]
async fn up_down_up_leaves_the_same_schema() {
    let db = TestDb::empty().await;
    let conn = Database::connect(&db.direct_url).await.expect("connect");
    use migration::MigratorTrait;
    migration::Migrator::up(&conn, None).await.expect("up");
    let first = pg_dump(&db.direct_url);
    for table in
        ["users", "categories", "courses", "lessons", "enrollments", "user_progress", "quizzes", "quiz_attempts"]
    {
        assert!(first.contains(&format!("CREATE TABLE public.{table} (")), "{table} missing");
    }
    for index in ["idx_courses_search", "idx_courses_discovery", "idx_user_learning_path", "idx_courses_metadata"] {
        assert!(first.contains(index), "{index} missing");
    }

    migration::Migrator::down(&conn, None).await.expect("down to zero");
    assert_eq!(tables(&db.direct_url).await, vec!["seaql_migrations".to_owned()]);

    migration::Migrator::up(&conn, None).await.expect("up again");
    conn.close().await.expect("close");
    let second = pg_dump(&db.direct_url);
    assert!(first == second, "the schema differs after down/up");
}

#[tokio::test]
async fn course_counters_follow_enrolments_incrementally() {
    let db = TestDb::seeded_ci().await;
    let mismatched = || {
        sql_column(
            &db.direct_url,
            "SELECT count(*)::text FROM courses c \
             WHERE c.enrollment_count <> (SELECT count(*) FROM enrollments e WHERE e.course_id = c.id)",
        )
    };
    assert_eq!(mismatched().await, ["0"], "seeded counts");
    // delete some enrolments (the guide's trigger read NEW on DELETE), and add progress for
    // learners in courses they had not enrolled in, which enrols them
    sql_exec(
        &db.direct_url,
        "DELETE FROM enrollments WHERE id IN (SELECT id FROM enrollments ORDER BY id LIMIT 25);
         INSERT INTO user_progress (user_id, lesson_id, course_id)
         SELECT u.id, l.id, l.course_id FROM users u, lessons l
         WHERE u.role = 'student' AND NOT EXISTS (SELECT 1 FROM enrollments e WHERE e.user_id = u.id AND e.course_id = l.course_id)
         ORDER BY u.id, l.id LIMIT 40 ON CONFLICT DO NOTHING;",
    )
    .await;
    assert_eq!(mismatched().await, ["0"], "counts after deletes and progress inserts");
    let bumped = sql_column(&db.direct_url, "SELECT count(*)::text FROM courses WHERE updated_at > created_at").await;
    assert_eq!(bumped, ["0"], "counter updates must not bump courses.updated_at");
}

#[tokio::test]
async fn mongo_validators_reject_bad_documents_and_indexes_exist() {
    let db = TestDb::migrated().await;
    let config = db.config(&[]);
    let mongo = learngraph::store::mongo::MongoStore::connect(&config.mongo, "learngraph-test").await.expect("mongo");
    let first = mongo.apply_setup().await.expect("setup");
    assert_eq!(first.collections_created, ["courses", "user_progress", "quiz_attempts", "persisted_queries"]);
    // the test server has no text indexes: a warning, not a failure
    assert!(first.warnings.iter().all(|w| w.contains("course_text_search")), "{:?}", first.warnings);
    let second = mongo.apply_setup().await.expect("setup is idempotent");
    assert_eq!(second.collections_updated.len(), 4);
    assert!(second.collections_created.is_empty());

    // an index whose definition changed is dropped and created again
    let client = mongodb::Client::with_uri_str(&stack().mongo_uri).await.expect("client");
    let courses = client.database(&db.name).collection::<Document>("courses");
    courses.drop_index("tags").await.expect("drop");
    let old = mongodb::IndexModel::builder()
        .keys(doc! { "tags": -1 })
        .options(mongodb::options::IndexOptions::builder().name("tags".to_owned()).build())
        .build();
    courses.create_index(old).await.expect("an older definition");
    let third = mongo.apply_setup().await.expect("setup");
    assert_eq!(third.recreated, ["courses.tags"]);
    assert!(mongo.apply_setup().await.expect("setup").recreated.is_empty());

    let status = mongo.setup_status().await.expect("status");
    for c in &status {
        assert!(c.exists, "{} missing", c.name);
        let allowed: &[&str] = if c.name == "courses" { &["course_text_search"] } else { &[] };
        assert_eq!(c.missing_indexes, allowed, "{}", c.name);
    }

    let id = Binary { subtype: mongodb::bson::spec::BinarySubtype::Uuid, bytes: vec![7; 16] };
    let valid = doc! {
        "_id": id.clone(), "title": "T", "slug": "t", "is_published": true, "lessons": [], "version": 1_i64,
        "rating": mongodb::bson::Decimal128::from_bytes([0; 16]),
    };
    courses.insert_one(valid).await.expect("a valid document is accepted");
    for (what, bad) in [
        (
            "a missing slug",
            doc! { "_id": Binary { subtype: mongodb::bson::spec::BinarySubtype::Uuid, bytes: vec![8; 16] }, "title": "T", "is_published": true, "lessons": [], "version": 1_i64 },
        ),
        (
            "a string id",
            doc! { "_id": "not-a-uuid", "title": "T", "slug": "u", "is_published": true, "lessons": [], "version": 1_i64 },
        ),
        (
            "an unknown level",
            doc! { "_id": Binary { subtype: mongodb::bson::spec::BinarySubtype::Uuid, bytes: vec![9; 16] }, "title": "T", "slug": "v", "is_published": true, "lessons": [], "version": 1_i64, "level": "expert" },
        ),
    ] {
        let err = courses.insert_one(bad).await.expect_err(what);
        assert!(format!("{err:?}").contains("121"), "{what}: expected DocumentValidationFailure (121), got {err:?}");
    }
    let progress = client.database(&db.name).collection::<Document>("user_progress");
    let err = progress
        .insert_one(doc! { "user_id": id.clone(), "course_id": id.clone(), "lesson_progress": [], "overall_completion_percentage": 101, "version": 1 })
        .await
        .expect_err("completion over 100");
    assert!(format!("{err:?}").contains("121"), "{err:?}");

    let indexes = courses.list_index_names().await.expect("indexes");
    for name in ["slug_unique", "discovery", "tags"] {
        assert!(indexes.contains(&name.to_owned()), "{name} not in {indexes:?}");
    }
    let ttl = client.database(&db.name).collection::<Document>("persisted_queries").list_indexes().await.expect("list");
    use futures::TryStreamExt;
    let ttl: Vec<_> = ttl.try_collect().await.expect("indexes");
    assert!(
        ttl.iter().any(|ix| ix.options.as_ref().and_then(|o| o.expire_after).is_some()),
        "persisted_queries has a TTL index: {ttl:?}"
    );
}
