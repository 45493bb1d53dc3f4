//! The GraphQL schema: one file per domain; resolvers call a loader or one store function.

mod attempt;
mod authoring;
mod category;
mod course;
mod course_filter;
mod course_list;
mod entity;
pub mod ftv1;
mod learner;
mod lesson;
pub mod ops;
mod quiz;
mod user;

use std::sync::Arc;

use async_graphql::{EmptySubscription, MergedObject, SDLExportOptions, Schema, SchemaBuilder};

pub use self::{
    category::Category,
    course::Course,
    entity::{batches as entity_batches, EntityBatches},
    lesson::Lesson,
    user::User,
};
use crate::{loaders::Loaders, store::pg::PgStore};

/// The root query: each domain contributes its fields.
#[derive(MergedObject, Default)]
pub struct Query(
    course::CourseQuery,
    category::CategoryQuery,
    learner::LearnerQuery,
    quiz::QuizQuery,
    entity::EntityQuery,
    ops::OpsQuery,
);

/// The root mutation: every write goes to PostgreSQL in one transaction.
#[derive(MergedObject, Default)]
pub struct Mutation(
    learner::LearnerMutation,
    learner::ProgressMutation,
    attempt::AttemptMutation,
    authoring::AuthoringMutation,
);

pub type LearnGraphSchema = Schema<Query, Mutation, EmptySubscription>;

/// The schema's shape, with no data attached (for `learngraph sdl` and the drift test).
fn builder() -> SchemaBuilder<Query, Mutation, EmptySubscription> {
    Schema::build(Query::default(), Mutation::default(), EmptySubscription).enable_federation()
}

/// The signed-in user of a request, or `UNAUTHENTICATED`: the token must be valid, and its
/// user must exist and be active (a deactivated user's unexpired token is worth nothing).
pub(crate) async fn signed_in(
    ctx: &async_graphql::Context<'_>,
) -> Result<(uuid::Uuid, crate::auth::Role), crate::error::AppError> {
    signed_in_user(ctx).await.map(|(user, role)| (user.id, role))
}

/// As `signed_in`, with the user's row (already loaded for the check: `me` needs no second load).
pub(crate) async fn signed_in_user(
    ctx: &async_graphql::Context<'_>,
) -> Result<(crate::store::pg::entity::user::Model, crate::auth::Role), crate::error::AppError> {
    let Some(crate::auth::Viewer::User { id, role }) = ctx.data_opt::<crate::auth::Viewer>().copied() else {
        return Err(crate::error::AppError::Unauthenticated);
    };
    let user = crate::loaders::pg(ctx)?.load_one(crate::loaders::UserById(id)).await?;
    match user {
        Some(u) if u.is_active => Ok((u, role)),
        _ => Err(crate::error::AppError::Unauthenticated),
    }
}

/// How the running schema differs from its shape.
#[derive(Clone, Copy, Debug)]
pub struct SchemaOptions {
    /// `__schema` and `__type` (off in production unless INTROSPECTION=true).
    pub introspection: bool,
    /// "Did you mean …" in validation errors (off in production: they describe the schema).
    pub suggestions: bool,
    /// The parser's nesting bound (MAX_NESTING: the handler checks it first, with its code).
    pub nesting: usize,
    /// A tracing span per resolved field (OTEL_RESOLVER_SPANS).
    pub resolver_spans: bool,
}

fn configured(options: SchemaOptions) -> SchemaBuilder<Query, Mutation, EmptySubscription> {
    let mut builder = builder().limit_recursive_depth(options.nesting);
    if !options.introspection {
        builder = builder.disable_introspection();
    }
    if !options.suggestions {
        builder = builder.disable_suggestions();
    }
    if options.resolver_spans {
        builder = builder.extension(ResolverSpans);
    }
    builder
}

/// A span per resolved field, named `Type.field`, with its path (never its arguments).
struct ResolverSpans;

impl async_graphql::extensions::ExtensionFactory for ResolverSpans {
    fn create(&self) -> Arc<dyn async_graphql::extensions::Extension> {
        Arc::new(ResolverSpans)
    }
}

#[async_graphql::async_trait::async_trait]
impl async_graphql::extensions::Extension for ResolverSpans {
    async fn resolve(
        &self,
        ctx: &async_graphql::extensions::ExtensionContext<'_>,
        info: async_graphql::extensions::ResolveInfo<'_>,
        next: async_graphql::extensions::NextResolve<'_>,
    ) -> async_graphql::ServerResult<Option<async_graphql::Value>> {
        use tracing::Instrument as _;
        if info.is_for_introspection {
            return next.run(ctx, info).await;
        }
        let span = tracing::info_span!(
            "resolve",
            otel.name = %format_args!("{}.{}", info.parent_type, info.name),
            graphql.field.path = %info.path_node,
            graphql.field.type = info.return_type,
        );
        next.run(ctx, info).instrument(span).await
    }
}

/// The schema the service runs.
pub fn build(pg: PgStore, loaders: Arc<Loaders>, ops: ops::OpsSources, options: SchemaOptions) -> LearnGraphSchema {
    configured(options).data(pg).data(loaders).data(ops).finish()
}

/// The schema with no stores attached (the fuzz target: resolvers that need a store fail
/// with INTERNAL_SERVER_ERROR; parsing, validation and the guards run as in service).
pub fn bare(options: SchemaOptions) -> LearnGraphSchema {
    configured(options).finish()
}

/// The same schema, timing every field for federated traces (requests that ask for ftv1).
pub fn build_traced(
    pg: PgStore,
    loaders: Arc<Loaders>,
    ops: ops::OpsSources,
    options: SchemaOptions,
) -> LearnGraphSchema {
    configured(options).data(pg).data(loaders).data(ops).extension(ftv1::Ftv1).finish()
}

/// The schema in SDL, as committed in `schema.graphql`: the Federation v2 subgraph schema,
/// exactly what `_service { sdl }` answers a gateway.
pub fn sdl() -> String {
    builder().finish().sdl_with_options(SDLExportOptions::new().federation().compose_directive())
}

/// The store a resolver runs against (for the few fields that run one store function).
pub(crate) fn pg_store<'a>(ctx: &async_graphql::Context<'a>) -> Result<&'a PgStore, crate::error::AppError> {
    ctx.data::<PgStore>().map_err(|_| {
        tracing::error!("schema built without the PostgreSQL store");
        crate::error::AppError::Internal
    })
}
