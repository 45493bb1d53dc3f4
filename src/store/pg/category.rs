//! Queries on `categories`.

use sea_orm::{EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use super::{entity::category, PgStore};
use crate::error::StoreError;

impl PgStore {
    /// Every category, by position then name (children carry their parent id).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn all_categories(&self) -> Result<Vec<category::Model>, StoreError> {
        let query =
            category::Entity::find().order_by_asc(category::Column::Position).order_by_asc(category::Column::Name);
        self.call("all_categories", query.all(self.db())).await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(keys = ids.len()))]
    pub async fn categories_by_ids(&self, ids: &[Uuid]) -> Result<Vec<category::Model>, StoreError> {
        let query = category::Entity::find().filter(super::any_of("\"categories\".\"id\"", ids));
        self.call("categories_by_ids", query.all(self.db())).await
    }
}
