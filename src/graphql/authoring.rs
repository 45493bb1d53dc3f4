//! Instructor authoring: create, update and publish courses; write lessons (their order kept
//! gapless) and quizzes. The course's instructor and admins only; each mutation runs once per
//! `idempotencyKey`, in one transaction with its outbox rows.

use async_graphql::{Context, Enum, InputObject, Json, MaybeUndefined, Object, Result, ID};
use rust_decimal::Decimal;
use sea_orm::DatabaseTransaction;
use serde::Serialize;
use serde_json::{json, Value};
use uuid::Uuid;

use super::{course::CourseLevel, learner::checked_key, pg_store, signed_in, Course, Lesson};
use crate::{
    auth::Role,
    domain::{
        ids::parse_id,
        quiz::parse_questions,
        slug::{is_slug, slugify},
    },
    error::{AppError, StoreErrorKind},
    store::pg::{
        authoring::{CourseFields, LessonFields, QuizFields},
        enrollment::Claim,
        PgStore,
    },
};

const MAX_TITLE: usize = 255;
const MAX_DESCRIPTION: usize = 20_000;
const MAX_CONTENT: usize = 200_000;
const MAX_JSON_BYTES: usize = 64 * 1024;
const MAX_QUESTIONS: usize = 100;

fn bad(field: &str, why: &str) -> AppError {
    AppError::bad_input(format!("`{field}` {why}"))
}

/// Runs `effect` once per key: the first time in a fresh transaction that also stores its
/// answer; a repeat with the same arguments gets that answer back without running it.
async fn run_once(
    store: &PgStore,
    user: Uuid,
    key: &str,
    operation: &str,
    arguments: Value,
    effect: impl AsyncFnOnce(&DatabaseTransaction) -> Result<Value, AppError>,
) -> Result<Value, AppError> {
    match store.claim_idempotency_key(user, key, operation, arguments).await? {
        Claim::Replay(response) => Ok(response),
        Claim::Mismatch => Err(super::learner::reused()),
        Claim::Fresh(tx) => {
            let outcome = effect(&tx).await;
            store.settle(tx, user, key, outcome).await
        }
    }
}

/// The signed-in author: an instructor or an admin (`FORBIDDEN` for learners).
async fn author(ctx: &Context<'_>) -> Result<(Uuid, Role), AppError> {
    let (id, role) = signed_in(ctx).await?;
    match role {
        Role::Instructor | Role::Admin => Ok((id, role)),
        Role::Student => Err(AppError::Forbidden),
    }
}

/// Locks `course` and checks that the author may change it.
async fn owned(
    store: &PgStore,
    tx: &DatabaseTransaction,
    (id, role): (Uuid, Role),
    course: Uuid,
    field: &str,
) -> Result<(), AppError> {
    let Some(found) = store.lock_course(tx, course).await? else {
        return Err(bad(field, "names no course"));
    };
    if role == Role::Admin || found.instructor_id == Some(id) {
        Ok(())
    } else {
        Err(AppError::Forbidden)
    }
}

/// A unique violation that slipped past the checks (a concurrent author) is the client's to fix.
fn conflict(field: &'static str) -> impl Fn(crate::error::StoreError) -> AppError {
    move |e| if e.kind == StoreErrorKind::Conflict { bad(field, "is taken") } else { AppError::from(e) }
}

fn title(field: &str, raw: &str) -> Result<String, AppError> {
    let t = raw.trim();
    if t.is_empty() || t.chars().count() > MAX_TITLE {
        return Err(bad(field, &format!("must be 1 to {MAX_TITLE} characters")));
    }
    Ok(t.to_owned())
}

fn text(field: &str, raw: Option<String>, max: usize) -> Result<Option<String>, AppError> {
    match raw {
        Some(t) if t.chars().count() > max => Err(bad(field, &format!("must be at most {max} characters"))),
        Some(t) if t.contains('\0') => Err(bad(field, "must not contain NUL characters")),
        other => Ok(other),
    }
}

fn slug(field: &str, raw: &str) -> Result<String, AppError> {
    if is_slug(raw) {
        Ok(raw.to_owned())
    } else {
        Err(bad(field, "must be lowercase letters and digits in words joined by single hyphens (at most 200)"))
    }
}

fn json_field(field: &str, value: Value, object: bool) -> Result<Value, AppError> {
    let shape_ok = if object { value.is_object() } else { value.is_array() };
    if !shape_ok {
        return Err(bad(field, if object { "must be a JSON object" } else { "must be a JSON array" }));
    }
    if value.to_string().len() > MAX_JSON_BYTES {
        return Err(bad(field, "is larger than 64 KiB"));
    }
    Ok(value)
}

fn price(field: &str, p: Decimal) -> Result<Decimal, AppError> {
    if p.is_sign_negative() && !p.is_zero() {
        return Err(bad(field, "must not be negative"));
    }
    if p.normalize().scale() > 2 || p > Decimal::new(99_999_999, 2) {
        return Err(bad(field, "must have at most 2 decimals and be below 100000000"));
    }
    Ok(p.normalize())
}

fn tags(field: &str, raw: Vec<String>) -> Result<Vec<String>, AppError> {
    if raw.len() > 20 {
        return Err(bad(field, "may hold at most 20 tags"));
    }
    let mut out: Vec<String> = Vec::with_capacity(raw.len());
    for t in raw {
        let t = t.trim().to_lowercase();
        if t.is_empty() || t.chars().count() > 50 {
            return Err(bad(field, "must hold tags of 1 to 50 characters"));
        }
        if !out.contains(&t) {
            out.push(t);
        }
    }
    Ok(out)
}

fn minutes(field: &str, m: i32) -> Result<i32, AppError> {
    if (0..=100_000).contains(&m) {
        Ok(m)
    } else {
        Err(bad(field, "must be between 0 and 100000"))
    }
}

/// A new course (a draft until published).
#[derive(InputObject, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateCourseInput {
    /// 1 to 255 characters.
    title: String,
    /// Lowercase words joined by hyphens; made from the title when omitted (made unique).
    slug: Option<String>,
    /// What the course teaches (up to 20000 characters).
    description: Option<String>,
    /// Its category.
    category_id: Option<ID>,
    /// BEGINNER when omitted.
    level: Option<CourseLevel>,
    /// Total length in minutes.
    duration_minutes: Option<i32>,
    /// 0 (free) when omitted; at most 2 decimals.
    price: Option<Decimal>,
    /// Up to 20 tags of up to 50 characters (stored lowercase).
    tags: Option<Vec<String>>,
    /// A JSON object of extra attributes (up to 64 KiB).
    metadata: Option<Json<Value>>,
}

/// Changes to a course: omitted fields stay as they are; null clears a nullable field.
#[derive(InputObject, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct UpdateCourseInput {
    /// 1 to 255 characters.
    title: Option<String>,
    /// Lowercase words joined by hyphens, unique.
    slug: Option<String>,
    /// What the course teaches (up to 20000 characters); null clears it.
    description: MaybeUndefined<String>,
    /// Its category; null files it under none.
    category_id: MaybeUndefined<ID>,
    /// How hard it is.
    level: Option<CourseLevel>,
    /// Total length in minutes; null clears it.
    duration_minutes: MaybeUndefined<i32>,
    /// At most 2 decimals; 0 is free.
    price: Option<Decimal>,
    /// Replaces the tags: up to 20 of up to 50 characters (stored lowercase).
    tags: Option<Vec<String>>,
    /// Replaces the extra attributes (a JSON object, up to 64 KiB); null clears them.
    metadata: MaybeUndefined<Json<Value>>,
}

fn maybe<T, U>(v: MaybeUndefined<T>, f: impl FnOnce(T) -> Result<U, AppError>) -> Result<Option<Option<U>>, AppError> {
    Ok(match v {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(v) => Some(Some(f(v)?)),
    })
}

impl UpdateCourseInput {
    fn fields(self) -> Result<CourseFields, AppError> {
        Ok(CourseFields {
            title: self.title.as_deref().map(|t| title("input.title", t)).transpose()?,
            slug: self.slug.as_deref().map(|s| slug("input.slug", s)).transpose()?,
            description: maybe(self.description, |d| {
                text("input.description", Some(d), MAX_DESCRIPTION).map(Option::unwrap_or_default)
            })?,
            category: maybe(self.category_id, |c| parse_id("category", &c))?,
            level: self.level.map(CourseLevel::as_db),
            duration_minutes: maybe(self.duration_minutes, |m| minutes("input.durationMinutes", m))?,
            price: self.price.map(|p| price("input.price", p)).transpose()?,
            tags: self.tags.map(|t| tags("input.tags", t)).transpose()?,
            metadata: maybe(self.metadata, |m| json_field("input.metadata", m.0, true))?,
        })
    }
}

impl CreateCourseInput {
    fn fields(self) -> Result<CourseFields, AppError> {
        let title_text = title("input.title", &self.title)?;
        let update = UpdateCourseInput {
            title: None,
            slug: self.slug,
            description: self.description.map_or(MaybeUndefined::Undefined, MaybeUndefined::Value),
            category_id: self.category_id.map_or(MaybeUndefined::Undefined, MaybeUndefined::Value),
            level: self.level,
            duration_minutes: self.duration_minutes.map_or(MaybeUndefined::Undefined, MaybeUndefined::Value),
            price: self.price,
            tags: self.tags,
            metadata: self.metadata.map_or(MaybeUndefined::Undefined, MaybeUndefined::Value),
        };
        Ok(CourseFields { title: Some(title_text), ..update.fields()? })
    }
}

/// A lesson to add to a course, or a change to one of its lessons.
#[derive(InputObject, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LessonInput {
    /// The lesson to change; omitted: a new lesson.
    id: Option<ID>,
    /// 1 to 255 characters.
    title: String,
    /// Unique in the course; made from the title when omitted.
    slug: Option<String>,
    /// The lesson's text (up to 200000 characters).
    content: Option<String>,
    /// An http(s) URL of up to 500 characters.
    video_url: Option<String>,
    /// Expected length in minutes.
    duration_minutes: Option<i32>,
    /// Its place, from 1; the other lessons move to make room. Omitted: last (new) or where it is.
    position: Option<i32>,
    /// Whether anyone may read it (false when omitted).
    is_free: Option<bool>,
    /// A JSON array of resources (up to 64 KiB).
    resources: Option<Json<Value>>,
}

/// The kinds of quiz question.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq, Serialize)]
pub enum QuestionType {
    /// Exactly one option is right.
    SingleChoice,
    /// Every right option, and no other, must be chosen.
    MultipleChoice,
    /// A short text, compared with the accepted answers ignoring case and surrounding spaces.
    ShortAnswer,
}

/// An option of a choice question.
#[derive(InputObject, Serialize)]
pub struct ChoiceInput {
    /// Unique in its question.
    id: String,
    /// What the option says.
    text: String,
}

/// A quiz question with its answer key.
#[derive(InputObject, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QuestionInput {
    /// Unique in the quiz (1 to 64 characters).
    id: String,
    /// What kind of answer it takes.
    #[graphql(name = "type")]
    kind: QuestionType,
    /// The question (up to 2000 characters).
    prompt: String,
    /// 1 to 100 (1 when omitted).
    points: Option<i32>,
    /// The options of a choice question (2 to 20).
    options: Option<Vec<ChoiceInput>>,
    /// The ids of the right options (exactly one for SINGLE_CHOICE).
    correct: Option<Vec<String>>,
    /// The accepted answers of a SHORT_ANSWER question.
    accepted: Option<Vec<String>>,
}

/// A quiz to add to a lesson, or a change to one of its quizzes.
#[derive(InputObject, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QuizInput {
    /// The quiz to change; omitted: a new quiz.
    id: Option<ID>,
    /// 1 to 255 characters.
    title: String,
    /// What the quiz checks (up to 5000 characters).
    description: Option<String>,
    /// 1 to 100 questions.
    questions: Vec<QuestionInput>,
    /// 0 to 100 (70 when omitted).
    passing_score: Option<i32>,
    /// 1 to 1440; omitted: no limit.
    time_limit_minutes: Option<i32>,
    /// Whether learners see it (true when omitted).
    is_active: Option<bool>,
}

fn short(field: &str, s: &str, max: usize) -> Result<String, AppError> {
    let t = s.trim();
    if t.is_empty() || t.chars().count() > max {
        return Err(bad(field, &format!("must be 1 to {max} characters")));
    }
    Ok(t.to_owned())
}

/// The stored form of a quiz's questions, checked.
fn questions(input: Vec<QuestionInput>) -> Result<Value, AppError> {
    if input.is_empty() || input.len() > MAX_QUESTIONS {
        return Err(bad("input.questions", &format!("must hold 1 to {MAX_QUESTIONS} questions")));
    }
    let mut ids = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(input.len());
    for (i, q) in input.into_iter().enumerate() {
        let at = |f: &str| format!("input.questions[{i}].{f}");
        let id = short(&at("id"), &q.id, 64)?;
        if !ids.insert(id.clone()) {
            return Err(bad(&at("id"), "repeats another question's id"));
        }
        let prompt = short(&at("prompt"), &q.prompt, 2_000)?;
        let points = q.points.unwrap_or(1);
        if !(1..=100).contains(&points) {
            return Err(bad(&at("points"), "must be between 1 and 100"));
        }
        let doc = match q.kind {
            QuestionType::SingleChoice | QuestionType::MultipleChoice => {
                let options = q.options.unwrap_or_default();
                if !(2..=20).contains(&options.len()) {
                    return Err(bad(&at("options"), "must hold 2 to 20 options"));
                }
                let mut option_ids = Vec::with_capacity(options.len());
                let mut stored = Vec::with_capacity(options.len());
                for o in options {
                    let oid = short(&at("options.id"), &o.id, 64)?;
                    if option_ids.contains(&oid) {
                        return Err(bad(&at("options"), "repeats an option id"));
                    }
                    stored.push(json!({ "id": oid, "text": short(&at("options.text"), &o.text, 1_000)? }));
                    option_ids.push(oid);
                }
                let mut correct = q.correct.unwrap_or_default();
                correct.sort();
                correct.dedup();
                if correct.is_empty() || correct.iter().any(|c| !option_ids.contains(c)) {
                    return Err(bad(&at("correct"), "must name options of the question"));
                }
                let single = q.kind == QuestionType::SingleChoice;
                if single && correct.len() != 1 {
                    return Err(bad(&at("correct"), "must name exactly one option for SINGLE_CHOICE"));
                }
                let kind = if single { "single_choice" } else { "multiple_choice" };
                json!({ "id": id, "type": kind, "prompt": prompt, "points": points, "options": stored, "correct": correct })
            }
            QuestionType::ShortAnswer => {
                let accepted: Vec<String> = q
                    .accepted
                    .unwrap_or_default()
                    .iter()
                    .map(|a| short(&at("accepted"), a, 500))
                    .collect::<Result<_, _>>()?;
                if accepted.is_empty() || accepted.len() > 20 {
                    return Err(bad(&at("accepted"), "must hold 1 to 20 answers"));
                }
                json!({ "id": id, "type": "short_answer", "prompt": prompt, "points": points, "accepted": accepted })
            }
        };
        out.push(doc);
    }
    let value = Value::Array(out);
    // the grader reads exactly this shape
    parse_questions(&value).map_err(|_| AppError::Internal)?;
    Ok(value)
}

#[derive(Default)]
pub struct AuthoringMutation;

#[Object]
impl AuthoringMutation {
    /// Creates a draft course taught by the signed-in instructor (or admin).
    #[graphql(tag = "staff")]
    async fn create_course(
        &self,
        ctx: &Context<'_>,
        input: CreateCourseInput,
        idempotency_key: String,
    ) -> Result<Course> {
        let who = author(ctx).await?;
        let key = checked_key(&idempotency_key)?;
        let arguments = json!(input);
        let mut fields = input.fields()?;
        let store = pg_store(ctx)?;
        let response = run_once(store, who.0, key, "createCourse", arguments, async |tx| {
            if let Some(Some(category)) = fields.category {
                if !store.category_exists(tx, category).await? {
                    return Err(bad("input.categoryId", "names no category"));
                }
            }
            fields.slug = Some(match fields.slug.take() {
                Some(s) if store.course_slug_taken(tx, &s, None).await? => return Err(bad("input.slug", "is taken")),
                Some(s) => s,
                None => {
                    let base = slugify(fields.title.as_deref().unwrap_or_default());
                    store.free_course_slug(tx, if base.is_empty() { "course" } else { &base }).await?
                }
            });
            let id = store.create_course(tx, who.0, &fields).await.map_err(conflict("input.slug"))?;
            Ok(json!({ "courseId": id }))
        })
        .await?;
        Ok(course_in(ctx, &response).await?)
    }

    /// Changes a course's fields (its instructor or an admin).
    #[graphql(tag = "staff")]
    async fn update_course(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateCourseInput,
        idempotency_key: String,
    ) -> Result<Course> {
        let who = author(ctx).await?;
        let key = checked_key(&idempotency_key)?;
        let course = parse_id("course", &id)?;
        let arguments = json!({ "id": course, "input": input });
        let fields = input.fields()?;
        let store = pg_store(ctx)?;
        let response = run_once(store, who.0, key, "updateCourse", arguments, async |tx| {
            owned(store, tx, who, course, "id").await?;
            if let Some(Some(category)) = fields.category {
                if !store.category_exists(tx, category).await? {
                    return Err(bad("input.categoryId", "names no category"));
                }
            }
            if let Some(s) = &fields.slug {
                if store.course_slug_taken(tx, s, Some(course)).await? {
                    return Err(bad("input.slug", "is taken"));
                }
            }
            store.update_course(tx, course, &fields).await.map_err(conflict("input.slug"))?;
            Ok(json!({ "courseId": course }))
        })
        .await?;
        Ok(course_in(ctx, &response).await?)
    }

    /// Publishes a course (it needs a lesson) or takes it back to draft.
    #[graphql(tag = "staff")]
    async fn publish_course(
        &self,
        ctx: &Context<'_>,
        id: ID,
        #[graphql(desc = "true (the default) publishes; false takes it back to draft.")] published: Option<bool>,
        idempotency_key: String,
    ) -> Result<Course> {
        let who = author(ctx).await?;
        let key = checked_key(&idempotency_key)?;
        let course = parse_id("course", &id)?;
        let published = published.unwrap_or(true);
        let store = pg_store(ctx)?;
        let arguments = json!({ "id": course, "published": published });
        let response = run_once(store, who.0, key, "publishCourse", arguments, async |tx| {
            owned(store, tx, who, course, "id").await?;
            if published && store.lesson_count_in(tx, course).await? == 0 {
                return Err(bad("id", "names a course without lessons: add one before publishing"));
            }
            store.set_published(tx, course, published).await?;
            Ok(json!({ "courseId": course }))
        })
        .await?;
        Ok(course_in(ctx, &response).await?)
    }

    /// Adds a lesson to a course, or changes one, at the position asked for; the course's
    /// other lessons move so positions stay 1, 2, … in order.
    #[graphql(tag = "staff")]
    async fn upsert_lesson(
        &self,
        ctx: &Context<'_>,
        course_id: ID,
        input: LessonInput,
        idempotency_key: String,
    ) -> Result<Lesson> {
        let who = author(ctx).await?;
        let key = checked_key(&idempotency_key)?;
        let course = parse_id("course", &course_id)?;
        let arguments = json!({ "courseId": course, "input": input });
        let lesson = input.id.as_ref().map(|l| parse_id("lesson", l)).transpose()?;
        let title_text = title("input.title", &input.title)?;
        let slug_text = match &input.slug {
            Some(s) => slug("input.slug", s)?,
            None => Some(slugify(&title_text)).filter(|s| !s.is_empty()).unwrap_or_else(|| "lesson".into()),
        };
        let video_url = match input.video_url {
            Some(u)
                if u.len() > 500
                    || !(u.starts_with("https://") || u.starts_with("http://"))
                    || u.contains(char::is_whitespace) =>
            {
                return Err(bad("input.videoUrl", "must be an http(s) URL of at most 500 characters").into())
            }
            other => other,
        };
        let duration = input.duration_minutes.map(|m| minutes("input.durationMinutes", m)).transpose()?;
        if input.position.is_some_and(|p| p < 1) {
            return Err(bad("input.position", "must be 1 or more").into());
        }
        let mut fields = LessonFields {
            title: title_text,
            slug: slug_text,
            content: text("input.content", input.content, MAX_CONTENT)?,
            video_url,
            duration_minutes: duration,
            position: input.position.unwrap_or(i32::MAX),
            is_free: input.is_free.unwrap_or(false),
            resources: input.resources.map(|r| json_field("input.resources", r.0, false)).transpose()?,
        };
        let store = pg_store(ctx)?;
        let response = run_once(store, who.0, key, "upsertLesson", arguments, async |tx| {
            owned(store, tx, who, course, "courseId").await?;
            if let Some(lesson) = lesson {
                match store.course_of_lesson(tx, lesson).await? {
                    Some(c) if c == course => {}
                    Some(_) => return Err(bad("input.id", "names a lesson of another course")),
                    None => return Err(bad("input.id", "names no lesson")),
                }
                if input.position.is_none() {
                    // where it is: keep its place
                    fields.position = current_position(store, lesson).await?;
                }
            }
            if store.lesson_slug_taken(tx, course, &fields.slug, lesson).await? {
                return Err(bad("input.slug", "is taken by another lesson of the course"));
            }
            let id = store.upsert_lesson(tx, course, lesson, &fields).await.map_err(conflict("input.slug"))?;
            Ok(json!({ "lessonId": id }))
        })
        .await?;
        let id = response["lessonId"].as_str().and_then(|s| Uuid::try_parse(s).ok()).ok_or(AppError::Internal)?;
        let found = store.lessons_by_ids(&[id]).await?;
        Ok(found.into_iter().next().map(Lesson::from).ok_or(AppError::Internal)?)
    }

    /// Adds a quiz to a lesson, or changes one (the answer key is part of the questions).
    #[graphql(tag = "staff")]
    async fn upsert_quiz(
        &self,
        ctx: &Context<'_>,
        lesson_id: ID,
        input: QuizInput,
        idempotency_key: String,
    ) -> Result<super::quiz::Quiz> {
        let who = author(ctx).await?;
        let key = checked_key(&idempotency_key)?;
        let lesson = parse_id("lesson", &lesson_id)?;
        let arguments = json!({ "lessonId": lesson, "input": input });
        let quiz = input.id.as_ref().map(|q| parse_id("quiz", q)).transpose()?;
        let passing_score = input.passing_score.unwrap_or(70);
        if !(0..=100).contains(&passing_score) {
            return Err(bad("input.passingScore", "must be between 0 and 100").into());
        }
        if input.time_limit_minutes.is_some_and(|m| !(1..=1440).contains(&m)) {
            return Err(bad("input.timeLimitMinutes", "must be between 1 and 1440").into());
        }
        let fields = QuizFields {
            title: title("input.title", &input.title)?,
            description: text("input.description", input.description, 5_000)?,
            questions: questions(input.questions)?,
            passing_score,
            time_limit_minutes: input.time_limit_minutes,
            is_active: input.is_active.unwrap_or(true),
        };
        let store = pg_store(ctx)?;
        let response = run_once(store, who.0, key, "upsertQuiz", arguments, async |tx| {
            let Some(course) = store.course_of_lesson(tx, lesson).await? else {
                return Err(bad("lessonId", "names no lesson"));
            };
            owned(store, tx, who, course, "lessonId").await?;
            if let Some(quiz) = quiz {
                match store.lesson_of_quiz(tx, quiz).await? {
                    Some(l) if l == lesson => {}
                    Some(_) => return Err(bad("input.id", "names a quiz of another lesson")),
                    None => return Err(bad("input.id", "names no quiz")),
                }
            }
            let id = store.upsert_quiz(tx, lesson, quiz, &fields).await.map_err(conflict("input.id"))?;
            Ok(json!({ "quizId": id }))
        })
        .await?;
        let id = response["quizId"].as_str().and_then(|s| Uuid::try_parse(s).ok()).ok_or(AppError::Internal)?;
        let found = store.quizzes_by_ids(&[id]).await?;
        Ok(found.into_iter().next().map(super::quiz::Quiz).ok_or(AppError::Internal)?)
    }
}

/// A lesson's current place.
async fn current_position(store: &PgStore, lesson: Uuid) -> Result<i32, AppError> {
    let found = store.lessons_by_ids(&[lesson]).await?;
    Ok(found.first().map_or(i32::MAX, |l| l.order_position))
}

/// The course a mutation answered with, as PostgreSQL has it now.
async fn course_in(ctx: &Context<'_>, response: &Value) -> Result<Course, AppError> {
    let id = response["courseId"].as_str().and_then(|s| Uuid::try_parse(s).ok()).ok_or(AppError::Internal)?;
    let found = pg_store(ctx)?.courses_by_ids(&[id]).await?;
    found.into_iter().next().map(Course::from).ok_or(AppError::Internal)
}
