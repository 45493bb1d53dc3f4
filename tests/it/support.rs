//! Test support: the stack's coordinates, fresh databases, and the app started in-process
//! through the same `App::build` production uses.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, OnceLock,
    },
    time::Duration,
};

use learngraph::{app::App, config::Config, http::AppState, store::pg::PgStats};
use sea_orm::{ConnectionTrait, Database};
use serde_json::{json, Value};

/// Where the stack runs (exported by `scripts/test` from `scripts/stack env`).
pub struct Stack {
    /// Through PgBouncer.
    pub database_url: String,
    /// Straight to PostgreSQL.
    pub direct_url: String,
    pub mongo_uri: String,
}

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the tests with scripts/test (it starts the stack and exports its variables)")
    })
}

pub fn stack() -> &'static Stack {
    static STACK: OnceLock<Stack> = OnceLock::new();
    STACK.get_or_init(|| Stack {
        database_url: var("DATABASE_URL"),
        direct_url: var("DATABASE_DIRECT_URL"),
        mongo_uri: var("MONGODB_URI"),
    })
}

/// A tool the stack built or installed (paths exported by `scripts/stack env`).
pub fn tool(name: &str) -> String {
    let path = var(name);
    assert!(
        !path.is_empty() && std::path::Path::new(&path).exists(),
        "{name}={path:?} does not exist: run scripts/stack tools"
    );
    path
}

/// `url` with its database name replaced.
pub fn with_database(url: &str, db: &str) -> String {
    let (base, _) = url.rsplit_once('/').expect("a URL with a database name");
    format!("{base}/{db}")
}

/// The port of a URL like `scheme://user:pw@host:port/db`.
pub fn port_of(url: &str) -> u16 {
    let after_at = url.rsplit_once('@').map_or(url, |(_, rest)| rest);
    let host_port = after_at.split('/').next().expect("host:port");
    host_port.rsplit_once(':').expect("a port").1.parse().expect("a numeric port")
}

/// A free loopback port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

fn unique_name(prefix: &str) -> String {
    format!("{prefix}_{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// The migrated template every test database is cloned from (created once per run).
fn template() -> &'static str {
    static TEMPLATE: OnceLock<String> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let name = format!("lg_tpl_{}", std::process::id());
        let direct = stack().direct_url.clone();
        let created = name.clone();
        // its own runtime: the pools it opens must not outlive it
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            rt.block_on(async {
                let admin = Database::connect(&direct).await.expect("connect to the stack's PostgreSQL");
                admin.execute_unprepared(&format!("CREATE DATABASE {created}")).await.expect("create template");
                admin.close().await.expect("close");
                let db = Database::connect(with_database(&direct, &created)).await.expect("connect to template");
                <migration::Migrator as migration::MigratorTrait>::up(&db, None).await.expect("migrate template");
                db.close().await.expect("close");
            });
        })
        .join()
        .expect("template thread");
        name
    })
}

/// A database of its own for one test, in both stores.
pub struct TestDb {
    pub name: String,
    pub direct_url: String,
    pub pooled_url: String,
}

impl TestDb {
    /// A migrated, empty database.
    pub async fn migrated() -> TestDb {
        Self::create(Some(template())).await
    }

    /// A database with no tables (from template1).
    pub async fn empty() -> TestDb {
        Self::create(None).await
    }

    async fn create(template: Option<&str>) -> TestDb {
        let name = unique_name("lg_t");
        let admin = Database::connect(&stack().direct_url).await.expect("connect");
        let sql = match template {
            Some(t) => format!("CREATE DATABASE {name} TEMPLATE {t}"),
            None => format!("CREATE DATABASE {name}"),
        };
        // CREATE DATABASE refuses while another clone of the same template starts: retry
        let mut tries = 0;
        while let Err(e) = admin.execute_unprepared(&sql).await {
            tries += 1;
            assert!(tries < 50, "{sql}: {e}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        admin.close().await.expect("close");
        TestDb {
            direct_url: with_database(&stack().direct_url, &name),
            pooled_url: with_database(&stack().database_url, &name),
            name,
        }
    }

    /// Loads the `ci` data set.
    pub async fn seeded_ci() -> TestDb {
        let db = Self::migrated().await;
        learngraph::seed::run(&db.direct_url, learngraph::seed::Scale::Ci, false).await.expect("seed ci");
        db
    }

    /// The configuration an app on this database uses; `overrides` replace variables.
    pub fn config(&self, overrides: &[(&str, &str)]) -> Config {
        let mut vars: HashMap<String, String> = [
            ("LISTEN_ADDR", "127.0.0.1:0"),
            ("DATABASE_URL", self.pooled_url.as_str()),
            ("DATABASE_DIRECT_URL", self.direct_url.as_str()),
            ("MONGODB_URI", stack().mongo_uri.as_str()),
            ("MONGODB_DATABASE", self.name.as_str()),
            ("DB_POOL_MIN", "0"),
            ("DB_POOL_MAX", "8"),
            ("MONGO_POOL_MIN", "0"),
            ("LOG_FORMAT", "pretty"),
            // debug builds on a busy 2-core machine: give every level of a query time to gather
            // its keys, so the statement counts the tests assert do not depend on timing
            ("LOADER_DELAY_MICROS", "10000"),
            // the projector's statements would mix with the requests' counts: tests of the
            // projection turn it on
            ("PROJECTOR_ENABLED", "false"),
            // the Python test server on a busy machine can take longer than the production
            // default: reads wait for it as long as MONGO_READ_TIMEOUT (the hedge has a test)
            ("MONGO_HEDGE_AFTER", "5000"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        for (k, v) in overrides {
            vars.insert((*k).to_owned(), (*v).to_owned());
        }
        Config::from_map(vars).expect("valid test configuration")
    }
}

/// The service, running in this test's runtime.
pub struct TestApp {
    pub addr: SocketAddr,
    pub state: AppState,
    client: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl TestApp {
    pub async fn spawn(db: &TestDb) -> TestApp {
        Self::spawn_with(db.config(&[])).await
    }

    pub async fn spawn_with(config: Config) -> TestApp {
        let app = App::build(config).await.expect("the app starts");
        let addr = app.local_addr().expect("bound");
        let state = app.state().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(app.serve(async move {
            let _ = stopped.await;
        }));
        TestApp { addr, state, client: reqwest::Client::new(), stop: Some(stop), server: Some(server) }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn pg_stats(&self) -> Arc<PgStats> {
        self.state.pg.stats().clone()
    }

    /// POSTs a GraphQL request and returns the JSON body (status must be 200).
    pub async fn graphql(&self, query: &str, variables: Value) -> Value {
        let response = self
            .client
            .post(self.url("/graphql"))
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200, "GraphQL over application/json answers 200");
        response.json().await.expect("JSON body")
    }

    /// GETs a path: status and JSON body.
    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        let response = self.client.get(self.url(path)).send().await.expect("request");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Stops the server and waits for it.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }
}

/// The data of a GraphQL response that must have no errors.
pub fn data(body: &Value) -> &Value {
    assert!(body.get("errors").is_none(), "unexpected errors: {body}");
    &body["data"]
}

/// The `extensions.code` of each error.
pub fn error_codes(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors in {body}"))
        .iter()
        .map(|e| e["extensions"]["code"].as_str().unwrap_or("<none>").to_owned())
        .collect()
}

/// A child process that is killed when dropped.
pub struct Child(pub std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits until something accepts connections on `port`.
pub async fn wait_for_port(port: u16, within: Duration) {
    let start = std::time::Instant::now();
    while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(start.elapsed() < within, "nothing listens on {port} after {within:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs `sql` on `url` and returns the first column of every row, as text.
pub async fn sql_column(url: &str, sql: &str) -> Vec<String> {
    let db = Database::connect(url).await.expect("connect");
    let rows = db
        .query_all(sea_orm::Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    db.close().await.expect("close");
    rows.iter().map(|r| r.try_get_by_index::<String>(0).unwrap_or_else(|e| panic!("{sql}: {e}"))).collect()
}

/// Runs statements on `url`.
pub async fn sql_exec(url: &str, sql: &str) {
    let db = Database::connect(url).await.expect("connect");
    db.execute_unprepared(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    db.close().await.expect("close");
}

/// The HS256 secret the tests sign their tokens with.
pub const TEST_JWT_SECRET: &str = "a-test-secret-that-is-long-enough-for-hs256";

/// A bearer token for `sub` with `role`, expiring in `expires_in` seconds (negative: expired).
pub fn token(sub: &str, role: &str, expires_in: i64) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs() as i64;
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &json!({ "sub": sub, "role": role, "exp": now + expires_in }),
        &jsonwebtoken::EncodingKey::from_secret(TEST_JWT_SECRET.as_bytes()),
    )
    .expect("token")
}

impl TestApp {
    /// Waits until `n` GraphQL requests are being served (each holds a MAX_CONCURRENT_REQUESTS
    /// permit), instead of guessing how long a request takes to get there.
    pub async fn wait_for_requests_in_flight(&self, n: usize) {
        let max = self.state.config.transport.max_concurrent_requests;
        let start = std::time::Instant::now();
        while max - self.state.in_flight.available_permits() < n {
            assert!(start.elapsed() < Duration::from_secs(20), "{n} requests not in flight after 20 s");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Opens the app's first MongoDB connection now, so the first read a test times does not
    /// also pay for finding the server and connecting on a busy machine.
    pub async fn warm_mongo(&self) {
        self.state.mongo.ping(Duration::from_secs(20)).await.expect("MongoDB answers a ping");
    }

    /// The app on `db`, checking tokens signed with `TEST_JWT_SECRET`.
    pub async fn spawn_authed(db: &TestDb) -> TestApp {
        Self::spawn_with(db.config(&[("AUTH_JWT_HS256_SECRET", TEST_JWT_SECRET)])).await
    }
}

/// Sends a request and returns its JSON body, whatever the status.
pub async fn send_json(request: reqwest::RequestBuilder) -> Value {
    request.send().await.expect("send").json().await.expect("json")
}

/// POSTs a GraphQL request as `bearer` (None: anonymous) and returns the JSON body, whatever
/// the status.
pub async fn ask(app: &TestApp, bearer: Option<&str>, query: &str, variables: Value) -> Value {
    let mut request = app.client().post(app.url("/graphql")).json(&json!({ "query": query, "variables": variables }));
    if let Some(bearer) = bearer {
        request = request.bearer_auth(bearer);
    }
    send_json(request).await
}

/// The first column of the first row of `sql`, as text (a test's setup value).
pub async fn first_row(db: &TestDb, sql: &str) -> String {
    sql_column(&db.direct_url, sql).await.into_iter().next().unwrap_or_else(|| panic!("no row: {sql}"))
}

/// The service in its own OS process (the `learngraph serve` binary) on a test's database and
/// the stack's MongoDB; killed when dropped.
pub struct ServiceProcess {
    pub url: String,
    port: u16,
    process: tokio::process::Child,
}

impl ServiceProcess {
    pub async fn start(db: &TestDb, env: &[(&str, &str)]) -> ServiceProcess {
        Self::start_logging(db, env, None).await
    }

    /// As `start`, with the service's log (stderr) written to `log`.
    pub async fn start_logging(db: &TestDb, env: &[(&str, &str)], log: Option<&std::path::Path>) -> ServiceProcess {
        let mut service = Self::spawn(db, env, log);
        let start = std::time::Instant::now();
        while tokio::net::TcpStream::connect(("127.0.0.1", service.port)).await.is_err() {
            if let Ok(Some(status)) = service.process.try_wait() {
                panic!("the service exited while starting ({status}); its log: {log:?}");
            }
            assert!(start.elapsed() < Duration::from_secs(30), "the service does not listen after 30 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        service
    }

    /// Starts it without waiting for it to listen.
    pub fn spawn(db: &TestDb, env: &[(&str, &str)], log: Option<&std::path::Path>) -> ServiceProcess {
        let port = free_port();
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_learngraph"));
        command
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
            .env("DATABASE_URL", &db.pooled_url)
            .env("DATABASE_DIRECT_URL", &db.direct_url)
            .env("MONGODB_URI", &stack().mongo_uri)
            .env("MONGODB_DATABASE", &db.name)
            .env("PROJECTOR_ENABLED", "false")
            .env("DB_POOL_MIN", "0")
            // as TestDb::config: timing on a busy machine must not change what a request does
            .env("LOADER_DELAY_MICROS", "10000")
            .env("MONGO_HEDGE_AFTER", "5000");
        for (k, v) in env {
            command.env(k, v);
        }
        let stderr = match log {
            Some(path) => std::process::Stdio::from(std::fs::File::create(path).expect("log file")),
            None => std::process::Stdio::null(),
        };
        let process = command
            .stdout(std::process::Stdio::null())
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()
            .expect("the service starts");
        ServiceProcess { url: format!("http://127.0.0.1:{port}/graphql"), port, process }
    }

    /// Stops it as an orchestrator would (SIGTERM) and waits until it has exited, its log
    /// flushed; panics unless it exits cleanly within 15 s.
    pub async fn stop(mut self) {
        let pid = self.pid().to_string();
        let sent = std::process::Command::new("kill").args(["-TERM", &pid]).status().expect("kill");
        assert!(sent.success(), "kill -TERM {pid}");
        let status = tokio::time::timeout(Duration::from_secs(15), self.process.wait())
            .await
            .expect("the service exits within 15 s of SIGTERM")
            .expect("wait");
        assert!(status.success(), "exit status {status}");
    }

    pub fn pid(&self) -> u32 {
        self.process.id().unwrap_or(0)
    }

    /// A line of /proc/PID/status in kB (VmRSS, VmHWM).
    pub fn memory_kb(&self, field: &str) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .unwrap_or_default()
            .lines()
            .find(|l| l.starts_with(field))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }
}
