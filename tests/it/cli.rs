//! The binary: bad configuration, seeding a non-empty database, SIGTERM.

use std::{
    process::{Command, Stdio},
    time::Duration,
};

use crate::support::{stack, ServiceProcess, TestDb};

fn learngraph() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_learngraph"));
    cmd.env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
    cmd
}

/// The binary pointed at a test's database and its own Mongo database.
fn learngraph_on(db: &TestDb) -> Command {
    let mut cmd = learngraph();
    cmd.env("DATABASE_URL", &db.pooled_url)
        .env("DATABASE_DIRECT_URL", &db.direct_url)
        .env("MONGODB_URI", &stack().mongo_uri)
        .env("MONGODB_DATABASE", &db.name);
    cmd
}

#[test]
fn a_bad_configuration_value_names_the_variable_and_exits_non_zero() {
    let out = learngraph()
        .args(["serve"])
        .env("DATABASE_URL", "postgres://u:p@127.0.0.1:1/db")
        .env("MONGODB_URI", "mongodb://127.0.0.1:1/")
        .env("DB_POOL_MAX", "many")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("DB_POOL_MAX"), "{stderr}");

    let out = learngraph().args(["serve"]).output().expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("DATABASE_URL"));
}

#[tokio::test]
async fn seed_refuses_a_database_with_data_unless_forced() {
    let db = TestDb::seeded_ci().await;
    let run = |force: bool| {
        let mut cmd = learngraph();
        cmd.args(["seed", "--scale", "ci"])
            .env("DATABASE_URL", &db.pooled_url)
            .env("DATABASE_DIRECT_URL", &db.direct_url)
            .env("MONGODB_URI", &stack().mongo_uri);
        if force {
            cmd.arg("--force");
        }
        cmd.output().expect("runs")
    };
    let refused = run(false);
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--force"));
    let forced = run(true);
    assert!(forced.status.success(), "{}", String::from_utf8_lossy(&forced.stderr));
    assert!(String::from_utf8_lossy(&forced.stdout).contains("rows/s"));
    // progress on stderr: not a terminal here, so plain lines, ending with the total and rate
    let progress = String::from_utf8_lossy(&forced.stderr);
    let last = progress.lines().rfind(|l| l.starts_with("seed: ")).unwrap_or_default();
    assert!(last.contains(" rows in ") && last.ends_with(" rows/s)") && !progress.contains('\r'), "{progress}");
    let first = progress.lines().find(|l| l.starts_with("seed: ")).unwrap_or_default();
    assert!(first.contains(" rows (") && first.contains("%), ETA "), "{progress}");
}

#[tokio::test]
async fn project_rebuild_shows_the_total_its_share_and_the_time_left() {
    let db = TestDb::seeded_ci().await;
    let total = crate::support::first_row(
        &db,
        "SELECT ((SELECT count(*) FROM courses) + (SELECT count(*) FROM quiz_attempts) \
         + (SELECT count(*) FROM enrollments))::text",
    )
    .await;
    let total: u64 = total.parse().expect("a count");
    let out = learngraph_on(&db).args(["project", "rebuild"]).output().expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("rebuilt in"));
    let progress = String::from_utf8_lossy(&out.stderr);
    let first = progress.lines().find(|l| l.starts_with("rebuild: ")).unwrap_or_default();
    let shown_total = first.split(" / ").nth(1).and_then(|rest| rest.split(' ').next()).unwrap_or_default();
    assert_eq!(shown_total.replace(',', ""), total.to_string(), "{progress}");
    assert!(first.contains("%), ETA ") && first.contains("documents/s · courses"), "{progress}");
    let last = progress.lines().rfind(|l| l.starts_with("rebuild: ")).unwrap_or_default();
    let written = last.strip_prefix("rebuild: ").and_then(|rest| rest.split(' ').next()).unwrap_or_default();
    assert_eq!(written.replace(',', ""), total.to_string(), "{progress}");
    assert!(last.contains(" documents in "), "{progress}");
}

#[tokio::test]
async fn replicas_migrating_at_once_all_succeed() {
    // every replica runs `migrate up` as it starts (deploy/k8s: an init container each)
    let db = TestDb::empty().await;
    let runs: Vec<_> = (0..3)
        .map(|_| {
            learngraph_on(&db)
                .args(["migrate", "up"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("runs")
        })
        .collect();
    for run in runs {
        let out = run.wait_with_output().expect("waits");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let applied = crate::support::first_row(&db, "SELECT count(*)::text FROM seaql_migrations").await;
    assert!(applied.parse::<u32>().unwrap_or(0) > 0, "{applied}");
}

#[tokio::test]
async fn sigterm_stops_the_server_cleanly() {
    let db = TestDb::migrated().await;
    ServiceProcess::start(&db, &[]).await.stop().await;

    // still starting: PostgreSQL accepts the connection and never answers
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let url = format!("postgres://u:p@127.0.0.1:{}/db", silent.local_addr().expect("addr").port());
    let starting = ServiceProcess::spawn(
        &db,
        &[("DATABASE_URL", &url), ("DATABASE_DIRECT_URL", &url), ("DB_CONNECTION_TIMEOUT", "60000")],
        None,
    );
    let (_held, _) =
        tokio::time::timeout(Duration::from_secs(20), silent.accept()).await.expect("connects").expect("accepts");
    starting.stop().await;
}
