//! Persisted documents: Apollo's automatic persisted queries (APQ) and trusted documents.
//!
//! APQ: a client sends `extensions.persistedQuery = { version: 1, sha256Hash }` without the
//! query; a replica that knows the hash runs the query it stands for, and one that does not
//! answers `PERSISTED_QUERY_NOT_FOUND`, after which the client sends the query with its hash
//! once to register it. Registered queries live in MongoDB (`persisted_queries`, a TTL
//! collection shared by every replica) behind a small in-process LRU.
//!
//! Trusted documents: a manifest of the operations a deployment's clients send (Apollo's
//! persisted query manifest format). Its operations can always be run by hash; in `require`
//! mode nothing else runs, except for staff (admins), and registering other queries is refused.

use std::{collections::HashMap, num::NonZeroUsize, sync::Arc, time::Duration};

use mongodb::bson::{doc, DateTime as BsonDateTime, Document};
use sha2::{Digest, Sha256};

use crate::{
    config::{PersistedConfig, TrustedMode},
    error::Store,
    store::{mongo::MongoStore, with_deadline},
};

/// The longest query a client may register (a registered query is stored for every replica).
const MAX_REGISTERED: usize = 64 * 1024;
const COLLECTION: &str = "persisted_queries";

/// Why a request with persisted-document extensions cannot run.
#[derive(Debug, PartialEq, Eq)]
pub struct Refusal {
    pub code: &'static str,
    pub message: String,
}

impl Refusal {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }
}

/// The manifest could not be used.
#[derive(Debug)]
pub struct ManifestError(pub String);

pub struct PersistedDocuments {
    apq: bool,
    ttl: Duration,
    op_timeout: Duration,
    mode: TrustedMode,
    /// Trusted operations by sha256.
    trusted: HashMap<String, Arc<str>>,
    cache: std::sync::Mutex<lru::LruCache<String, Arc<str>>>,
    mongo: MongoStore,
}

/// The lowercase hex sha256 of a document, as APQ and manifests name it.
pub fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

impl PersistedDocuments {
    pub fn new(config: &PersistedConfig, mongo: MongoStore, op_timeout: Duration) -> Result<Self, ManifestError> {
        let trusted = match (&config.manifest, config.trusted) {
            (Some(path), mode) if mode != TrustedMode::Off => read_manifest(path)?,
            _ => HashMap::new(),
        };
        Ok(Self {
            apq: config.apq,
            ttl: config.ttl,
            op_timeout,
            mode: config.trusted,
            trusted,
            cache: std::sync::Mutex::new(lru::LruCache::new(
                NonZeroUsize::new(config.cache_size).unwrap_or(NonZeroUsize::MIN),
            )),
            mongo,
        })
    }

    /// Resolves a request's persisted-document extensions: fills in the query a hash stands
    /// for, registers a query sent with its hash, and applies the trusted-documents mode.
    pub async fn resolve(&self, request: &mut async_graphql::Request, staff: bool) -> Result<(), Refusal> {
        let hash = match request.extensions.remove("persistedQuery") {
            None => None,
            Some(value) => Some(persisted_hash(value)?),
        };
        match hash {
            Some(hash) if request.query.is_empty() => {
                if let Some(body) = self.trusted.get(&hash) {
                    request.query = body.to_string();
                    return Ok(());
                }
                if !self.apq {
                    return Err(Refusal::new("PERSISTED_QUERY_NOT_SUPPORTED", "PersistedQueryNotSupported"));
                }
                let query = self
                    .lookup(&hash)
                    .await
                    .ok_or_else(|| Refusal::new("PERSISTED_QUERY_NOT_FOUND", "PersistedQueryNotFound"))?;
                self.admit(&hash, staff)?;
                request.query = query.to_string();
                Ok(())
            }
            Some(hash) => {
                if sha256_hex(&request.query) != hash {
                    return Err(Refusal::new("BAD_REQUEST", "provided sha does not match query"));
                }
                self.admit(&hash, staff)?;
                if self.apq && !self.trusted.contains_key(&hash) && request.query.len() <= MAX_REGISTERED {
                    // only documents that parse are worth keeping
                    if async_graphql::parser::parse_query(&request.query).is_ok() {
                        self.register(hash, &request.query).await;
                    }
                }
                Ok(())
            }
            None => self.admit(&sha256_hex(&request.query), staff),
        }
    }

    /// In `require` mode only trusted operations run, unless the caller is staff.
    fn admit(&self, hash: &str, staff: bool) -> Result<(), Refusal> {
        if self.mode == TrustedMode::Require && !staff && !self.trusted.contains_key(hash) {
            return Err(Refusal::new(
                "PERSISTED_QUERY_NOT_IN_LIST",
                "this operation is not one of the trusted documents this deployment runs",
            ));
        }
        Ok(())
    }

    async fn lookup(&self, hash: &str) -> Option<Arc<str>> {
        if let Some(found) = self.cache.lock().ok().and_then(|mut c| c.get(hash).cloned()) {
            return Some(found);
        }
        let coll = self.mongo.database().collection::<Document>(COLLECTION);
        let found = with_deadline(Store::Mongo, "read persisted query", self.op_timeout, async {
            coll.find_one(doc! { "_id": hash, "expires_at": { "$gt": BsonDateTime::now() } }).await
        })
        .await;
        let query: Arc<str> = match found {
            Ok(Some(d)) => Arc::from(d.get_str("query").ok()?),
            Ok(None) => return None,
            Err(e) => {
                tracing::warn!(detail = %e.detail, "persisted queries: MongoDB failed; the client will send the query again");
                return None;
            }
        };
        if let Ok(mut cache) = self.cache.lock() {
            cache.put(hash.to_owned(), query.clone());
        }
        Some(query)
    }

    async fn register(&self, hash: String, query: &str) {
        let query: Arc<str> = Arc::from(query);
        if let Ok(mut cache) = self.cache.lock() {
            cache.put(hash.clone(), query.clone());
        }
        let expires = BsonDateTime::from_millis(
            BsonDateTime::now().timestamp_millis() + i64::try_from(self.ttl.as_millis()).unwrap_or(i64::MAX / 2),
        );
        let coll = self.mongo.database().collection::<Document>(COLLECTION);
        let stored = with_deadline(Store::Mongo, "register persisted query", self.op_timeout, async {
            coll.update_one(doc! { "_id": &hash }, doc! { "$set": { "query": query.as_ref(), "expires_at": expires } })
                .upsert(true)
                .await
        })
        .await;
        if let Err(e) = stored {
            // this replica still knows it; another one will ask the client again
            tracing::warn!(detail = %e.detail, "persisted queries: could not store a query in MongoDB");
        }
    }
}

fn persisted_hash(value: async_graphql::Value) -> Result<String, Refusal> {
    #[derive(serde::Deserialize)]
    struct Persisted {
        version: i64,
        #[serde(rename = "sha256Hash")]
        sha256_hash: String,
    }
    let bad = || Refusal::new("BAD_REQUEST", "`extensions.persistedQuery` must be { version: 1, sha256Hash }");
    let persisted: Persisted = async_graphql::from_value(value).map_err(|_| bad())?;
    if persisted.version != 1 {
        return Err(Refusal::new("PERSISTED_QUERY_NOT_SUPPORTED", "only version 1 of persisted queries is supported"));
    }
    let hash = persisted.sha256_hash.to_ascii_lowercase();
    if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    Ok(hash)
}

/// Reads Apollo's persisted query manifest: `{ format: "apollo-persisted-query-manifest",
/// version: 1, operations: [{ id, name, type, body }] }`; each id must be the body's sha256.
fn read_manifest(path: &std::path::Path) -> Result<HashMap<String, Arc<str>>, ManifestError> {
    #[derive(serde::Deserialize)]
    struct Manifest {
        format: String,
        version: i64,
        operations: Vec<Operation>,
    }
    #[derive(serde::Deserialize)]
    struct Operation {
        id: String,
        body: String,
    }
    let text =
        std::fs::read_to_string(path).map_err(|e| ManifestError(format!("cannot read {}: {e}", path.display())))?;
    let manifest: Manifest =
        serde_json::from_str(&text).map_err(|e| ManifestError(format!("{}: {e}", path.display())))?;
    if manifest.format != "apollo-persisted-query-manifest" || manifest.version != 1 {
        return Err(ManifestError(format!(
            "{}: expected format apollo-persisted-query-manifest, version 1",
            path.display()
        )));
    }
    let mut out = HashMap::new();
    for op in manifest.operations {
        let id = op.id.to_ascii_lowercase();
        if sha256_hex(&op.body) != id {
            return Err(ManifestError(format!("{}: operation {id} is not the sha256 of its body", path.display())));
        }
        out.insert(id, Arc::from(op.body));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_lowercase_hex_sha256() {
        assert_eq!(sha256_hex("{ __typename }"), "7f56e67dd21ab3f30d1ff8b7bed08893f0a0db86449836189b361dd1e56ddb4b");
    }

    #[test]
    fn a_bad_persisted_query_extension_is_refused() {
        let value = |v: serde_json::Value| async_graphql::Value::from_json(v).expect("value");
        assert_eq!(
            persisted_hash(value(serde_json::json!({ "version": 2, "sha256Hash": "a" }))).map_err(|r| r.code),
            Err("PERSISTED_QUERY_NOT_SUPPORTED")
        );
        assert_eq!(
            persisted_hash(value(serde_json::json!({ "version": 1, "sha256Hash": "xyz" }))).map_err(|r| r.code),
            Err("BAD_REQUEST")
        );
        assert_eq!(persisted_hash(value(serde_json::json!("nope"))).map_err(|r| r.code), Err("BAD_REQUEST"));
        let ok = "7F56E67DD21AB3F30D1FF8B7BED08893F0A0DB86449836189B361DD1E56DDB4B";
        assert_eq!(
            persisted_hash(value(serde_json::json!({ "version": 1, "sha256Hash": ok }))),
            Ok(ok.to_ascii_lowercase())
        );
    }
}
