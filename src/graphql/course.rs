//! Courses: discovery pages and the course itself.

use async_graphql::{Context, Enum, Json, Object, Result, SimpleObject, ID};
use chrono::{DateTime, Utc};
use rust_decimal::{prelude::ToPrimitive, Decimal};

use super::{pg_store, Category, Lesson, User};
use crate::{
    auth::{Role, Viewer},
    domain::{cursor::NewestCursor, ids::parse_id},
    error::AppError,
    loaders::{self, CategoryById, CourseDocById, CourseDocBySlug, LessonsByCourse, UserById},
    projection::docs::CourseDoc,
    store::pg::entity::{course, lesson},
};

/// Page sizes a client may ask for.
const DEFAULT_PAGE: i32 = 20;
const MAX_PAGE: i32 = 100;

/// How hard a course is.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum CourseLevel {
    Beginner,
    Intermediate,
    Advanced,
}

/// A course: its lessons, instructor and category, and how learners rate it.
pub struct Course(course::Model, Option<Vec<lesson::Model>>);

/// A course row (discovery); its lessons load on demand.
impl From<course::Model> for Course {
    fn from(model: course::Model) -> Self {
        Self(model, None)
    }
}

/// A course page document (read model), lessons included.
impl From<CourseDoc> for Course {
    fn from(doc: CourseDoc) -> Self {
        let (row, lessons) = doc.into_rows();
        Self(row, Some(lessons))
    }
}

#[Object]
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
        match self.0.level.as_str() {
            "advanced" => CourseLevel::Advanced,
            "intermediate" => CourseLevel::Intermediate,
            _ => CourseLevel::Beginner,
        }
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
        Ok(loaders::pg(ctx)?.load_one(CategoryById(id)).await?.map(Category::from))
    }

    /// Who teaches it.
    async fn instructor(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let Some(id) = self.0.instructor_id else { return Ok(None) };
        Ok(loaders::pg(ctx)?.load_one(UserById(id)).await?.map(User::from))
    }

    /// The course's lessons in order (their outline).
    async fn lessons(&self, ctx: &Context<'_>) -> Result<Vec<Lesson>> {
        let lessons = match &self.1 {
            Some(embedded) => embedded.clone(),
            None => loaders::pg(ctx)?.load_one(LessonsByCourse(self.0.id)).await?.unwrap_or_default(),
        };
        Ok(lessons.into_iter().map(Lesson::from).collect())
    }
}

/// One course in a page of courses.
#[derive(SimpleObject)]
pub struct CourseEdge {
    /// Pass as `after` to get the courses that follow this one.
    cursor: String,
    /// The course.
    node: Course,
}

/// Where a page sits in the whole list (Relay).
#[derive(SimpleObject)]
pub struct PageInfo {
    /// Whether more courses follow this page.
    has_next_page: bool,
    /// Whether courses precede this page.
    has_previous_page: bool,
    /// The first edge's cursor.
    start_cursor: Option<String>,
    /// The last edge's cursor: pass it as `after` for the next page.
    end_cursor: Option<String>,
}

/// A page of courses (Relay connection).
pub struct CourseConnection {
    edges: Vec<CourseEdge>,
    page_info: PageInfo,
}

#[Object]
impl CourseConnection {
    /// The courses of this page, with their cursors.
    async fn edges(&self) -> &[CourseEdge] {
        &self.edges
    }

    /// The courses of this page.
    async fn nodes(&self) -> Vec<&Course> {
        self.edges.iter().map(|e| &e.node).collect()
    }

    /// Where this page sits.
    async fn page_info(&self) -> &PageInfo {
        &self.page_info
    }

    /// How many courses the whole list has (computed only when asked for).
    async fn total_count(&self, ctx: &Context<'_>) -> Result<i32> {
        let n = pg_store(ctx)?.count_published_courses().await?;
        Ok(i32::try_from(n).unwrap_or(i32::MAX))
    }
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
    /// Published courses, newest first, a page at a time (keyset cursors: pages stay stable
    /// while courses are added).
    async fn courses(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "How many courses (1 to 100, default 20).")] first: Option<i32>,
        #[graphql(desc = "Start after this cursor (an `endCursor` or edge `cursor`).")] after: Option<String>,
    ) -> Result<CourseConnection> {
        let first = first.unwrap_or(DEFAULT_PAGE);
        if !(1..=MAX_PAGE).contains(&first) {
            return Err(AppError::bad_input(format!("`first` must be between 1 and {MAX_PAGE}")).into());
        }
        let after = after.as_deref().map(NewestCursor::decode).transpose()?;
        let mut rows = pg_store(ctx)?.published_courses_newest(after, first as u64 + 1).await?;
        let has_next_page = rows.len() > first as usize;
        rows.truncate(first as usize);
        let edges: Vec<CourseEdge> = rows
            .into_iter()
            .map(|c| CourseEdge {
                cursor: NewestCursor { created_at: c.created_at, id: c.id }.encode(),
                node: c.into(),
            })
            .collect();
        let page_info = PageInfo {
            has_next_page,
            has_previous_page: after.is_some(),
            start_cursor: edges.first().map(|e| e.cursor.clone()),
            end_cursor: edges.last().map(|e| e.cursor.clone()),
        };
        Ok(CourseConnection { edges, page_info })
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
