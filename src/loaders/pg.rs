//! Lookups answered by PostgreSQL.

use std::collections::HashMap;

use async_graphql::dataloader::Loader;
use uuid::Uuid;

use crate::{
    error::AppError,
    store::pg::{
        entity::{category, course, lesson, user},
        PgStore,
    },
};

/// Batches PostgreSQL lookups.
pub struct PgReader(pub PgStore);

/// A course by its id.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct CourseById(pub Uuid);

/// A category by its id.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct CategoryById(pub Uuid);

/// A user by id (public profile fields are all the GraphQL layer shows).
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct UserById(pub Uuid);

/// A course's lessons, in order.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct LessonsByCourse(pub Uuid);

impl Loader<CourseById> for PgReader {
    type Value = course::Model;
    type Error = AppError;

    #[tracing::instrument(name = "dataloader", skip_all, fields(otel.name = "load CourseById", db.system.name = "postgresql", loader.keys = keys.len()))]
    async fn load(&self, keys: &[CourseById]) -> Result<HashMap<CourseById, course::Model>, AppError> {
        crate::metrics::loader_batch("CourseById", keys.len());
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        let rows = self.0.courses_by_ids(&ids).await?;
        Ok(rows.into_iter().map(|c| (CourseById(c.id), c)).collect())
    }
}

impl Loader<CategoryById> for PgReader {
    type Value = category::Model;
    type Error = AppError;

    #[tracing::instrument(name = "dataloader", skip_all, fields(otel.name = "load CategoryById", db.system.name = "postgresql", loader.keys = keys.len()))]
    async fn load(&self, keys: &[CategoryById]) -> Result<HashMap<CategoryById, category::Model>, AppError> {
        crate::metrics::loader_batch("CategoryById", keys.len());
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        let rows = self.0.categories_by_ids(&ids).await?;
        Ok(rows.into_iter().map(|c| (CategoryById(c.id), c)).collect())
    }
}

impl Loader<UserById> for PgReader {
    type Value = user::Model;
    type Error = AppError;

    #[tracing::instrument(name = "dataloader", skip_all, fields(otel.name = "load UserById", db.system.name = "postgresql", loader.keys = keys.len()))]
    async fn load(&self, keys: &[UserById]) -> Result<HashMap<UserById, user::Model>, AppError> {
        crate::metrics::loader_batch("UserById", keys.len());
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        let rows = self.0.users_by_ids(&ids).await?;
        Ok(rows.into_iter().map(|u| (UserById(u.id), u)).collect())
    }
}

impl Loader<LessonsByCourse> for PgReader {
    type Value = Vec<lesson::Model>;
    type Error = AppError;

    #[tracing::instrument(name = "dataloader", skip_all, fields(otel.name = "load LessonsByCourse", db.system.name = "postgresql", loader.keys = keys.len()))]
    async fn load(&self, keys: &[LessonsByCourse]) -> Result<HashMap<LessonsByCourse, Vec<lesson::Model>>, AppError> {
        crate::metrics::loader_batch("LessonsByCourse", keys.len());
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        let rows = self.0.lessons_by_course_ids(&ids).await?;
        // every course asked for gets an entry, so a course without lessons reads as []
        let mut out: HashMap<LessonsByCourse, Vec<lesson::Model>> = keys.iter().map(|k| (*k, Vec::new())).collect();
        for lesson in rows {
            out.entry(LessonsByCourse(lesson.course_id)).or_default().push(lesson);
        }
        Ok(out)
    }
}

/// A lesson by its id.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct LessonById(pub Uuid);

impl Loader<LessonById> for PgReader {
    type Value = lesson::Model;
    type Error = AppError;

    #[tracing::instrument(name = "dataloader", skip_all, fields(otel.name = "load LessonById", db.system.name = "postgresql", loader.keys = keys.len()))]
    async fn load(&self, keys: &[LessonById]) -> Result<HashMap<LessonById, lesson::Model>, AppError> {
        crate::metrics::loader_batch("LessonById", keys.len());
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        let rows = self.0.lessons_by_ids(&ids).await?;
        Ok(rows.into_iter().map(|l| (LessonById(l.id), l)).collect())
    }
}

/// How many lessons a course has.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct LessonCountOf(pub Uuid);

impl Loader<LessonCountOf> for PgReader {
    type Value = i64;
    type Error = AppError;

    #[tracing::instrument(name = "dataloader", skip_all, fields(otel.name = "load LessonCountOf", db.system.name = "postgresql", loader.keys = keys.len()))]
    async fn load(&self, keys: &[LessonCountOf]) -> Result<HashMap<LessonCountOf, i64>, AppError> {
        crate::metrics::loader_batch("LessonCountOf", keys.len());
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        let mut out: HashMap<LessonCountOf, i64> = keys.iter().map(|k| (*k, 0)).collect();
        for (course, n) in self.0.lesson_counts(&ids).await? {
            out.insert(LessonCountOf(course), n);
        }
        Ok(out)
    }
}

/// A course's headline figures (instructor statistics).
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct FiguresOf(pub Uuid);

impl Loader<FiguresOf> for PgReader {
    type Value = crate::store::pg::stats::CourseFigures;
    type Error = AppError;

    #[tracing::instrument(name = "dataloader", skip_all, fields(otel.name = "load FiguresOf", db.system.name = "postgresql", loader.keys = keys.len()))]
    async fn load(&self, keys: &[FiguresOf]) -> Result<HashMap<FiguresOf, Self::Value>, AppError> {
        crate::metrics::loader_batch("FiguresOf", keys.len());
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        Ok(self.0.course_figures(&ids).await?.into_iter().map(|f| (FiguresOf(f.course_id), f)).collect())
    }
}

/// A course's per-lesson funnel, in lesson order (instructor statistics).
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct FunnelOf(pub Uuid);

impl Loader<FunnelOf> for PgReader {
    type Value = Vec<crate::store::pg::stats::LessonFunnel>;
    type Error = AppError;

    #[tracing::instrument(name = "dataloader", skip_all, fields(otel.name = "load FunnelOf", db.system.name = "postgresql", loader.keys = keys.len()))]
    async fn load(&self, keys: &[FunnelOf]) -> Result<HashMap<FunnelOf, Self::Value>, AppError> {
        crate::metrics::loader_batch("FunnelOf", keys.len());
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        let mut out: HashMap<FunnelOf, Self::Value> = keys.iter().map(|k| (*k, Vec::new())).collect();
        for row in self.0.lesson_funnels(&ids).await? {
            out.entry(FunnelOf(row.course_id)).or_default().push(row);
        }
        Ok(out)
    }
}

/// A learner's enrolments, newest first.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct EnrollmentsOf(pub Uuid);

impl Loader<EnrollmentsOf> for PgReader {
    type Value = Vec<crate::store::pg::enrollment::EnrollmentRow>;
    type Error = AppError;

    #[tracing::instrument(name = "dataloader", skip_all, fields(otel.name = "load EnrollmentsOf", db.system.name = "postgresql", loader.keys = keys.len()))]
    async fn load(&self, keys: &[EnrollmentsOf]) -> Result<HashMap<EnrollmentsOf, Self::Value>, AppError> {
        crate::metrics::loader_batch("EnrollmentsOf", keys.len());
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let users: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        let rows = self.0.enrollments_of(&users).await?;
        let mut out: HashMap<EnrollmentsOf, Self::Value> = keys.iter().map(|k| (*k, Vec::new())).collect();
        for row in rows {
            out.entry(EnrollmentsOf(row.user_id)).or_default().push(row);
        }
        Ok(out)
    }
}

/// A quiz by id.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct QuizById(pub Uuid);

/// A lesson's active quizzes.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct QuizzesOfLesson(pub Uuid);

impl Loader<QuizById> for PgReader {
    type Value = crate::store::pg::quiz::QuizRow;
    type Error = AppError;

    #[tracing::instrument(name = "dataloader", skip_all, fields(otel.name = "load QuizById", db.system.name = "postgresql", loader.keys = keys.len()))]
    async fn load(&self, keys: &[QuizById]) -> Result<HashMap<QuizById, Self::Value>, AppError> {
        crate::metrics::loader_batch("QuizById", keys.len());
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        let rows = self.0.quizzes_by_ids(&ids).await?;
        Ok(rows.into_iter().map(|q| (QuizById(q.id), q)).collect())
    }
}

impl Loader<QuizzesOfLesson> for PgReader {
    type Value = Vec<crate::store::pg::quiz::QuizRow>;
    type Error = AppError;

    #[tracing::instrument(name = "dataloader", skip_all, fields(otel.name = "load QuizzesOfLesson", db.system.name = "postgresql", loader.keys = keys.len()))]
    async fn load(&self, keys: &[QuizzesOfLesson]) -> Result<HashMap<QuizzesOfLesson, Self::Value>, AppError> {
        crate::metrics::loader_batch("QuizzesOfLesson", keys.len());
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        let rows = self.0.active_quizzes_of_lessons(&ids).await?;
        let mut out: HashMap<QuizzesOfLesson, Self::Value> = keys.iter().map(|k| (*k, Vec::new())).collect();
        for q in rows {
            out.entry(QuizzesOfLesson(q.lesson_id)).or_default().push(q);
        }
        Ok(out)
    }
}
