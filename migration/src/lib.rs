pub use sea_orm_migration::prelude::*;
use sea_orm_migration::async_trait;
pub struct Migrator;
#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> { vec![] }
}
