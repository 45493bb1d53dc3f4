//! Queries on `courses`.

use sea_orm::{EntityTrait, QueryFilter};
use uuid::Uuid;

use super::{entity::course, PgStore};
use crate::error::StoreError;

impl PgStore {
    /// Courses by id, in no particular order.
    #[tracing::instrument(level = "debug", skip_all, fields(keys = ids.len()))]
    pub async fn courses_by_ids(&self, ids: &[Uuid]) -> Result<Vec<course::Model>, StoreError> {
        let query = course::Entity::find().filter(super::any_of("\"courses\".\"id\"", ids));
        self.call("courses_by_ids", query.all(self.db())).await
    }
}
