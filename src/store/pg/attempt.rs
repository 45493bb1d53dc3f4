//! Quiz attempts: starting one (numbered in sequence per learner and quiz, even when requests
//! race) and completing it.

use chrono::{DateTime, FixedOffset};
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend, FromQueryResult, Statement, Value};
use uuid::Uuid;

use super::PgStore;
use crate::error::StoreError;

/// One attempt.
#[derive(Clone, Debug, PartialEq, FromQueryResult)]
pub struct AttemptRow {
    pub id: Uuid,
    pub user_id: Uuid,
    pub quiz_id: Uuid,
    pub score: i32,
    pub answers: serde_json::Value,
    pub time_taken_minutes: Option<i32>,
    pub is_passed: bool,
    pub attempt_number: i32,
    pub started_at: DateTime<FixedOffset>,
    pub completed_at: Option<DateTime<FixedOffset>>,
}

/// An attempt being submitted, with its quiz.
#[derive(Clone, Debug, FromQueryResult)]
pub struct Submission {
    pub id: Uuid,
    pub user_id: Uuid,
    pub started_at: DateTime<FixedOffset>,
    pub completed_at: Option<DateTime<FixedOffset>>,
    pub questions: serde_json::Value,
    pub passing_score: i32,
    pub time_limit_minutes: Option<i32>,
    /// The time limit (and its grace) is over, by the database's clock.
    pub expired: bool,
    /// The quiz is active, its course published, and the learner still enrolled.
    pub allowed: bool,
}

/// Late submissions within this grace still count (network, clocks); used by start and submit alike.
const GRACE: &str = "interval '30 seconds'";

/// What starting an attempt found.
pub enum Started {
    /// A new attempt, or the learner's attempt that is still open.
    Attempt(AttemptRow),
    NoQuiz,
    NotEnrolled,
}

const COLUMNS: &str =
    "id, user_id, quiz_id, score, answers, time_taken_minutes, is_passed, attempt_number, started_at, completed_at";

fn stmt(sql: &str, values: Vec<Value>) -> Statement {
    Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
}

impl PgStore {
    /// Starts an attempt, or returns the learner's open one (not submitted, time not up).
    pub async fn start_attempt(&self, tx: &DatabaseTransaction, user: Uuid, quiz: Uuid) -> Result<Started, StoreError> {
        // one learner and quiz at a time: attempt numbers stay in sequence
        self.call(
            "lock learner quiz",
            tx.execute(stmt(
                "SELECT pg_advisory_xact_lock(hashtextextended($1::text || $2::text, 0))",
                vec![user.into(), quiz.into()],
            )),
        )
        .await?;
        #[derive(FromQueryResult)]
        struct Found {
            enrolled: bool,
        }
        let found = self
            .call(
                "quiz to attempt",
                Found::find_by_statement(stmt(
                    "SELECT EXISTS (SELECT 1 FROM enrollments e WHERE e.user_id = $1 AND e.course_id = l.course_id) AS enrolled \
                     FROM quizzes q JOIN lessons l ON l.id = q.lesson_id JOIN courses c ON c.id = l.course_id \
                     WHERE q.id = $2 AND q.is_active AND c.is_published",
                    vec![user.into(), quiz.into()],
                ))
                .one(tx),
            )
            .await?;
        match found {
            None => return Ok(Started::NoQuiz),
            Some(f) if !f.enrolled => return Ok(Started::NotEnrolled),
            Some(_) => {}
        }
        let open = self
            .call(
                "open attempt",
                AttemptRow::find_by_statement(stmt(
                    &format!(
                        "SELECT {COLUMNS} FROM quiz_attempts a WHERE user_id = $1 AND quiz_id = $2 AND completed_at IS NULL \
                         AND NOT EXISTS (SELECT 1 FROM quizzes q WHERE q.id = a.quiz_id AND q.time_limit_minutes IS NOT NULL \
                                         AND a.started_at + make_interval(mins => q.time_limit_minutes) + {GRACE} < now()) \
                         ORDER BY attempt_number DESC LIMIT 1"
                    ),
                    vec![user.into(), quiz.into()],
                ))
                .one(tx),
            )
            .await?;
        if let Some(open) = open {
            return Ok(Started::Attempt(open));
        }
        let row = self
            .call(
                "start attempt",
                AttemptRow::find_by_statement(stmt(
                    &format!(
                        "INSERT INTO quiz_attempts (user_id, quiz_id, score, answers, attempt_number, started_at) \
                         SELECT $1, $2, 0, '[]'::jsonb, COALESCE(max(attempt_number), 0) + 1, now() \
                         FROM quiz_attempts WHERE user_id = $1 AND quiz_id = $2 RETURNING {COLUMNS}"
                    ),
                    vec![user.into(), quiz.into()],
                ))
                .one(tx),
            )
            .await?;
        row.map(Started::Attempt).ok_or_else(|| {
            StoreError::new(
                crate::error::Store::Postgres,
                crate::error::StoreErrorKind::Other,
                "insert returned nothing",
            )
        })
    }

    /// Locks an attempt for submission (None: no such attempt).
    pub async fn lock_attempt(
        &self,
        tx: &DatabaseTransaction,
        attempt: Uuid,
    ) -> Result<Option<Submission>, StoreError> {
        self.call(
            "lock attempt",
            Submission::find_by_statement(stmt(
                &format!(
                    "SELECT a.id, a.user_id, a.started_at, a.completed_at, q.questions, q.passing_score, q.time_limit_minutes, \
                     (q.time_limit_minutes IS NOT NULL \
                      AND now() > a.started_at + make_interval(mins => q.time_limit_minutes) + {GRACE}) AS expired, \
                     (q.is_active AND c.is_published AND EXISTS ( \
                         SELECT 1 FROM enrollments e WHERE e.user_id = a.user_id AND e.course_id = l.course_id)) AS allowed \
                     FROM quiz_attempts a JOIN quizzes q ON q.id = a.quiz_id JOIN lessons l ON l.id = q.lesson_id \
                     JOIN courses c ON c.id = l.course_id WHERE a.id = $1 FOR UPDATE OF a"
                ),
                vec![attempt.into()],
            ))
            .one(tx),
        )
        .await
    }

    /// Completes an attempt with its grade and answer sheet.
    pub async fn complete_attempt(
        &self,
        tx: &DatabaseTransaction,
        attempt: Uuid,
        score: i32,
        passed: bool,
        answers: serde_json::Value,
    ) -> Result<AttemptRow, StoreError> {
        let row = self
            .call(
                "complete attempt",
                AttemptRow::find_by_statement(stmt(
                    &format!(
                        "UPDATE quiz_attempts SET score = $2, is_passed = $3, answers = $4, completed_at = now(), \
                         time_taken_minutes = GREATEST(0, CEIL(EXTRACT(EPOCH FROM now() - started_at) / 60))::int \
                         WHERE id = $1 RETURNING {COLUMNS}"
                    ),
                    vec![attempt.into(), score.into(), passed.into(), answers.into()],
                ))
                .one(tx),
            )
            .await?;
        row.ok_or_else(|| {
            StoreError::new(crate::error::Store::Postgres, crate::error::StoreErrorKind::Other, "attempt vanished")
        })
    }

    /// A learner's attempts at several quizzes, newest first.
    pub async fn attempts_of(&self, user: Uuid, quizzes: &[Uuid]) -> Result<Vec<AttemptRow>, StoreError> {
        let query = AttemptRow::find_by_statement(stmt(
            &format!("SELECT {COLUMNS} FROM quiz_attempts WHERE user_id = $1 AND quiz_id = ANY($2) ORDER BY quiz_id, attempt_number DESC"),
            vec![user.into(), quizzes.to_vec().into()],
        ));
        self.call("attempts_of", query.all(self.db())).await
    }
}
