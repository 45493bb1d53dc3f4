use sea_orm_migration::prelude::*;

use crate::exec_all;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        exec_all(
            manager,
            &[
                r#"CREATE OR REPLACE FUNCTION update_updated_at_column()
RETURNS TRIGGER AS $$
BEGIN
    NEW.updated_at = NOW();
    RETURN NEW;
END;
$$ LANGUAGE plpgsql"#,
                r#"CREATE TRIGGER update_users_updated_at BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column()"#,
                r#"CREATE TRIGGER update_categories_updated_at BEFORE UPDATE ON categories
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column()"#,
                // Counters (enrollment_count, rating) are not content: updating them leaves updated_at alone.
                r#"CREATE TRIGGER update_courses_updated_at
    BEFORE UPDATE OF title, slug, description, category_id, instructor_id, level, duration_minutes,
                     price, is_published, tags, metadata ON courses
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column()"#,
                r#"CREATE TRIGGER update_lessons_updated_at BEFORE UPDATE ON lessons
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column()"#,
                r#"CREATE TRIGGER update_quizzes_updated_at BEFORE UPDATE ON quizzes
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column()"#,
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        exec_all(
            manager,
            &[
                r#"DROP TRIGGER update_quizzes_updated_at ON quizzes"#,
                r#"DROP TRIGGER update_lessons_updated_at ON lessons"#,
                r#"DROP TRIGGER update_courses_updated_at ON courses"#,
                r#"DROP TRIGGER update_categories_updated_at ON categories"#,
                r#"DROP TRIGGER update_users_updated_at ON users"#,
                r#"DROP FUNCTION update_updated_at_column()"#,
            ],
        )
        .await
    }
}
