//! SeaORM entities: the rows of the tables the migrations create. They are never GraphQL
//! types; `graphql/` wraps them.

pub mod category;
pub mod course;
pub mod lesson;
pub mod user;
