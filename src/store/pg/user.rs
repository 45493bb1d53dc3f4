//! Queries on `users`.

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::{entity::user, PgStore};
use crate::error::StoreError;

impl PgStore {
    #[tracing::instrument(skip_all, fields(keys = ids.len()))]
    pub async fn users_by_ids(&self, ids: &[Uuid]) -> Result<Vec<user::Model>, StoreError> {
        let query = user::Entity::find().filter(user::Column::Id.is_in(ids.iter().copied()));
        self.call("users_by_ids", query.all(self.db())).await
    }
}
