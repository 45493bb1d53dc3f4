//! HTTP: the router, the GraphQL endpoint, the health probes and the metrics.

pub mod fuzz;
mod graphiql;
mod graphql;
mod health;
pub mod limits;
mod media;
pub(crate) mod metrics;
mod nulls;
pub mod persisted;
mod pipeline;
pub mod serve;
mod state;

use axum::{routing::get, Router};

pub use state::AppState;

/// Every route the service answers.
/// The version of the GraphiQL bundle embedded in this binary ("missing" without one).
pub fn graphiql_version() -> &'static str {
    graphiql::VERSION
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/graphql", get(graphql::get).post(graphql::post))
        .route("/graphiql/{version}/{file}", get(graphiql::asset))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::metrics))
        .with_state(state)
}
