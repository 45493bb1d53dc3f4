//! The PgBouncer trap: a pooler in transaction mode that does not track prepared statements
//! per client (PgBouncer < 1.21, or `max_prepared_statements = 0`) hands a client's named
//! statement to whichever server connection is free. sqlx prepares every query by name, so
//! through such a pooler queries fail with "prepared statement … does not exist" or, worse,
//! run another statement and return wrong rows. The service checks before it serves.
//!
//! The probe, on fresh connections:
//! 1. A runs a named prepared statement; it lands on server backend X.
//! 2. Another connection opens a transaction and holds whatever backend it gets; then A runs its
//!    statement again. While A keeps landing on X, another holder is added (a transaction pooler
//!    hands the most recently freed server to the next client, so X is soon taken).
//! 3. Once A lands on another backend, that run is the test: behind a pooler that re-prepares
//!    statements it answers correctly; behind a broken one it fails or answers wrongly. If A
//!    always lands on X, each client has its own session (direct, or session pooling).

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

/// How many connections may hold backends before A is taken to have its own session.
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
    // Unique to this probe, and part of the statement's text: a server session that kept a
    // same-named statement from an earlier probe (or another client) answers differently.
    let token = format!("learngraph-probe-{:016x}", rand::random::<u64>());
    let backend_x = match prepared_pid(&mut a, &token).await? {
        Ok(pid) => pid,
        Err(evidence) => return Ok(PoolerCheck::Broken { evidence }),
    };
    let mut holders = Vec::new();
    let mut found = PoolerCheck::Dedicated;
    for _ in 0..PIN_ATTEMPTS {
        let mut holder = PgConnection::connect_with(options).await?;
        sea_orm::sqlx::raw_sql("BEGIN").execute(&mut holder).await?;
        sea_orm::sqlx::query("SELECT pg_backend_pid()").persistent(false).execute(&mut holder).await?;
        holders.push(holder);
        match prepared_pid(&mut a, &token).await? {
            Err(evidence) => {
                found = PoolerCheck::Broken { evidence };
                break;
            }
            Ok(pid) if pid != backend_x => {
                found = PoolerCheck::SharedAndSafe;
                break;
            }
            Ok(_) => {}
        }
    }
    for mut holder in holders {
        let _ = sea_orm::sqlx::raw_sql("ROLLBACK").execute(&mut holder).await;
        let _ = holder.close().await;
    }
    let _ = a.close().await;
    Ok(found)
}

/// Runs the same named prepared statement; `Ok(Err(_))` is evidence of a broken pooler.
async fn prepared_pid(conn: &mut PgConnection, token: &str) -> Result<Result<i32, String>, StoreError> {
    let sql = format!("SELECT pg_backend_pid() AS pid, $1::text || '/{token}' AS token");
    let expected = format!("{token}/{token}");
    let result = sea_orm::sqlx::query(&sql).bind(token).persistent(true).fetch_one(&mut *conn).await;
    match result {
        Ok(row) => {
            let pid: Result<i32, _> = row.try_get("pid");
            let echoed: Result<String, _> = row.try_get("token");
            match (pid, echoed) {
                (Ok(pid), Ok(echoed)) if echoed == expected => Ok(Ok(pid)),
                (pid, echoed) => Ok(Err(format!(
                    "a prepared statement returned another statement's result (pid {pid:?}, token {echoed:?})"
                ))),
            }
        }
        // 26000 invalid_sql_statement_name, 42P05 duplicate_prepared_statement, or a statement
        // that exists under that name with other parameters: evidence. Anything else (pool
        // timeouts, too many connections) means the probe could not run.
        Err(sea_orm::sqlx::Error::Database(db))
            if matches!(db.code().as_deref(), Some("26000" | "42P05"))
                || db.message().contains("prepared statement") =>
        {
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
