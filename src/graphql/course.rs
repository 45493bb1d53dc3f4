//! A course: its lessons, instructor, category and figures, and the roots that read courses.

use std::sync::Arc;

use async_graphql::{Context, Enum, Json, Object, Result, SimpleObject, ID};
use chrono::{DateTime, Utc};
use rust_decimal::{prelude::ToPrimitive, Decimal};
use tokio::sync::OnceCell;

use super::{
    course_filter::CourseFilterInput,
    course_list::{list_courses, CourseConnection, CourseOrderBy},
    Category, Lesson, User,
};
use crate::{
    auth::{Role, Viewer},
    domain::ids::parse_id,
    error::AppError,
    loaders::{
        self, Batch, CategoryById, CourseDocById, CourseDocBySlug, FiguresOf, FunnelOf, LessonCountOf, LessonsByCourse,
        PgReader, UserById,
    },
    projection::docs::CourseDoc,
    store::pg::{
        entity::{course, lesson},
        stats::CourseFigures,
    },
};

/// How hard a course is.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub enum CourseLevel {
    /// No prior knowledge needed.
    Beginner,
    /// Builds on the basics.
    Intermediate,
    /// For practitioners.
    Advanced,
}

impl CourseLevel {
    /// The level as the database stores it.
    pub fn as_db(self) -> &'static str {
        match self {
            Self::Beginner => "beginner",
            Self::Intermediate => "intermediate",
            Self::Advanced => "advanced",
        }
    }

    /// A stored level (the column's CHECK allows only the three).
    pub fn from_db(level: &str) -> Self {
        match level {
            "advanced" => Self::Advanced,
            "intermediate" => Self::Intermediate,
            _ => Self::Beginner,
        }
    }
}

/// A course: its lessons, instructor and category, and how learners rate it.
pub struct Course(course::Model, Option<Vec<lesson::Model>>, Option<Arc<Siblings>>);

/// What the courses of one list share in a request: each relation (category, its parent,
/// instructor, lesson count, lessons) is loaded once for all of them (see `loaders::Batch`).
pub struct Siblings {
    categories: Arc<Batch<PgReader, CategoryById>>,
    /// The parents of the categories above, once those are loaded.
    parents: OnceCell<Arc<Batch<PgReader, CategoryById>>>,
    instructors: Arc<Batch<PgReader, UserById>>,
    lesson_counts: Arc<Batch<PgReader, LessonCountOf>>,
    lessons: Arc<Batch<PgReader, LessonsByCourse>>,
}

impl Siblings {
    /// What the courses `models` share.
    pub fn of<'a>(models: impl Iterator<Item = &'a course::Model> + Clone) -> Arc<Siblings> {
        Arc::new(Siblings {
            categories: Batch::new(models.clone().filter_map(|m| m.category_id).map(CategoryById)),
            parents: OnceCell::new(),
            instructors: Batch::new(models.clone().filter_map(|m| m.instructor_id).map(UserById)),
            lesson_counts: Batch::new(models.clone().map(|m| LessonCountOf(m.id))),
            lessons: Batch::new(models.map(|m| LessonsByCourse(m.id))),
        })
    }
}

impl Course {
    /// The courses of one list, sharing their loads.
    pub fn all_of(models: Vec<course::Model>) -> Vec<Course> {
        let shared = Siblings::of(models.iter());
        models.into_iter().map(|m| Course(m, None, Some(shared.clone()))).collect()
    }

    /// A course of a list whose loads `shared` holds.
    pub fn sharing(model: course::Model, shared: &Arc<Siblings>) -> Course {
        Course(model, None, Some(shared.clone()))
    }
}

/// A course row on its own; its relations load on demand.
impl From<course::Model> for Course {
    fn from(model: course::Model) -> Self {
        Self(model, None, None)
    }
}

/// A course page document (read model), lessons included.
impl From<CourseDoc> for Course {
    fn from(doc: CourseDoc) -> Self {
        let (row, lessons) = doc.into_rows();
        Self(row, Some(lessons), None)
    }
}

/// A course: its lessons, instructor and category, and how learners rate it.
#[Object(cache_control(max_age = 60))]
impl Course {
    /// The course's id.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// URL-safe unique name.
    async fn slug(&self) -> &str {
        &self.0.slug
    }

    /// The course's title.
    async fn title(&self) -> &str {
        &self.0.title
    }

    /// What the course teaches.
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }

    /// How hard the course is.
    async fn level(&self) -> CourseLevel {
        CourseLevel::from_db(&self.0.level)
    }

    /// Total length of its lessons, in minutes.
    async fn duration_minutes(&self) -> Option<i32> {
        self.0.duration_minutes
    }

    /// Price in the platform's currency, as a decimal string ("0" when free).
    async fn price(&self) -> Decimal {
        self.0.price
    }

    /// Whether the course costs nothing.
    async fn is_free(&self) -> bool {
        self.0.price.is_zero()
    }

    /// Whether learners can find it (drafts are seen by their instructor and admins only).
    async fn is_published(&self) -> bool {
        self.0.is_published
    }

    /// Average rating, 0 to 5.
    async fn rating(&self) -> f64 {
        self.0.rating.to_f64().unwrap_or_default()
    }

    /// How many learners are enrolled.
    async fn enrollment_count(&self) -> i32 {
        self.0.enrollment_count
    }

    /// Free-form tags.
    async fn tags(&self) -> &[String] {
        &self.0.tags
    }

    /// Extra attributes set by the instructor (language, prerequisites, …).
    async fn metadata(&self) -> Option<Json<serde_json::Value>> {
        self.0.metadata.clone().map(Json)
    }

    /// When the course was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at.with_timezone(&Utc)
    }

    /// When the course's content last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at.with_timezone(&Utc)
    }

    /// The subject the course belongs to.
    async fn category(&self, ctx: &Context<'_>) -> Result<Option<Category>> {
        let Some(id) = self.0.category_id else { return Ok(None) };
        let Some(shared) = &self.2 else {
            return Ok(loaders::pg(ctx)?.load_one(CategoryById(id)).await?.map(Category::from));
        };
        let found = shared.categories.get(ctx, CategoryById(id)).await?;
        // the categories' parents, for all of them at once (a second level of the same list)
        let all = shared.categories.all(ctx).await?;
        let parents = shared
            .parents
            .get_or_init(|| async { Batch::new(all.values().filter_map(|c| c.parent_id).map(CategoryById)) })
            .await;
        Ok(found.map(|c| Category::with_parents(c, parents.clone())))
    }

    /// Who teaches it.
    async fn instructor(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let Some(id) = self.0.instructor_id else { return Ok(None) };
        let found = match &self.2 {
            Some(shared) => shared.instructors.get(ctx, UserById(id)).await?,
            None => loaders::pg(ctx)?.load_one(UserById(id)).await?,
        };
        Ok(found.map(User::from))
    }

    /// How many lessons the course has.
    async fn lesson_count(&self, ctx: &Context<'_>) -> Result<i32> {
        let n = match (&self.1, &self.2) {
            (Some(embedded), _) => embedded.len() as i64,
            (None, Some(shared)) => shared.lesson_counts.get(ctx, LessonCountOf(self.0.id)).await?.unwrap_or_default(),
            (None, None) => loaders::pg(ctx)?.load_one(LessonCountOf(self.0.id)).await?.unwrap_or_default(),
        };
        Ok(clamp(n))
    }

    /// The signed-in learner's progress in this course, their latest writes included; null
    /// when nobody is signed in or the learner is not enrolled.
    async fn my_progress(&self, ctx: &Context<'_>) -> Result<Option<super::learner::Progress>> {
        let Some(Viewer::User { id, .. }) = ctx.data_opt::<Viewer>().copied() else { return Ok(None) };
        let key = loaders::ProgressOf { user: id, course: self.0.id };
        Ok(loaders::read_models(ctx)?.load_one(key).await?.map(super::learner::Progress))
    }

    /// Enrolment, completion and quiz figures, and where learners drop off: for the course's
    /// instructor and admins only (null and `FORBIDDEN` otherwise: nullable, so a refusal
    /// leaves the rest of the course, and of a list of courses, standing).
    #[graphql(tag = "staff")]
    async fn stats(&self, ctx: &Context<'_>) -> Result<Option<CourseStats>> {
        let viewer = ctx.data_opt::<Viewer>().copied().unwrap_or(Viewer::Anonymous);
        let allowed = match viewer {
            Viewer::User { role: Role::Admin, .. } => true,
            Viewer::User { id, role: Role::Instructor } => self.0.instructor_id == Some(id),
            _ => false,
        };
        if !allowed {
            return Err(AppError::Forbidden.into());
        }
        super::signed_in(ctx).await?;
        let figures = loaders::pg(ctx)?.load_one(FiguresOf(self.0.id)).await?.ok_or(AppError::Internal)?;
        Ok(Some(CourseStats { figures }))
    }

    /// The course's lessons in order (their outline).
    async fn lessons(&self, ctx: &Context<'_>) -> Result<Vec<Lesson>> {
        let lessons = match (&self.1, &self.2) {
            (Some(embedded), _) => embedded.clone(),
            (None, Some(shared)) => shared.lessons.get(ctx, LessonsByCourse(self.0.id)).await?.unwrap_or_default(),
            (None, None) => loaders::pg(ctx)?.load_one(LessonsByCourse(self.0.id)).await?.unwrap_or_default(),
        };
        Ok(Lesson::all_of(lessons))
    }
}

/// A count as a GraphQL Int (saturating).
pub(super) fn clamp(n: i64) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// How a course is doing (PostgreSQL aggregates, computed when asked for).
pub struct CourseStats {
    figures: CourseFigures,
}

fn ratio(part: i64, whole: i64) -> f64 {
    if whole <= 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// How a course is doing (PostgreSQL aggregates, computed when asked for).
#[Object(cache_control(private, no_cache))]
impl CourseStats {
    /// Learners enrolled now.
    async fn enrollments(&self) -> i32 {
        clamp(self.figures.enrollments)
    }

    /// Enrolled learners who have opened at least one lesson.
    async fn active_learners(&self) -> i32 {
        clamp(self.figures.active_learners)
    }

    /// Enrolled learners who completed every lesson.
    async fn completed_learners(&self) -> i32 {
        clamp(self.figures.completed_learners)
    }

    /// Completed learners over enrolled learners, 0 to 1.
    async fn completion_rate(&self) -> f64 {
        ratio(self.figures.completed_learners, self.figures.enrollments)
    }

    /// Mean score (0 to 100) of submitted attempts at the course's quizzes; null without any.
    async fn average_quiz_score(&self) -> Option<f64> {
        self.figures.average_quiz_score
    }

    /// Submitted attempts at the course's quizzes.
    async fn submitted_quiz_attempts(&self) -> i32 {
        clamp(self.figures.submitted_attempts)
    }

    /// Per lesson, in order: how many enrolled learners started and completed it, and the
    /// drop-off before it.
    async fn lessons(&self, ctx: &Context<'_>) -> Result<Vec<LessonStats>> {
        let funnel = loaders::pg(ctx)?.load_one(FunnelOf(self.figures.course_id)).await?.unwrap_or_default();
        let mut base = self.figures.enrollments;
        Ok(funnel
            .into_iter()
            .map(|f| {
                // nobody to lose before this lesson: no drop-off
                let drop_off = if base > 0 { (1.0 - ratio(f.started, base)).max(0.0) } else { 0.0 };
                base = f.completed;
                LessonStats {
                    lesson_id: ID(f.lesson_id.to_string()),
                    position: f.position,
                    started: clamp(f.started),
                    completed: clamp(f.completed),
                    completion_rate: ratio(f.completed, f.started),
                    drop_off_rate: drop_off,
                }
            })
            .collect())
    }
}

/// How enrolled learners got through one lesson.
#[derive(SimpleObject)]
#[graphql(cache_control(private, no_cache))]
pub struct LessonStats {
    /// The lesson.
    lesson_id: ID,
    /// Its place in the course, from 1.
    position: i32,
    /// Enrolled learners who opened it.
    started: i32,
    /// Enrolled learners who completed it.
    completed: i32,
    /// Completed over started, 0 to 1.
    completion_rate: f64,
    /// Of the learners who completed the lesson before (enrolled learners, for the first),
    /// the share who never started this one, 0 to 1.
    drop_off_rate: f64,
}

/// Whether `viewer` may see an unpublished course.
fn may_see_draft(viewer: Viewer, course: &CourseDoc) -> bool {
    may_see(viewer, false, course.instructor_id.map(|i| uuid::Uuid::from_bytes(i.bytes())))
}

/// Whether `viewer` may see a course: anyone a published one; a draft, its instructor and admins.
pub(crate) fn may_see(viewer: Viewer, published: bool, instructor: Option<uuid::Uuid>) -> bool {
    published
        || match viewer {
            Viewer::User { role: Role::Admin, .. } => true,
            Viewer::User { id, role: Role::Instructor } => instructor == Some(id),
            _ => false,
        }
}

#[derive(Default)]
pub struct CourseQuery;

#[Object]
impl CourseQuery {
    /// Published courses: filtered, searched, ordered, a page at a time. Pages use keyset
    /// cursors, so they stay stable while courses are added. Give `first` (and `after`) to
    /// page forward or `last` (and `before`) to page backward, not both.
    #[allow(clippy::too_many_arguments)]
    async fn courses(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which courses (all published ones when omitted).")] filter: Option<CourseFilterInput>,
        #[graphql(desc = "The order (RELEVANCE with a search, NEWEST without).")] order_by: Option<CourseOrderBy>,
        #[graphql(desc = "How many courses from the start, or after `after` (1 to 100; 20 by default).")] first: Option<
            i32,
        >,
        #[graphql(desc = "Start after this cursor (an `endCursor` or edge `cursor`).")] after: Option<String>,
        #[graphql(desc = "How many courses from the end, or before `before` (1 to 100).")] last: Option<i32>,
        #[graphql(desc = "End before this cursor (a `startCursor` or edge `cursor`).")] before: Option<String>,
    ) -> Result<CourseConnection> {
        let filter = filter.unwrap_or_default().validate()?;
        list_courses(ctx, filter, order_by, first, after, last, before).await
    }

    /// One course, by `id` or by `slug` (exactly one of them), with its lessons; null when
    /// there is none. Served from the course-page read model (PostgreSQL when MongoDB is down).
    async fn course(&self, ctx: &Context<'_>, id: Option<ID>, slug: Option<String>) -> Result<Option<Course>> {
        let loader = loaders::read_models(ctx)?;
        let found = match (id, slug) {
            (Some(id), None) => loader.load_one(CourseDocById(parse_id("course", &id)?)).await?,
            (None, Some(slug)) if slug.len() <= 255 => loader.load_one(CourseDocBySlug(slug)).await?,
            (None, Some(_)) => None,
            _ => return Err(AppError::bad_input("give exactly one of `id` and `slug`").into()),
        };
        // a draft is seen by its instructor and by admins only; to anyone else it does not exist
        let viewer = ctx.data_opt::<Viewer>().copied().unwrap_or(Viewer::Anonymous);
        Ok(found.filter(|c| c.is_published || may_see_draft(viewer, c)).map(Course::from))
    }
}
