//! Queries on `courses`.

use sea_orm::{sea_query::Expr, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use super::{entity::course, PgStore};
use crate::{domain::cursor::NewestCursor, error::StoreError};

impl PgStore {
    /// Courses by id, in no particular order.
    #[tracing::instrument(skip_all, fields(keys = ids.len()))]
    pub async fn courses_by_ids(&self, ids: &[Uuid]) -> Result<Vec<course::Model>, StoreError> {
        let query = course::Entity::find().filter(course::Column::Id.is_in(ids.iter().copied()));
        self.call("courses_by_ids", query.all(self.db())).await
    }

    /// Courses by slug, in no particular order.
    #[tracing::instrument(skip_all, fields(keys = slugs.len()))]
    pub async fn courses_by_slugs(&self, slugs: &[String]) -> Result<Vec<course::Model>, StoreError> {
        let query = course::Entity::find().filter(course::Column::Slug.is_in(slugs.iter().cloned()));
        self.call("courses_by_slugs", query.all(self.db())).await
    }

    /// Up to `limit` published courses, newest first, strictly after `after` (keyset, no OFFSET).
    #[tracing::instrument(skip_all, fields(limit))]
    pub async fn published_courses_newest(
        &self,
        after: Option<NewestCursor>,
        limit: u64,
    ) -> Result<Vec<course::Model>, StoreError> {
        let mut query = course::Entity::find().filter(course::Column::IsPublished.eq(true));
        if let Some(key) = after {
            // a row comparison, so the (created_at DESC, id DESC) index serves the seek
            query = query.filter(Expr::cust_with_values(
                "(created_at, id) < ($1, $2)",
                [sea_orm::Value::from(key.created_at), sea_orm::Value::from(key.id)],
            ));
        }
        let query = query.order_by_desc(course::Column::CreatedAt).order_by_desc(course::Column::Id).limit(limit);
        self.call("published_courses_newest", query.all(self.db())).await
    }

    /// How many courses are published.
    #[tracing::instrument(skip_all)]
    pub async fn count_published_courses(&self) -> Result<u64, StoreError> {
        let query = course::Entity::find().filter(course::Column::IsPublished.eq(true));
        self.call("count_published_courses", query.count(self.db())).await
    }
}
