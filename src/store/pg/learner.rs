//! A learner's dashboard: enrolments a page at a time, where to continue, recent attempts —
//! all of it, or only what concerns one instructor's courses.

use chrono::{DateTime, FixedOffset};
use sea_orm::{DbBackend, FromQueryResult, Statement, Value};
use uuid::Uuid;

use super::{attempt::AttemptRow, PgStore};
use crate::error::StoreError;

/// Which of a learner's courses a reader may see.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// All of them (the learner, admins).
    All,
    /// Only those this instructor teaches.
    TaughtBy(Uuid),
}

impl Scope {
    /// A predicate on `column` (a course id) for this scope, binding into `values`.
    fn predicate(self, column: &str, values: &mut Vec<Value>) -> String {
        match self {
            Self::All => String::new(),
            Self::TaughtBy(instructor) => {
                values.push(instructor.into());
                format!(" AND {column} IN (SELECT id FROM courses WHERE instructor_id = ${})", values.len())
            }
        }
    }
}

/// An enrolment with the last time the learner opened one of its lessons.
#[derive(Clone, Debug, FromQueryResult)]
pub struct Resumable {
    pub user_id: Uuid,
    pub course_id: Uuid,
    pub enrolled_at: DateTime<FixedOffset>,
    pub last_accessed_at: DateTime<FixedOffset>,
}

/// An enrolment of a page, with the version PostgreSQL holds of its progress document.
#[derive(Clone, Debug, FromQueryResult)]
pub struct EnrollmentPageRow {
    pub user_id: Uuid,
    pub course_id: Uuid,
    pub enrolled_at: DateTime<FixedOffset>,
    pub progress_version: Option<i64>,
}

impl PgStore {
    /// Up to `limit` of a learner's enrolments, newest first, after `after` (enrolled at, course).
    #[tracing::instrument(level = "debug", skip_all, fields(limit))]
    pub async fn enrollments_page(
        &self,
        user: Uuid,
        scope: Scope,
        after: Option<(DateTime<FixedOffset>, Uuid)>,
        limit: u64,
    ) -> Result<Vec<EnrollmentPageRow>, StoreError> {
        let mut values: Vec<Value> = vec![user.into()];
        // the progress document's version comes along (read-your-writes without a statement of
        // its own): this statement runs after the learner's last write committed
        let mut sql = String::from(
            "SELECT e.user_id, e.course_id, e.enrolled_at, v.version AS progress_version FROM enrollments e \
             LEFT JOIN read_model_versions v ON v.kind = 'progress' AND v.key = e.user_id::text || ':' || e.course_id::text \
             WHERE e.user_id = $1",
        );
        sql.push_str(&scope.predicate("e.course_id", &mut values));
        if let Some((at, course)) = after {
            values.push(at.into());
            values.push(course.into());
            sql.push_str(&format!(" AND (e.enrolled_at, e.course_id) < (${}, ${})", values.len() - 1, values.len()));
        }
        sql.push_str(&format!(" ORDER BY e.enrolled_at DESC, e.course_id DESC LIMIT {limit}"));
        let query =
            EnrollmentPageRow::find_by_statement(Statement::from_sql_and_values(DbBackend::Postgres, sql, values));
        self.call("enrollments_page", query.all(self.db())).await
    }

    /// How many enrolments a learner has (in scope).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn count_enrollments(&self, user: Uuid, scope: Scope) -> Result<i64, StoreError> {
        #[derive(FromQueryResult)]
        struct Count {
            n: i64,
        }
        let mut values: Vec<Value> = vec![user.into()];
        let mut sql = String::from("SELECT count(*) AS n FROM enrollments e WHERE e.user_id = $1");
        sql.push_str(&scope.predicate("e.course_id", &mut values));
        let query = Count::find_by_statement(Statement::from_sql_and_values(DbBackend::Postgres, sql, values));
        Ok(self.call("count_enrollments", query.one(self.db())).await?.map_or(0, |c| c.n))
    }

    /// The learner's unfinished enrolled courses, the most recently opened first.
    #[tracing::instrument(level = "debug", skip_all, fields(limit))]
    pub async fn continue_learning(&self, user: Uuid, scope: Scope, limit: u64) -> Result<Vec<Resumable>, StoreError> {
        let mut values: Vec<Value> = vec![user.into()];
        let mut sql = String::from(
            "SELECT e.user_id, e.course_id, e.enrolled_at, p.last_accessed_at FROM enrollments e \
             JOIN LATERAL (SELECT max(up.last_accessed_at) AS last_accessed_at, bool_and(up.is_completed) AS done, \
             count(*) AS opened FROM user_progress up WHERE up.user_id = e.user_id AND up.course_id = e.course_id) p \
             ON p.last_accessed_at IS NOT NULL \
             WHERE e.user_id = $1 \
             AND NOT (p.done AND p.opened >= (SELECT count(*) FROM lessons l WHERE l.course_id = e.course_id))",
        );
        sql.push_str(&scope.predicate("e.course_id", &mut values));
        sql.push_str(&format!(" ORDER BY p.last_accessed_at DESC, e.course_id DESC LIMIT {limit}"));
        let query = Resumable::find_by_statement(Statement::from_sql_and_values(DbBackend::Postgres, sql, values));
        self.call("continue_learning", query.all(self.db())).await
    }

    /// The learner's latest quiz attempts, newest first.
    #[tracing::instrument(level = "debug", skip_all, fields(limit))]
    pub async fn recent_attempts(&self, user: Uuid, scope: Scope, limit: u64) -> Result<Vec<AttemptRow>, StoreError> {
        let mut values: Vec<Value> = vec![user.into()];
        let mut sql = String::from(
            "SELECT a.id, a.user_id, a.quiz_id, a.score, a.answers, a.time_taken_minutes, a.is_passed, \
             a.attempt_number, a.started_at, a.completed_at FROM quiz_attempts a WHERE a.user_id = $1",
        );
        if let Scope::TaughtBy(_) = scope {
            let course =
                "(SELECT l.course_id FROM quizzes q JOIN lessons l ON l.id = q.lesson_id WHERE q.id = a.quiz_id)";
            sql.push_str(&scope.predicate(course, &mut values));
        }
        sql.push_str(&format!(" ORDER BY a.started_at DESC, a.id DESC LIMIT {limit}"));
        let query = AttemptRow::find_by_statement(Statement::from_sql_and_values(DbBackend::Postgres, sql, values));
        self.call("recent_attempts", query.all(self.db())).await
    }

    /// Whether a learner is enrolled in a course this instructor teaches.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn teaches(&self, instructor: Uuid, learner: Uuid) -> Result<bool, StoreError> {
        #[derive(FromQueryResult)]
        struct Found {
            found: bool,
        }
        let query = Found::find_by_statement(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT EXISTS (SELECT 1 FROM enrollments e JOIN courses c ON c.id = e.course_id \
             WHERE e.user_id = $2 AND c.instructor_id = $1) AS found",
            [instructor.into(), learner.into()],
        ));
        Ok(self.call("teaches", query.one(self.db())).await?.is_some_and(|f| f.found))
    }
}
