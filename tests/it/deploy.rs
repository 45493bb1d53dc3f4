//! The production configuration files are the ones the test stack runs: every setting of
//! deploy/postgresql.conf and deploy/pgbouncer.ini is in effect, as written, except the few
//! the stack substitutes for a loopback test machine (scripts/stack marks and lists them).

use std::collections::HashMap;

use sea_orm::sqlx::{self, Connection as _, Row as _};

use crate::support::stack;

/// `name = value` lines of a config file (comments and sections left out), in order.
fn settings(text: &str, section: Option<&str>) -> Vec<(String, String, String)> {
    let mut current = None::<String>;
    let mut out = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            current = Some(trimmed.trim_matches(['[', ']']).to_owned());
            continue;
        }
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        if section.is_some() && current.as_deref() != section {
            continue;
        }
        if let Some((name, value)) = trimmed.split_once('=') {
            let value = value.split(" #").next().unwrap_or("").trim().trim_matches('\'').to_owned();
            out.push((name.trim().to_owned(), value, line.to_owned()));
        }
    }
    out
}

#[tokio::test]
async fn the_test_stack_runs_deploy_postgresql_conf() {
    let deploy = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/postgresql.conf")).expect("read");
    let wanted = settings(&deploy, None);
    assert!(wanted.len() >= 30, "{} settings", wanted.len());
    let mut conn = sqlx::PgConnection::connect(&stack().direct_url).await.expect("connect");
    let mut substituted = Vec::new();
    for (name, _, line) in &wanted {
        let row = sqlx::query("SELECT sourcefile, sourceline FROM pg_settings WHERE name = $1")
            .bind(name)
            .fetch_optional(&mut conn)
            .await
            .expect("pg_settings")
            .unwrap_or_else(|| panic!("{name} is not a PostgreSQL 15 setting"));
        let (file, at): (Option<String>, Option<i32>) = (row.get(0), row.get(1));
        let (Some(file), Some(at)) = (file, at) else {
            panic!("{name} is not set from a file (default or overridden)")
        };
        let generated = std::fs::read_to_string(&file).expect("the running config file");
        let effective = generated.lines().nth(at as usize - 1).unwrap_or_default();
        if effective.contains("# stack") {
            substituted.push(name.as_str());
        } else {
            assert_eq!(effective, line, "{name}: the running line differs from deploy/postgresql.conf");
        }
    }
    substituted.sort_unstable();
    assert_eq!(
        substituted,
        [
            "effective_cache_size",
            "listen_addresses",
            "maintenance_work_mem",
            "max_wal_size",
            "min_wal_size",
            "pg_stat_statements.max",
            "port",
            "shared_buffers",
            "work_mem"
        ]
    );
    println!("postgresql.conf: {} settings in effect, {} substituted", wanted.len(), substituted.len());
}

#[tokio::test]
async fn the_test_stack_runs_deploy_pgbouncer_ini() {
    let deploy = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/pgbouncer.ini")).expect("read");
    let wanted = settings(&deploy, Some("pgbouncer"));
    // PgBouncer's admin console (simple protocol only)
    let base = stack().database_url.rsplit_once('/').map(|(b, _)| b.to_owned()).expect("a database URL");
    let mut conn = sqlx::PgConnection::connect(&format!("{base}/pgbouncer")).await.expect("admin console");
    let rows = sqlx::raw_sql("SHOW CONFIG").fetch_all(&mut conn).await.expect("SHOW CONFIG");
    let running: HashMap<String, String> = rows
        .iter()
        .map(|r| (r.get::<String, _>("key"), r.get::<Option<String>, _>("value").unwrap_or_default()))
        .collect();
    // what scripts/stack substitutes: loopback address, ports, paths, pool sizes for many test databases
    let substituted = [
        "listen_addr",
        "listen_port",
        "auth_file",
        "admin_users",
        "stats_users",
        "default_pool_size",
        "min_pool_size",
        "reserve_pool_size",
        "server_idle_timeout",
    ];
    let mut checked = 0;
    for (name, value, _) in &wanted {
        let Some(actual) = running.get(name) else { panic!("{name} is not a PgBouncer setting") };
        if !substituted.contains(&name.as_str()) {
            assert_eq!(actual, value, "{name}: PgBouncer runs {actual}, deploy/pgbouncer.ini says {value}");
            checked += 1;
        }
    }
    assert_eq!(checked + substituted.len(), wanted.len(), "every setting is either as written or substituted");
    // the substituted ones are the loopback test values, not the production ones
    assert_eq!(running.get("listen_addr").map(String::as_str), Some("127.0.0.1"));
    assert_eq!(running.get("min_pool_size").map(String::as_str), Some("0"));
    assert_eq!(running.get("pool_mode").map(String::as_str), Some("transaction"));
    assert!(running.get("max_prepared_statements").and_then(|v| v.parse::<u32>().ok()) > Some(0));
    println!("pgbouncer.ini: {checked} settings as written, {} substituted", substituted.len());
}

/// A port already taken on this machine stops `scripts/stack up` before any service starts,
/// with a message naming the port and the variable that moves it (not only a log's path).
#[test]
fn stack_up_names_a_busy_port_and_the_variable_that_moves_it() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = busy.local_addr().expect("addr").port();
    let dir = std::env::temp_dir().join(format!("lg-stack-busy-{port}"));
    let out = std::process::Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/stack"))
        .arg("up")
        .env("LG_STACK_DIR", &dir)
        .env("LG_PG_PORT", port.to_string())
        .env_remove("LG_PG_PORT_VAR")
        .output()
        .expect("scripts/stack runs");
    let _ = std::fs::remove_dir_all(&dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains(&format!("port {port} for postgres is in use")), "{stderr}");
    assert!(stderr.contains("LG_PG_PORT="), "{stderr}");
    assert!(!stderr.contains("starting postgres"), "{stderr}");
}
