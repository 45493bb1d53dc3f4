//! LearnGraph's PostgreSQL migrations: the implementation guide's schema, indexes and triggers,
//! with its defects fixed (see `docs/ARCHITECTURE.md`, section 7). One change per file, each with `down()`.

pub use sea_orm_migration::prelude::*;

mod m20261130_000001_create_extensions;
mod m20261130_000002_create_users;
mod m20261130_000003_create_categories;
mod m20261130_000004_create_courses;
mod m20261130_000005_create_lessons;
mod m20261130_000006_create_enrollments;
mod m20261130_000007_create_user_progress;
mod m20261130_000008_create_quizzes;
mod m20261130_000009_create_quiz_attempts;
mod m20261130_000010_create_indexes;
mod m20261130_000011_create_updated_at_triggers;
mod m20261130_000012_create_course_completion_function;
mod m20261130_000013_create_course_stats_triggers;
mod m20261130_000014_create_read_model_outbox;
mod m20261130_000015_create_idempotency_keys;
mod m20261130_000016_create_discovery_indexes;
mod m20261130_000017_create_course_search_vector;
mod m20261205_000018_notify_course_changes;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261130_000001_create_extensions::Migration),
            Box::new(m20261130_000002_create_users::Migration),
            Box::new(m20261130_000003_create_categories::Migration),
            Box::new(m20261130_000004_create_courses::Migration),
            Box::new(m20261130_000005_create_lessons::Migration),
            Box::new(m20261130_000006_create_enrollments::Migration),
            Box::new(m20261130_000007_create_user_progress::Migration),
            Box::new(m20261130_000008_create_quizzes::Migration),
            Box::new(m20261130_000009_create_quiz_attempts::Migration),
            Box::new(m20261130_000010_create_indexes::Migration),
            Box::new(m20261130_000011_create_updated_at_triggers::Migration),
            Box::new(m20261130_000012_create_course_completion_function::Migration),
            Box::new(m20261130_000013_create_course_stats_triggers::Migration),
            Box::new(m20261130_000014_create_read_model_outbox::Migration),
            Box::new(m20261130_000015_create_idempotency_keys::Migration),
            Box::new(m20261130_000016_create_discovery_indexes::Migration),
            Box::new(m20261130_000017_create_course_search_vector::Migration),
            Box::new(m20261205_000018_notify_course_changes::Migration),
        ]
    }
}

/// Runs a list of SQL statements in order (the schema is written as SQL: it is the
/// guide's DDL, and reviewers compare it with the guide line by line).
pub(crate) async fn exec_all(manager: &SchemaManager<'_>, statements: &[&str]) -> Result<(), DbErr> {
    let db = manager.get_connection();
    for sql in statements {
        db.execute_unprepared(sql).await?;
    }
    Ok(())
}
