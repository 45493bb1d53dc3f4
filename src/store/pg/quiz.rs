//! Queries on `quizzes`, with what authorization needs to know about their course.

use chrono::{DateTime, FixedOffset};
use sea_orm::{DbBackend, FromQueryResult, Statement};
use uuid::Uuid;

use super::PgStore;
use crate::error::StoreError;

/// A quiz, with its lesson's course.
#[derive(Clone, Debug, PartialEq, FromQueryResult)]
pub struct QuizRow {
    pub id: Uuid,
    pub lesson_id: Uuid,
    pub title: String,
    pub description: Option<String>,
    pub questions: serde_json::Value,
    pub passing_score: i32,
    pub time_limit_minutes: Option<i32>,
    pub is_active: bool,
    pub created_at: DateTime<FixedOffset>,
    pub course_id: Uuid,
    pub course_published: bool,
    pub instructor_id: Option<Uuid>,
}

const SELECT: &str = "SELECT q.id, q.lesson_id, q.title, q.description, q.questions, q.passing_score, \
    q.time_limit_minutes, q.is_active, q.created_at, l.course_id, c.is_published AS course_published, c.instructor_id \
    FROM quizzes q JOIN lessons l ON l.id = q.lesson_id JOIN courses c ON c.id = l.course_id";

impl PgStore {
    #[tracing::instrument(level = "debug", skip_all, fields(keys = ids.len()))]
    pub async fn quizzes_by_ids(&self, ids: &[Uuid]) -> Result<Vec<QuizRow>, StoreError> {
        let query = QuizRow::find_by_statement(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!("{SELECT} WHERE q.id = ANY($1)"),
            [ids.to_vec().into()],
        ));
        self.call("quizzes_by_ids", query.all(self.db())).await
    }

    /// The active quizzes of several lessons, oldest first.
    #[tracing::instrument(level = "debug", skip_all, fields(keys = lessons.len()))]
    pub async fn active_quizzes_of_lessons(&self, lessons: &[Uuid]) -> Result<Vec<QuizRow>, StoreError> {
        let query = QuizRow::find_by_statement(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!("{SELECT} WHERE q.lesson_id = ANY($1) AND q.is_active ORDER BY q.lesson_id, q.created_at, q.id"),
            [lessons.to_vec().into()],
        ));
        self.call("active_quizzes_of_lessons", query.all(self.db())).await
    }
}
