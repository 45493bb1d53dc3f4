//! Persisted documents: Apollo's automatic persisted queries, shared by replicas through
//! MongoDB, and trusted documents from a manifest.

use serde_json::{json, Value};

use crate::support::{error_codes, send_json, token, ServiceProcess, TestApp, TestDb};

const QUERY: &str = "query Catalog { courses(first: 2) { nodes { title } } }";

fn sha256(text: &str) -> String {
    learngraph::http::persisted::sha256_hex(text)
}

async fn send(app: &TestApp, bearer: Option<&str>, body: Value) -> Value {
    let mut request = app.client().post(app.url("/graphql")).json(&body);
    if let Some(bearer) = bearer {
        request = request.bearer_auth(bearer);
    }
    send_json(request).await
}

fn by_hash(hash: &str) -> Value {
    json!({ "extensions": { "persistedQuery": { "version": 1, "sha256Hash": hash } } })
}

async fn post(client: &reqwest::Client, url: &str, body: Value) -> Value {
    send_json(client.post(url).json(&body)).await
}

#[tokio::test]
async fn automatic_persisted_queries_are_shared_by_replicas() {
    let db = TestDb::seeded_ci().await;
    // two replicas: two processes, their own memory, the same MongoDB
    let (first, second) = (ServiceProcess::start(&db, &[]).await, ServiceProcess::start(&db, &[]).await);
    let client = reqwest::Client::new();
    let hash = sha256(QUERY);

    // unknown everywhere: the client is asked for the query
    let miss = post(&client, &second.url, by_hash(&hash)).await;
    assert_eq!(error_codes(&miss), ["PERSISTED_QUERY_NOT_FOUND"], "{miss}");
    assert_eq!(miss["errors"][0]["message"], "PersistedQueryNotFound");

    // registered with one replica, which runs it
    let mut register = by_hash(&hash);
    register["query"] = json!(QUERY);
    let registered = post(&client, &first.url, register).await;
    assert!(registered.get("errors").is_none(), "{registered}");
    let titles = registered["data"]["courses"]["nodes"].clone();
    assert_eq!(titles.as_array().map(Vec::len), Some(2));

    // the other replica finds it in the shared store, by hash alone (POST and GET)
    let hit = post(&client, &second.url, by_hash(&hash)).await;
    assert_eq!(hit["data"]["courses"]["nodes"], titles, "{hit}");
    let extensions = json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } }).to_string();
    let got = send_json(client.get(&second.url).query(&[("extensions", extensions.as_str())])).await;
    assert_eq!(got["data"]["courses"]["nodes"], titles, "{got}");

    // a hash that is not the query's, a malformed extension, an unknown version
    let mut wrong = by_hash(&sha256("{ __typename }"));
    wrong["query"] = json!(QUERY);
    assert_eq!(error_codes(&post(&client, &first.url, wrong).await), ["BAD_REQUEST"]);
    let malformed = json!({ "extensions": { "persistedQuery": { "version": 1, "sha256Hash": "not-hex" } } });
    assert_eq!(error_codes(&post(&client, &first.url, malformed).await), ["BAD_REQUEST"]);
    let v2 = json!({ "extensions": { "persistedQuery": { "version": 2, "sha256Hash": hash } } });
    assert_eq!(error_codes(&post(&client, &first.url, v2).await), ["PERSISTED_QUERY_NOT_SUPPORTED"]);
}

#[tokio::test]
async fn trusted_documents_mode_runs_only_the_manifest_for_non_staff() {
    let db = TestDb::seeded_ci().await;
    let manifest = std::env::temp_dir().join(format!("lg-manifest-{}.json", db.name));
    std::fs::write(
        &manifest,
        json!({
            "format": "apollo-persisted-query-manifest",
            "version": 1,
            "operations": [{ "id": sha256(QUERY), "name": "Catalog", "type": "query", "body": QUERY }]
        })
        .to_string(),
    )
    .expect("manifest");
    let manifest_path = manifest.to_string_lossy().to_string();
    let app = TestApp::spawn_with(db.config(&[
        ("AUTH_JWT_HS256_SECRET", crate::support::TEST_JWT_SECRET),
        ("TRUSTED_DOCUMENTS", "require"),
        ("TRUSTED_DOCUMENTS_MANIFEST", manifest_path.as_str()),
    ]))
    .await;
    // the manifest's operation: by hash (no registration needed) and by its text
    let by_id = send(&app, None, by_hash(&sha256(QUERY))).await;
    assert_eq!(by_id["data"]["courses"]["nodes"].as_array().map(Vec::len), Some(2), "{by_id}");
    let by_text = send(&app, None, json!({ "query": QUERY })).await;
    assert_eq!(by_text["data"], by_id["data"]);

    // anything else is refused, with a code: sent as text, registered, or asked by a learner
    let other = "{ categories { name } }";
    let refused = send(&app, None, json!({ "query": other })).await;
    assert_eq!(error_codes(&refused), ["PERSISTED_QUERY_NOT_IN_LIST"], "{refused}");
    assert!(refused.get("data").is_none());
    let mut register = by_hash(&sha256(other));
    register["query"] = json!(other);
    assert_eq!(error_codes(&send(&app, None, register).await), ["PERSISTED_QUERY_NOT_IN_LIST"]);
    let learner = token("10000000-0000-4000-8000-000000000001", "student", 600);
    assert_eq!(
        error_codes(&send(&app, Some(&learner), json!({ "query": other })).await),
        ["PERSISTED_QUERY_NOT_IN_LIST"]
    );

    // staff may run what they like
    let admin = token("10000000-0000-4000-8000-000000000002", "admin", 600);
    let staff = send(&app, Some(&admin), json!({ "query": "{ __typename }" })).await;
    assert_eq!(staff["data"]["__typename"], "Query", "{staff}");
    app.stop().await;
    let _ = std::fs::remove_file(manifest);
}
