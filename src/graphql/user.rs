//! People: for now the public profile of an instructor.

use async_graphql::{Object, ID};

use crate::store::pg::entity::user;

/// A person on the platform, as anyone may see them.
pub struct User(user::Model);

impl From<user::Model> for User {
    fn from(model: user::Model) -> Self {
        Self(model)
    }
}

/// A person on the platform, as anyone may see them.
#[Object(cache_control(max_age = 300))]
impl User {
    /// The user's id.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// Given name.
    async fn first_name(&self) -> &str {
        &self.0.first_name
    }

    /// Family name.
    async fn last_name(&self) -> &str {
        &self.0.last_name
    }

    /// The name to show: first and last name.
    async fn display_name(&self) -> String {
        format!("{} {}", self.0.first_name, self.0.last_name)
    }
}
