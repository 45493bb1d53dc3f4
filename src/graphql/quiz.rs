//! Quizzes: questions of several kinds, and an answer key only for the course's instructor
//! and admins (the key never reaches a learner: it is not a field of the question types);
//! and a learner's attempts at a quiz, with per-question feedback.

use std::sync::Arc;

use async_graphql::{Context, Interface, Object, Result, SimpleObject, ID};
use chrono::{DateTime, Utc};

use crate::{
    auth::{Role, Viewer},
    domain::{
        grading::Feedback,
        ids::parse_id,
        quiz::{parse_questions, Question, QuestionKind},
    },
    error::AppError,
    loaders::{self, AttemptsOf, Batch, PgReader, QuizById},
    store::pg::{attempt::AttemptRow, quiz::QuizRow},
};

/// A quiz attached to a lesson.
pub struct Quiz(pub(crate) QuizRow);

impl From<QuizRow> for Quiz {
    fn from(row: QuizRow) -> Self {
        Self(row)
    }
}

/// The caller (anonymous without a token).
pub(crate) fn viewer(ctx: &Context<'_>) -> Viewer {
    ctx.data_opt::<Viewer>().copied().unwrap_or(Viewer::Anonymous)
}

/// The course's instructor, or an admin.
fn may_author(viewer: Viewer, quiz: &QuizRow) -> bool {
    match viewer {
        Viewer::User { role: Role::Admin, .. } => true,
        Viewer::User { id, role: Role::Instructor } => quiz.instructor_id == Some(id),
        _ => false,
    }
}

/// Whether `viewer` may see the quiz at all (its course is published, or they author it).
pub fn visible(viewer: Viewer, quiz: &QuizRow) -> bool {
    (quiz.course_published && quiz.is_active) || may_author(viewer, quiz)
}

impl Quiz {
    fn parsed_questions(&self) -> Result<Vec<Question>, AppError> {
        parse_questions(&self.0.questions).map_err(|e| {
            tracing::error!(quiz = %self.0.id, error = %e, "malformed quiz");
            AppError::Internal
        })
    }
}

/// A quiz attached to a lesson.
#[Object(cache_control(max_age = 60))]
impl Quiz {
    /// The quiz's id.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// The quiz's title.
    async fn title(&self) -> &str {
        &self.0.title
    }

    /// What the quiz covers.
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }

    /// The score (0 to 100) that passes.
    async fn passing_score(&self) -> i32 {
        self.0.passing_score
    }

    /// Minutes allowed from start to submission; null: no limit.
    async fn time_limit_minutes(&self) -> Option<i32> {
        self.0.time_limit_minutes
    }

    /// The questions, without their answers.
    async fn questions(&self) -> Result<Vec<QuizQuestion>> {
        Ok(self.parsed_questions()?.into_iter().map(QuizQuestion::from).collect())
    }

    /// The signed-in learner's attempts, newest first (empty when signed out).
    async fn my_attempts(&self, ctx: &Context<'_>) -> Result<Vec<QuizAttempt>> {
        let Viewer::User { id, .. } = viewer(ctx) else { return Ok(vec![]) };
        let rows =
            loaders::read_models(ctx)?.load_one(AttemptsOf { user: id, quiz: self.0.id }).await?.unwrap_or_default();
        Ok(QuizAttempt::all_of(rows))
    }

    /// The signed-in learner's best submitted score; null before any submission.
    #[graphql(cache_control(private, no_cache))]
    async fn my_best_score(&self, ctx: &Context<'_>) -> Result<Option<i32>> {
        let Viewer::User { id, .. } = viewer(ctx) else { return Ok(None) };
        let rows =
            loaders::read_models(ctx)?.load_one(AttemptsOf { user: id, quiz: self.0.id }).await?.unwrap_or_default();
        Ok(rows.iter().filter(|a| a.completed_at.is_some()).map(|a| a.score).max())
    }

    /// The right answers: for the course's instructor and admins only (null and `FORBIDDEN`
    /// otherwise).
    #[graphql(tag = "staff")]
    async fn answer_key(&self, ctx: &Context<'_>) -> Result<Option<Vec<AnswerKeyEntry>>> {
        if !may_author(viewer(ctx), &self.0) {
            return Err(AppError::Forbidden.into());
        }
        Ok(Some(
            self.parsed_questions()?
                .into_iter()
                .map(|q| match q.kind {
                    QuestionKind::SingleChoice { correct, .. } | QuestionKind::MultipleChoice { correct, .. } => {
                        AnswerKeyEntry {
                            question_id: ID(q.id),
                            correct_option_ids: correct.into_iter().map(ID).collect(),
                            accepted_answers: vec![],
                        }
                    }
                    QuestionKind::ShortAnswer { accepted } => {
                        AnswerKeyEntry { question_id: ID(q.id), correct_option_ids: vec![], accepted_answers: accepted }
                    }
                })
                .collect(),
        ))
    }
}

/// What a question asks.
#[derive(Interface)]
#[graphql(
    field(name = "id", ty = "&ID", desc = "The question's id within the quiz."),
    field(name = "prompt", ty = "&String", desc = "The question."),
    field(name = "points", ty = "&i32", desc = "What a right answer is worth.")
)]
pub enum QuizQuestion {
    SingleChoice(SingleChoiceQuestion),
    MultipleChoice(MultipleChoiceQuestion),
    ShortAnswer(ShortAnswerQuestion),
}

/// One option of a choice question.
#[derive(SimpleObject, Clone)]
#[graphql(cache_control(max_age = 60))]
pub struct QuestionOption {
    /// The option's id, to answer with.
    id: ID,
    /// What the option says.
    text: String,
}

/// A question with exactly one right option.
#[derive(SimpleObject)]
#[graphql(cache_control(max_age = 60))]
pub struct SingleChoiceQuestion {
    /// The question's id within the quiz.
    id: ID,
    /// The question.
    prompt: String,
    /// What a right answer is worth.
    points: i32,
    /// The options to choose one from.
    options: Vec<QuestionOption>,
}

/// A question where every right option, and no other, must be chosen.
#[derive(SimpleObject)]
#[graphql(cache_control(max_age = 60))]
pub struct MultipleChoiceQuestion {
    /// The question's id within the quiz.
    id: ID,
    /// The question.
    prompt: String,
    /// What a right answer is worth.
    points: i32,
    /// The options to choose from.
    options: Vec<QuestionOption>,
}

/// A question answered with a short text.
#[derive(SimpleObject)]
#[graphql(cache_control(max_age = 60))]
pub struct ShortAnswerQuestion {
    /// The question's id within the quiz.
    id: ID,
    /// The question.
    prompt: String,
    /// What a right answer is worth.
    points: i32,
}

impl From<Question> for QuizQuestion {
    fn from(q: Question) -> Self {
        let options = |options: Vec<crate::domain::quiz::Choice>| {
            options.into_iter().map(|o| QuestionOption { id: ID(o.id), text: o.text }).collect()
        };
        match q.kind {
            QuestionKind::SingleChoice { options: o, .. } => QuizQuestion::SingleChoice(SingleChoiceQuestion {
                id: ID(q.id),
                prompt: q.prompt,
                points: q.points,
                options: options(o),
            }),
            QuestionKind::MultipleChoice { options: o, .. } => QuizQuestion::MultipleChoice(MultipleChoiceQuestion {
                id: ID(q.id),
                prompt: q.prompt,
                points: q.points,
                options: options(o),
            }),
            QuestionKind::ShortAnswer { .. } => {
                QuizQuestion::ShortAnswer(ShortAnswerQuestion { id: ID(q.id), prompt: q.prompt, points: q.points })
            }
        }
    }
}

/// The right answer to one question.
#[derive(SimpleObject)]
#[graphql(cache_control(private, no_cache))]
pub struct AnswerKeyEntry {
    /// The question.
    question_id: ID,
    /// The right options (choice questions).
    correct_option_ids: Vec<ID>,
    /// The accepted answers (short-answer questions).
    accepted_answers: Vec<String>,
}

#[derive(Default)]
pub struct QuizQuery;

#[Object]
impl QuizQuery {
    /// A quiz by id; null when there is none or the viewer may not see it.
    async fn quiz(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Quiz>> {
        let id = parse_id("quiz", &id)?;
        let found = loaders::pg(ctx)?.load_one(QuizById(id)).await?;
        Ok(found.filter(|q| visible(viewer(ctx), q)).map(Quiz::from))
    }
}

/// A time to the millisecond: attempts read from PostgreSQL and from the history read model
/// (which stores milliseconds) print the same.
fn millis(t: chrono::DateTime<chrono::FixedOffset>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap_or_default()
}

/// One attempt at a quiz, and the quizzes of the attempts listed with it (loaded together).
pub struct QuizAttempt(pub AttemptRow, Option<Arc<Batch<PgReader, QuizById>>>);

impl From<AttemptRow> for QuizAttempt {
    fn from(row: AttemptRow) -> Self {
        Self(row, None)
    }
}

impl QuizAttempt {
    /// The attempts of one list, their quizzes loaded once for all of them.
    pub fn all_of(rows: Vec<AttemptRow>) -> Vec<QuizAttempt> {
        let quizzes = Batch::new(rows.iter().map(|r| QuizById(r.quiz_id)));
        rows.into_iter().map(|r| QuizAttempt(r, Some(quizzes.clone()))).collect()
    }
}

/// How one question went. It never says what the right answer was.
#[derive(SimpleObject)]
#[graphql(cache_control(private, no_cache))]
pub struct QuestionFeedback {
    /// The question.
    question_id: ID,
    /// Whether the answer was right.
    correct: bool,
    /// Points given.
    points_awarded: i32,
    /// Points a right answer is worth.
    points_possible: i32,
}

/// One attempt at a quiz.
#[Object(cache_control(private, no_cache))]
impl QuizAttempt {
    /// The attempt's id.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// The quiz attempted.
    async fn quiz(&self, ctx: &Context<'_>) -> Result<Option<Quiz>> {
        let key = QuizById(self.0.quiz_id);
        let quiz = match &self.1 {
            Some(quizzes) => quizzes.get(ctx, key).await?,
            None => loaders::pg(ctx)?.load_one(key).await?,
        };
        Ok(quiz.map(Quiz))
    }

    /// 1 for the learner's first attempt at this quiz, then 2, 3, …
    async fn attempt_number(&self) -> i32 {
        self.0.attempt_number
    }

    /// 0 to 100; null until submitted.
    async fn score(&self) -> Option<i32> {
        self.0.completed_at.map(|_| self.0.score)
    }

    /// Whether the score reached the quiz's passing score; null until submitted.
    async fn is_passed(&self) -> Option<bool> {
        self.0.completed_at.map(|_| self.0.is_passed)
    }

    /// When it started (to the millisecond, as in the attempt history).
    async fn started_at(&self) -> DateTime<Utc> {
        millis(self.0.started_at)
    }

    /// When it was submitted (to the millisecond).
    async fn completed_at(&self) -> Option<DateTime<Utc>> {
        self.0.completed_at.map(millis)
    }

    /// Minutes from start to submission.
    async fn time_taken_minutes(&self) -> Option<i32> {
        self.0.time_taken_minutes
    }

    /// Per question: right or wrong, and the points (after submission).
    async fn feedback(&self) -> Vec<QuestionFeedback> {
        let sheet: Vec<Feedback> = self.0.answers.as_array().map_or_else(Vec::new, |items| {
            items.iter().filter_map(|i| serde_json::from_value(i.get("feedback")?.clone()).ok()).collect()
        });
        sheet
            .into_iter()
            .map(|f| QuestionFeedback {
                question_id: ID(f.question_id),
                correct: f.correct,
                points_awarded: f.points_awarded,
                points_possible: f.points_possible,
            })
            .collect()
    }
}
