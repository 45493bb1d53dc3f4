//! Applies `mongo-init/collections.json` (validators and indexes) idempotently: collections
//! are created or `collMod`-ed, indexes created by name. An index the server refuses (the
//! test server has no text indexes) is a warning, not a failure.

use mongodb::{
    bson::{self, doc, Bson, Document},
    options::{IndexOptions, ValidationAction, ValidationLevel},
    IndexModel,
};
use serde::Deserialize;

use super::MongoStore;
use crate::error::{Store, StoreError, StoreErrorKind};

/// The collections file, compiled in: the service and mongod's entrypoint read the same text.
pub const COLLECTIONS_JSON: &str = include_str!("../../../mongo-init/collections.json");

#[derive(Deserialize)]
struct Spec {
    collections: Vec<CollectionSpec>,
}

#[derive(Deserialize)]
struct CollectionSpec {
    name: String,
    validator: serde_json::Value,
    indexes: Vec<IndexSpec>,
}

#[derive(Deserialize)]
struct IndexSpec {
    name: String,
    /// `[field, 1 | -1 | "text"]` pairs: an array keeps the order a compound index needs.
    key: Vec<(String, serde_json::Value)>,
    #[serde(default)]
    unique: bool,
    #[serde(rename = "expireAfterSeconds")]
    expire_after_seconds: Option<u64>,
    weights: Option<serde_json::Value>,
}

/// What `apply` did, for `migrate up` and `migrate status` to print.
#[derive(Debug, Default)]
pub struct SetupReport {
    pub collections_created: Vec<String>,
    pub collections_updated: Vec<String>,
    pub indexes: Vec<String>,
    /// Indexes that existed with another definition, dropped and created again.
    pub recreated: Vec<String>,
    pub warnings: Vec<String>,
}

/// One collection's state, for `migrate status`.
#[derive(Debug)]
pub struct CollectionStatus {
    pub name: String,
    pub exists: bool,
    pub missing_indexes: Vec<String>,
}

fn spec() -> Result<Spec, StoreError> {
    serde_json::from_str(COLLECTIONS_JSON)
        .map_err(|e| StoreError::new(Store::Mongo, StoreErrorKind::Other, format!("collections.json: {e}")))
}

fn to_document(value: &serde_json::Value, what: &str) -> Result<Document, StoreError> {
    match bson::to_bson(value) {
        Ok(Bson::Document(d)) => Ok(d),
        _ => Err(StoreError::new(
            Store::Mongo,
            StoreErrorKind::Other,
            format!("collections.json: {what} is not an object"),
        )),
    }
}

/// IndexOptionsConflict (85) or IndexKeySpecsConflict (86).
fn is_index_conflict(e: &StoreError) -> bool {
    e.detail.contains("(85)") || e.detail.contains("(86)")
}

fn index_model(ix: &IndexSpec) -> Result<IndexModel, mongodb::error::Error> {
    let mut keys = Document::new();
    for (field, kind) in &ix.key {
        let kind = bson::to_bson(kind).map_err(|e| mongodb::error::Error::custom(format!("index {}: {e}", ix.name)))?;
        keys.insert(field.clone(), kind);
    }
    let weights = match &ix.weights {
        Some(w) => match bson::to_bson(w) {
            Ok(Bson::Document(d)) => Some(d),
            _ => return Err(mongodb::error::Error::custom(format!("index {}: weights is not an object", ix.name))),
        },
        None => None,
    };
    let options = IndexOptions::builder()
        .name(ix.name.clone())
        .unique(ix.unique.then_some(true))
        .expire_after(ix.expire_after_seconds.map(std::time::Duration::from_secs))
        .weights(weights)
        .build();
    Ok(IndexModel::builder().keys(keys).options(options).build())
}

impl MongoStore {
    /// Creates or updates every collection's validator and index.
    pub async fn apply_setup(&self) -> Result<SetupReport, StoreError> {
        let spec = spec()?;
        let db = self.database();
        let existing = self.call("list collections", async { db.list_collection_names().await }).await?;
        let mut report = SetupReport::default();
        for c in &spec.collections {
            let validator = to_document(&c.validator, "validator")?;
            if existing.contains(&c.name) {
                let command = doc! {
                    "collMod": &c.name,
                    "validator": validator,
                    "validationLevel": "strict",
                    "validationAction": "error",
                };
                self.call("collMod", async { db.run_command(command).await }).await?;
                report.collections_updated.push(c.name.clone());
            } else {
                self.call("create collection", async {
                    db.create_collection(&c.name)
                        .validator(validator)
                        .validation_level(ValidationLevel::Strict)
                        .validation_action(ValidationAction::Error)
                        .await
                })
                .await?;
                report.collections_created.push(c.name.clone());
            }
            let coll = db.collection::<Document>(&c.name);
            for ix in &c.indexes {
                let created = self.call("create index", async { coll.create_index(index_model(ix)?).await }).await;
                let created = match created {
                    // an index of that name exists with another definition: the spec wins
                    Err(e) if is_index_conflict(&e) => {
                        self.call("drop index", async { coll.drop_index(&ix.name).await }).await?;
                        report.recreated.push(format!("{}.{}", c.name, ix.name));
                        self.call("create index", async { coll.create_index(index_model(ix)?).await }).await
                    }
                    other => other,
                };
                match created {
                    Ok(_) => report.indexes.push(format!("{}.{}", c.name, ix.name)),
                    Err(e) if e.kind == StoreErrorKind::Unavailable || e.kind == StoreErrorKind::Timeout => {
                        return Err(e)
                    }
                    Err(e) => report.warnings.push(format!(
                        "index {}.{} was not created: {} (the server refused it; the service does not rely on it)",
                        c.name, ix.name, e.detail
                    )),
                }
            }
        }
        Ok(report)
    }

    /// Which collections and indexes exist, compared with the spec.
    pub async fn setup_status(&self) -> Result<Vec<CollectionStatus>, StoreError> {
        let spec = spec()?;
        let db = self.database();
        let existing = self.call("list collections", async { db.list_collection_names().await }).await?;
        let mut out = Vec::new();
        for c in &spec.collections {
            let exists = existing.contains(&c.name);
            let mut missing = Vec::new();
            if exists {
                let coll = db.collection::<Document>(&c.name);
                let names = self.call("list indexes", async { coll.list_index_names().await }).await?;
                missing = c.indexes.iter().filter(|ix| !names.contains(&ix.name)).map(|ix| ix.name.clone()).collect();
            }
            out.push(CollectionStatus { name: c.name.clone(), exists, missing_indexes: missing });
        }
        Ok(out)
    }

    /// Runs one driver call under the operation deadline.
    pub(crate) async fn call<T>(
        &self,
        what: &str,
        fut: impl std::future::Future<Output = Result<T, mongodb::error::Error>>,
    ) -> Result<T, StoreError> {
        crate::store::with_deadline(Store::Mongo, what, self.op_timeout(), fut).await
    }
}
