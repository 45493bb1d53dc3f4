//! The signed-in learner: `me`, their enrolments and progress; `enroll` and `unenroll`.

use std::sync::Arc;

use async_graphql::{Context, Object, Result, SimpleObject, ID};
use chrono::{DateTime, Utc};
use serde_json::json;
use tokio::sync::OnceCell;
use uuid::Uuid;

use super::{
    course::{may_see, Siblings as CourseSiblings},
    course_filter::CourseFilterInput,
    course_list::{list_courses, CourseConnection, CourseOrderBy, PageInfo},
    pg_store,
    quiz::QuizAttempt,
    signed_in, signed_in_user, Course,
};
use crate::{
    auth::{Role, Viewer},
    domain::cursor::TimeCursor,
    domain::ids::parse_id,
    error::AppError,
    loaders::{self, Batch, CourseById, PgReader, ProgressAt, ProgressOf, ReadModelReader, UserById},
    projection::docs::ProgressDoc,
    projection::{build, docs::Kind},
    store::pg::{
        enrollment::{Claim, EnrollmentRow, Recorded},
        entity::user,
        learner::Scope,
    },
};
use mongodb::bson::Bson;

/// A learner as a reader may see them: the learner themself and admins see everything; an
/// instructor sees only what concerns the courses they teach.
pub struct Learner {
    user: user::Model,
    scope: Scope,
    /// Whether the reader may see contact details (the learner themself, admins).
    private: bool,
    role: Role,
}

/// Page sizes of a learner's lists.
const DEFAULT_PAGE: i32 = 20;
const MAX_PAGE: i32 = 100;

fn page_size(field: &str, n: i32) -> Result<u64, AppError> {
    if (1..=MAX_PAGE).contains(&n) {
        Ok(n as u64)
    } else {
        Err(AppError::bad_input(format!("`{field}` must be between 1 and {MAX_PAGE}")))
    }
}

/// A learner as a reader may see them: the learner themself and admins see everything; an
/// instructor sees only what concerns the courses they teach.
#[Object(cache_control(private, no_cache))]
impl Learner {
    /// The user's id.
    async fn id(&self) -> ID {
        ID(self.user.id.to_string())
    }

    /// The address the user signs in with (null for instructors reading a learner).
    async fn email(&self) -> Option<&str> {
        self.private.then_some(self.user.email.as_str())
    }

    /// Given name.
    async fn first_name(&self) -> &str {
        &self.user.first_name
    }

    /// Family name.
    async fn last_name(&self) -> &str {
        &self.user.last_name
    }

    /// The user's role (for `me`, the role the token grants).
    async fn role(&self) -> Role {
        self.role
    }

    /// The courses the learner is enrolled in, most recent first, a page at a time.
    async fn enrollments(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "How many (1 to 100, default 20).")] first: Option<i32>,
        #[graphql(desc = "Start after this cursor.")] after: Option<String>,
    ) -> Result<EnrollmentConnection> {
        let size = page_size("first", first.unwrap_or(DEFAULT_PAGE))?;
        let from = after.as_deref().map(|c| TimeCursor::decode(c, "after")).transpose()?;
        let store = pg_store(ctx)?;
        let mut rows = store.enrollments_page(self.user.id, self.scope, from.map(|c| (c.at, c.id)), size + 1).await?;
        let has_next_page = rows.len() as u64 > size;
        rows.truncate(size as usize);
        let cursors: Vec<String> =
            rows.iter().map(|r| TimeCursor { at: r.enrolled_at, id: r.course_id }.encode()).collect();
        let nodes = Enrollment::all_of(
            rows.into_iter()
                .map(|r| {
                    let row = EnrollmentRow { user_id: r.user_id, course_id: r.course_id, enrolled_at: r.enrolled_at };
                    (row, r.progress_version)
                })
                .collect(),
        );
        let edges: Vec<EnrollmentEdge> =
            cursors.into_iter().zip(nodes).map(|(cursor, node)| EnrollmentEdge { cursor, node }).collect();
        let page_info = PageInfo {
            has_next_page,
            has_previous_page: from.is_some(),
            start_cursor: edges.first().map(|e| e.cursor.clone()),
            end_cursor: edges.last().map(|e| e.cursor.clone()),
        };
        Ok(EnrollmentConnection { edges, page_info, user: self.user.id, scope: self.scope })
    }

    /// The courses this user teaches, newest first; drafts included for the user themself and
    /// admins. Takes the same filters, orders and paging as `courses`.
    #[allow(clippy::too_many_arguments)]
    async fn taught_courses(
        &self,
        ctx: &Context<'_>,
        filter: Option<CourseFilterInput>,
        order_by: Option<CourseOrderBy>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<CourseConnection> {
        let mut filter = filter.unwrap_or_default().validate()?;
        filter.instructor = Some(self.user.id);
        filter.drafts = self.private;
        list_courses(ctx, filter, order_by, first, after, last, before).await
    }

    /// Where to pick up: unfinished enrolled courses, the most recently opened first.
    async fn continue_learning(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "How many (1 to 100, default 5).")] first: Option<i32>,
    ) -> Result<Vec<Enrollment>> {
        let size = page_size("first", first.unwrap_or(5))?;
        let rows = pg_store(ctx)?.continue_learning(self.user.id, self.scope, size).await?;
        Ok(Enrollment::all_of(
            rows.into_iter()
                .map(|r| {
                    (EnrollmentRow { user_id: r.user_id, course_id: r.course_id, enrolled_at: r.enrolled_at }, None)
                })
                .collect(),
        ))
    }

    /// The learner's latest quiz attempts, newest first.
    async fn recent_quiz_attempts(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "How many (1 to 100, default 10).")] first: Option<i32>,
    ) -> Result<Vec<QuizAttempt>> {
        let size = page_size("first", first.unwrap_or(10))?;
        let rows = pg_store(ctx)?.recent_attempts(self.user.id, self.scope, size).await?;
        Ok(QuizAttempt::all_of(rows))
    }
}

/// One enrolment in a page of them.
#[derive(SimpleObject)]
#[graphql(cache_control(private, no_cache))]
pub struct EnrollmentEdge {
    /// Pass as `after` to get the enrolments that follow this one.
    cursor: String,
    /// The enrolment.
    node: Enrollment,
}

/// A page of a learner's enrolments (Relay connection).
pub struct EnrollmentConnection {
    edges: Vec<EnrollmentEdge>,
    page_info: PageInfo,
    user: Uuid,
    scope: Scope,
}

/// A page of a learner's enrolments (Relay connection).
#[Object(cache_control(private, no_cache))]
impl EnrollmentConnection {
    /// The enrolments of this page, with their cursors.
    async fn edges(&self) -> &[EnrollmentEdge] {
        &self.edges
    }

    /// The enrolments of this page.
    async fn nodes(&self) -> Vec<&Enrollment> {
        self.edges.iter().map(|e| &e.node).collect()
    }

    /// Where this page sits.
    async fn page_info(&self) -> &PageInfo {
        &self.page_info
    }

    /// How many enrolments there are in all (counted only when asked for).
    async fn total_count(&self, ctx: &Context<'_>) -> Result<i32> {
        let n = pg_store(ctx)?.count_enrollments(self.user, self.scope).await?;
        Ok(i32::try_from(n).unwrap_or(i32::MAX))
    }
}

/// A learner's enrolment in a course; the version PostgreSQL holds of its progress document
/// when the statement that found it read that too; and what it shares with the enrolments
/// listed with it.
pub struct Enrollment(EnrollmentRow, Option<i64>, Option<Arc<EnrollmentSiblings>>);

/// What the enrolments of one list share in a request: their courses (and those courses'
/// relations) and their progress documents, each loaded once for all of them.
pub struct EnrollmentSiblings {
    courses: Arc<Batch<PgReader, CourseById>>,
    course_siblings: OnceCell<Arc<CourseSiblings>>,
    progress: Arc<Batch<ReadModelReader, ProgressAt>>,
}

impl Enrollment {
    /// One enrolment on its own (its progress version unknown).
    fn single(row: EnrollmentRow) -> Enrollment {
        Enrollment(row, None, None)
    }

    /// The enrolments of one list, with their progress versions where known, sharing loads.
    fn all_of(rows: Vec<(EnrollmentRow, Option<i64>)>) -> Vec<Enrollment> {
        let shared = Arc::new(EnrollmentSiblings {
            courses: Batch::new(rows.iter().map(|(r, _)| CourseById(r.course_id))),
            course_siblings: OnceCell::new(),
            progress: Batch::new(
                rows.iter()
                    .filter_map(|(r, v)| v.map(|version| ProgressAt { user: r.user_id, course: r.course_id, version })),
            ),
        });
        rows.into_iter().map(|(row, version)| Enrollment(row, version, Some(shared.clone()))).collect()
    }
}

/// A learner's enrolment in a course.
#[Object(cache_control(private, no_cache))]
impl Enrollment {
    /// The course (null once it is unpublished, unless the viewer authors it).
    async fn course(&self, ctx: &Context<'_>) -> Result<Option<Course>> {
        let viewer = ctx.data_opt::<Viewer>().copied().unwrap_or(Viewer::Anonymous);
        let key = CourseById(self.0.course_id);
        let Some(shared) = &self.2 else {
            let course = loaders::pg(ctx)?.load_one(key).await?;
            return Ok(course.filter(|c| may_see(viewer, c.is_published, c.instructor_id)).map(Course::from));
        };
        let course = shared.courses.get(ctx, key).await?;
        let all = shared.courses.all(ctx).await?;
        let siblings = shared.course_siblings.get_or_init(|| async { CourseSiblings::of(all.values()) }).await;
        Ok(course.filter(|c| may_see(viewer, c.is_published, c.instructor_id)).map(|c| Course::sharing(c, siblings)))
    }

    /// When the learner enrolled.
    async fn enrolled_at(&self) -> DateTime<Utc> {
        self.0.enrolled_at.with_timezone(&Utc)
    }

    /// The learner's progress in the course (their own latest writes included).
    async fn progress(&self, ctx: &Context<'_>) -> Result<Option<Progress>> {
        let (user, course) = (self.0.user_id, self.0.course_id);
        let loader = loaders::read_models(ctx)?;
        let found = match (self.1, &self.2) {
            (Some(version), Some(shared)) => shared.progress.get(ctx, ProgressAt { user, course, version }).await?,
            (Some(version), None) => loader.load_one(ProgressAt { user, course, version }).await?,
            (None, _) => loader.load_one(ProgressOf { user, course }).await?,
        };
        Ok(found.map(Progress))
    }
}

/// Progress through a course.
pub struct Progress(pub(crate) ProgressDoc);

/// Progress through one lesson.
#[derive(SimpleObject)]
#[graphql(cache_control(private, no_cache))]
pub struct LessonProgress {
    /// The lesson.
    lesson_id: ID,
    /// 0 to 100; never goes down.
    completion_percentage: i32,
    /// Minutes spent on it, accumulated.
    time_spent_minutes: i32,
    /// Whether it is done.
    is_completed: bool,
    /// The last time the learner opened it.
    last_accessed_at: DateTime<Utc>,
    /// When it was completed.
    completed_at: Option<DateTime<Utc>>,
}

fn time(d: mongodb::bson::DateTime) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(d.timestamp_millis()).unwrap_or_default()
}

/// Progress through a course.
#[Object(cache_control(private, no_cache))]
impl Progress {
    /// Completed lessons over all lessons, 0 to 100.
    async fn overall_completion_percentage(&self) -> i32 {
        self.0.overall_completion_percentage
    }

    /// Minutes spent across the course's lessons.
    async fn total_time_spent_minutes(&self) -> i32 {
        self.0.total_time_spent
    }

    /// The last time the learner opened a lesson (or enrolled).
    async fn last_accessed_at(&self) -> Option<DateTime<Utc>> {
        self.0.last_accessed_at.map(time)
    }

    /// When the learner enrolled.
    async fn started_at(&self) -> Option<DateTime<Utc>> {
        self.0.started_at.map(time)
    }

    /// When the last lesson was completed, once all are.
    async fn completed_at(&self) -> Option<DateTime<Utc>> {
        self.0.completed_at.map(time)
    }

    /// Per-lesson progress, in lesson order.
    async fn lessons(&self) -> Vec<LessonProgress> {
        self.0
            .lesson_progress
            .iter()
            .map(|l| LessonProgress {
                lesson_id: ID(Uuid::from_bytes(l.lesson_id.bytes()).to_string()),
                completion_percentage: l.completion_percentage,
                time_spent_minutes: l.time_spent_minutes,
                is_completed: l.is_completed,
                last_accessed_at: time(l.last_accessed_at),
                completed_at: l.completed_at.map(time),
            })
            .collect()
    }
}

#[derive(Default)]
pub struct LearnerQuery;

#[Object]
impl LearnerQuery {
    /// The signed-in user (`UNAUTHENTICATED` without a token).
    async fn me(&self, ctx: &Context<'_>) -> Result<Learner> {
        let (user, role) = signed_in_user(ctx).await?;
        Ok(Learner { user, scope: Scope::All, private: true, role })
    }

    /// A learner's dashboard, for admins (all of it) and for instructors (what concerns the
    /// courses they teach, for learners enrolled in one). Learners may read only themselves.
    /// `FORBIDDEN` otherwise; null when no user has this id.
    async fn user(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Learner>> {
        let (viewer, role) = signed_in(ctx).await?;
        let learner = parse_id("user", &id)?;
        let (scope, private) = match role {
            Role::Admin => (Scope::All, true),
            _ if learner == viewer => (Scope::All, true),
            Role::Instructor if pg_store(ctx)?.teaches(viewer, learner).await? => (Scope::TaughtBy(viewer), false),
            _ => return Err(AppError::Forbidden.into()),
        };
        let user = loaders::pg(ctx)?.load_one(UserById(learner)).await?;
        Ok(user.map(|user| {
            let role = Role::parse(&user.role).unwrap_or(Role::Student);
            Learner { user, scope, private, role }
        }))
    }
}

/// What `unenroll` did.
#[derive(SimpleObject, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
#[graphql(cache_control(private, no_cache))]
pub struct UnenrollPayload {
    /// The course.
    course_id: ID,
    /// Whether the learner was enrolled before.
    was_enrolled: bool,
}

#[derive(Default)]
pub struct LearnerMutation;

/// Checks a client's idempotency key.
pub(crate) fn checked_key(key: &str) -> Result<&str, AppError> {
    if key.is_empty() || key.len() > 128 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(AppError::bad_input("`idempotencyKey` must be 1 to 128 printable ASCII characters"));
    }
    Ok(key)
}

#[Object]
impl LearnerMutation {
    /// Enrols the signed-in learner in a published course. Enrolling twice is harmless; the same
    /// `idempotencyKey` returns the first answer.
    async fn enroll(&self, ctx: &Context<'_>, course_id: ID, idempotency_key: String) -> Result<Enrollment> {
        let (user, _) = signed_in(ctx).await?;
        let course =
            parse_id("course", &course_id).map_err(|_| AppError::bad_input("`courseId` is not a course id"))?;
        let key = checked_key(&idempotency_key)?;
        let store = pg_store(ctx)?;
        let response = match store.claim_idempotency_key(user, key, "enroll", json!({ "courseId": course })).await? {
            Claim::Replay(response) => response,
            Claim::Mismatch => return Err(reused().into()),
            Claim::Fresh(tx) => {
                let effect = async {
                    let Some(row) = store.enroll(&tx, user, course).await? else {
                        return Err(AppError::bad_input("`courseId`: no published course has this id"));
                    };
                    Ok(json!({ "courseId": row.course_id, "enrolledAt": row.enrolled_at.to_rfc3339() }))
                }
                .await;
                store.settle(tx, user, key, effect).await?
            }
        };
        let enrolled_at = response["enrolledAt"]
            .as_str()
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .ok_or(AppError::Internal)?;
        Ok(Enrollment::single(EnrollmentRow { user_id: user, course_id: course, enrolled_at }))
    }

    /// Ends the signed-in learner's enrolment in a course (their lesson progress is kept).
    async fn unenroll(&self, ctx: &Context<'_>, course_id: ID, idempotency_key: String) -> Result<UnenrollPayload> {
        let (user, _) = signed_in(ctx).await?;
        let course =
            parse_id("course", &course_id).map_err(|_| AppError::bad_input("`courseId` is not a course id"))?;
        let key = checked_key(&idempotency_key)?;
        let store = pg_store(ctx)?;
        let response = match store.claim_idempotency_key(user, key, "unenroll", json!({ "courseId": course })).await? {
            Claim::Replay(response) => response,
            Claim::Mismatch => return Err(reused().into()),
            Claim::Fresh(tx) => {
                let effect = async {
                    let was_enrolled = store.unenroll(&tx, user, course).await?;
                    Ok(json!({ "courseId": course, "wasEnrolled": was_enrolled }))
                }
                .await;
                store.settle(tx, user, key, effect).await?
            }
        };
        Ok(serde_json::from_value(response).map_err(|_| AppError::Internal)?)
    }
}

/// Bounds of one progress report.
const MAX_MINUTES_PER_REPORT: i32 = 24 * 60;

#[Object]
impl ProgressMutation {
    /// Records the signed-in learner's progress on a lesson of a course they are enrolled in:
    /// completion never goes backwards, time accumulates, and the answer is the course progress
    /// with this write in it. The same `idempotencyKey` returns the first answer, counted once.
    async fn record_lesson_progress(
        &self,
        ctx: &Context<'_>,
        lesson_id: ID,
        #[graphql(desc = "0 to 100.")] completion_percentage: i32,
        #[graphql(desc = "Minutes spent since the last report, 0 to 1440.")] time_spent_minutes: i32,
        idempotency_key: String,
    ) -> Result<Progress> {
        let (user, _) = signed_in(ctx).await?;
        let lesson =
            parse_id("lesson", &lesson_id).map_err(|_| AppError::bad_input("`lessonId` is not a lesson id"))?;
        if !(0..=100).contains(&completion_percentage) {
            return Err(AppError::bad_input("`completionPercentage` must be between 0 and 100").into());
        }
        if !(0..=MAX_MINUTES_PER_REPORT).contains(&time_spent_minutes) {
            return Err(AppError::bad_input("`timeSpentMinutes` must be between 0 and 1440").into());
        }
        let key = checked_key(&idempotency_key)?;
        let store = pg_store(ctx)?;
        let arguments =
            json!({ "lessonId": lesson, "completion": completion_percentage, "minutes": time_spent_minutes });
        let response = match store.claim_idempotency_key(user, key, "recordLessonProgress", arguments).await? {
            Claim::Replay(response) => response,
            Claim::Mismatch => return Err(reused().into()),
            Claim::Fresh(tx) => {
                let effect = async {
                    let course = match store
                        .record_lesson_progress(&tx, user, lesson, completion_percentage, time_spent_minutes)
                        .await?
                    {
                        Recorded::Done { course_id } => course_id,
                        Recorded::NoLesson => return Err(AppError::bad_input("`lessonId`: no lesson has this id")),
                        Recorded::NotEnrolled => return Err(AppError::Forbidden),
                    };
                    // the progress document as this transaction sees it: the answer, and the replay
                    let key_of = format!("{user}:{course}");
                    let built = build::build(&tx, Kind::Progress, std::slice::from_ref(&key_of))
                        .await?
                        .docs
                        .remove(&key_of)
                        .ok_or(AppError::Internal)?;
                    Ok(json!({ "progress": Bson::Document(built.doc).into_canonical_extjson() }))
                }
                .await;
                store.settle(tx, user, key, effect).await?
            }
        };
        let doc = Bson::try_from(response["progress"].clone()).map_err(|_| AppError::Internal)?;
        Ok(Progress(mongodb::bson::from_bson(doc).map_err(|_| AppError::Internal)?))
    }
}

#[derive(Default)]
pub struct ProgressMutation;

pub(crate) fn reused() -> AppError {
    AppError::bad_input("`idempotencyKey` was already used for another request")
}
