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
                // The guide's update_course_stats() read NEW on DELETE (NULL there) and recounted every
                // progress row of the course on every progress write. Here enrolments are explicit rows,
                // progress in a course enrols the learner, and the count moves by the rows each statement
                // inserted or deleted: one UPDATE per course touched, per statement.
                r#"CREATE OR REPLACE FUNCTION enroll_from_progress()
RETURNS TRIGGER AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO enrollments (user_id, course_id)
        SELECT DISTINCT user_id, course_id FROM new_rows
        ON CONFLICT (user_id, course_id) DO NOTHING;
    ELSE
        -- only rows moved to another learner or course can need a new enrolment
        INSERT INTO enrollments (user_id, course_id)
        SELECT user_id, course_id FROM new_rows
        EXCEPT SELECT user_id, course_id FROM old_rows
        ON CONFLICT (user_id, course_id) DO NOTHING;
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql"#,
                r#"CREATE TRIGGER trigger_progress_enrolls_insert
    AFTER INSERT ON user_progress REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION enroll_from_progress()"#,
                r#"CREATE TRIGGER trigger_progress_enrolls_update
    AFTER UPDATE ON user_progress REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION enroll_from_progress()"#,
                r#"CREATE OR REPLACE FUNCTION update_course_stats()
RETURNS TRIGGER AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        UPDATE courses c SET enrollment_count = GREATEST(c.enrollment_count - d.n, 0)
        FROM (SELECT course_id, COUNT(*) AS n FROM old_rows GROUP BY course_id) d
        WHERE c.id = d.course_id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        UPDATE courses c SET enrollment_count = c.enrollment_count + d.n
        FROM (SELECT course_id, COUNT(*) AS n FROM new_rows GROUP BY course_id) d
        WHERE c.id = d.course_id;
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql"#,
                r#"CREATE TRIGGER trigger_update_course_stats_insert
    AFTER INSERT ON enrollments REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION update_course_stats()"#,
                r#"CREATE TRIGGER trigger_update_course_stats_delete
    AFTER DELETE ON enrollments REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION update_course_stats()"#,
                r#"CREATE TRIGGER trigger_update_course_stats_update
    AFTER UPDATE ON enrollments REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION update_course_stats()"#,
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        exec_all(
            manager,
            &[
                r#"DROP TRIGGER trigger_update_course_stats_update ON enrollments"#,
                r#"DROP TRIGGER trigger_update_course_stats_delete ON enrollments"#,
                r#"DROP TRIGGER trigger_update_course_stats_insert ON enrollments"#,
                r#"DROP FUNCTION update_course_stats()"#,
                r#"DROP TRIGGER trigger_progress_enrolls_update ON user_progress"#,
                r#"DROP TRIGGER trigger_progress_enrolls_insert ON user_progress"#,
                r#"DROP FUNCTION enroll_from_progress()"#,
            ],
        )
        .await
    }
}
