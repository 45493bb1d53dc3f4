//! Lessons, as the course outline shows them.

use async_graphql::{Context, Object, Result, ID};

use super::quiz::{visible, Quiz};
use crate::{
    auth::Viewer,
    loaders::{self, QuizzesOfLesson},
    store::pg::entity::lesson,
};

/// One lesson of a course (its outline: content arrives with the course page).
pub struct Lesson(lesson::Model);

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

    /// The lesson's active quizzes.
    async fn quizzes(&self, ctx: &Context<'_>) -> Result<Vec<Quiz>> {
        let viewer = ctx.data_opt::<Viewer>().copied().unwrap_or(Viewer::Anonymous);
        let quizzes = loaders::pg(ctx)?.load_one(QuizzesOfLesson(self.0.id)).await?.unwrap_or_default();
        Ok(quizzes.into_iter().filter(|q| visible(viewer, q)).map(Quiz::from).collect())
    }
}
