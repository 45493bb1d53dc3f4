//! Enrolments, and mutations run once per idempotency key.

use chrono::{DateTime, FixedOffset};
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend, FromQueryResult, Statement, TransactionTrait, Value};
use uuid::Uuid;

use super::PgStore;
use crate::error::{Store, StoreError, StoreErrorKind};

/// One enrolment.
#[derive(Clone, Debug, PartialEq, FromQueryResult)]
pub struct EnrollmentRow {
    pub user_id: Uuid,
    pub course_id: Uuid,
    pub enrolled_at: DateTime<FixedOffset>,
}

/// What an idempotent mutation found for its key.
pub enum Claim {
    /// First use of the key: run the effect in this transaction, then `finish` it.
    Fresh(DatabaseTransaction),
    /// The key was used before, with the same arguments: its response.
    Replay(serde_json::Value),
    /// The key was used before with other arguments.
    Mismatch,
}

fn stmt(sql: &str, values: Vec<Value>) -> Statement {
    Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
}

impl PgStore {
    /// The enrolments of several learners, newest first.
    #[tracing::instrument(level = "debug", skip_all, fields(keys = users.len()))]
    pub async fn enrollments_of(&self, users: &[Uuid]) -> Result<Vec<EnrollmentRow>, StoreError> {
        let query = EnrollmentRow::find_by_statement(stmt(
            "SELECT user_id, course_id, enrolled_at FROM enrollments WHERE user_id = ANY($1) \
             ORDER BY user_id, enrolled_at DESC, course_id",
            vec![users.to_vec().into()],
        ));
        self.call("enrollments_of", query.all(self.db())).await
    }

    /// Opens a transaction and claims `key` for `operation` with these `arguments`. A concurrent
    /// request with the same key waits for this one's commit, then replays its response.
    #[tracing::instrument(level = "debug", skip_all, fields(operation))]
    pub async fn claim_idempotency_key(
        &self,
        user: Uuid,
        key: &str,
        operation: &str,
        arguments: serde_json::Value,
    ) -> Result<Claim, StoreError> {
        let tx = self.call("begin", self.db().begin()).await?;
        let inserted = self
            .call(
                "claim idempotency key",
                tx.execute(stmt(
                    "INSERT INTO idempotency_keys (user_id, key, operation, arguments) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (user_id, key) DO NOTHING",
                    vec![user.into(), key.into(), operation.into(), arguments.clone().into()],
                )),
            )
            .await?
            .rows_affected();
        if inserted == 1 {
            return Ok(Claim::Fresh(tx));
        }
        #[derive(FromQueryResult)]
        struct Stored {
            operation: String,
            arguments: serde_json::Value,
            response: Option<serde_json::Value>,
        }
        let stored = self
            .call(
                "read idempotency key",
                Stored::find_by_statement(stmt(
                    "SELECT operation, arguments, response FROM idempotency_keys WHERE user_id = $1 AND key = $2",
                    vec![user.into(), key.into()],
                ))
                .one(&tx),
            )
            .await?;
        let _ = tx.rollback().await;
        match stored {
            Some(s) if s.operation == operation && s.arguments == arguments => match s.response {
                Some(r) => Ok(Claim::Replay(r)),
                None => {
                    Err(StoreError::new(Store::Postgres, StoreErrorKind::Other, "idempotency key without response"))
                }
            },
            Some(_) => Ok(Claim::Mismatch),
            None => Err(StoreError::new(Store::Postgres, StoreErrorKind::Other, "idempotency key vanished")),
        }
    }

    /// Ends an idempotent mutation: on success stores its response and commits; on failure
    /// rolls back (the key is free again: a corrected retry may use it).
    pub async fn settle(
        &self,
        tx: DatabaseTransaction,
        user: Uuid,
        key: &str,
        effect: Result<serde_json::Value, crate::error::AppError>,
    ) -> Result<serde_json::Value, crate::error::AppError> {
        match effect {
            Ok(response) => {
                self.finish_idempotent(tx, user, key, &response).await?;
                Ok(response)
            }
            Err(e) => {
                let _ = self.call("rollback", tx.rollback()).await;
                Err(e)
            }
        }
    }

    /// Stores the response of a claimed key and commits the mutation.
    pub async fn finish_idempotent(
        &self,
        tx: DatabaseTransaction,
        user: Uuid,
        key: &str,
        response: &serde_json::Value,
    ) -> Result<(), StoreError> {
        self.call(
            "store idempotent response",
            tx.execute(stmt(
                "UPDATE idempotency_keys SET response = $3 WHERE user_id = $1 AND key = $2",
                vec![user.into(), key.into(), response.clone().into()],
            )),
        )
        .await?;
        self.call("commit", tx.commit()).await
    }

    /// Enrols `user` in a published course (no-op when already enrolled); None: no such course.
    pub async fn enroll(
        &self,
        tx: &DatabaseTransaction,
        user: Uuid,
        course: Uuid,
    ) -> Result<Option<EnrollmentRow>, StoreError> {
        let query = EnrollmentRow::find_by_statement(stmt(
            "WITH course AS (SELECT id FROM courses WHERE id = $2 AND is_published),
                  inserted AS (
                      INSERT INTO enrollments (user_id, course_id) SELECT $1, id FROM course
                      ON CONFLICT (user_id, course_id) DO NOTHING
                      RETURNING user_id, course_id, enrolled_at)
             SELECT user_id, course_id, enrolled_at FROM inserted
             UNION ALL
             SELECT e.user_id, e.course_id, e.enrolled_at FROM enrollments e, course c
             WHERE e.user_id = $1 AND e.course_id = c.id",
            vec![user.into(), course.into()],
        ));
        self.call("enroll", query.one(tx)).await
    }

    /// Removes an enrolment (its lesson progress stays, for a later return); true when there was one.
    pub async fn unenroll(&self, tx: &DatabaseTransaction, user: Uuid, course: Uuid) -> Result<bool, StoreError> {
        let done = self
            .call(
                "unenroll",
                tx.execute(stmt(
                    "DELETE FROM enrollments WHERE user_id = $1 AND course_id = $2",
                    vec![user.into(), course.into()],
                )),
            )
            .await?;
        Ok(done.rows_affected() > 0)
    }
}

/// What recording lesson progress found.
pub enum Recorded {
    /// Recorded, in the learner's course.
    Done { course_id: Uuid },
    /// No such lesson.
    NoLesson,
    /// The learner is not enrolled in the lesson's course.
    NotEnrolled,
}

impl PgStore {
    /// Records progress on a lesson: completion never goes down, time accumulates, the lesson
    /// is completed at 100 (and stays so). Only for a learner enrolled in the lesson's course.
    pub async fn record_lesson_progress(
        &self,
        tx: &DatabaseTransaction,
        user: Uuid,
        lesson: Uuid,
        completion: i32,
        minutes: i32,
    ) -> Result<Recorded, StoreError> {
        #[derive(FromQueryResult)]
        struct Found {
            course_id: Uuid,
            enrolled: bool,
        }
        let found = self
            .call(
                "lesson of progress",
                Found::find_by_statement(stmt(
                    "SELECT l.course_id, EXISTS (SELECT 1 FROM enrollments e WHERE e.user_id = $1 AND e.course_id = l.course_id) AS enrolled \
                     FROM lessons l WHERE l.id = $2",
                    vec![user.into(), lesson.into()],
                ))
                .one(tx),
            )
            .await?;
        let Some(found) = found else { return Ok(Recorded::NoLesson) };
        if !found.enrolled {
            return Ok(Recorded::NotEnrolled);
        }
        self.call(
            "record lesson progress",
            tx.execute(stmt(
                "INSERT INTO user_progress AS p (user_id, lesson_id, course_id, completion_percentage, time_spent_minutes, \
                                                 is_completed, last_accessed_at, completed_at) \
                 VALUES ($1, $2, $3, $4, $5, $4 = 100, now(), CASE WHEN $4 = 100 THEN now() END) \
                 ON CONFLICT (user_id, lesson_id) DO UPDATE SET \
                   completion_percentage = GREATEST(p.completion_percentage, excluded.completion_percentage), \
                   time_spent_minutes = p.time_spent_minutes + excluded.time_spent_minutes, \
                   is_completed = p.is_completed OR excluded.is_completed, \
                   last_accessed_at = now(), \
                   completed_at = COALESCE(p.completed_at, excluded.completed_at)",
                vec![user.into(), lesson.into(), found.course_id.into(), completion.into(), minutes.into()],
            )),
        )
        .await?;
        Ok(Recorded::Done { course_id: found.course_id })
    }
}
