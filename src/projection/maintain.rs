//! `project rebuild` and `project verify`: every read model against PostgreSQL, in batches.

use std::time::Instant;

use futures::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};
use sea_orm::DatabaseConnection;

use super::{
    build::{self, key_of, mongo_id},
    docs::Kind,
    projector::{bring_up_to_date, ProjectorStats},
};
use crate::{error::StoreError, store::mongo::MongoStore};

const BATCH: u64 = 500;

/// Course documents carry every lesson's content: fewer of them per batch.
fn batch_size(kind: Kind) -> u64 {
    if kind == Kind::Course {
        100
    } else {
        BATCH
    }
}

/// Maintenance writes big batches: a longer deadline per call than requests get.
const MAINTENANCE_DEADLINE: std::time::Duration = std::time::Duration::from_secs(120);

/// Documents per kind, and how long it took.
#[derive(Debug, Default)]
pub struct RebuildReport {
    pub kinds: Vec<(Kind, u64, std::time::Duration)>,
    pub removed: u64,
}

impl std::fmt::Display for RebuildReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (kind, n, took) in &self.kinds {
            writeln!(
                f,
                "  {:<14} {n:>9} documents  {:>8.0} documents/s",
                kind.collection(),
                *n as f64 / took.as_secs_f64().max(1e-6)
            )?;
        }
        write!(f, "  removed {} documents with no aggregate in PostgreSQL", self.removed)
    }
}

/// Rebuilds every document of every kind from PostgreSQL, and removes orphans.
pub async fn rebuild(pg: &DatabaseConnection, mongo: &MongoStore) -> Result<RebuildReport, StoreError> {
    let mongo = &mongo.with_op_timeout(MAINTENANCE_DEADLINE);
    let stats = ProjectorStats::default();
    let mut report = RebuildReport::default();
    // the total only informs the progress line: a count that fails leaves it unknown
    let mut total = Some(0);
    for kind in Kind::ALL {
        total = match (total, build::count(pg, kind).await) {
            (Some(sum), Ok(n)) => Some(sum + n),
            _ => None,
        };
    }
    let mut progress = crate::progress::Progress::new("rebuild", "documents", total);
    for kind in Kind::ALL {
        let started = Instant::now();
        let mut written = 0;
        let mut after: Option<String> = None;
        loop {
            let keys = build::keys_after(pg, kind, after.as_deref(), batch_size(kind)).await?;
            let Some(last) = keys.last().cloned() else { break };
            let outcome = bring_up_to_date(pg, mongo, kind, &keys, MAINTENANCE_DEADLINE, &stats, true).await?;
            if !outcome.failed.is_empty() {
                return Err(StoreError::new(
                    crate::error::Store::Mongo,
                    crate::error::StoreErrorKind::Other,
                    format!("{} {} documents could not be written (see the log)", outcome.failed.len(), kind.name()),
                ));
            }
            written += outcome.written as u64;
            progress.add(outcome.written as u64, kind.collection());
            after = Some(last);
        }
        report.kinds.push((kind, written, started.elapsed()));
        report.removed += remove_orphans(pg, mongo, kind).await?;
        // every replica's kept documents of this kind may be stale now
        super::projector::announce(pg, vec![super::feed::everything(kind)], MAINTENANCE_DEADLINE).await?;
    }
    progress.finish();
    Ok(report)
}

/// Removes documents whose aggregate does not exist in PostgreSQL.
async fn remove_orphans(pg: &DatabaseConnection, mongo: &MongoStore, kind: Kind) -> Result<u64, StoreError> {
    let orphans = orphans(pg, mongo, kind).await?;
    if orphans.is_empty() {
        return Ok(0);
    }
    let coll = mongo.database().collection::<Document>(kind.collection());
    let ids: Vec<Bson> = orphans.iter().map(|k| mongo_id(kind, k)).collect();
    let deleted =
        mongo.call("delete orphans", async { coll.delete_many(doc! { "_id": { "$in": ids } }).await }).await?;
    Ok(deleted.deleted_count)
}

/// Keys of Mongo documents with no aggregate in PostgreSQL.
async fn orphans(pg: &DatabaseConnection, mongo: &MongoStore, kind: Kind) -> Result<Vec<String>, StoreError> {
    let coll = mongo.database().collection::<Document>(kind.collection());
    let docs: Vec<Document> = mongo
        .call("list documents", async { coll.find(doc! {}).projection(doc! { "_id": 1 }).await?.try_collect().await })
        .await?;
    let keys: Vec<String> = docs.iter().filter_map(|d| key_of(d.get("_id")?)).collect();
    let mut orphans = Vec::new();
    for chunk in keys.chunks(BATCH as usize) {
        let snapshot = build::snapshot(pg).await?;
        let batch = build::build(&snapshot, kind, chunk).await?;
        let _ = snapshot.rollback().await;
        orphans.extend(chunk.iter().filter(|k| !batch.docs.contains_key(*k)).cloned());
    }
    Ok(orphans)
}

/// One document that differs from what PostgreSQL builds.
#[derive(Debug, PartialEq)]
pub enum Difference {
    Missing { kind: Kind, key: String },
    Orphan { kind: Kind, key: String },
    Stale { kind: Kind, key: String, mongo_version: Option<i64>, version: i64, fields: Vec<String> },
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Difference::Missing { kind, key } => write!(f, "{} {key}: missing from Mongo", kind.collection()),
            Difference::Orphan { kind, key } => write!(f, "{} {key}: in Mongo, not in PostgreSQL", kind.collection()),
            Difference::Stale { kind, key, mongo_version, version, fields } => write!(
                f,
                "{} {key}: Mongo has version {mongo_version:?}, PostgreSQL {version}; differs in {}",
                kind.collection(),
                fields.join(", ")
            ),
        }
    }
}

/// Every document compared with what the builder makes from PostgreSQL (documents counted, differences).
pub async fn verify(pg: &DatabaseConnection, mongo: &MongoStore) -> Result<(u64, Vec<Difference>), StoreError> {
    let mongo = &mongo.with_op_timeout(MAINTENANCE_DEADLINE);
    let mut differences = Vec::new();
    let mut checked = 0;
    for kind in Kind::ALL {
        let coll = mongo.database().collection::<Document>(kind.collection());
        let mut after: Option<String> = None;
        loop {
            let keys = build::keys_after(pg, kind, after.as_deref(), batch_size(kind)).await?;
            let Some(last) = keys.last().cloned() else { break };
            let snapshot = build::snapshot(pg).await?;
            let mut batch = build::build(&snapshot, kind, &keys).await?;
            let _ = snapshot.rollback().await;
            let ids: Vec<Bson> = keys.iter().map(|k| mongo_id(kind, k)).collect();
            let stored: Vec<Document> = mongo
                .call("read documents", async { coll.find(doc! { "_id": { "$in": ids } }).await?.try_collect().await })
                .await?;
            let mut stored: std::collections::HashMap<String, Document> =
                stored.into_iter().filter_map(|d| Some((key_of(d.get("_id")?)?, d))).collect();
            for key in keys {
                checked += 1;
                let Some(built) = batch.docs.remove(&key) else { continue };
                match stored.remove(&key) {
                    None => differences.push(Difference::Missing { kind, key }),
                    Some(doc) if doc == built.doc => {}
                    Some(doc) => {
                        let mut fields: Vec<String> = built
                            .doc
                            .iter()
                            .filter(|(k, v)| doc.get(k.as_str()) != Some(*v))
                            .map(|(k, _)| k.clone())
                            .collect();
                        fields.extend(doc.keys().filter(|k| !built.doc.contains_key(k.as_str())).cloned());
                        let mongo_version = match doc.get("version") {
                            Some(Bson::Int64(v)) => Some(*v),
                            Some(Bson::Int32(v)) => Some(i64::from(*v)),
                            _ => None,
                        };
                        differences.push(Difference::Stale {
                            kind,
                            key,
                            mongo_version,
                            version: built.version,
                            fields,
                        });
                    }
                }
            }
            after = Some(last);
        }
        for key in orphans(pg, mongo, kind).await? {
            differences.push(Difference::Orphan { kind, key });
        }
    }
    Ok((checked, differences))
}
