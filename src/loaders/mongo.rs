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

    async fn load(&self, keys: &[CourseDocById]) -> Result<HashMap<CourseDocById, CourseDoc>, AppError> {
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

    async fn load(&self, keys: &[CourseDocBySlug]) -> Result<HashMap<CourseDocBySlug, CourseDoc>, AppError> {
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let slugs: Vec<String> = keys.iter().map(|k| k.0.clone()).collect();
        let docs = self.0.courses_by_slugs(&slugs).await?;
        Ok(docs.into_iter().map(|(slug, d)| (CourseDocBySlug(slug), d)).collect())
    }
}
