//! `/healthz` (the process is alive) and `/readyz` (the stores answer).

use std::time::Duration;

use axum::{extract::State, http::StatusCode, Json};
use serde_json::{json, Value};

use super::AppState;

/// How long each store has to answer a readiness check.
const CHECK_DEADLINE: Duration = Duration::from_secs(1);

pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// Which stores a readiness check requires: `?require=postgres` (or `postgres,mongo`, the
/// default). Reads fall back to PostgreSQL while MongoDB is down, so a load balancer may keep
/// sending traffic with PostgreSQL alone (deploy/k8s does).
#[derive(serde::Deserialize)]
pub struct Require {
    require: Option<String>,
}

/// 200 when the required stores answer; 503 naming each store that does not (both are checked
/// and reported either way).
pub async fn readyz(
    State(state): State<AppState>,
    axum::extract::Query(require): axum::extract::Query<Require>,
) -> (StatusCode, Json<Value>) {
    let (mut need_pg, mut need_mongo) = (true, true);
    if let Some(list) = require.require.as_deref() {
        (need_pg, need_mongo) = (false, false);
        for store in list.split(',').map(str::trim) {
            match store {
                "postgres" => need_pg = true,
                "mongo" => need_mongo = true,
                other => {
                    let message = format!("unknown store `{other}` in `require`: use postgres, mongo or both");
                    let body = json!({ "status": "bad request", "code": "BAD_REQUEST", "message": message });
                    return (StatusCode::BAD_REQUEST, Json(body));
                }
            }
        }
    }
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
    if (need_pg && pg.is_err()) || (need_mongo && mongo.is_err()) {
        (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "unavailable", "down": down, "checks": checks })))
    } else {
        (StatusCode::OK, Json(json!({ "status": "ready", "down": down, "checks": checks })))
    }
}
