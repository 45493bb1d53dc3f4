//! The PgBouncer trap: through Debian's PgBouncer 1.18 in transaction mode, sqlx's prepared
//! statements fail or return other queries' rows. The service must refuse to start there.

use std::{io::Write, time::Duration};

use learngraph::{
    app::{App, StartupError},
    store::pg::pooler::{check_prepared_statements, PoolerCheck},
};

use crate::support::{free_port, port_of, stack, tool, wait_for_port, Child, TestDb};

/// Debian's PgBouncer 1.18 in transaction mode in front of the stack's PostgreSQL.
fn start_old_pgbouncer(port: u16) -> (Child, tempdir::Dir) {
    let dir = tempdir::Dir::new();
    let password = stack()
        .direct_url
        .split_once("://")
        .and_then(|(_, rest)| rest.split_once('@'))
        .and_then(|(userinfo, _)| userinfo.split_once(':'))
        .map(|(_, pw)| pw.to_owned())
        .expect("password in DATABASE_DIRECT_URL");
    std::fs::write(dir.path().join("userlist.txt"), format!("\"learngraph\" \"{password}\"\n")).expect("userlist");
    let ini = format!(
        "[databases]\n* = host=127.0.0.1 port={pg}\n[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\n\
         unix_socket_dir =\nauth_type = scram-sha-256\nauth_file = {dir}/userlist.txt\npool_mode = transaction\n\
         ignore_startup_parameters = extra_float_digits\nlogfile = {dir}/pgbouncer.log\n",
        pg = port_of(&stack().direct_url),
        dir = dir.path().display(),
    );
    let mut f = std::fs::File::create(dir.path().join("pgbouncer.ini")).expect("ini");
    f.write_all(ini.as_bytes()).expect("write ini");
    let mut cmd = std::process::Command::new(tool("LG_PGBOUNCER_OLD_BIN"));
    // PgBouncer will not run as root
    if nix_is_root() {
        cmd.args(["-u", "postgres"]);
    }
    cmd.arg(dir.path().join("pgbouncer.ini")).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
    (Child(cmd.spawn().expect("start pgbouncer 1.18")), dir)
}

fn nix_is_root() -> bool {
    std::process::Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0\n")).unwrap_or(false)
}

#[tokio::test]
async fn the_service_refuses_pgbouncer_1_18_in_transaction_mode() {
    let port = free_port();
    let (_bouncer, _dir) = start_old_pgbouncer(port);
    wait_for_port(port, Duration::from_secs(10)).await;
    let db = TestDb::migrated().await;
    let url = db.pooled_url.replace(&format!(":{}/", port_of(&stack().database_url)), &format!(":{port}/"));

    let found = check_prepared_statements(&url, Duration::from_secs(10)).await.expect("the probe runs");
    assert!(matches!(found, PoolerCheck::Broken { .. }), "{found:?}");

    // several starts in a row: server sessions keep the statements earlier probes prepared,
    // which must not make a later probe pass
    for _ in 0..3 {
        let config = db.config(&[("DATABASE_URL", &url)]);
        match App::build(config).await {
            Err(StartupError::BrokenPooler(message)) => {
                assert!(message.contains("max_prepared_statements"), "{message}");
                assert!(message.contains("PgBouncer"), "{message}");
            }
            Err(other) => panic!("refused for another reason: {other}"),
            Ok(_) => panic!("the service started behind PgBouncer 1.18 in transaction mode"),
        }
    }
}

#[tokio::test]
async fn the_probe_accepts_the_stack_pgbouncer_and_direct_connections() {
    let db = TestDb::migrated().await;
    let through_bouncer = check_prepared_statements(&db.pooled_url, Duration::from_secs(10)).await.expect("probe");
    assert_eq!(through_bouncer, PoolerCheck::SharedAndSafe, "PgBouncer >= 1.21 with max_prepared_statements");
    let direct = check_prepared_statements(&db.direct_url, Duration::from_secs(10)).await.expect("probe");
    assert_eq!(direct, PoolerCheck::Dedicated);
}

/// A temporary folder that `postgres` can read (PgBouncer runs as it under root).
mod tempdir {
    use std::path::{Path, PathBuf};

    pub struct Dir(PathBuf);

    impl Dir {
        pub fn new() -> Self {
            let path = std::env::temp_dir().join(format!("lg-bouncer-{}-{}", std::process::id(), super::free_port()));
            std::fs::create_dir_all(&path).expect("mkdir");
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777)).expect("chmod");
            Dir(path)
        }

        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}
