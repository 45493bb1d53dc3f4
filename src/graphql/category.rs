//! Categories: a tree of subjects courses belong to.

use std::sync::Arc;

use async_graphql::{Context, Object, Result, ID};

use super::pg_store;
use crate::{
    loaders::{self, Batch, CategoryById, PgReader},
    store::pg::entity::category,
};

/// A subject area. Categories nest: a top-level category has no parent.
pub struct Category(category::Model, Option<Arc<Batch<PgReader, CategoryById>>>);

impl From<category::Model> for Category {
    fn from(model: category::Model) -> Self {
        Self(model, None)
    }
}

impl Category {
    /// A category of a list whose parents load together (`parents`: all of them).
    pub fn with_parents(model: category::Model, parents: Arc<Batch<PgReader, CategoryById>>) -> Self {
        Self(model, Some(parents))
    }
}

/// A subject area. Categories nest: a top-level category has no parent.
#[Object(cache_control(max_age = 300))]
impl Category {
    /// The category's id.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// Display name.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// URL-safe unique name.
    async fn slug(&self) -> &str {
        &self.0.slug
    }

    /// What the category covers.
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }

    /// The enclosing category; null at the top level.
    async fn parent(&self, ctx: &Context<'_>) -> Result<Option<Category>> {
        let Some(parent_id) = self.0.parent_id else { return Ok(None) };
        let found = match &self.1 {
            Some(parents) => parents.get(ctx, CategoryById(parent_id)).await?,
            None => loaders::pg(ctx)?.load_one(CategoryById(parent_id)).await?,
        };
        Ok(found.map(Category::from))
    }
}

#[derive(Default)]
pub struct CategoryQuery;

#[Object]
impl CategoryQuery {
    /// Every category, ordered by position then name.
    async fn categories(&self, ctx: &Context<'_>) -> Result<Vec<Category>> {
        let rows = pg_store(ctx)?.all_categories().await?;
        Ok(rows.into_iter().map(Category::from).collect())
    }
}
