//! Instructor statistics: PostgreSQL aggregates over enrolments, progress and attempts, one
//! statement per kind of figure for any number of courses.

use sea_orm::{DbBackend, FromQueryResult, Statement};
use uuid::Uuid;

use super::PgStore;
use crate::error::StoreError;

/// A course's headline figures.
#[derive(Clone, Debug, FromQueryResult)]
pub struct CourseFigures {
    pub course_id: Uuid,
    /// Learners enrolled now.
    pub enrollments: i64,
    /// Enrolled learners who have opened at least one lesson.
    pub active_learners: i64,
    /// Enrolled learners who completed every lesson.
    pub completed_learners: i64,
    /// Mean score of submitted attempts at the course's quizzes.
    pub average_quiz_score: Option<f64>,
    pub submitted_attempts: i64,
}

/// How far enrolled learners got through one lesson.
#[derive(Clone, Debug, FromQueryResult)]
pub struct LessonFunnel {
    pub course_id: Uuid,
    pub lesson_id: Uuid,
    pub position: i32,
    pub started: i64,
    pub completed: i64,
}

impl PgStore {
    /// Headline figures of several courses.
    #[tracing::instrument(level = "debug", skip_all, fields(keys = courses.len()))]
    pub async fn course_figures(&self, courses: &[Uuid]) -> Result<Vec<CourseFigures>, StoreError> {
        let query = CourseFigures::find_by_statement(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "WITH c AS (SELECT id, (SELECT count(*) FROM lessons l WHERE l.course_id = courses.id) AS lessons \
                        FROM courses WHERE id = ANY($1)), \
             learners AS ( \
               SELECT e.course_id, e.user_id, count(up.lesson_id) AS opened, \
                      count(up.lesson_id) FILTER (WHERE up.is_completed) AS done \
               FROM enrollments e LEFT JOIN user_progress up ON up.user_id = e.user_id AND up.course_id = e.course_id \
               WHERE e.course_id = ANY($1) GROUP BY e.course_id, e.user_id), \
             scores AS ( \
               SELECT l.course_id, avg(a.score)::float8 AS average, count(*) AS n \
               FROM quiz_attempts a JOIN quizzes q ON q.id = a.quiz_id JOIN lessons l ON l.id = q.lesson_id \
               WHERE l.course_id = ANY($1) AND a.completed_at IS NOT NULL GROUP BY l.course_id) \
             SELECT c.id AS course_id, \
                    count(le.user_id) AS enrollments, \
                    count(le.user_id) FILTER (WHERE le.opened > 0) AS active_learners, \
                    count(le.user_id) FILTER (WHERE c.lessons > 0 AND le.done >= c.lessons) AS completed_learners, \
                    max(s.average) AS average_quiz_score, \
                    COALESCE(max(s.n), 0) AS submitted_attempts \
             FROM c LEFT JOIN learners le ON le.course_id = c.id LEFT JOIN scores s ON s.course_id = c.id \
             GROUP BY c.id",
            [courses.to_vec().into()],
        ));
        self.call("course_figures", query.all(self.db())).await
    }

    /// Per lesson of several courses, in order: enrolled learners who started it and who
    /// completed it.
    #[tracing::instrument(level = "debug", skip_all, fields(keys = courses.len()))]
    pub async fn lesson_funnels(&self, courses: &[Uuid]) -> Result<Vec<LessonFunnel>, StoreError> {
        let query = LessonFunnel::find_by_statement(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT l.course_id, l.id AS lesson_id, l.order_position AS position, \
                    count(e.user_id) AS started, count(e.user_id) FILTER (WHERE up.is_completed) AS completed \
             FROM lessons l \
             LEFT JOIN user_progress up ON up.lesson_id = l.id \
             LEFT JOIN enrollments e ON e.user_id = up.user_id AND e.course_id = up.course_id \
             WHERE l.course_id = ANY($1) \
             GROUP BY l.course_id, l.id, l.order_position ORDER BY l.course_id, l.order_position",
            [courses.to_vec().into()],
        ));
        self.call("lesson_funnels", query.all(self.db())).await
    }
}
