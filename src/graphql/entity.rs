//! Federation entities: how a gateway fetches our Course, Lesson, Quiz and User by key.
//!
//! Each resolver loads through the same DataLoaders as the rest of the API, so an `_entities`
//! call with N representations of a type runs one batch per type and store, never N queries.
//! The rules are the root fields' rules: a draft course (and its lessons and quizzes) exists
//! only for its instructor and admins. A key that names nothing, names something the caller
//! may not see, or is not a well-formed id resolves to null in its place, so one stale key
//! does not fail the other representations of the call.

use std::sync::Arc;

use async_graphql::{
    parser::types::{DocumentOperations, Selection},
    Context, Name, Object, Result, Value, Variables, ID,
};
use async_graphql_value::Value as GqlValue;
use tokio::sync::OnceCell;
use uuid::Uuid;

use super::{
    course::{may_see, Siblings as CourseSiblings},
    quiz::{self, viewer},
    Course, Lesson, User,
};
use crate::{
    domain::ids::parse_id,
    loaders::{self, Batch, CourseById, CourseDocBySlug, LessonById, PgReader, QuizById, UserById},
};

/// The keys of one `_entities` call, loaded together: one batch per type, and the courses'
/// relations shared among them (see `loaders::Batch`). The request pipeline prepares it from
/// the call's representations before execution, so however many representations a gateway
/// sends, and however their resolvers are polled, each type costs one round trip.
pub struct EntityBatches {
    courses: Arc<Batch<PgReader, CourseById>>,
    course_siblings: OnceCell<Arc<CourseSiblings>>,
    lessons: Arc<Batch<PgReader, LessonById>>,
    /// The courses of the lessons above, once those are loaded.
    lesson_courses: OnceCell<Arc<Batch<PgReader, CourseById>>>,
    quizzes: Arc<Batch<PgReader, QuizById>>,
    users: Arc<Batch<PgReader, UserById>>,
}

/// The batches of the `_entities` call `request` runs, if it runs one (`text`: its document).
pub fn batches(request: &mut async_graphql::Request, text: &str) -> Option<EntityBatches> {
    if !text.contains("_entities") {
        return None;
    }
    // the variables are read in place (a gateway's representations can be large)
    let variables = std::mem::take(&mut request.variables);
    let keys = representation_keys(request, &variables);
    request.variables = variables;
    let keys = keys?;
    let ids = |typename: &str| keys.iter().filter(|(t, _)| *t == typename).map(|(_, id)| *id).collect::<Vec<_>>();
    Some(EntityBatches {
        courses: Batch::new(ids("Course").into_iter().map(CourseById)),
        course_siblings: OnceCell::new(),
        lessons: Batch::new(ids("Lesson").into_iter().map(LessonById)),
        lesson_courses: OnceCell::new(),
        quizzes: Batch::new(ids("Quiz").into_iter().map(QuizById)),
        users: Batch::new(ids("User").into_iter().map(UserById)),
    })
}

/// (typename, id) of each representation the request's `_entities` fields name by id.
fn representation_keys(request: &mut async_graphql::Request, variables: &Variables) -> Option<Vec<(String, Uuid)>> {
    let document = request.parsed_query().ok()?;
    let operations: Vec<_> = match &document.operations {
        DocumentOperations::Single(op) => vec![op],
        DocumentOperations::Multiple(ops) => ops.values().collect(),
    };
    let mut keys = Vec::new();
    let mut add = |items: &[Value]| {
        for item in items {
            let Value::Object(o) = item else { continue };
            if let (Some(Value::String(typename)), Some(Value::String(id))) =
                (o.get("__typename"), o.get(&Name::new("id")))
            {
                if let Ok(id) = id.parse() {
                    keys.push((typename.clone(), id));
                }
            }
        }
    };
    for op in operations {
        for selection in &op.node.selection_set.node.items {
            let Selection::Field(field) = &selection.node else { continue };
            if field.node.name.node != "_entities" {
                continue;
            }
            let Some(argument) = field.node.get_argument("representations") else { continue };
            match &argument.node {
                GqlValue::Variable(name) => {
                    if let Some(Value::List(items)) = variables.get(name) {
                        add(items);
                    }
                }
                inline => {
                    if let Ok(Value::List(items)) = inline.clone().into_const_with(|_| Err::<Value, ()>(())) {
                        add(&items);
                    }
                }
            }
        }
    }
    Some(keys)
}

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
        let visible =
            |c: &crate::store::pg::entity::course::Model| may_see(viewer(ctx), c.is_published, c.instructor_id);
        let Some(batches) = ctx.data_opt::<EntityBatches>() else {
            let found = loaders::pg(ctx)?.load_one(CourseById(id)).await?;
            return Ok(found.filter(visible).map(Course::from));
        };
        let found = batches.courses.get(ctx, CourseById(id)).await?;
        let all = batches.courses.all(ctx).await?;
        let siblings = batches.course_siblings.get_or_init(|| async { CourseSiblings::of(all.values()) }).await;
        Ok(found.filter(visible).map(|c| Course::sharing(c, siblings)))
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
        let course = match ctx.data_opt::<EntityBatches>() {
            Some(batches) => {
                let Some(lesson) = batches.lessons.get(ctx, LessonById(id)).await? else { return Ok(None) };
                let all = batches.lessons.all(ctx).await?;
                let courses = batches
                    .lesson_courses
                    .get_or_init(|| async { Batch::new(all.values().map(|l| CourseById(l.course_id))) })
                    .await;
                let course = courses.get(ctx, CourseById(lesson.course_id)).await?;
                (lesson, course)
            }
            None => {
                let Some(lesson) = loader.load_one(LessonById(id)).await? else { return Ok(None) };
                let course = loader.load_one(CourseById(lesson.course_id)).await?;
                (lesson, course)
            }
        };
        let (lesson, course) = course;
        let visible = course.is_some_and(|c| may_see(viewer(ctx), c.is_published, c.instructor_id));
        Ok(visible.then(|| Lesson::from(lesson)))
    }

    /// A quiz by id: an active quiz of a published course, or any quiz for its author.
    #[graphql(entity)]
    async fn quiz_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<Option<quiz::Quiz>> {
        let Some(id) = key(&id) else { return Ok(None) };
        let found = match ctx.data_opt::<EntityBatches>() {
            Some(batches) => batches.quizzes.get(ctx, QuizById(id)).await?,
            None => loaders::pg(ctx)?.load_one(QuizById(id)).await?,
        };
        Ok(found.filter(|q| quiz::visible(viewer(ctx), q)).map(quiz::Quiz::from))
    }

    /// A user's public profile by id (what `Course.instructor` shows of anyone).
    #[graphql(entity)]
    async fn user_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<Option<User>> {
        let Some(id) = key(&id) else { return Ok(None) };
        let found = match ctx.data_opt::<EntityBatches>() {
            Some(batches) => batches.users.get(ctx, UserById(id)).await?,
            None => loaders::pg(ctx)?.load_one(UserById(id)).await?,
        };
        Ok(found.filter(|u| u.is_active).map(User::from))
    }
}
