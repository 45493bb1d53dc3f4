//! MongoDB's driver errors as `StoreError`s: failovers and shutdowns are the store being
//! unavailable (retry later), MaxTimeMSExpired a timeout, E11000 a conflict.

use crate::error::{Store, StoreError, StoreErrorKind};

/// NotWritablePrimary, NotPrimaryNoSecondaryOk, NotPrimaryOrSecondary, InterruptedAtShutdown,
/// InterruptedDueToReplStateChange, PrimarySteppedDown, ShutdownInProgress, HostUnreachable,
/// HostNotFound, NetworkTimeout, SocketException.
const FAILOVER_CODES: &[i32] = &[10107, 13435, 13436, 11600, 11602, 189, 91, 6, 7, 89, 9001];

impl From<mongodb::error::Error> for StoreError {
    fn from(err: mongodb::error::Error) -> Self {
        use mongodb::error::{ErrorKind, WriteFailure};
        let kind = match &*err.kind {
            ErrorKind::ServerSelection { .. } | ErrorKind::Io(_) | ErrorKind::ConnectionPoolCleared { .. } => {
                StoreErrorKind::Unavailable
            }
            ErrorKind::Write(WriteFailure::WriteError(e)) if e.code == 11000 => StoreErrorKind::Conflict,
            // a failover or a shutdown in progress: retry later
            _ if err.contains_label(mongodb::error::RETRYABLE_WRITE_ERROR) => StoreErrorKind::Unavailable,
            ErrorKind::Command(e) if FAILOVER_CODES.contains(&e.code) => StoreErrorKind::Unavailable,
            // 50: MaxTimeMSExpired
            ErrorKind::Command(e) if e.code == 50 => StoreErrorKind::Timeout,
            _ => StoreErrorKind::Other,
        };
        let detail = match &*err.kind {
            ErrorKind::Command(e) => format!("{} ({}): {}", e.code_name, e.code, e.message),
            ErrorKind::Write(WriteFailure::WriteError(e)) => format!("write error {}: {}", e.code, e.message),
            _ => err.to_string(),
        };
        StoreError::new(Store::Mongo, kind, detail)
    }
}
