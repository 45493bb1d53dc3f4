//! The stores: PostgreSQL (system of record, through SeaORM) and MongoDB (document read models).

pub mod mongo;
pub mod pg;

use std::{future::Future, time::Duration};

use crate::error::{Store, StoreError};

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
    let span = tracing::info_span!(
        "db",
        otel.name = what,
        otel.kind = "client",
        otel.status_code = tracing::field::Empty,
        db.system.name = store.system(),
        db.operation.name = what,
        db.query.text = tracing::field::Empty,
    );
    let outcome = match tokio::time::timeout(deadline, call).instrument(span.clone()).await {
        Ok(result) => result.map_err(StoreError::from),
        Err(_) => Err(StoreError::timeout(store, what)),
    };
    if outcome.is_err() {
        span.record("otel.status_code", "ERROR");
    }
    outcome
}
