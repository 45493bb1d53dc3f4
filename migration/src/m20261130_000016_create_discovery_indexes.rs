use sea_orm_migration::prelude::*;

use crate::exec_all;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// What discovery needs beyond the guide's indexes: trigram matching on titles (typo-tolerant
/// search, `<%`), and the keyset orders by enrolments and by price, each ending on the id.
const INDEXES: &[(&str, &str)] = &[
    ("idx_courses_title_trgm", "CREATE INDEX idx_courses_title_trgm ON courses USING GIN (title gin_trgm_ops) WHERE is_published = true"),
    ("idx_courses_enrollments_keyset", "CREATE INDEX idx_courses_enrollments_keyset ON courses (enrollment_count DESC, id DESC) WHERE is_published = true"),
    ("idx_courses_price_keyset", "CREATE INDEX idx_courses_price_keyset ON courses (price, id) WHERE is_published = true"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let statements: Vec<&str> = INDEXES.iter().map(|(_, sql)| *sql).collect();
        exec_all(manager, &statements).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let drops: Vec<String> = INDEXES.iter().rev().map(|(name, _)| format!("DROP INDEX {name}")).collect();
        let statements: Vec<&str> = drops.iter().map(String::as_str).collect();
        exec_all(manager, &statements).await
    }
}
