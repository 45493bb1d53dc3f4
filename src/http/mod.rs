//! HTTP: the router, the GraphQL endpoint and the health probes.

mod graphql;
mod health;

use axum::{routing::get, Router};

use crate::app::AppState;

/// Every route the service answers.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/graphql", get(graphql::get).post(graphql::post))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .with_state(state)
}
