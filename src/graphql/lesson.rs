//! Lessons, as the course outline shows them.

use std::{collections::HashMap, sync::Arc};

use async_graphql::{Context, Json, Object, Result, ID};
use tokio::sync::OnceCell;
use uuid::Uuid;

use super::quiz::{visible, Quiz};
use crate::{
    auth::{Role, Viewer},
    error::AppError,
    loaders::{self, CourseById, EnrollmentsOf, QuizzesOfLesson},
    store::pg::{entity::lesson, quiz::QuizRow},
};

/// One lesson of a course (its outline: content arrives with the course page).
pub struct Lesson(lesson::Model, Option<Arc<Siblings>>);

/// What the lessons of one course listed together share in a request: the viewer's access to
/// the course and the quizzes of all of them, each loaded once for the whole list. (A batch
/// per list, not per lesson: however long the list, and however slowly its resolvers are
/// polled, the loader is asked once.)
pub struct Siblings {
    ids: Vec<Uuid>,
    access: OnceCell<bool>,
    quizzes: OnceCell<HashMap<QuizzesOfLesson, Vec<QuizRow>>>,
}

impl Lesson {
    /// The lessons of one course, sharing their loads.
    pub fn all_of(lessons: Vec<lesson::Model>) -> Vec<Lesson> {
        let shared = Arc::new(Siblings {
            ids: lessons.iter().map(|l| l.id).collect(),
            access: OnceCell::new(),
            quizzes: OnceCell::new(),
        });
        lessons.into_iter().map(|l| Lesson(l, Some(shared.clone()))).collect()
    }

    /// Free lessons are open to all; the rest to learners enrolled in the course, its
    /// instructor and admins.
    async fn may_read(&self, ctx: &Context<'_>) -> Result<bool, AppError> {
        if self.0.is_free {
            return Ok(true);
        }
        match &self.1 {
            Some(shared) => shared.access.get_or_try_init(|| self.course_access(ctx)).await.copied(),
            None => self.course_access(ctx).await,
        }
    }

    /// Whether the viewer may read the course's lessons that are not free.
    async fn course_access(&self, ctx: &Context<'_>) -> Result<bool, AppError> {
        match ctx.data_opt::<Viewer>().copied().unwrap_or(Viewer::Anonymous) {
            Viewer::Anonymous => Ok(false),
            Viewer::User { role: Role::Admin, .. } => Ok(true),
            Viewer::User { id, role } => {
                let loader = loaders::pg(ctx)?;
                let enrolled = loader
                    .load_one(EnrollmentsOf(id))
                    .await?
                    .is_some_and(|rows| rows.iter().any(|e| e.course_id == self.0.course_id));
                if enrolled || role != Role::Instructor {
                    return Ok(enrolled);
                }
                let course = loader.load_one(CourseById(self.0.course_id)).await?;
                Ok(course.is_some_and(|c| c.instructor_id == Some(id)))
            }
        }
    }
}

impl From<lesson::Model> for Lesson {
    fn from(model: lesson::Model) -> Self {
        Self(model, None)
    }
}

/// One lesson of a course (its outline: content arrives with the course page).
#[Object(cache_control(max_age = 60))]
impl Lesson {
    /// The lesson's id.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// The lesson's title.
    async fn title(&self) -> &str {
        &self.0.title
    }

    /// URL-safe name, unique within the course.
    async fn slug(&self) -> &str {
        &self.0.slug
    }

    /// 1-based place in the course.
    async fn position(&self) -> i32 {
        self.0.order_position
    }

    /// Expected length in minutes.
    async fn duration_minutes(&self) -> Option<i32> {
        self.0.duration_minutes
    }

    /// Whether anyone may watch it without enrolling.
    async fn is_free(&self) -> bool {
        self.0.is_free
    }

    /// Whether the content below is withheld from the viewer (not free, and not enrolled).
    async fn is_locked(&self, ctx: &Context<'_>) -> Result<bool> {
        Ok(!self.may_read(ctx).await?)
    }

    /// The lesson's text: for free lessons, enrolled learners, the instructor and admins.
    async fn content(&self, ctx: &Context<'_>) -> Result<Option<&str>> {
        Ok(if self.may_read(ctx).await? { self.0.content.as_deref() } else { None })
    }

    /// The lesson's video: as `content`.
    async fn video_url(&self, ctx: &Context<'_>) -> Result<Option<&str>> {
        Ok(if self.may_read(ctx).await? { self.0.video_url.as_deref() } else { None })
    }

    /// Files and links that come with the lesson: as `content`.
    async fn resources(&self, ctx: &Context<'_>) -> Result<Option<Json<serde_json::Value>>> {
        Ok(if self.may_read(ctx).await? { self.0.resources.clone().map(Json) } else { None })
    }

    /// The lesson's active quizzes.
    async fn quizzes(&self, ctx: &Context<'_>) -> Result<Vec<Quiz>> {
        let viewer = ctx.data_opt::<Viewer>().copied().unwrap_or(Viewer::Anonymous);
        let key = QuizzesOfLesson(self.0.id);
        let quizzes = match &self.1 {
            Some(shared) => {
                let all = shared
                    .quizzes
                    .get_or_try_init(|| async {
                        let keys = shared.ids.iter().map(|id| QuizzesOfLesson(*id));
                        loaders::pg(ctx)?.load_many(keys).await
                    })
                    .await?;
                all.get(&key).cloned().unwrap_or_default()
            }
            None => loaders::pg(ctx)?.load_one(key).await?.unwrap_or_default(),
        };
        Ok(quizzes.into_iter().filter(|q| visible(viewer, q)).map(Quiz::from).collect())
    }
}
