//! The implementation guide's MongoDB monitoring, as the server's aggregation stages
//! (`$collStats` with storage statistics, `$indexStats`) instead of the deprecated `collStats`
//! command and shell helpers.

use futures::TryStreamExt as _;
use mongodb::bson::{doc, Bson, Document};

use super::MongoStore;
use crate::{error::StoreError, store::with_deadline};

/// A collection's size and its indexes' use.
#[derive(Clone, Debug)]
pub struct CollectionStats {
    pub name: String,
    pub documents: i64,
    pub size_bytes: i64,
    pub storage_bytes: i64,
    pub index_bytes: i64,
    pub indexes: Vec<IndexStats>,
}

/// One index: how often it was used since `since` (the server's start or the index's build).
#[derive(Clone, Debug)]
pub struct IndexStats {
    pub name: String,
    /// The key pattern, as JSON.
    pub key: String,
    pub accesses: i64,
    pub since: Option<chrono::DateTime<chrono::Utc>>,
}

fn number(doc: &Document, key: &str) -> i64 {
    match doc.get(key) {
        Some(Bson::Int32(n)) => i64::from(*n),
        Some(Bson::Int64(n)) => *n,
        Some(Bson::Double(n)) => *n as i64,
        _ => 0,
    }
}

impl MongoStore {
    /// Every collection of the database with its storage and index statistics, by name.
    pub async fn collection_stats(&self) -> Result<Vec<CollectionStats>, StoreError> {
        let deadline = self.op_timeout();
        let mut names = with_deadline(crate::error::Store::Mongo, "list collections", deadline, async {
            // collections only: $collStats fails on a view
            self.database().list_collection_names().filter(doc! { "type": "collection" }).await
        })
        .await?;
        names.retain(|n| !n.starts_with("system."));
        names.sort();
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            let coll = self.database().collection::<Document>(&name);
            let storage: Vec<Document> =
                with_deadline(crate::error::Store::Mongo, "collection stats", deadline, async {
                    coll.aggregate([doc! { "$collStats": { "storageStats": {} } }]).await?.try_collect().await
                })
                .await?;
            let stats = storage.first().and_then(|d| d.get_document("storageStats").ok()).cloned().unwrap_or_default();
            let indexes: Vec<Document> = with_deadline(crate::error::Store::Mongo, "index stats", deadline, async {
                coll.aggregate([doc! { "$indexStats": {} }, doc! { "$sort": { "name": 1 } }]).await?.try_collect().await
            })
            .await?;
            out.push(CollectionStats {
                documents: number(&stats, "count"),
                size_bytes: number(&stats, "size"),
                storage_bytes: number(&stats, "storageSize"),
                index_bytes: number(&stats, "totalIndexSize"),
                indexes: indexes
                    .iter()
                    .map(|ix| {
                        let accesses = ix.get_document("accesses").ok();
                        IndexStats {
                            name: ix.get_str("name").unwrap_or_default().to_owned(),
                            key: ix
                                .get_document("key")
                                .map(|k| Bson::Document(k.clone()).into_relaxed_extjson().to_string())
                                .unwrap_or_default(),
                            accesses: accesses.map(|a| number(a, "ops")).unwrap_or(0),
                            since: accesses
                                .and_then(|a| a.get_datetime("since").ok())
                                .and_then(|d| chrono::DateTime::from_timestamp_millis(d.timestamp_millis())),
                        }
                    })
                    .collect(),
                name,
            });
        }
        Ok(out)
    }
}
