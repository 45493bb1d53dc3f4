//! Hostile requests: each limit refuses with a 4xx and its code before any store work; POSTs
//! run only as JSON (no CSRF through forms), no batches, no mutation over GET; documents whose
//! fragments fan out are refused at once, and ordinary queries stay quick while they arrive.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::{error_codes, TestApp, TestDb};

/// POSTs a raw body with a content type: status and JSON body.
async fn raw(app: &TestApp, content_type: &str, body: impl Into<reqwest::Body>) -> (u16, Value) {
    let r = app
        .client()
        .post(app.url("/graphql"))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("send");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn query(app: &TestApp, document: &str) -> (u16, Value) {
    raw(app, "application/json", json!({ "query": document }).to_string()).await
}

/// Each fragment spreads the next one `fan` times, `levels` deep: fan^levels selections.
fn fragment_bomb(levels: usize, fan: usize) -> String {
    let mut q = String::from("query Bomb { ...F0 }\n");
    for i in 0..levels {
        let spreads = (0..fan).map(|_| format!("...F{}", i + 1)).collect::<Vec<_>>().join(" ");
        q.push_str(&format!("fragment F{i} on Query {{ {spreads} }}\n"));
    }
    q.push_str(&format!("fragment F{levels} on Query {{ categories {{ name parent {{ name }} }} }}\n"));
    q
}

#[tokio::test]
async fn every_limit_refuses_with_its_code_before_any_store_work() {
    let db = TestDb::migrated().await;
    let app = TestApp::spawn(&db).await;
    let (statements, commands) = (app.pg_stats().statements(), app.state.mongo.stats().commands());

    let many = |n: usize, f: &dyn Fn(usize) -> String| (0..n).map(f).collect::<Vec<_>>().join(" ");
    let cases: Vec<(&str, String)> = vec![
        ("DOCUMENT_TOO_LARGE", format!("{{ categories {{ name }} }} # {}", "x".repeat(40_000))),
        ("TOO_MANY_TOKENS", format!("{{ categories {{ {} }} }}", "name ".repeat(6_000))),
        ("DOCUMENT_TOO_DEEP", format!("{{ course(slug: {}\"x\"{}) {{ id }} }}", "[".repeat(60), "]".repeat(60))),
        ("QUERY_TOO_DEEP", format!("{{ categories {{ {}name{} }} }}", "parent { ".repeat(20), " }".repeat(20))),
        (
            "QUERY_TOO_COMPLEX",
            "{ courses(first: 100) { nodes { instructor { taughtCourses(first: 100) { nodes { id } } } } } }".into(),
        ),
        ("TOO_MANY_ALIASES", format!("{{ categories {{ {} }} }}", many(31, &|i| format!("n{i}: name")))),
        ("TOO_MANY_ROOT_FIELDS", format!("{{ {} }}", many(21, &|i| format!("c{i}: categories {{ name }}")))),
        ("TOO_MANY_DIRECTIVES", format!("{{ categories {{ name {} }} }}", "@include(if: true) ".repeat(6))),
        ("TOO_MANY_SELECTIONS", fragment_bomb(8, 4)),
    ];
    for (code, document) in &cases {
        let (status, body) = query(&app, document).await;
        assert_eq!((status, error_codes(&body)), (400, vec![(*code).to_owned()]), "{code}: {body}");
        let message = body["errors"][0]["message"].as_str().unwrap_or("");
        assert!(!message.is_empty() && body.get("data").is_none(), "{code}: {body}");
    }
    assert_eq!(
        (app.pg_stats().statements() - statements, app.state.mongo.stats().commands() - commands),
        (0, 0),
        "no refused request reached a store"
    );

    // what passes: an introspection query (GraphiQL's), and a large but fair page
    let (status, body) = query(
        &app,
        "{ __schema { types { name fields { name type { name ofType { name ofType { name ofType { name } } } } } } } }",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("errors").is_none(), "{body}");
    let (status, body) =
        query(&app, "{ courses(first: 100) { nodes { id title instructor { displayName } category { name } } } }")
            .await;
    assert!(status == 200 && body.get("errors").is_none(), "{body}");
    app.stop().await;
}

#[tokio::test]
async fn bodies_are_bounded_and_only_json_runs() {
    let db = TestDb::migrated().await;
    let app = TestApp::spawn(&db).await;
    let create = r#"{"query":"mutation { enroll(courseId: \"00000000-0000-4000-8000-000000000001\", idempotencyKey: \"csrf\") { id } }"}"#;

    // over 64 KiB: refused whether the length is declared or the body streams in chunks
    let padded = json!({ "query": "{ categories { name } }", "variables": { "pad": "x".repeat(70_000) } }).to_string();
    let (status, body) = raw(&app, "application/json", padded.clone()).await;
    assert_eq!((status, error_codes(&body)), (413, vec!["PAYLOAD_TOO_LARGE".to_owned()]), "{body}");
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        padded.into_bytes().chunks(8192).map(|c| Ok(c.to_vec())).collect();
    let (status, body) = raw(&app, "application/json", reqwest::Body::wrap_stream(futures::stream::iter(chunks))).await;
    assert_eq!((status, error_codes(&body)), (413, vec!["PAYLOAD_TOO_LARGE".to_owned()]), "streamed: {body}");

    // what a cross-site form can send runs nothing: 415
    for content_type in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"] {
        let (status, body) = raw(&app, content_type, create).await;
        assert_eq!(
            (status, error_codes(&body)),
            (415, vec!["UNSUPPORTED_MEDIA_TYPE".to_owned()]),
            "{content_type}: {body}"
        );
    }
    // a mutation over GET: 405
    let r = app
        .client()
        .get(app.url("/graphql"))
        .query(&[("query", "mutation { enroll(courseId: \"x\", idempotencyKey: \"get\") { id } }")])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 405);
    // batches are off; bad JSON and bad UTF-8 are 400s
    let (status, body) = raw(&app, "application/json", r#"[{"query":"{ categories { name } }"}]"#).await;
    assert_eq!((status, error_codes(&body)), (400, vec!["BATCH_NOT_SUPPORTED".to_owned()]), "{body}");
    for bad in [
        b"{\"query\": \"{ categories { name } }\"".to_vec(),
        b"{\"query\": \"\xff\xfe\"}".to_vec(),
        b"{\"query\": 12}".to_vec(),
    ] {
        let (status, body) = raw(&app, "application/json", bad).await;
        assert_eq!((status, error_codes(&body)), (400, vec!["BAD_REQUEST".to_owned()]), "{body}");
    }
    let enrolments = crate::support::sql_column(&db.direct_url, "SELECT count(*)::text FROM enrollments").await;
    assert_eq!(enrolments, ["0"], "nothing was written");
    // and JSON with a charset still runs
    let (status, body) = raw(&app, "application/json; charset=utf-8", r#"{"query":"{ categories { name } }"}"#).await;
    assert_eq!((status, &body["data"]), (200, &json!({ "categories": [] })), "{body}");
    app.stop().await;
}

#[tokio::test]
async fn fragment_bombs_are_refused_at_once_and_ordinary_queries_stay_quick() {
    let db = TestDb::migrated().await;
    let app = TestApp::spawn(&db).await;
    // 10^12 selections from under 1 KB
    let bomb = fragment_bomb(12, 10);
    assert!(bomb.len() < 2_000, "{}", bomb.len());

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut attackers = Vec::new();
    for _ in 0..8 {
        let (client, url, bomb, stop) = (app.client().clone(), app.url("/graphql"), bomb.clone(), stop.clone());
        attackers.push(tokio::spawn(async move {
            let mut refused = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let r = client.post(&url).json(&json!({ "query": bomb })).send().await.expect("send");
                let body: Value = r.json().await.expect("json");
                assert_eq!(body["errors"][0]["extensions"]["code"], "TOO_MANY_SELECTIONS", "{body}");
                refused += 1;
            }
            refused
        }));
    }
    // meanwhile, a trivial query, 20 times: each answered well within a second (a bomb that
    // got through to validation would hold a core for seconds)
    let mut slowest = Duration::ZERO;
    for _ in 0..20 {
        let started = Instant::now();
        let (status, body) = query(&app, "{ categories { name } }").await;
        assert!(status == 200 && body.get("errors").is_none(), "{body}");
        slowest = slowest.max(started.elapsed());
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut refused = 0;
    for a in attackers {
        refused += a.await.expect("attacker");
    }
    println!("{refused} fragment bombs refused; slowest trivial query meanwhile {slowest:?}");
    assert!(refused >= 8, "the attack ran: {refused}");
    assert!(slowest < Duration::from_secs(2), "a trivial query took {slowest:?} during the attack");
    app.stop().await;
}

#[tokio::test]
async fn production_settings_hide_the_schema_and_keep_the_subgraph_surface_for_the_gateway() {
    let db = TestDb::migrated().await;
    let app = TestApp::spawn_with(db.config(&[
        ("INTROSPECTION", "false"),
        ("FIELD_SUGGESTIONS", "false"),
        ("ROUTER_SECRET", "s3cret-for-the-router"),
    ]))
    .await;
    for document in ["{ __schema { types { name } } }", "{ __type(name: \"Course\") { name } }"] {
        let (status, body) = query(&app, document).await;
        assert_eq!((status, error_codes(&body)), (200, vec!["GRAPHQL_VALIDATION_FAILED".to_owned()]), "{body}");
        assert!(body.get("data").is_none(), "introspection is off: {body}");
    }
    let (_, body) = query(&app, "{ categories { __typename } }").await;
    assert!(body.get("errors").is_none(), "__typename still answers: {body}");
    let (_, body) = query(&app, "{ categories { nme } }").await;
    assert!(!body.to_string().contains("Did you mean"), "no suggestions: {body}");

    // the subgraph fields: only with the gateway's secret
    for document in ["{ _service { sdl } }", "{ _entities(representations: []) { __typename } }"] {
        let (status, body) = query(&app, document).await;
        assert_eq!((status, error_codes(&body)), (403, vec!["FORBIDDEN".to_owned()]), "{document}: {body}");
        let wrong = app
            .client()
            .post(app.url("/graphql"))
            .header("router-authorization", "s3cret-for-the-routes")
            .json(&json!({ "query": document }))
            .send()
            .await
            .expect("send");
        assert_eq!(wrong.status(), 403, "{document}");
    }
    let r = app
        .client()
        .post(app.url("/graphql"))
        .header("router-authorization", "s3cret-for-the-router")
        .json(&json!({ "query": "{ _service { sdl } }" }))
        .send()
        .await
        .expect("send");
    let body: Value = r.json().await.expect("json");
    assert!(body["data"]["_service"]["sdl"].as_str().is_some_and(|s| s.contains("@key")), "{body}");
    app.stop().await;

    // development settings: suggestions help
    let app = TestApp::spawn(&db).await;
    let (_, body) = query(&app, "{ categories { nme } }").await;
    assert!(body.to_string().contains("Did you mean"), "{body}");
    app.stop().await;
}

/// A raw connection to the app.
async fn connect(app: &TestApp) -> tokio::net::TcpStream {
    tokio::net::TcpStream::connect(app.addr).await.expect("connect")
}

/// Reads until the server closes the connection (or `within` passes): what it sent.
async fn read_to_close(stream: &mut tokio::net::TcpStream, within: Duration) -> Option<String> {
    use tokio::io::AsyncReadExt as _;
    let mut out = Vec::new();
    match tokio::time::timeout(within, stream.read_to_end(&mut out)).await {
        Ok(_) => Some(String::from_utf8_lossy(&out).into_owned()),
        Err(_) => None,
    }
}

#[tokio::test]
async fn slow_clients_are_cut_off_and_excess_load_is_shed() {
    use tokio::io::AsyncWriteExt as _;
    let db = TestDb::migrated().await;

    // headers must arrive within HEADER_READ_TIMEOUT: a client that stalls mid-headers, or
    // sits idle on a kept-alive connection, is disconnected
    let app = TestApp::spawn_with(db.config(&[("HEADER_READ_TIMEOUT", "300")])).await;
    let mut slow = connect(&app).await;
    slow.write_all(b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: appl").await.expect("write");
    let started = Instant::now();
    assert!(read_to_close(&mut slow, Duration::from_secs(10)).await.is_some(), "a stalled header is cut off");
    println!("stalled headers cut after {:?}", started.elapsed());
    let mut idle = connect(&app).await;
    let started = Instant::now();
    assert!(read_to_close(&mut idle, Duration::from_secs(10)).await.is_some(), "an idle connection is closed");
    println!("idle connection closed after {:?}", started.elapsed());
    let (status, _) = query(&app, "{ categories { name } }").await;
    assert_eq!(status, 200, "others are served meanwhile");
    app.stop().await;

    // one request at a time: a second is shed at once with 503 and Retry-After; the one in
    // progress (its body trickling in) runs past REQUEST_TIMEOUT and gets a 503 too
    let app = TestApp::spawn_with(db.config(&[("MAX_CONCURRENT_REQUESTS", "1"), ("REQUEST_TIMEOUT", "1500")])).await;
    let mut trickle = connect(&app).await;
    trickle
        .write_all(b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n{\"query\":")
        .await
        .expect("write");
    app.wait_for_requests_in_flight(1).await;
    let r = app
        .client()
        .post(app.url("/graphql"))
        .json(&json!({ "query": "{ categories { name } }" }))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("1"));
    let body: Value = r.json().await.expect("json");
    assert_eq!(error_codes(&body), ["SERVICE_UNAVAILABLE"], "{body}");
    let answer = read_to_close(&mut trickle, Duration::from_secs(10)).await.unwrap_or_default();
    assert!(answer.starts_with("HTTP/1.1 503"), "the stalled request timed out: {answer}");
    assert!(answer.contains("SERVICE_UNAVAILABLE"), "{answer}");
    // and capacity is back
    let (status, _) = query(&app, "{ categories { name } }").await;
    assert_eq!(status, 200);
    app.stop().await;

    // two connections at most: a third is closed as it arrives
    let app = TestApp::spawn_with(db.config(&[("MAX_CONNECTIONS", "2")])).await;
    let (_first, _second) = (connect(&app).await, connect(&app).await);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut third = connect(&app).await;
    let _ = third.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let answer = read_to_close(&mut third, Duration::from_secs(5)).await;
    assert_eq!(answer.as_deref(), Some(""), "the third connection is closed unanswered");
    app.stop().await;
}

#[tokio::test]
async fn mongodb_operators_in_json_values_are_data() {
    use learngraph::projection::maintain;
    let db = TestDb::migrated().await;
    let instructor = "10000000-0000-4000-8000-0000000000aa";
    crate::support::sql_exec(
        &db.direct_url,
        &format!("INSERT INTO users (id, email, password_hash, first_name, last_name, role) VALUES ('{instructor}', 'op@example.org', 'x', 'Op', 'Erator', 'instructor')"),
    )
    .await;
    let app = TestApp::spawn_authed(&db).await;
    let me = crate::support::token(instructor, "instructor", 600);
    // operator-looking keys, dotted keys and a `$regex` object: stored and served as they are
    let metadata = json!({
        "$where": "sleep(10000)",
        "$gt": "",
        "a.b": { "$ne": null },
        "filter": { "title": { "$regex": ".*", "$options": "i" } },
        "nested": [{ "$set": { "isPublished": true } }],
    });
    let body = crate::support::ask(
        &app,
        Some(&me),
        "mutation($input: CreateCourseInput!) { createCourse(input: $input, idempotencyKey: \"ops\") { id metadata isPublished } }",
        json!({ "input": { "title": "Operators", "metadata": metadata } }),
    )
    .await;
    let course = body["data"]["createCourse"].clone();
    assert_eq!(course["metadata"], metadata, "{body}");
    assert_eq!(course["isPublished"], false);
    // projected into MongoDB and read back from there
    maintain::rebuild(app.state.pg.db(), &app.state.mongo).await.expect("the projection writes the document");
    let hits = app.state.read_models.stats.mongo_hits.load(std::sync::atomic::Ordering::Relaxed);
    let body = crate::support::ask(
        &app,
        Some(&me),
        "query($id: ID!) { course(id: $id) { title metadata isPublished } }",
        json!({ "id": course["id"] }),
    )
    .await;
    assert_eq!(
        body["data"]["course"],
        json!({ "title": "Operators", "metadata": metadata, "isPublished": false }),
        "{body}"
    );
    assert!(
        app.state.read_models.stats.mongo_hits.load(std::sync::atomic::Ordering::Relaxed) > hits,
        "served from MongoDB"
    );
    app.stop().await;
}

#[tokio::test]
async fn memory_stays_bounded_under_the_attack_suite() {
    use tokio::io::AsyncWriteExt as _;
    let db = TestDb::migrated().await;
    // the service in its own process, so its memory is its own
    let service = crate::support::ServiceProcess::start(&db, &[("HEADER_READ_TIMEOUT", "2000")]).await;
    let client = reqwest::Client::new();
    let trivial = json!({ "query": "{ categories { name } }" });
    assert_eq!(client.post(&service.url).json(&trivial).send().await.expect("send").status(), 200);
    let before = service.memory_kb("VmRSS:");
    let addr: std::net::SocketAddr =
        service.url.trim_start_matches("http://").trim_end_matches("/graphql").parse().expect("address");

    let bomb = fragment_bomb(12, 10);
    let deep = format!("{{ categories {{ {}name{} }} }}", "parent { ".repeat(20), " }".repeat(20));
    let near_limit = json!({ "query": "{ categories { name } }", "variables": { "pad": "x".repeat(60_000) } });
    let oversized = vec![b'{'; 1_000_000];
    let until = Instant::now() + Duration::from_secs(6);
    let mut attacks = Vec::new();
    for k in 0..8 {
        let (client, url) = (client.clone(), service.url.clone());
        let (bomb, deep, near_limit, oversized) = (bomb.clone(), deep.clone(), near_limit.clone(), oversized.clone());
        attacks.push(tokio::spawn(async move {
            let mut sent = 0u32;
            while Instant::now() < until {
                let request = match k % 4 {
                    0 => client.post(&url).json(&json!({ "query": bomb })),
                    1 => client.post(&url).json(&json!({ "query": deep })),
                    2 => client.post(&url).json(&near_limit),
                    _ => client.post(&url).header("content-type", "application/json").body(oversized.clone()),
                };
                if let Ok(r) = request.send().await {
                    assert!(r.status().is_client_error() || r.status() == 200, "{}", r.status());
                    let _ = r.bytes().await;
                }
                sent += 1;
            }
            sent
        }));
    }
    // and 200 connections that stall mid-headers
    let mut stalled = Vec::new();
    for _ in 0..200 {
        if let Ok(mut s) = tokio::net::TcpStream::connect(addr).await {
            let _ = s.write_all(b"POST /graphql HTTP/1.1\r\nHost: x\r\n").await;
            stalled.push(s);
        }
    }
    let mut sent = 0;
    for a in attacks {
        sent += a.await.expect("attack");
    }
    let (peak, after) = (service.memory_kb("VmHWM:"), service.memory_kb("VmRSS:"));
    let answered = client.post(&service.url).json(&trivial).send().await.expect("send");
    assert_eq!(answered.status(), 200, "the service answers after the attack");
    println!(
        "attack suite: {sent} hostile requests + {} stalled connections; RSS {} MB before, {} MB after, peak {} MB",
        stalled.len(),
        before / 1024,
        after / 1024,
        peak / 1024
    );
    assert!(peak < 256 * 1024, "peak RSS {} MB", peak / 1024);
}

#[tokio::test]
async fn an_internal_error_tells_the_client_nothing_and_is_logged_once_with_its_trace_id() {
    let db = TestDb::migrated().await;
    let log = std::env::temp_dir().join(format!("learngraph-{}.log", db.name));
    let service = crate::support::ServiceProcess::start_logging(&db, &[("LOG_FORMAT", "json")], Some(&log)).await;
    // a schema the service does not expect: its query fails in PostgreSQL
    crate::support::sql_exec(&db.direct_url, "ALTER TABLE categories RENAME COLUMN name TO name_gone").await;
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let client = reqwest::Client::new();
    let failing = json!({ "query": "{ categories { name } }" });
    let traced = client.post(&service.url).header("traceparent", format!("00-{trace}-00f067aa0ba902b7-01"));
    let body = crate::support::send_json(traced.json(&failing)).await;
    let error = &body["errors"][0];
    assert_eq!(error["extensions"]["code"], "INTERNAL_SERVER_ERROR", "{body}");
    assert_eq!(error["extensions"]["traceId"], trace, "{body}");
    let text = body.to_string();
    for leak in ["name_gone", "does not exist", "SELECT", "sqlx", "DbErr", "categories."] {
        assert!(!text.contains(leak), "{leak} leaked: {text}");
    }
    // without a traceparent the service makes one up
    let body = crate::support::send_json(client.post(&service.url).json(&failing)).await;
    let made = body["errors"][0]["extensions"]["traceId"].as_str().unwrap_or("").to_owned();
    assert!(made.len() == 32 && made.bytes().all(|b| b.is_ascii_hexdigit()) && made != trace, "{body}");

    // the log: one error line per failure, carrying its trace id and the driver's detail
    tokio::time::sleep(Duration::from_millis(300)).await;
    let logged = std::fs::read_to_string(&log).expect("log");
    let _ = std::fs::remove_file(&log);
    for id in [trace, made.as_str()] {
        let lines: Vec<&str> = logged.lines().filter(|l| l.contains(id) && l.contains("\"level\":\"ERROR\"")).collect();
        assert_eq!(lines.len(), 1, "error lines for {id}:\n{logged}");
        assert!(lines[0].contains("name"), "the detail is in the log: {}", lines[0]);
    }
    drop(service);
}

#[tokio::test]
async fn requests_that_cannot_run_say_why_with_a_code() {
    let db = TestDb::migrated().await;
    let app = TestApp::spawn(&db).await;
    let two = "query A { categories { name } } query B { categories { id } }";
    let cases = [
        (json!({ "query": two, "operationName": "C" }), "GRAPHQL_VALIDATION_FAILED"),
        (json!({ "query": two }), "GRAPHQL_VALIDATION_FAILED"),
        (
            json!({ "query": "query($n: Int!) { courses(first: $n) { totalCount } }", "variables": { "n": "ten" } }),
            "GRAPHQL_VALIDATION_FAILED",
        ),
        // a required variable left out: async-graphql finds it while resolving
        (json!({ "query": "query($n: Int!) { courses(first: $n) { totalCount } }" }), "BAD_USER_INPUT"),
        (json!({ "query": "{ courses(first: 5) { totalCount } }", "variables": [1, 2] }), "BAD_REQUEST"),
        (json!({ "query": "{ courses(first: -1) { totalCount } }" }), "BAD_USER_INPUT"),
        (json!({ "query": "{ courses(after: \"AAAA\") { totalCount } }" }), "BAD_USER_INPUT"),
    ];
    for (request, code) in cases {
        let (status, body) = raw(&app, "application/json", request.to_string()).await;
        assert!(status == 200 || status == 400, "{request}: {status}");
        assert_eq!(error_codes(&body), [code], "{request}: {body}");
    }
    app.stop().await;
}
