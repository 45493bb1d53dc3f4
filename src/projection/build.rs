//! Builds read-model documents from PostgreSQL, a batch at a time: one query per table per
//! batch, all in one REPEATABLE READ snapshot, so a document and its version always agree.
//! The projector, `project rebuild|verify` and the read fallback all use these functions.

use std::collections::HashMap;

use chrono::{DateTime, FixedOffset};
use mongodb::bson::{Bson, Document};
use sea_orm::{
    AccessMode, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, FromQueryResult, IsolationLevel,
    Statement, TransactionTrait, Value,
};
use uuid::Uuid;

use super::docs::{
    bin, date, decimal, json, AttemptDoc, Built, CategoryRef, CourseDoc, InstructorRef, Kind, LessonDoc,
    LessonProgressDoc, ProgressDoc,
};
use crate::error::{Store, StoreError, StoreErrorKind};

/// What a batch built: documents by aggregate key, and the version of every key asked for
/// (an aggregate that no longer exists has a version and no document: a tombstone).
#[derive(Debug, Default)]
pub struct Batch {
    pub docs: HashMap<String, Built>,
    pub versions: HashMap<String, i64>,
}

/// Opens the snapshot a batch is built in.
pub async fn snapshot(db: &DatabaseConnection) -> Result<DatabaseTransaction, StoreError> {
    Ok(db.begin_with_config(Some(IsolationLevel::RepeatableRead), Some(AccessMode::ReadOnly)).await?)
}

/// Builds the documents of `keys` (aggregate keys of one kind).
pub async fn build(tx: &DatabaseTransaction, kind: Kind, keys: &[String]) -> Result<Batch, StoreError> {
    if keys.is_empty() {
        return Ok(Batch::default());
    }
    let versions = versions(tx, kind, keys).await?;
    let docs = match kind {
        Kind::Course => courses(tx, &parse_uuids(keys), &versions).await?,
        Kind::Progress => progress(tx, keys, &versions).await?,
        Kind::Attempt => attempts(tx, &parse_uuids(keys), &versions).await?,
    };
    Ok(Batch { docs, versions })
}

/// The key's document `_id` in Mongo.
pub fn mongo_id(kind: Kind, key: &str) -> Bson {
    match kind {
        Kind::Progress => Bson::String(key.to_owned()),
        Kind::Course | Kind::Attempt => match Uuid::parse_str(key) {
            Ok(id) => Bson::from(bin(id)),
            Err(_) => Bson::String(key.to_owned()),
        },
    }
}

/// The aggregate key of a Mongo `_id`.
pub fn key_of(id: &Bson) -> Option<String> {
    match id {
        Bson::String(s) => Some(s.clone()),
        Bson::Binary(b) => Uuid::from_slice(&b.bytes).ok().map(|u| u.to_string()),
        _ => None,
    }
}

/// Up to `limit` aggregate keys of `kind` after `after`, in key order (for rebuild and verify).
pub async fn keys_after(
    db: &impl ConnectionTrait,
    kind: Kind,
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<String>, StoreError> {
    let (sql, values): (&str, Vec<Value>) = match (kind, after) {
        (Kind::Course, None) => ("SELECT id::text AS key FROM courses ORDER BY id LIMIT $1", vec![limit.into()]),
        (Kind::Course, Some(a)) => (
            "SELECT id::text AS key FROM courses WHERE id > $1::uuid ORDER BY id LIMIT $2",
            vec![a.to_owned().into(), limit.into()],
        ),
        (Kind::Attempt, None) => ("SELECT id::text AS key FROM quiz_attempts ORDER BY id LIMIT $1", vec![limit.into()]),
        (Kind::Attempt, Some(a)) => (
            "SELECT id::text AS key FROM quiz_attempts WHERE id > $1::uuid ORDER BY id LIMIT $2",
            vec![a.to_owned().into(), limit.into()],
        ),
        (Kind::Progress, None) => (
            "SELECT user_id::text || ':' || course_id::text AS key FROM enrollments ORDER BY user_id, course_id LIMIT $1",
            vec![limit.into()],
        ),
        (Kind::Progress, Some(a)) => {
            let (u, c) = a.split_once(':').unwrap_or((a, ""));
            (
                "SELECT user_id::text || ':' || course_id::text AS key FROM enrollments \
                 WHERE (user_id, course_id) > ($1::uuid, $2::uuid) ORDER BY user_id, course_id LIMIT $3",
                vec![u.to_owned().into(), c.to_owned().into(), limit.into()],
            )
        }
    };
    #[derive(FromQueryResult)]
    struct Key {
        key: String,
    }
    let rows = Key::find_by_statement(Statement::from_sql_and_values(DbBackend::Postgres, sql, values)).all(db).await?;
    Ok(rows.into_iter().map(|r| r.key).collect())
}

/// How many aggregates of `kind` PostgreSQL holds: the total a rebuild works through.
pub async fn count(db: &impl ConnectionTrait, kind: Kind) -> Result<u64, StoreError> {
    let sql = match kind {
        Kind::Course => "SELECT count(*) AS n FROM courses",
        Kind::Attempt => "SELECT count(*) AS n FROM quiz_attempts",
        Kind::Progress => "SELECT count(*) AS n FROM enrollments",
    };
    #[derive(FromQueryResult)]
    struct Count {
        n: i64,
    }
    let row = Count::find_by_statement(Statement::from_string(DbBackend::Postgres, sql)).one(db).await?;
    Ok(row.map_or(0, |r| r.n.max(0) as u64))
}

fn parse_uuids(keys: &[String]) -> Vec<Uuid> {
    keys.iter().filter_map(|k| Uuid::parse_str(k).ok()).collect()
}

fn stmt(sql: &str, values: Vec<Value>) -> Statement {
    Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
}

fn invalid(kind: Kind, e: impl std::fmt::Display) -> StoreError {
    StoreError::new(Store::Mongo, StoreErrorKind::Other, format!("building a {} document: {e}", kind.name()))
}

/// The current versions of `keys` in PostgreSQL (absent: never changed).
pub async fn versions(
    db: &impl ConnectionTrait,
    kind: Kind,
    keys: &[String],
) -> Result<HashMap<String, i64>, sea_orm::DbErr> {
    #[derive(FromQueryResult)]
    struct Row {
        key: String,
        version: i64,
    }
    let rows = Row::find_by_statement(stmt(
        "SELECT key, version FROM read_model_versions WHERE kind = $1 AND key = ANY($2)",
        vec![kind.name().into(), keys.to_vec().into()],
    ))
    .all(db)
    .await?;
    Ok(rows.into_iter().map(|r| (r.key, r.version)).collect())
}

#[derive(FromQueryResult)]
struct CourseRow {
    id: Uuid,
    title: String,
    slug: String,
    description: Option<String>,
    category_id: Option<Uuid>,
    category_name: Option<String>,
    category_slug: Option<String>,
    instructor_id: Option<Uuid>,
    first_name: Option<String>,
    last_name: Option<String>,
    level: String,
    duration_minutes: Option<i32>,
    price: rust_decimal::Decimal,
    is_published: bool,
    enrollment_count: i32,
    rating: rust_decimal::Decimal,
    tags: Vec<String>,
    metadata: Option<serde_json::Value>,
    created_at: DateTime<FixedOffset>,
    updated_at: DateTime<FixedOffset>,
}

#[derive(FromQueryResult)]
struct LessonRow {
    id: Uuid,
    course_id: Uuid,
    title: String,
    slug: String,
    content: Option<String>,
    video_url: Option<String>,
    duration_minutes: Option<i32>,
    order_position: i32,
    is_free: bool,
    resources: Option<serde_json::Value>,
}

async fn courses(
    tx: &DatabaseTransaction,
    ids: &[Uuid],
    versions: &HashMap<String, i64>,
) -> Result<HashMap<String, Built>, StoreError> {
    let rows = CourseRow::find_by_statement(stmt(
        "SELECT c.id, c.title, c.slug, c.description, c.category_id, cat.name AS category_name, \
                cat.slug AS category_slug, c.instructor_id, u.first_name, u.last_name, c.level, \
                c.duration_minutes, c.price, c.is_published, c.enrollment_count, c.rating, c.tags, \
                c.metadata, c.created_at, c.updated_at \
         FROM courses c \
         LEFT JOIN categories cat ON cat.id = c.category_id \
         LEFT JOIN users u ON u.id = c.instructor_id \
         WHERE c.id = ANY($1)",
        vec![ids.to_vec().into()],
    ))
    .all(tx)
    .await?;
    let lessons = LessonRow::find_by_statement(stmt(
        "SELECT id, course_id, title, slug, content, video_url, duration_minutes, order_position, is_free, resources \
         FROM lessons WHERE course_id = ANY($1) ORDER BY course_id, order_position",
        vec![ids.to_vec().into()],
    ))
    .all(tx)
    .await?;
    let mut by_course: HashMap<Uuid, Vec<LessonDoc>> = HashMap::new();
    for l in lessons {
        by_course.entry(l.course_id).or_default().push(LessonDoc {
            lesson_id: bin(l.id),
            title: l.title,
            slug: l.slug,
            content: l.content,
            video_url: l.video_url,
            duration_minutes: l.duration_minutes,
            order_position: l.order_position,
            is_free: l.is_free,
            resources: l.resources.as_ref().map(json),
        });
    }
    let mut out = HashMap::with_capacity(rows.len());
    for c in rows {
        let key = c.id.to_string();
        let version = versions.get(&key).copied().unwrap_or(1);
        let doc = CourseDoc {
            id: bin(c.id),
            title: c.title,
            slug: c.slug,
            description: c.description,
            category_id: c.category_id.map(bin),
            category: match (c.category_id, c.category_name, c.category_slug) {
                (Some(id), Some(name), Some(slug)) => Some(CategoryRef { id: bin(id), name, slug }),
                _ => None,
            },
            instructor_id: c.instructor_id.map(bin),
            instructor: match (c.instructor_id, c.first_name, c.last_name) {
                (Some(id), Some(first_name), Some(last_name)) => {
                    Some(InstructorRef { id: bin(id), first_name, last_name })
                }
                _ => None,
            },
            level: c.level,
            duration_minutes: c.duration_minutes,
            price: decimal(c.price),
            is_published: c.is_published,
            enrollment_count: c.enrollment_count,
            rating: decimal(c.rating),
            tags: c.tags,
            metadata: c.metadata.as_ref().map(json),
            lessons: by_course.remove(&c.id).unwrap_or_default(),
            version,
            created_at: date(c.created_at),
            updated_at: date(c.updated_at),
        };
        let built = Built::from(Bson::from(bin(c.id)), version, &doc).map_err(|e| invalid(Kind::Course, e))?;
        out.insert(key, built);
    }
    Ok(out)
}

/// Splits `user_id:course_id` keys into two parallel arrays.
fn pairs(keys: &[String]) -> (Vec<Uuid>, Vec<Uuid>) {
    keys.iter()
        .filter_map(|k| {
            let (u, c) = k.split_once(':')?;
            Some((Uuid::parse_str(u).ok()?, Uuid::parse_str(c).ok()?))
        })
        .unzip()
}

async fn progress(
    tx: &DatabaseTransaction,
    keys: &[String],
    versions: &HashMap<String, i64>,
) -> Result<HashMap<String, Built>, StoreError> {
    #[derive(FromQueryResult)]
    struct Enrolment {
        user_id: Uuid,
        course_id: Uuid,
        enrolled_at: DateTime<FixedOffset>,
    }
    #[derive(FromQueryResult)]
    struct Row {
        user_id: Uuid,
        course_id: Uuid,
        lesson_id: Uuid,
        completion_percentage: i32,
        time_spent_minutes: i32,
        is_completed: bool,
        last_accessed_at: DateTime<FixedOffset>,
        completed_at: Option<DateTime<FixedOffset>>,
    }
    #[derive(FromQueryResult)]
    struct Count {
        course_id: Uuid,
        n: i64,
    }
    let (users, courses) = pairs(keys);
    let enrolments = Enrolment::find_by_statement(stmt(
        "SELECT e.user_id, e.course_id, e.enrolled_at FROM enrollments e \
         JOIN unnest($1::uuid[], $2::uuid[]) AS k(u, c) ON e.user_id = k.u AND e.course_id = k.c",
        vec![users.clone().into(), courses.clone().into()],
    ))
    .all(tx)
    .await?;
    let rows = Row::find_by_statement(stmt(
        "SELECT p.user_id, p.course_id, p.lesson_id, p.completion_percentage, p.time_spent_minutes, \
                p.is_completed, p.last_accessed_at, p.completed_at \
         FROM user_progress p \
         JOIN unnest($1::uuid[], $2::uuid[]) AS k(u, c) ON p.user_id = k.u AND p.course_id = k.c \
         JOIN lessons l ON l.id = p.lesson_id \
         ORDER BY p.user_id, p.course_id, l.order_position",
        vec![users.into(), courses.clone().into()],
    ))
    .all(tx)
    .await?;
    let counts = Count::find_by_statement(stmt(
        "SELECT course_id, count(*) AS n FROM lessons WHERE course_id = ANY($1) GROUP BY course_id",
        vec![courses.into()],
    ))
    .all(tx)
    .await?;
    let totals: HashMap<Uuid, i64> = counts.into_iter().map(|c| (c.course_id, c.n)).collect();
    let mut lessons: HashMap<(Uuid, Uuid), Vec<Row>> = HashMap::new();
    for r in rows {
        lessons.entry((r.user_id, r.course_id)).or_default().push(r);
    }
    let mut out = HashMap::with_capacity(enrolments.len());
    for e in enrolments {
        let key = format!("{}:{}", e.user_id, e.course_id);
        let version = versions.get(&key).copied().unwrap_or(1);
        let rows = lessons.remove(&(e.user_id, e.course_id)).unwrap_or_default();
        let total = totals.get(&e.course_id).copied().unwrap_or(0);
        let completed = rows.iter().filter(|r| r.is_completed).count() as i64;
        let overall = if total == 0 { 0 } else { ((completed * 100) as f64 / total as f64).round() as i32 };
        let completed_at = (total > 0 && completed >= total)
            .then(|| rows.iter().filter_map(|r| r.completed_at).max())
            .flatten()
            .map(date);
        let doc = ProgressDoc {
            id: key.clone(),
            user_id: bin(e.user_id),
            course_id: bin(e.course_id),
            overall_completion_percentage: overall.clamp(0, 100),
            total_time_spent: rows.iter().map(|r| r.time_spent_minutes).sum(),
            last_accessed_at: Some(date(rows.iter().map(|r| r.last_accessed_at).max().unwrap_or(e.enrolled_at))),
            started_at: Some(date(e.enrolled_at)),
            completed_at,
            lesson_progress: rows
                .iter()
                .map(|r| LessonProgressDoc {
                    lesson_id: bin(r.lesson_id),
                    completion_percentage: r.completion_percentage,
                    time_spent_minutes: r.time_spent_minutes,
                    is_completed: r.is_completed,
                    last_accessed_at: date(r.last_accessed_at),
                    completed_at: r.completed_at.map(date),
                })
                .collect(),
            version,
        };
        let built = Built::from(Bson::String(key.clone()), version, &doc).map_err(|e| invalid(Kind::Progress, e))?;
        out.insert(key, built);
    }
    Ok(out)
}

async fn attempts(
    tx: &DatabaseTransaction,
    ids: &[Uuid],
    versions: &HashMap<String, i64>,
) -> Result<HashMap<String, Built>, StoreError> {
    #[derive(FromQueryResult)]
    struct Row {
        id: Uuid,
        user_id: Uuid,
        course_id: Uuid,
        quiz_id: Uuid,
        score: i32,
        answers: serde_json::Value,
        time_taken_minutes: Option<i32>,
        is_passed: bool,
        attempt_number: i32,
        started_at: DateTime<FixedOffset>,
        completed_at: Option<DateTime<FixedOffset>>,
    }
    let rows = Row::find_by_statement(stmt(
        "SELECT a.id, a.user_id, l.course_id, a.quiz_id, a.score, a.answers, a.time_taken_minutes, a.is_passed, \
                a.attempt_number, a.started_at, a.completed_at \
         FROM quiz_attempts a JOIN quizzes q ON q.id = a.quiz_id JOIN lessons l ON l.id = q.lesson_id \
         WHERE a.id = ANY($1)",
        vec![ids.to_vec().into()],
    ))
    .all(tx)
    .await?;
    let mut out = HashMap::with_capacity(rows.len());
    for a in rows {
        let key = a.id.to_string();
        let version = versions.get(&key).copied().unwrap_or(1);
        let doc = AttemptDoc {
            id: bin(a.id),
            user_id: bin(a.user_id),
            course_id: bin(a.course_id),
            quiz_id: bin(a.quiz_id),
            score: a.score,
            answers: answer_sheet(&a.answers),
            time_taken_minutes: a.time_taken_minutes,
            is_passed: a.is_passed,
            attempt_number: a.attempt_number,
            started_at: Some(date(a.started_at)),
            completed_at: a.completed_at.map(date),
            version,
        };
        let built = Built::from(Bson::from(bin(a.id)), version, &doc).map_err(|e| invalid(Kind::Attempt, e))?;
        out.insert(key, built);
    }
    Ok(out)
}

/// The answer sheet as an array of documents, whatever shape the JSON has (the validator wants one).
fn answer_sheet(answers: &serde_json::Value) -> Vec<Document> {
    let items = match answers {
        serde_json::Value::Array(items) => items.clone(),
        other => vec![other.clone()],
    };
    items
        .iter()
        .map(|item| match json(item) {
            Bson::Document(d) => d,
            other => mongodb::bson::doc! { "value": other },
        })
        .collect()
}
