//! The PgBouncer trap: a pooler in transaction mode that does not track prepared statements
//! per client (PgBouncer < 1.21, or `max_prepared_statements = 0`) hands a client's named
//! statement to whichever server connection is free. sqlx prepares every query by name, so
//! through such a pooler queries fail with "prepared statement … does not exist" or, worse,
//! run another statement and return wrong rows. The service checks before it serves.
//!
//! The probe, on two fresh connections A and B:
//! 1. A runs a prepared statement; it lands on server backend X.
//! 2. B opens a transaction and holds a backend. Behind a transaction pooler that reuses the
//!    most recently freed server (PgBouncer's default), B holds X; a few more connections are
//!    tried until one holds X, so that X is certainly busy.
//! 3. A runs its prepared statement again. Directly on PostgreSQL, or behind a pooler that
//!    re-prepares statements, it answers correctly; behind a broken pooler it now runs on a
//!    server that never saw the statement, and fails or answers wrongly.

use std::time::Duration;

use sea_orm::sqlx::{
    postgres::{PgConnectOptions, PgConnection},
    Connection, Row,
};

use crate::error::{Store, StoreError, StoreErrorKind};

/// What the probe found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PoolerCheck {
    /// Each client connection has its own server session (direct, or session pooling).
    Dedicated,
    /// Server sessions are shared between clients, and prepared statements still work.
    SharedAndSafe,
    /// Server sessions are shared and prepared statements break: the service must not serve.
    Broken { evidence: String },
}

/// How many extra connections may be opened to pin the backend A used.
const PIN_ATTEMPTS: usize = 6;

/// Runs the probe against `url`; the whole probe is bounded by `deadline`.
pub async fn check_prepared_statements(url: &str, deadline: Duration) -> Result<PoolerCheck, StoreError> {
    use std::str::FromStr;
    let options = PgConnectOptions::from_str(url)
        .map_err(|e| StoreError::new(Store::Postgres, StoreErrorKind::Other, e.to_string()))?
        .application_name("learngraph-pooler-check");
    match tokio::time::timeout(deadline, probe(&options)).await {
        Ok(result) => result,
        Err(_) => Err(StoreError::timeout(Store::Postgres, "pooler check")),
    }
}

async fn probe(options: &PgConnectOptions) -> Result<PoolerCheck, StoreError> {
    let mut a = PgConnection::connect_with(options).await?;
    let token = "learngraph-probe-a";
    let first = prepared_pid(&mut a, token).await?;
    let backend_x = match first {
        Ok(pid) => pid,
        Err(evidence) => return Ok(PoolerCheck::Broken { evidence }),
    };

    // Pin X with other clients' open transactions.
    let mut holders = Vec::new();
    let mut pinned = false;
    for _ in 0..PIN_ATTEMPTS {
        let mut conn = PgConnection::connect_with(options).await?;
        sea_orm::sqlx::raw_sql("BEGIN").execute(&mut conn).await?;
        let pid: i32 =
            sea_orm::sqlx::query_scalar("SELECT pg_backend_pid()").persistent(false).fetch_one(&mut conn).await?;
        holders.push(conn);
        if pid == backend_x {
            pinned = true;
            break;
        }
    }

    let second = prepared_pid(&mut a, token).await?;
    for mut conn in holders {
        let _ = sea_orm::sqlx::raw_sql("ROLLBACK").execute(&mut conn).await;
        let _ = conn.close().await;
    }
    let _ = a.close().await;

    Ok(match second {
        Err(evidence) => PoolerCheck::Broken { evidence },
        Ok(_) if pinned => PoolerCheck::SharedAndSafe,
        Ok(_) => PoolerCheck::Dedicated,
    })
}

/// Runs the same named prepared statement; `Ok(Err(_))` is evidence of a broken pooler.
async fn prepared_pid(conn: &mut PgConnection, token: &str) -> Result<Result<i32, String>, StoreError> {
    let result = sea_orm::sqlx::query("SELECT pg_backend_pid() AS pid, $1::text AS token")
        .bind(token)
        .persistent(true)
        .fetch_one(&mut *conn)
        .await;
    match result {
        Ok(row) => {
            let pid: Result<i32, _> = row.try_get("pid");
            let echoed: Result<String, _> = row.try_get("token");
            match (pid, echoed) {
                (Ok(pid), Ok(echoed)) if echoed == token => Ok(Ok(pid)),
                (pid, echoed) => Ok(Err(format!(
                    "a prepared statement returned another statement's result (pid {pid:?}, token {echoed:?})"
                ))),
            }
        }
        Err(sea_orm::sqlx::Error::Database(db)) => {
            Ok(Err(format!("a prepared statement failed on a shared server connection: {}", db.message())))
        }
        Err(other) => Err(StoreError::from(other)),
    }
}

/// The message an operator sees when the pooler is broken.
pub fn broken_pooler_message(evidence: &str) -> String {
    format!(
        "DATABASE_URL points at a connection pooler in transaction mode that does not keep prepared \
         statements per client ({evidence}). PgBouncer before 1.21, or with max_prepared_statements = 0, \
         behaves like this: SeaORM/sqlx prepare every query, and through it they fail or silently return \
         another query's rows. Fix: run PgBouncer >= 1.21 with `max_prepared_statements = 200` (any \
         value > 0) in pool_mode = transaction, or use pool_mode = session, or point DATABASE_URL \
         straight at PostgreSQL. (DB_CHECK_POOLER=false skips this check; do not.)"
    )
}
