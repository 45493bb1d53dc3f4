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
    match tokio::time::timeout(deadline, call).await {
        Ok(result) => result.map_err(StoreError::from),
        Err(_) => Err(StoreError::timeout(store, what)),
    }
}
