use sea_orm_migration::prelude::*;

use crate::exec_all;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        exec_all(
            manager,
            &[r#"CREATE OR REPLACE FUNCTION calculate_course_completion(p_user_id UUID, p_course_id UUID)
RETURNS INTEGER AS $$
DECLARE
    total_lessons INTEGER;
    completed_lessons INTEGER;
BEGIN
    SELECT COUNT(*) INTO total_lessons FROM lessons WHERE course_id = p_course_id;

    SELECT COUNT(*) INTO completed_lessons
    FROM user_progress
    WHERE user_id = p_user_id AND course_id = p_course_id AND is_completed = true;

    IF total_lessons = 0 THEN
        RETURN 0;
    END IF;
    RETURN ROUND((completed_lessons::DECIMAL / total_lessons::DECIMAL) * 100);
END;
$$ LANGUAGE plpgsql STABLE"#],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        exec_all(manager, &[r#"DROP FUNCTION calculate_course_completion(UUID, UUID)"#]).await
    }
}
