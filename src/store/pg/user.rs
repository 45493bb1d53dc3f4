//! Queries on `users`.

use sea_orm::{EntityTrait, QueryFilter};
use uuid::Uuid;

use super::{entity::user, PgStore};
use crate::error::StoreError;

impl PgStore {
    #[tracing::instrument(level = "debug", skip_all, fields(keys = ids.len()))]
    pub async fn users_by_ids(&self, ids: &[Uuid]) -> Result<Vec<user::Model>, StoreError> {
        let query = user::Entity::find().filter(super::any_of("\"users\".\"id\"", ids));
        self.call("users_by_ids", query.all(self.db())).await
    }
}
