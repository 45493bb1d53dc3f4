//! The errors of each layer: `StoreError` (a store call failed) → `AppError` (what a client may
//! know) → a GraphQL error with `extensions.code` (Apollo's names).
//!
//! Neither type implements `Display`: async-graphql turns any `Display` error into a client
//! message, which would send driver text to clients. Conversions are explicit.

use std::sync::Arc;

use async_graphql::ErrorExtensions;

/// Which store a failure came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Store {
    Postgres,
    Mongo,
}

impl Store {
    pub fn name(self) -> &'static str {
        match self {
            Store::Postgres => "postgres",
            Store::Mongo => "mongo",
        }
    }

    /// The OpenTelemetry `db.system.name` of the store.
    pub fn system(self) -> &'static str {
        match self {
            Store::Postgres => "postgresql",
            Store::Mongo => "mongodb",
        }
    }
}

/// A failed store call. `detail` is for logs only.
#[derive(Clone, Debug)]
pub struct StoreError {
    pub store: Store,
    pub kind: StoreErrorKind,
    pub detail: Arc<str>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreErrorKind {
    /// The call did not finish before its deadline.
    Timeout,
    /// The store could not be reached (connect, pool acquire, server selection).
    Unavailable,
    /// A unique constraint refused the write.
    Conflict,
    /// Anything else: a bug or an unexpected state.
    Other,
}

impl StoreError {
    pub fn new(store: Store, kind: StoreErrorKind, detail: impl Into<Arc<str>>) -> Self {
        Self { store, kind, detail: detail.into() }
    }

    pub fn timeout(store: Store, what: &str) -> Self {
        Self::new(store, StoreErrorKind::Timeout, format!("deadline exceeded: {what}"))
    }
}

/// What a client may learn about a failure. Each variant has one `extensions.code`.
#[derive(Clone, Debug)]
pub enum AppError {
    /// The request is wrong (a bad id, cursor or argument): `BAD_USER_INPUT`.
    BadUserInput(String),
    /// No valid token where one is needed: `UNAUTHENTICATED`.
    Unauthenticated,
    /// The viewer may not do or see this: `FORBIDDEN`.
    Forbidden,
    /// A store is down or too slow: `SERVICE_UNAVAILABLE`; retrying later can succeed.
    Unavailable(Store),
    /// A bug or an unexpected state: `INTERNAL_SERVER_ERROR`; details are in the log only.
    Internal,
}

impl AppError {
    pub fn bad_input(message: impl Into<String>) -> Self {
        AppError::BadUserInput(message.into())
    }

    pub fn code(&self) -> &'static str {
        match self {
            AppError::BadUserInput(_) => "BAD_USER_INPUT",
            AppError::Unauthenticated => "UNAUTHENTICATED",
            AppError::Forbidden => "FORBIDDEN",
            AppError::Unavailable(_) => "SERVICE_UNAVAILABLE",
            AppError::Internal => "INTERNAL_SERVER_ERROR",
        }
    }

    fn message(&self) -> String {
        match self {
            AppError::BadUserInput(m) => m.clone(),
            AppError::Unauthenticated => "sign in first: this needs a valid bearer token".into(),
            AppError::Forbidden => "you may not do this".into(),
            AppError::Unavailable(store) => format!("{} is unavailable; try again shortly", store.name()),
            AppError::Internal => "internal error".into(),
        }
    }
}

impl From<StoreError> for AppError {
    fn from(err: StoreError) -> Self {
        match err.kind {
            StoreErrorKind::Timeout | StoreErrorKind::Unavailable => {
                tracing::warn!(store = err.store.name(), kind = ?err.kind, detail = %err.detail, "store unavailable");
                AppError::Unavailable(err.store)
            }
            StoreErrorKind::Conflict | StoreErrorKind::Other => {
                tracing::error!(store = err.store.name(), kind = ?err.kind, detail = %err.detail, "store error");
                AppError::Internal
            }
        }
    }
}

impl From<AppError> for async_graphql::Error {
    fn from(err: AppError) -> Self {
        let code = err.code();
        async_graphql::Error::new(err.message()).extend_with(|_, ext| ext.set("code", code))
    }
}

impl From<StoreError> for async_graphql::Error {
    fn from(err: StoreError) -> Self {
        AppError::from(err).into()
    }
}
