use sea_orm_migration::prelude::*;

use crate::exec_all;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The guide's "Advanced Indexing Strategy", every index, plus the ones its schema needs and
/// forgets (foreign keys that cascade, categories' tree, enrolments, course tags).
const INDEXES: &[(&str, &str)] = &[
    // users
    ("idx_users_email_lower", "CREATE UNIQUE INDEX idx_users_email_lower ON users (LOWER(email))"),
    ("idx_users_role_active", "CREATE INDEX idx_users_role_active ON users (role, is_active) WHERE is_active = true"),
    ("idx_users_country", "CREATE INDEX idx_users_country ON users (country) WHERE country IS NOT NULL"),
    ("idx_users_subscription", "CREATE INDEX idx_users_subscription ON users (subscription_tier, is_active)"),
    ("idx_users_last_login", "CREATE INDEX idx_users_last_login ON users (last_login_at DESC) WHERE last_login_at IS NOT NULL"),
    // course discovery and search
    ("idx_courses_published", "CREATE INDEX idx_courses_published ON courses (is_published, created_at DESC) WHERE is_published = true"),
    ("idx_courses_category", "CREATE INDEX idx_courses_category ON courses (category_id, is_published) WHERE is_published = true"),
    ("idx_courses_instructor", "CREATE INDEX idx_courses_instructor ON courses (instructor_id, is_published) WHERE is_published = true"),
    ("idx_courses_level", "CREATE INDEX idx_courses_level ON courses (level, is_published) WHERE is_published = true"),
    ("idx_courses_rating", "CREATE INDEX idx_courses_rating ON courses (rating DESC, enrollment_count DESC) WHERE is_published = true"),
    ("idx_courses_search", "CREATE INDEX idx_courses_search ON courses USING GIN (to_tsvector('english', title || ' ' || COALESCE(description, ''))) WHERE is_published = true"),
    ("idx_courses_metadata", "CREATE INDEX idx_courses_metadata ON courses USING GIN (metadata)"),
    ("idx_courses_discovery", "CREATE INDEX idx_courses_discovery ON courses (category_id, level, rating DESC, enrollment_count DESC) WHERE is_published = true"),
    // not in the guide: the keyset order of course pages, tags, the instructor FK for all courses
    ("idx_courses_newest_keyset", "CREATE INDEX idx_courses_newest_keyset ON courses (created_at DESC, id DESC) WHERE is_published = true"),
    ("idx_courses_tags", "CREATE INDEX idx_courses_tags ON courses USING GIN (tags)"),
    ("idx_courses_instructor_all", "CREATE INDEX idx_courses_instructor_all ON courses (instructor_id)"),
    ("idx_categories_parent", "CREATE INDEX idx_categories_parent ON categories (parent_id, position)"),
    // lessons
    ("idx_lessons_course_order", "CREATE INDEX idx_lessons_course_order ON lessons (course_id, order_position)"),
    ("idx_lessons_course_slug", "CREATE INDEX idx_lessons_course_slug ON lessons (course_id, slug)"),
    // enrolments (not in the guide)
    ("idx_enrollments_course", "CREATE INDEX idx_enrollments_course ON enrollments (course_id, enrolled_at DESC)"),
    // user progress
    ("idx_user_progress_user_course", "CREATE INDEX idx_user_progress_user_course ON user_progress (user_id, course_id)"),
    ("idx_user_progress_completion", "CREATE INDEX idx_user_progress_completion ON user_progress (user_id, is_completed, last_accessed_at DESC)"),
    ("idx_user_progress_course_stats", "CREATE INDEX idx_user_progress_course_stats ON user_progress (course_id, is_completed)"),
    ("idx_user_learning_path", "CREATE INDEX idx_user_learning_path ON user_progress (user_id, course_id, completion_percentage DESC, last_accessed_at DESC)"),
    ("idx_user_progress_lesson", "CREATE INDEX idx_user_progress_lesson ON user_progress (lesson_id)"),
    // quizzes and attempts
    ("idx_quizzes_lesson", "CREATE INDEX idx_quizzes_lesson ON quizzes (lesson_id, is_active) WHERE is_active = true"),
    ("idx_quizzes_lesson_all", "CREATE INDEX idx_quizzes_lesson_all ON quizzes (lesson_id)"),
    ("idx_quiz_attempts_user", "CREATE INDEX idx_quiz_attempts_user ON quiz_attempts (user_id, created_at DESC)"),
    ("idx_quiz_attempts_quiz", "CREATE INDEX idx_quiz_attempts_quiz ON quiz_attempts (quiz_id, score DESC)"),
    ("idx_quiz_attempts_user_quiz", "CREATE INDEX idx_quiz_attempts_user_quiz ON quiz_attempts (user_id, quiz_id, attempt_number DESC)"),
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
