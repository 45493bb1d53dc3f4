//! Lessons, as the course outline shows them.

use async_graphql::{Context, Json, Object, Result, ID};

use super::quiz::{visible, Quiz};
use crate::{
    auth::{Role, Viewer},
    error::AppError,
    loaders::{self, CourseById, EnrollmentsOf, QuizzesOfLesson},
    store::pg::entity::lesson,
};

/// One lesson of a course (its outline: content arrives with the course page).
pub struct Lesson(lesson::Model);

impl Lesson {
    /// Free lessons are open to all; the rest to learners enrolled in the course, its
    /// instructor and admins.
    async fn may_read(&self, ctx: &Context<'_>) -> Result<bool, AppError> {
        if self.0.is_free {
            return Ok(true);
        }
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
        Self(model)
    }
}

#[Object]
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
        let quizzes = loaders::pg(ctx)?.load_one(QuizzesOfLesson(self.0.id)).await?.unwrap_or_default();
        Ok(quizzes.into_iter().filter(|q| visible(viewer, q)).map(Quiz::from).collect())
    }
}
