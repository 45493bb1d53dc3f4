//! Quiz attempts: start one, submit it (graded on the server), and read one's own.

use async_graphql::{Context, InputObject, Object, Result, ID};
use chrono::DateTime;
use serde_json::json;

use super::{pg_store, quiz::QuizAttempt, signed_in};
use crate::{
    domain::{
        grading::{grade, Answer},
        ids::parse_id,
        quiz::parse_questions,
    },
    error::AppError,
    store::pg::{
        attempt::{AttemptRow, Started},
        enrollment::Claim,
    },
};

/// An answer to one question.
#[derive(InputObject)]
pub struct AnswerInput {
    /// The question.
    question_id: ID,
    /// The chosen options (choice questions).
    #[graphql(default)]
    option_ids: Vec<ID>,
    /// The answer (short-answer questions).
    text: Option<String>,
}

#[derive(Default)]
pub struct AttemptMutation;

const MAX_ANSWERS: usize = 200;
const MAX_TEXT: usize = 2000;
const MAX_ID: usize = 64;

/// Answers a store can take: bounded, and no control characters (PostgreSQL's JSON refuses NUL).
fn check_answers(answers: &[AnswerInput]) -> Result<(), AppError> {
    if answers.len() > MAX_ANSWERS {
        return Err(AppError::bad_input(format!("`answers`: at most {MAX_ANSWERS}")));
    }
    let id_ok = |s: &str| !s.is_empty() && s.len() <= MAX_ID && !s.chars().any(char::is_control);
    for a in answers {
        if !id_ok(&a.question_id) || a.option_ids.len() > 50 || !a.option_ids.iter().all(|o| id_ok(o)) {
            return Err(AppError::bad_input("`answers`: a question or option id is not valid"));
        }
        if a.text.as_ref().is_some_and(|t| t.len() > MAX_TEXT || t.contains('\0')) {
            return Err(AppError::bad_input(format!(
                "`answers`: a text answer is longer than {MAX_TEXT} bytes or holds a NUL"
            )));
        }
    }
    Ok(())
}

#[Object]
impl AttemptMutation {
    /// Starts an attempt at a quiz of a course the learner is enrolled in; while an attempt is
    /// open (not submitted, time not up), starting again returns it. With an `idempotencyKey`,
    /// a retry returns the first answer even after that attempt was submitted.
    async fn start_quiz_attempt(
        &self,
        ctx: &Context<'_>,
        quiz_id: ID,
        idempotency_key: Option<String>,
    ) -> Result<QuizAttempt> {
        let (user, _) = signed_in(ctx).await?;
        let quiz = parse_id("quiz", &quiz_id).map_err(|_| AppError::bad_input("`quizId` is not a quiz id"))?;
        let store = pg_store(ctx)?;
        let Some(key) = idempotency_key else {
            let tx = store.begin().await?;
            let row = match start_in(store, &tx, user, quiz).await {
                Ok(row) => row,
                Err(e) => {
                    let _ = store.rollback(tx).await;
                    return Err(e.into());
                }
            };
            store.commit(tx).await?;
            return Ok(QuizAttempt::from(row));
        };
        let key = super::learner::checked_key(&key)?;
        let response =
            match store.claim_idempotency_key(user, key, "startQuizAttempt", json!({ "quizId": quiz })).await? {
                Claim::Replay(response) => response,
                Claim::Mismatch => return Err(super::learner::reused().into()),
                Claim::Fresh(tx) => {
                    let effect = start_in(store, &tx, user, quiz).await.map(|row| row_to_json(&row));
                    store.settle(tx, user, key, effect).await?
                }
            };
        Ok(QuizAttempt::from(row_from_json(&response)?))
    }

    /// Submits the learner's answers to their open attempt; graded on the server. The same
    /// `idempotencyKey` returns the first result; an attempt is graded once.
    async fn submit_quiz_attempt(
        &self,
        ctx: &Context<'_>,
        attempt_id: ID,
        answers: Vec<AnswerInput>,
        idempotency_key: String,
    ) -> Result<QuizAttempt> {
        let (user, _) = signed_in(ctx).await?;
        let attempt =
            parse_id("attempt", &attempt_id).map_err(|_| AppError::bad_input("`attemptId` is not an attempt id"))?;
        check_answers(&answers)?;
        let key = super::learner::checked_key(&idempotency_key)?;
        let answers: Vec<Answer> = answers
            .into_iter()
            .map(|a| Answer {
                question_id: a.question_id.0,
                option_ids: a.option_ids.into_iter().map(|o| o.0).collect(),
                text: a.text,
            })
            .collect();
        let arguments = json!({
            "attemptId": attempt,
            "answers": answers.iter().map(|a| json!([a.question_id, a.option_ids, a.text])).collect::<Vec<_>>(),
        });
        let store = pg_store(ctx)?;
        let tx = match store.claim_idempotency_key(user, key, "submitQuizAttempt", arguments).await? {
            Claim::Replay(response) => return Ok(QuizAttempt::from(row_from_json(&response)?)),
            Claim::Mismatch => return Err(super::learner::reused().into()),
            Claim::Fresh(tx) => tx,
        };
        let effect = async {
            // an attempt that is not the learner's does not exist for them
            let Some(submission) = store.lock_attempt(&tx, attempt).await?.filter(|s| s.user_id == user) else {
                return Err(AppError::bad_input("`attemptId`: you have no attempt with this id"));
            };
            if submission.completed_at.is_some() {
                return Err(AppError::bad_input("`attemptId`: this attempt was already submitted"));
            }
            if !submission.allowed {
                return Err(AppError::Forbidden);
            }
            if submission.expired {
                let limit = submission.time_limit_minutes.unwrap_or_default();
                return Err(AppError::bad_input(format!("`attemptId`: the time limit of {limit} minutes is over")));
            }
            let questions = parse_questions(&submission.questions).map_err(|e| {
                tracing::error!(error = %e, "malformed quiz");
                AppError::Internal
            })?;
            let graded = grade(&questions, &answers).map_err(|e| AppError::bad_input(e.0))?;
            // the answer sheet: what was answered, and how it went
            let sheet: Vec<serde_json::Value> = graded
                .feedback
                .iter()
                .map(|f| {
                    let given = answers.iter().find(|a| a.question_id == f.question_id);
                    json!({
                        "question_id": f.question_id,
                        "option_ids": given.map(|a| a.option_ids.clone()).unwrap_or_default(),
                        "text": given.and_then(|a| a.text.clone()),
                        "feedback": f,
                    })
                })
                .collect();
            let passed = graded.score >= submission.passing_score;
            let row =
                store.complete_attempt(&tx, attempt, graded.score, passed, serde_json::Value::Array(sheet)).await?;
            Ok(row_to_json(&row))
        }
        .await;
        let response = store.settle(tx, user, key, effect).await?;
        Ok(QuizAttempt::from(row_from_json(&response)?))
    }
}

/// Starts (or finds the open) attempt in `tx`.
async fn start_in(
    store: &crate::store::pg::PgStore,
    tx: &sea_orm::DatabaseTransaction,
    user: uuid::Uuid,
    quiz: uuid::Uuid,
) -> Result<AttemptRow, AppError> {
    match store.start_attempt(tx, user, quiz).await? {
        Started::Attempt(row) => Ok(row),
        Started::NoQuiz => Err(AppError::bad_input("`quizId`: no open quiz has this id")),
        Started::NotEnrolled => Err(AppError::Forbidden),
    }
}

fn row_to_json(row: &AttemptRow) -> serde_json::Value {
    json!({
        "id": row.id, "user_id": row.user_id, "quiz_id": row.quiz_id, "score": row.score, "answers": row.answers,
        "time_taken_minutes": row.time_taken_minutes, "is_passed": row.is_passed, "attempt_number": row.attempt_number,
        "started_at": row.started_at.to_rfc3339(), "completed_at": row.completed_at.map(|t| t.to_rfc3339()),
    })
}

fn row_from_json(v: &serde_json::Value) -> Result<AttemptRow, AppError> {
    let uuid = |k: &str| v[k].as_str().and_then(|s| uuid::Uuid::parse_str(s).ok()).ok_or(AppError::Internal);
    let time = |k: &str| v[k].as_str().and_then(|s| DateTime::parse_from_rfc3339(s).ok());
    Ok(AttemptRow {
        id: uuid("id")?,
        user_id: uuid("user_id")?,
        quiz_id: uuid("quiz_id")?,
        score: v["score"].as_i64().ok_or(AppError::Internal)? as i32,
        answers: v["answers"].clone(),
        time_taken_minutes: v["time_taken_minutes"].as_i64().map(|m| m as i32),
        is_passed: v["is_passed"].as_bool().ok_or(AppError::Internal)?,
        attempt_number: v["attempt_number"].as_i64().ok_or(AppError::Internal)? as i32,
        started_at: time("started_at").ok_or(AppError::Internal)?,
        completed_at: time("completed_at"),
    })
}
