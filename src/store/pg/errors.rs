//! PostgreSQL's driver errors as `StoreError`s: what kind of failure each is (a timeout, the
//! store unreachable, a unique violation), and the pool's acquire timeouts counted.

use crate::error::{Store, StoreError, StoreErrorKind};

impl From<sea_orm::DbErr> for StoreError {
    fn from(err: sea_orm::DbErr) -> Self {
        use sea_orm::{DbErr, RuntimeErr, SqlErr};
        let kind = match &err {
            DbErr::ConnectionAcquire(sea_orm::error::ConnAcquireErr::Timeout) => {
                crate::metrics::acquire_timeout();
                StoreErrorKind::Unavailable
            }
            DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => StoreErrorKind::Unavailable,
            DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => classify(e),
            _ if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => StoreErrorKind::Conflict,
            _ => StoreErrorKind::Other,
        };
        StoreError::new(Store::Postgres, kind, err.to_string())
    }
}

impl From<sea_orm::sqlx::Error> for StoreError {
    fn from(err: sea_orm::sqlx::Error) -> Self {
        StoreError::new(Store::Postgres, classify(&err), err.to_string())
    }
}

/// What kind of failure a driver error is.
fn classify(err: &sea_orm::sqlx::Error) -> StoreErrorKind {
    use sea_orm::sqlx::Error;
    match err {
        Error::PoolTimedOut => {
            crate::metrics::acquire_timeout();
            StoreErrorKind::Unavailable
        }
        Error::Io(_) | Error::Tls(_) | Error::PoolClosed | Error::WorkerCrashed => StoreErrorKind::Unavailable,
        Error::Database(db) => match db.code().as_deref() {
            // query_canceled: the server's statement_timeout fired
            Some("57014") => StoreErrorKind::Timeout,
            // connection exceptions, admin_shutdown, cannot_connect_now, too_many_connections
            Some(c) if c.starts_with("08") || c == "57P01" || c == "57P03" || c == "53300" => {
                StoreErrorKind::Unavailable
            }
            Some("23505") => StoreErrorKind::Conflict,
            _ => StoreErrorKind::Other,
        },
        _ => StoreErrorKind::Other,
    }
}
