//! Federation entities: how a gateway fetches our Course, Lesson, Quiz and User by key.
//!
//! Each resolver loads through the same DataLoaders as the rest of the API, so an `_entities`
//! call with N representations of a type runs one batch per type and store, never N queries.
//! The rules are the root fields' rules: a draft course (and its lessons and quizzes) exists
//! only for its instructor and admins. A key that names nothing, names something the caller
//! may not see, or is not a well-formed id resolves to null in its place, so one stale key
//! does not fail the other representations of the call.

use async_graphql::{Context, Object, Result, ID};
use uuid::Uuid;

use super::{
    course::may_see,
    quiz::{self, viewer},
    Course, Lesson, User,
};
use crate::{
    domain::ids::parse_id,
    loaders::{self, CourseById, CourseDocBySlug, LessonById, QuizById, UserById},
};

/// The entity resolvers (they add no fields to `Query`).
#[derive(Default)]
pub struct EntityQuery;

/// A representation's id, or None when it is not one of ours (such a key resolves to null).
fn key(id: &ID) -> Option<Uuid> {
    parse_id("entity", id).ok()
}

#[Object]
impl EntityQuery {
    /// A course by id.
    #[graphql(entity)]
    async fn course_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Course>> {
        let Some(id) = key(&id) else { return Ok(None) };
        let found = loaders::pg(ctx)?.load_one(CourseById(id)).await?;
        Ok(found.filter(|c| may_see(viewer(ctx), c.is_published, c.instructor_id)).map(Course::from))
    }

    /// A course by slug.
    #[graphql(entity)]
    async fn course_by_slug(&self, ctx: &Context<'_>, slug: String) -> Result<Option<Course>> {
        if slug.is_empty() || slug.len() > 255 {
            return Ok(None);
        }
        let found = loaders::read_models(ctx)?.load_one(CourseDocBySlug(slug)).await?;
        let instructor =
            |doc: &crate::projection::docs::CourseDoc| doc.instructor_id.map(|i| Uuid::from_bytes(i.bytes()));
        Ok(found.filter(|c| may_see(viewer(ctx), c.is_published, instructor(c))).map(Course::from))
    }

    /// A lesson by id: seen by whoever may see its course.
    #[graphql(entity)]
    async fn lesson_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Lesson>> {
        let Some(id) = key(&id) else { return Ok(None) };
        let loader = loaders::pg(ctx)?;
        let Some(lesson) = loader.load_one(LessonById(id)).await? else { return Ok(None) };
        let course = loader.load_one(CourseById(lesson.course_id)).await?;
        let visible = course.is_some_and(|c| may_see(viewer(ctx), c.is_published, c.instructor_id));
        Ok(visible.then(|| Lesson::from(lesson)))
    }

    /// A quiz by id: an active quiz of a published course, or any quiz for its author.
    #[graphql(entity)]
    async fn quiz_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<Option<quiz::Quiz>> {
        let Some(id) = key(&id) else { return Ok(None) };
        let found = loaders::pg(ctx)?.load_one(QuizById(id)).await?;
        Ok(found.filter(|q| quiz::visible(viewer(ctx), q)).map(quiz::Quiz::from))
    }

    /// A user's public profile by id (what `Course.instructor` shows of anyone).
    #[graphql(entity)]
    async fn user_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<Option<User>> {
        let Some(id) = key(&id) else { return Ok(None) };
        let found = loaders::pg(ctx)?.load_one(UserById(id)).await?;
        Ok(found.filter(|u| u.is_active).map(User::from))
    }
}
