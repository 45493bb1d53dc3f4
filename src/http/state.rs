//! What every handler can reach: the schema, the stores, the authenticator, the persisted
//! documents and the request limits. `app.rs` builds it; the handlers only read it.

use std::sync::Arc;

use crate::{
    auth::Authenticator,
    config::Config,
    graphql::LearnGraphSchema,
    projection::{feed::Feed, projector::ProjectorStats, read::ReadModels},
    store::{mongo::MongoStore, pg::PgStore},
};

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub schema: LearnGraphSchema,
    /// The schema for requests that ask for a federated trace (None when FTV1_ENABLED=false).
    pub traced_schema: Option<LearnGraphSchema>,
    pub pg: PgStore,
    pub mongo: MongoStore,
    pub read_models: Arc<ReadModels>,
    pub auth: Arc<Authenticator>,
    pub persisted: Arc<super::persisted::PersistedDocuments>,
    /// GraphQL requests in progress (MAX_CONCURRENT_REQUESTS permits).
    pub in_flight: Arc<tokio::sync::Semaphore>,
    /// What this replica's projector has done (None when PROJECTOR_ENABLED=false).
    pub projector: Option<Arc<ProjectorStats>>,
    /// Documents parsed recently, by their text (the admit stage skips parsing them again).
    pub parsed: Arc<super::limits::ParsedDocuments>,
    /// This replica's end of the change feed.
    pub feed: Arc<Feed>,
}
