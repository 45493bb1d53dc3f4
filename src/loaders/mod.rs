//! DataLoaders: one reader per store, one key type per lookup. Every `load` starts with an
//! empty-keys check and runs one query per batch, so a request's round trips depend on its
//! shape, never on how many rows it returns. Loaders never decide authorization.

mod batch;
mod mongo;
mod pg;

use std::{sync::Arc, time::Duration};

use async_graphql::{dataloader::DataLoader, Context};

pub use self::{
    batch::{Batch, Reader},
    mongo::{AttemptsOf, CourseDocById, CourseDocBySlug, ProgressAt, ProgressOf, ReadModelReader},
    pg::{
        CategoryById, CourseById, EnrollmentsOf, FiguresOf, FunnelOf, LessonById, LessonCountOf, LessonsByCourse,
        PgReader, QuizById, QuizzesOfLesson, UserById,
    },
};
use crate::{error::AppError, projection::read::ReadModels, store::pg::PgStore};

/// Every lookup's name, as its batches are counted (`learngraph_loader_batch_keys`).
const NAMES: [&str; 16] = [
    "CourseById",
    "CategoryById",
    "UserById",
    "LessonsByCourse",
    "LessonById",
    "LessonCountOf",
    "FiguresOf",
    "FunnelOf",
    "EnrollmentsOf",
    "QuizById",
    "QuizzesOfLesson",
    "CourseDocById",
    "CourseDocBySlug",
    "ProgressAt",
    "ProgressOf",
    "AttemptsOf",
];

/// The loaders a request can use (shared by all requests: they batch, they do not cache).
pub struct Loaders {
    pub pg: DataLoader<PgReader>,
    pub read_models: DataLoader<ReadModelReader>,
}

impl Loaders {
    pub fn new(pg: PgStore, read_models: Arc<ReadModels>, delay: Duration) -> Self {
        crate::metrics::describe_loaders(&NAMES);
        Self {
            pg: DataLoader::new(PgReader(pg), spawn).delay(delay).max_batch_size(1000),
            read_models: DataLoader::new(ReadModelReader(read_models), spawn).delay(delay).max_batch_size(1000),
        }
    }
}

/// Runs a batch in the span of the request that started it, so what the batch logs carries
/// that request's trace id.
fn spawn<F: std::future::Future<Output = ()> + Send + 'static>(batch: F) -> tokio::task::JoinHandle<()> {
    tokio::spawn(tracing::Instrument::in_current_span(batch))
}

/// The read-model loader (MongoDB, falling back to PostgreSQL).
pub fn read_models<'a>(ctx: &Context<'a>) -> Result<&'a DataLoader<ReadModelReader>, AppError> {
    ctx.data::<Arc<Loaders>>().map(|l| &l.read_models).map_err(|_| {
        tracing::error!("schema built without loaders");
        AppError::Internal
    })
}

/// The PostgreSQL loader of the schema a resolver runs in.
pub fn pg<'a>(ctx: &Context<'a>) -> Result<&'a DataLoader<PgReader>, AppError> {
    ctx.data::<Arc<Loaders>>().map(|l| &l.pg).map_err(|_| {
        tracing::error!("schema built without loaders");
        AppError::Internal
    })
}
