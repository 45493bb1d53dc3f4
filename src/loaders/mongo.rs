//! Lookups answered by the MongoDB read models (with the PostgreSQL fallback).

use std::{collections::HashMap, sync::Arc};

use async_graphql::dataloader::Loader;
use uuid::Uuid;

use crate::{
    error::AppError,
    projection::{docs::CourseDoc, read::ReadModels},
};

/// Batches read-model lookups.
pub struct ReadModelReader(pub Arc<ReadModels>);

/// A course page document by course id.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct CourseDocById(pub Uuid);

/// A course page document by slug.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub struct CourseDocBySlug(pub String);

impl Loader<CourseDocById> for ReadModelReader {
    type Value = CourseDoc;
    type Error = AppError;

    #[tracing::instrument(name = "dataloader", skip_all, fields(otel.name = "load CourseDocById", db.system.name = "mongodb", loader.keys = keys.len()))]
    async fn load(&self, keys: &[CourseDocById]) -> Result<HashMap<CourseDocById, CourseDoc>, AppError> {
        crate::metrics::loader_batch("CourseDocById", keys.len());
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        let docs = self.0.courses_by_ids(&ids).await?;
        Ok(docs.into_iter().map(|(id, d)| (CourseDocById(id), d)).collect())
    }
}

impl Loader<CourseDocBySlug> for ReadModelReader {
    type Value = CourseDoc;
    type Error = AppError;

    #[tracing::instrument(name = "dataloader", skip_all, fields(otel.name = "load CourseDocBySlug", db.system.name = "mongodb", loader.keys = keys.len()))]
    async fn load(&self, keys: &[CourseDocBySlug]) -> Result<HashMap<CourseDocBySlug, CourseDoc>, AppError> {
        crate::metrics::loader_batch("CourseDocBySlug", keys.len());
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let slugs: Vec<String> = keys.iter().map(|k| k.0.clone()).collect();
        let docs = self.0.courses_by_slugs(&slugs).await?;
        Ok(docs.into_iter().map(|(slug, d)| (CourseDocBySlug(slug), d)).collect())
    }
}

/// A learner's progress in a course (read-your-writes: see `ReadModels::progress_of`).
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct ProgressOf {
    pub user: Uuid,
    pub course: Uuid,
}

impl Loader<ProgressOf> for ReadModelReader {
    type Value = crate::projection::docs::ProgressDoc;
    type Error = AppError;

    #[tracing::instrument(name = "dataloader", skip_all, fields(otel.name = "load ProgressOf", db.system.name = "mongodb", loader.keys = keys.len()))]
    async fn load(&self, keys: &[ProgressOf]) -> Result<HashMap<ProgressOf, Self::Value>, AppError> {
        crate::metrics::loader_batch("ProgressOf", keys.len());
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let mut by_user: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
        for k in keys {
            by_user.entry(k.user).or_default().push(k.course);
        }
        let mut out = HashMap::new();
        // one learner per request in practice: one read (and one version check) per learner
        for (user, courses) in by_user {
            for (course, doc) in self.0.progress_of(user, &courses).await? {
                out.insert(ProgressOf { user, course }, doc);
            }
        }
        Ok(out)
    }
}

/// A learner's progress in a course at the version PostgreSQL holds (read by the statement that
/// found the enrolment): no version lookup of its own (see `ReadModels::progress_at`).
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct ProgressAt {
    pub user: Uuid,
    pub course: Uuid,
    pub version: i64,
}

impl Loader<ProgressAt> for ReadModelReader {
    type Value = crate::projection::docs::ProgressDoc;
    type Error = AppError;

    #[tracing::instrument(name = "dataloader", skip_all, fields(otel.name = "load ProgressAt", db.system.name = "mongodb", loader.keys = keys.len()))]
    async fn load(&self, keys: &[ProgressAt]) -> Result<HashMap<ProgressAt, Self::Value>, AppError> {
        crate::metrics::loader_batch("ProgressAt", keys.len());
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        // one document per learner and course, at the newest version any key asks for (a
        // batch may hold several requests' keys, read before and after a write)
        let mut versions: HashMap<String, i64> = HashMap::with_capacity(keys.len());
        for k in keys {
            let version = versions.entry(format!("{}:{}", k.user, k.course)).or_insert(k.version);
            *version = (*version).max(k.version);
        }
        let docs = self.0.progress_at(&versions).await?;
        Ok(keys
            .iter()
            .filter_map(|k| {
                let doc = docs.get(&format!("{}:{}", k.user, k.course)).filter(|d| d.version >= k.version)?;
                Some((*k, doc.clone()))
            })
            .collect())
    }
}

/// A learner's attempts at a quiz, newest first (the learner is part of the key), from the
/// attempt history read model with read-your-writes (see `ReadModels::attempts_of`).
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct AttemptsOf {
    pub user: Uuid,
    pub quiz: Uuid,
}

impl Loader<AttemptsOf> for ReadModelReader {
    type Value = Vec<crate::store::pg::attempt::AttemptRow>;
    type Error = AppError;

    #[tracing::instrument(name = "dataloader", skip_all, fields(otel.name = "load AttemptsOf", db.system.name = "mongodb", loader.keys = keys.len()))]
    async fn load(&self, keys: &[AttemptsOf]) -> Result<HashMap<AttemptsOf, Self::Value>, AppError> {
        crate::metrics::loader_batch("AttemptsOf", keys.len());
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let mut by_user: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
        for k in keys {
            by_user.entry(k.user).or_default().push(k.quiz);
        }
        let mut out: HashMap<AttemptsOf, Self::Value> = keys.iter().map(|k| (*k, Vec::new())).collect();
        for (user, quizzes) in by_user {
            for doc in self.0.attempts_of(user, &quizzes).await? {
                let row = doc.into_row();
                out.entry(AttemptsOf { user, quiz: row.quiz_id }).or_default().push(row);
            }
        }
        Ok(out)
    }
}
