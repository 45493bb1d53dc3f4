//! `/metrics`: the process-wide families `crate::metrics` counts as things happen, and this
//! app's figures read at scrape time: the PostgreSQL and MongoDB pools, statements and commands,
//! read-model hits and fallbacks, and the projector's work, lag and backlog.

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use axum::{extract::State, http::header, response::IntoResponse};

use super::AppState;
use crate::metrics::Scrape;

pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let scrape = Scrape::new();
    stores(&state, &scrape);
    projector(&state, &scrape).await;
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], scrape.render())
}

fn load(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

/// Pools, statements, commands and read-model reads.
fn stores(state: &AppState, scrape: &Scrape) {
    let (pg, mongo, reads) = (state.pg.stats(), state.mongo.stats(), &state.read_models.stats);
    scrape.counter("learngraph_pg_statements_total", "SQL statements run.", &[], pg.statements());
    scrape.counter(
        "learngraph_pg_slow_statements_total",
        "SQL statements slower than SLOW_QUERY_THRESHOLD.",
        &[],
        pg.slow_statements(),
    );
    let pool = state.pg.db().get_postgres_connection_pool();
    let (size, idle) = (u64::from(pool.size()), pool.num_idle() as u64);
    let help = "PostgreSQL pool connections by state.";
    scrape.gauge("learngraph_pg_pool_connections", help, &[("state", "idle")], idle as f64);
    scrape.gauge("learngraph_pg_pool_connections", help, &[("state", "in_use")], size.saturating_sub(idle) as f64);

    scrape.counter(
        "learngraph_mongo_commands_total",
        "MongoDB commands sent (driver command events).",
        &[],
        mongo.commands(),
    );
    scrape.counter("learngraph_mongo_failed_commands_total", "MongoDB commands that failed.", &[], mongo.failed());
    let help = "MongoDB pool connections by state (from the driver's pool events).";
    let in_use = load(&mongo.checked_out).saturating_sub(load(&mongo.checked_in));
    let open = load(&mongo.connections_created).saturating_sub(load(&mongo.connections_closed));
    scrape.gauge("learngraph_mongo_pool_connections", help, &[("state", "in_use")], in_use as f64);
    scrape.gauge("learngraph_mongo_pool_connections", help, &[("state", "open")], open as f64);
    let help = "MongoDB connection checkouts, by outcome.";
    scrape.counter("learngraph_mongo_pool_checkouts_total", help, &[("outcome", "ok")], load(&mongo.checked_out));
    scrape.counter(
        "learngraph_mongo_pool_checkouts_total",
        help,
        &[("outcome", "failed")],
        load(&mongo.checkout_failed),
    );
    // seconds with a fraction: the exporter's counters are whole numbers, so this total is
    // written as a gauge (it only grows; rate() reads it as a counter)
    scrape.gauge(
        "learngraph_mongo_pool_wait_seconds_total",
        "Time spent waiting for a MongoDB connection (seconds, since start).",
        &[],
        load(&mongo.checkout_wait_micros) as f64 / 1e6,
    );

    let help = "Read-model documents served from MongoDB.";
    scrape.counter("learngraph_read_model_mongo_hits_total", help, &[], load(&reads.mongo_hits));
    let help = "Read-model documents built from PostgreSQL instead.";
    scrape.counter("learngraph_read_model_fallbacks_total", help, &[], load(&reads.fallbacks));
    let help = "Read-model reads that stopped waiting for a slow MongoDB (MONGO_HEDGE_AFTER).";
    scrape.counter("learngraph_read_model_hedged_total", help, &[], load(&reads.hedged));
    let help = "Read-model documents served from this replica's memory (no round trip).";
    scrape.counter("learngraph_read_model_cache_hits_total", help, &[], load(&state.read_models.cache.hits));
    let help = "1 while this replica listens to the change feed (course pages may be kept), else 0.";
    scrape.gauge("learngraph_change_feed_live", help, &[], if state.feed.is_live() { 1.0 } else { 0.0 });
}

/// The projector: this replica's work and lag, and the outbox backlog all replicas share (one
/// indexed count per scrape, under a short deadline; left out if PostgreSQL is slow).
async fn projector(state: &AppState, scrape: &Scrape) {
    if let Some(stats) = &state.projector {
        let help = "Outbox rows this replica's projector has taken.";
        scrape.counter("learngraph_projector_rows_total", help, &[], load(&stats.outbox_rows));
        let help = "Read-model documents written or deleted by this replica.";
        let name = "learngraph_projector_documents_total";
        scrape.counter(name, help, &[("change", "written")], load(&stats.documents_written));
        scrape.counter(name, help, &[("change", "deleted")], load(&stats.documents_deleted));
        let help = "Projector rounds or documents that failed.";
        scrape.counter("learngraph_projector_errors_total", help, &[], load(&stats.errors));
        let help = "Commit-to-read-model lag of recently projected rows.";
        for (q, label) in [(0.5, "0.5"), (0.99, "0.99")] {
            // NaN before anything was projected, as a summary's quantiles without observations
            let seconds = stats.lag_quantile(q).map_or(f64::NAN, |ms| ms as f64 / 1e3);
            scrape.gauge("learngraph_projector_lag_seconds", help, &[("quantile", label)], seconds);
        }
    }
    let backlog = crate::store::with_deadline(
        crate::error::Store::Postgres,
        "outbox backlog",
        Duration::from_millis(500),
        crate::projection::projector::backlog(state.pg.db()),
    )
    .await;
    if let Ok((rows, oldest)) = backlog {
        let help = "Outbox rows waiting to be projected (all replicas).";
        scrape.gauge("learngraph_projector_backlog_rows", help, &[], rows as f64);
        let help = "Age of the oldest waiting outbox row.";
        scrape.gauge("learngraph_projector_backlog_oldest_seconds", help, &[], oldest.unwrap_or(0.0));
    }
}
