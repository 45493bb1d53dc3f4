//! `/healthz` (the process is alive) and `/readyz` (every store answers).

use std::time::Duration;

use axum::{extract::State, http::StatusCode, Json};
use serde_json::{json, Value};

use crate::app::AppState;

/// How long each store has to answer a readiness check.
const CHECK_DEADLINE: Duration = Duration::from_secs(1);

pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// 200 when PostgreSQL and MongoDB both answer; 503 naming each store that does not.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let (pg, mongo) = tokio::join!(state.pg.ping(CHECK_DEADLINE), state.mongo.ping(CHECK_DEADLINE));
    let status = |r: &Result<(), _>| if r.is_ok() { "up" } else { "down" };
    let mut down = Vec::new();
    if pg.is_err() {
        down.push("postgres");
    }
    if mongo.is_err() {
        down.push("mongo");
    }
    let checks = json!({ "postgres": status(&pg), "mongo": status(&mongo) });
    if down.is_empty() {
        (StatusCode::OK, Json(json!({ "status": "ready", "checks": checks })))
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "unavailable", "down": down, "checks": checks })))
    }
}
