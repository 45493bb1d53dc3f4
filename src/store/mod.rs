//! The stores: PostgreSQL (system of record, through SeaORM) and MongoDB (document read models).

pub mod mongo;
pub mod pg;

use std::{
    future::Future,
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use crate::error::{Store, StoreError};

/// MongoDB commands slower than this are logged (SLOW_QUERY_THRESHOLD; PostgreSQL's
/// statements are logged by the statement hook with its own copy of the setting).
static SLOW_CALL_MICROS: AtomicU64 = AtomicU64::new(u64::MAX);

/// Sets the slow-call threshold (at startup).
pub fn log_calls_slower_than(threshold: Duration) {
    SLOW_CALL_MICROS.store(u64::try_from(threshold.as_micros()).unwrap_or(u64::MAX), Ordering::Relaxed);
}

/// Whether a call that took `took` is logged as slow.
pub fn is_slow(took: Duration) -> bool {
    took.as_micros() >= u128::from(SLOW_CALL_MICROS.load(Ordering::Relaxed))
}

/// Runs a store call under a deadline: a hung store becomes a timely error.
pub async fn with_deadline<T, E>(
    store: Store,
    what: &str,
    deadline: Duration,
    call: impl Future<Output = Result<T, E>>,
) -> Result<T, StoreError>
where
    StoreError: From<E>,
{
    use tracing::Instrument as _;
    // one span per database call: an OpenTelemetry client span; the statement is recorded by
    // the driver hooks (SeaORM's metric callback, Mongo's command events), value-free
    // for exported traces only (logs carry the request's id without it), and inside a request
    // or a loader batch only: the projector's polls and health pings would otherwise each be a
    // trace of their own
    let span = if !crate::telemetry::exporting() || tracing::Span::current().is_none() {
        tracing::Span::none()
    } else {
        tracing::info_span!(
            "db",
            otel.name = what,
            otel.kind = "client",
            otel.status_code = tracing::field::Empty,
            db.system.name = store.system(),
            db.operation.name = what,
            db.query.text = tracing::field::Empty,
        )
    };
    let outcome = match tokio::time::timeout(deadline, call).instrument(span.clone()).await {
        Ok(result) => result.map_err(StoreError::from),
        Err(_) => Err(StoreError::timeout(store, what)),
    };
    if outcome.is_err() {
        span.record("otel.status_code", "ERROR");
    }
    outcome
}
