//! Instructor authoring: courses, their lessons (kept in a gapless order) and quizzes. Every
//! function runs in the caller's transaction; the outbox triggers record what changed.

use rust_decimal::Decimal;
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend, FromQueryResult, Statement, Value};
use uuid::Uuid;

use super::PgStore;
use crate::error::StoreError;

fn stmt(sql: &str, values: Vec<Value>) -> Statement {
    Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
}

/// A course's fields as an author sets them (None: leave as is, on update).
#[derive(Clone, Debug, Default)]
pub struct CourseFields {
    pub title: Option<String>,
    pub slug: Option<String>,
    /// Some(None) clears it.
    pub description: Option<Option<String>>,
    pub category: Option<Option<Uuid>>,
    pub level: Option<&'static str>,
    pub duration_minutes: Option<Option<i32>>,
    pub price: Option<Decimal>,
    pub tags: Option<Vec<String>>,
    pub metadata: Option<Option<serde_json::Value>>,
}

/// A lesson as an author writes it.
#[derive(Clone, Debug)]
pub struct LessonFields {
    pub title: String,
    pub slug: String,
    pub content: Option<String>,
    pub video_url: Option<String>,
    pub duration_minutes: Option<i32>,
    /// 1-based; past the end means last.
    pub position: i32,
    pub is_free: bool,
    pub resources: Option<serde_json::Value>,
}

/// A quiz as an author writes it.
#[derive(Clone, Debug)]
pub struct QuizFields {
    pub title: String,
    pub description: Option<String>,
    pub questions: serde_json::Value,
    pub passing_score: i32,
    pub time_limit_minutes: Option<i32>,
    pub is_active: bool,
}

/// Who owns a course, locked for the rest of the transaction.
#[derive(Clone, Copy, Debug, FromQueryResult)]
pub struct Owned {
    pub instructor_id: Option<Uuid>,
    pub is_published: bool,
}

#[derive(FromQueryResult)]
struct Id {
    id: Uuid,
}

#[derive(FromQueryResult)]
struct Flag {
    flag: bool,
}

impl PgStore {
    /// Runs a `SELECT EXISTS (…) AS flag` in the transaction.
    async fn exists(
        &self,
        tx: &DatabaseTransaction,
        what: &str,
        sql: &str,
        values: Vec<Value>,
    ) -> Result<bool, StoreError> {
        let query = Flag::find_by_statement(stmt(sql, values));
        Ok(self.call(what, query.one(tx)).await?.is_some_and(|f| f.flag))
    }

    /// Locks a course (authoring of one course is serialized) and says who owns it.
    pub async fn lock_course(&self, tx: &DatabaseTransaction, course: Uuid) -> Result<Option<Owned>, StoreError> {
        let query = Owned::find_by_statement(stmt(
            "SELECT instructor_id, is_published FROM courses WHERE id = $1 FOR UPDATE",
            vec![course.into()],
        ));
        self.call("lock course", query.one(tx)).await
    }

    /// The course a lesson belongs to.
    pub async fn course_of_lesson(&self, tx: &DatabaseTransaction, lesson: Uuid) -> Result<Option<Uuid>, StoreError> {
        let query =
            Id::find_by_statement(stmt("SELECT course_id AS id FROM lessons WHERE id = $1", vec![lesson.into()]));
        Ok(self.call("course of lesson", query.one(tx)).await?.map(|r| r.id))
    }

    /// The lesson a quiz belongs to.
    pub async fn lesson_of_quiz(&self, tx: &DatabaseTransaction, quiz: Uuid) -> Result<Option<Uuid>, StoreError> {
        let query = Id::find_by_statement(stmt("SELECT lesson_id AS id FROM quizzes WHERE id = $1", vec![quiz.into()]));
        Ok(self.call("lesson of quiz", query.one(tx)).await?.map(|r| r.id))
    }

    /// Whether a course slug is taken (by another course than `except`).
    pub async fn course_slug_taken(
        &self,
        tx: &DatabaseTransaction,
        slug: &str,
        except: Option<Uuid>,
    ) -> Result<bool, StoreError> {
        let sql = "SELECT EXISTS (SELECT 1 FROM courses WHERE slug = $1 AND id IS DISTINCT FROM $2) AS flag";
        self.exists(tx, "course slug taken", sql, vec![slug.into(), except.into()]).await
    }

    /// The first free slug among `base`, `base-2`, `base-3`, …
    pub async fn free_course_slug(&self, tx: &DatabaseTransaction, base: &str) -> Result<String, StoreError> {
        #[derive(FromQueryResult)]
        struct Slug {
            slug: String,
        }
        let query = Slug::find_by_statement(stmt(
            "SELECT slug FROM courses WHERE slug = $1 OR slug LIKE $1 || '-%'",
            vec![base.into()],
        ));
        let taken: std::collections::HashSet<String> =
            self.call("free course slug", query.all(tx)).await?.into_iter().map(|s| s.slug).collect();
        Ok((1..)
            .map(|n| if n == 1 { base.to_owned() } else { format!("{base}-{n}") })
            .find(|s| !taken.contains(s))
            .unwrap_or_else(|| base.to_owned()))
    }

    /// Whether a category exists.
    pub async fn category_exists(&self, tx: &DatabaseTransaction, category: Uuid) -> Result<bool, StoreError> {
        let sql = "SELECT EXISTS (SELECT 1 FROM categories WHERE id = $1) AS flag";
        self.exists(tx, "category exists", sql, vec![category.into()]).await
    }

    /// Creates an unpublished course taught by `instructor`; every field of `fields` that a
    /// new course needs (title, slug) is set.
    pub async fn create_course(
        &self,
        tx: &DatabaseTransaction,
        instructor: Uuid,
        fields: &CourseFields,
    ) -> Result<Uuid, StoreError> {
        let query = Id::find_by_statement(stmt(
            "INSERT INTO courses (title, slug, description, category_id, instructor_id, level, duration_minutes, \
             price, tags, metadata, is_published) \
             VALUES ($1, $2, $3, $4, $5, COALESCE($6, 'beginner'), $7, COALESCE($8, 0), COALESCE($9, '{}'::text[]), $10, false) \
             RETURNING id",
            vec![
                fields.title.clone().into(),
                fields.slug.clone().into(),
                fields.description.clone().flatten().into(),
                fields.category.flatten().into(),
                instructor.into(),
                fields.level.map(str::to_owned).into(),
                fields.duration_minutes.flatten().into(),
                fields.price.into(),
                fields.tags.clone().into(),
                fields.metadata.clone().flatten().into(),
            ],
        ));
        let row = self.call("create course", query.one(tx)).await?;
        row.map(|r| r.id).ok_or_else(|| {
            StoreError::new(
                crate::error::Store::Postgres,
                crate::error::StoreErrorKind::Other,
                "insert returned nothing",
            )
        })
    }

    /// Changes the fields given; the others stay.
    pub async fn update_course(
        &self,
        tx: &DatabaseTransaction,
        course: Uuid,
        f: &CourseFields,
    ) -> Result<(), StoreError> {
        let mut sets: Vec<String> = Vec::new();
        let mut values: Vec<Value> = vec![course.into()];
        let mut set = |column: &str, value: Value| {
            values.push(value);
            sets.push(format!("{column} = ${}", values.len()));
        };
        if let Some(v) = &f.title {
            set("title", v.clone().into());
        }
        if let Some(v) = &f.slug {
            set("slug", v.clone().into());
        }
        if let Some(v) = &f.description {
            set("description", v.clone().into());
        }
        if let Some(v) = f.category {
            set("category_id", v.into());
        }
        if let Some(v) = f.level {
            set("level", v.into());
        }
        if let Some(v) = f.duration_minutes {
            set("duration_minutes", v.into());
        }
        if let Some(v) = f.price {
            set("price", v.into());
        }
        if let Some(v) = &f.tags {
            set("tags", v.clone().into());
        }
        if let Some(v) = &f.metadata {
            set("metadata", v.clone().into());
        }
        if sets.is_empty() {
            return Ok(());
        }
        let sql = format!("UPDATE courses SET {} WHERE id = $1", sets.join(", "));
        self.call("update course", tx.execute(stmt(&sql, values))).await.map(|_| ())
    }

    /// How many lessons a course has.
    pub async fn lesson_count_in(&self, tx: &DatabaseTransaction, course: Uuid) -> Result<i64, StoreError> {
        #[derive(FromQueryResult)]
        struct Count {
            n: i64,
        }
        let query = Count::find_by_statement(stmt(
            "SELECT count(*) AS n FROM lessons WHERE course_id = $1",
            vec![course.into()],
        ));
        Ok(self.call("lesson count", query.one(tx)).await?.map_or(0, |c| c.n))
    }

    /// Publishes or unpublishes a course.
    pub async fn set_published(
        &self,
        tx: &DatabaseTransaction,
        course: Uuid,
        published: bool,
    ) -> Result<(), StoreError> {
        let sql = "UPDATE courses SET is_published = $2 WHERE id = $1 AND is_published <> $2";
        self.call("publish course", tx.execute(stmt(sql, vec![course.into(), published.into()]))).await.map(|_| ())
    }

    /// Whether a lesson slug is taken in a course (by another lesson than `except`).
    pub async fn lesson_slug_taken(
        &self,
        tx: &DatabaseTransaction,
        course: Uuid,
        slug: &str,
        except: Option<Uuid>,
    ) -> Result<bool, StoreError> {
        let sql = "SELECT EXISTS (SELECT 1 FROM lessons WHERE course_id = $1 AND slug = $2 AND id IS DISTINCT FROM $3) AS flag";
        self.exists(tx, "lesson slug taken", sql, vec![course.into(), slug.into(), except.into()]).await
    }

    /// Writes a lesson (a new one when `lesson` is None) at `fields.position`, and renumbers
    /// the course's other lessons around it so positions stay 1, 2, … n. The course must be
    /// locked by the caller.
    pub async fn upsert_lesson(
        &self,
        tx: &DatabaseTransaction,
        course: Uuid,
        lesson: Option<Uuid>,
        fields: &LessonFields,
    ) -> Result<Uuid, StoreError> {
        // positions are checked at commit, so lessons can pass through each other's places
        self.call("defer lesson order", tx.execute(stmt("SET CONSTRAINTS ALL DEFERRED", vec![]))).await?;
        let values = |id: Uuid| -> Vec<Value> {
            vec![
                id.into(),
                course.into(),
                fields.title.clone().into(),
                fields.slug.clone().into(),
                fields.content.clone().into(),
                fields.video_url.clone().into(),
                fields.duration_minutes.into(),
                fields.is_free.into(),
                fields.resources.clone().into(),
            ]
        };
        let id = lesson.unwrap_or_else(Uuid::new_v4);
        let written = self
            .call(
                "write lesson",
                tx.execute(stmt(
                    "INSERT INTO lessons (id, course_id, title, slug, content, video_url, duration_minutes, is_free, \
                     resources, order_position) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0) \
                     ON CONFLICT (id) DO UPDATE SET title = EXCLUDED.title, slug = EXCLUDED.slug, \
                     content = EXCLUDED.content, video_url = EXCLUDED.video_url, \
                     duration_minutes = EXCLUDED.duration_minutes, is_free = EXCLUDED.is_free, \
                     resources = EXCLUDED.resources WHERE lessons.course_id = EXCLUDED.course_id",
                    values(id),
                )),
            )
            .await?
            .rows_affected();
        if written != 1 {
            return Err(StoreError::new(
                crate::error::Store::Postgres,
                crate::error::StoreErrorKind::Conflict,
                "the lesson id belongs to another course",
            ));
        }
        // the others, numbered 1.. in their current order, skipping the lesson's place
        self.call(
            "order lessons",
            tx.execute(stmt(
                "WITH n AS (SELECT count(*) AS total FROM lessons WHERE course_id = $1), \
                 place AS (SELECT LEAST(GREATEST($3::int, 1), (SELECT total FROM n)::int) AS p), \
                 others AS (SELECT id, row_number() OVER (ORDER BY order_position, id) AS rn \
                            FROM lessons WHERE course_id = $1 AND id <> $2) \
                 UPDATE lessons l SET order_position = CASE WHEN l.id = $2 THEN (SELECT p FROM place) \
                   WHEN o.rn >= (SELECT p FROM place) THEN o.rn + 1 ELSE o.rn END \
                 FROM lessons x LEFT JOIN others o ON o.id = x.id \
                 WHERE l.id = x.id AND x.course_id = $1",
                vec![course.into(), id.into(), fields.position.into()],
            )),
        )
        .await?;
        Ok(id)
    }

    /// Writes a quiz of a lesson (a new one when `quiz` is None).
    pub async fn upsert_quiz(
        &self,
        tx: &DatabaseTransaction,
        lesson: Uuid,
        quiz: Option<Uuid>,
        fields: &QuizFields,
    ) -> Result<Uuid, StoreError> {
        let id = quiz.unwrap_or_else(Uuid::new_v4);
        let written = self
            .call(
                "write quiz",
                tx.execute(stmt(
                    "INSERT INTO quizzes (id, lesson_id, title, description, questions, passing_score, \
                     time_limit_minutes, is_active) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                     ON CONFLICT (id) DO UPDATE SET title = EXCLUDED.title, description = EXCLUDED.description, \
                     questions = EXCLUDED.questions, passing_score = EXCLUDED.passing_score, \
                     time_limit_minutes = EXCLUDED.time_limit_minutes, is_active = EXCLUDED.is_active \
                     WHERE quizzes.lesson_id = EXCLUDED.lesson_id",
                    vec![
                        id.into(),
                        lesson.into(),
                        fields.title.clone().into(),
                        fields.description.clone().into(),
                        fields.questions.clone().into(),
                        fields.passing_score.into(),
                        fields.time_limit_minutes.into(),
                        fields.is_active.into(),
                    ],
                )),
            )
            .await?
            .rows_affected();
        if written != 1 {
            return Err(StoreError::new(
                crate::error::Store::Postgres,
                crate::error::StoreErrorKind::Conflict,
                "the quiz id belongs to another lesson",
            ));
        }
        Ok(id)
    }
}
