//! The projector: drains the outbox into MongoDB.
//!
//! One round: claim up to `batch` outbox rows (`FOR UPDATE SKIP LOCKED`, so replicas never take
//! the same rows), skip the aggregates Mongo already holds at their current version, build the
//! others from PostgreSQL in one snapshot, write each with a version guard (a document is only
//! replaced by one of the same or a newer version), then delete the claimed rows and commit.
//! A crash before the commit leaves the rows in the outbox: they are projected again, which the
//! version guard makes harmless. A change committed after the snapshot has its own outbox row.

use std::{
    collections::{HashMap, HashSet},
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use chrono::{DateTime, FixedOffset, Utc};
use futures::{StreamExt, TryStreamExt};
use mongodb::bson::{doc, Bson, Document};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, FromQueryResult, Statement, TransactionTrait};

use super::{
    build::{self, Batch},
    docs::Kind,
    feed,
};
use crate::{
    error::{Store, StoreError, StoreErrorKind},
    store::{mongo::MongoStore, with_deadline},
};

/// What the projector has done, for metrics and tests.
#[derive(Debug, Default)]
pub struct ProjectorStats {
    pub rounds: AtomicU64,
    pub outbox_rows: AtomicU64,
    pub documents_written: AtomicU64,
    pub documents_deleted: AtomicU64,
    pub skipped_current: AtomicU64,
    pub errors: AtomicU64,
    /// Commit-to-upsert lag of every projected row, in milliseconds (the last 10,000).
    lags: Mutex<Vec<u64>>,
}

impl ProjectorStats {
    fn record_lag(&self, ms: u64) {
        if let Ok(mut lags) = self.lags.lock() {
            if lags.len() >= 10_000 {
                lags.remove(0);
            }
            lags.push(ms);
        }
    }

    /// The lag quantile `q` (0..=1) over the recent rows, in milliseconds.
    pub fn lag_quantile(&self, q: f64) -> Option<u64> {
        let mut lags = self.lags.lock().ok()?.clone();
        if lags.is_empty() {
            return None;
        }
        lags.sort_unstable();
        let i = ((lags.len() - 1) as f64 * q.clamp(0.0, 1.0)).round() as usize;
        lags.get(i).copied()
    }
}

/// Drains the outbox; see the module documentation.
#[derive(Clone)]
pub struct Projector {
    pg: DatabaseConnection,
    mongo: MongoStore,
    batch: u64,
    deadline: Duration,
    pub stats: Arc<ProjectorStats>,
}

/// How one round went.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Round {
    pub claimed: usize,
    pub written: usize,
    pub deleted: usize,
    pub failed: usize,
}

#[derive(FromQueryResult)]
struct Claimed {
    id: i64,
    kind: String,
    key: String,
    enqueued_at: DateTime<FixedOffset>,
}

impl Projector {
    pub fn new(pg: DatabaseConnection, mongo: MongoStore, batch: u64, deadline: Duration) -> Self {
        Self { pg, mongo, batch, deadline, stats: Arc::default() }
    }

    /// Runs rounds until `stop` turns true: straight on while there is work, polling every
    /// `idle` when the outbox is empty, backing off (up to 5 s) while a store is down.
    pub async fn run(self, idle: Duration, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut backoff = Duration::from_millis(100);
        let failing = AtomicBool::new(false);
        loop {
            if *stop.borrow() {
                return;
            }
            let wait = match self.round().await {
                Ok(round) => {
                    if failing.swap(false, Ordering::Relaxed) {
                        tracing::info!("projector: stores answer again; catching up");
                    }
                    backoff = Duration::from_millis(100);
                    if round.claimed == 0 {
                        idle
                    } else {
                        Duration::ZERO
                    }
                }
                Err(e) => {
                    self.stats.errors.fetch_add(1, Ordering::Relaxed);
                    // logged once per outage, not once per retry
                    if !failing.swap(true, Ordering::Relaxed) {
                        tracing::warn!(store = e.store.name(), kind = ?e.kind, detail = %e.detail,
                            "projector: a store failed; retrying with backoff");
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    backoff
                }
            };
            if !wait.is_zero() {
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    changed = stop.changed() => {
                        // the sender is gone: nobody can stop us any more, so stop now
                        if changed.is_err() {
                            return;
                        }
                    }
                }
            }
        }
    }

    /// Runs rounds until the outbox is empty (for tests and `project run --until-empty`).
    pub async fn drain(&self) -> Result<u64, StoreError> {
        let mut total = 0;
        loop {
            let round = self.round().await?;
            total += round.claimed as u64;
            if round.claimed == 0 {
                return Ok(total);
            }
        }
    }

    /// One round: claim, build, write, delete, commit.
    pub async fn round(&self) -> Result<Round, StoreError> {
        let claim = with_deadline(Store::Postgres, "claim outbox", self.deadline, self.pg.begin()).await?;
        let rows = with_deadline(
            Store::Postgres,
            "claim outbox",
            self.deadline,
            Claimed::find_by_statement(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT id, kind, key, enqueued_at FROM outbox WHERE next_attempt_at <= clock_timestamp() \
                 ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
                [self.batch.into()],
            ))
            .all(&claim),
        )
        .await?;
        if rows.is_empty() {
            let _ = with_deadline(Store::Postgres, "end claim", self.deadline, claim.rollback()).await;
            return Ok(Round::default());
        }

        let mut keys: HashMap<Kind, Vec<String>> = HashMap::new();
        let mut seen = HashSet::new();
        for r in &rows {
            if let Some(kind) = Kind::parse(&r.kind) {
                if seen.insert((kind, r.key.clone())) {
                    keys.entry(kind).or_default().push(r.key.clone());
                }
            }
        }

        let mut round = Round { claimed: rows.len(), ..Round::default() };
        let mut failed_keys = HashSet::new();
        // the kinds are independent documents: project them side by side
        let outcomes = futures::future::try_join_all(
            keys.into_iter()
                .map(|(kind, keys)| async move { self.project(kind, &keys).await.map(|outcome| (kind, outcome)) }),
        )
        .await?;
        for (kind, outcome) in outcomes {
            round.written += outcome.written;
            round.deleted += outcome.deleted;
            round.failed += outcome.failed.len();
            failed_keys.extend(outcome.failed.into_iter().map(|k| (kind, k)));
        }

        // Done rows leave the outbox; rows whose document could not be written wait, longer
        // after each failure (1 s, 2 s, 4 s, … up to an hour), so that they neither spin the
        // projector nor hold up the rows behind them.
        let (failed, done): (Vec<&Claimed>, Vec<&Claimed>) =
            rows.iter().partition(|r| Kind::parse(&r.kind).is_some_and(|k| failed_keys.contains(&(k, r.key.clone()))));
        let done: Vec<i64> = done.iter().map(|r| r.id).collect();
        let failed: Vec<i64> = failed.iter().map(|r| r.id).collect();
        if !failed.is_empty() {
            with_deadline(
                Store::Postgres,
                "delay failed outbox rows",
                self.deadline,
                claim.execute(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = clock_timestamp() \
                     + make_interval(secs => LEAST(3600, power(2, LEAST(attempts, 12)))) WHERE id = ANY($1)",
                    [failed.into()],
                )),
            )
            .await?;
        }
        with_deadline(
            Store::Postgres,
            "delete outbox rows",
            self.deadline,
            claim.execute(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "DELETE FROM outbox WHERE id = ANY($1)",
                [done.into()],
            )),
        )
        .await?;
        with_deadline(Store::Postgres, "commit outbox", self.deadline, claim.commit()).await?;

        let now = Utc::now();
        for r in &rows {
            let lag = (now - r.enqueued_at.with_timezone(&Utc)).num_milliseconds().max(0) as u64;
            self.stats.record_lag(lag);
        }
        self.stats.rounds.fetch_add(1, Ordering::Relaxed);
        self.stats.outbox_rows.fetch_add(rows.len() as u64, Ordering::Relaxed);
        Ok(round)
    }

    /// Brings the documents of `keys` up to date; returns the keys that failed (bad documents).
    async fn project(&self, kind: Kind, keys: &[String]) -> Result<Outcome, StoreError> {
        bring_up_to_date(&self.pg, &self.mongo, kind, keys, self.deadline, &self.stats, false).await
    }
}

/// Sends `payloads` on the change feed's channel (in the caller's transaction, if any): the
/// commits of course changes announce themselves (migration 18); a rebuild, which rewrites
/// documents in MongoDB without a change in PostgreSQL, announces itself with this.
pub(crate) async fn announce<C: ConnectionTrait>(
    db: &C,
    payloads: Vec<String>,
    deadline: Duration,
) -> Result<(), StoreError> {
    if payloads.is_empty() {
        return Ok(());
    }
    with_deadline(
        Store::Postgres,
        "announce changes",
        deadline,
        db.execute(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p",
            [feed::CHANNEL.into(), payloads.into()],
        )),
    )
    .await?;
    Ok(())
}

/// Brings the documents of `keys` up to date: skips those Mongo holds at PostgreSQL's version,
/// builds the others in one snapshot and writes them with the version guard. Then it checks
/// PostgreSQL again: a key that moved past the version just written while it was being written
/// (another projector may have removed its document in between, which a stale write would bring
/// back) is done again. Keys still moving after a few passes are returned as failed, so their
/// outbox rows stay. `force` rewrites documents Mongo holds at the current version too (rebuild).
pub(crate) async fn bring_up_to_date(
    pg: &DatabaseConnection,
    mongo: &MongoStore,
    kind: Kind,
    keys: &[String],
    deadline: Duration,
    stats: &ProjectorStats,
    force: bool,
) -> Result<Outcome, StoreError> {
    let mut total = Outcome::default();
    let mut keys = keys.to_vec();
    for _ in 0..3 {
        let current = mongo_versions(mongo, kind, &keys).await?;
        let snapshot = with_deadline(Store::Postgres, "snapshot", deadline, build::snapshot(pg)).await?;
        let versions =
            with_deadline(Store::Postgres, "versions", deadline, build::versions(&snapshot, kind, &keys)).await?;
        // Mongo already holds these at their current version: nothing to build
        let stale: Vec<String> = keys
            .iter()
            .filter(|k| match (versions.get(*k), current.get(*k)) {
                (Some(v), Some(m)) => force || m < v,
                _ => true,
            })
            .cloned()
            .collect();
        stats.skipped_current.fetch_add((keys.len() - stale.len()) as u64, Ordering::Relaxed);
        let batch =
            with_deadline(Store::Postgres, "build documents", deadline, build::build(&snapshot, kind, &stale)).await;
        let _ = with_deadline(Store::Postgres, "end snapshot", deadline, snapshot.rollback()).await;
        let batch = batch?;
        let built = batch.versions.clone();
        let outcome = write(mongo, kind, &stale, batch, &current, stats).await?;
        total.written += outcome.written;
        total.deleted += outcome.deleted;
        total.failed.extend(outcome.failed.iter().cloned());
        let written: Vec<String> = stale.into_iter().filter(|k| !outcome.failed.contains(k)).collect();
        if written.is_empty() {
            return Ok(total);
        }
        let now =
            with_deadline(Store::Postgres, "recheck versions", deadline, build::versions(pg, kind, &written)).await?;
        keys = written
            .into_iter()
            .filter(|k| now.get(k).copied().unwrap_or(0) > built.get(k).copied().unwrap_or(0))
            .collect();
        if keys.is_empty() {
            return Ok(total);
        }
    }
    total.failed.extend(keys);
    Ok(total)
}

/// The versions Mongo holds for `keys` (absent: no document).
pub(crate) async fn mongo_versions(
    mongo: &MongoStore,
    kind: Kind,
    keys: &[String],
) -> Result<HashMap<String, i64>, StoreError> {
    let coll = mongo.database().collection::<Document>(kind.collection());
    let ids: Vec<Bson> = keys.iter().map(|k| build::mongo_id(kind, k)).collect();
    let docs: Vec<Document> = mongo
        .call("read versions", async {
            coll.find(doc! { "_id": { "$in": ids } }).projection(doc! { "version": 1 }).await?.try_collect().await
        })
        .await?;
    Ok(docs.iter().filter_map(|d| Some((build::key_of(d.get("_id")?)?, version_of(d)?))).collect())
}

#[derive(Default)]
pub(crate) struct Outcome {
    pub written: usize,
    pub deleted: usize,
    pub failed: Vec<String>,
}

fn version_of(d: &Document) -> Option<i64> {
    match d.get("version")? {
        Bson::Int64(v) => Some(*v),
        Bson::Int32(v) => Some(i64::from(*v)),
        _ => None,
    }
}

/// Writes a built batch with the version guard: documents Mongo does not hold yet (per
/// `existing`) go in one `insertMany`; the others are replaced one by one when their version is
/// not older than Mongo's; aggregates gone from PostgreSQL are deleted.
pub(crate) async fn write(
    mongo: &MongoStore,
    kind: Kind,
    keys: &[String],
    mut batch: Batch,
    existing: &HashMap<String, i64>,
    stats: &ProjectorStats,
) -> Result<Outcome, StoreError> {
    let coll = mongo.database().collection::<Document>(kind.collection());
    let mut outcome = Outcome::default();
    let new: Vec<String> =
        keys.iter().filter(|k| !existing.contains_key(*k) && batch.docs.contains_key(*k)).cloned().collect();
    let mut keys: Vec<String> = keys.iter().filter(|k| !new.contains(k)).cloned().collect();
    if !new.is_empty() {
        let docs: Vec<Document> = new.iter().filter_map(|k| batch.docs.get(k).map(|b| b.doc.clone())).collect();
        match mongo.call("insert documents", async { coll.insert_many(docs).ordered(false).await }).await {
            Ok(r) => outcome.written += r.inserted_ids.len(),
            Err(e) if matches!(e.kind, StoreErrorKind::Unavailable | StoreErrorKind::Timeout) => return Err(e),
            // some were inserted meanwhile (another projector, a race): settle each one by one
            Err(_) => keys.extend(new),
        }
    }
    let results: Vec<(String, Result<Change, StoreError>)> = futures::stream::iter(keys.iter().cloned())
        .map(|key| {
            let built = batch.docs.remove(&key);
            let version = batch.versions.get(&key).copied();
            let coll = coll.clone();
            async move {
                let id = build::mongo_id(kind, &key);
                let result = match (built, version) {
                    (Some(built), _) => {
                        let filter = doc! { "_id": built.id.clone(), "version": { "$lte": built.version } };
                        match mongo
                            .call("upsert document", async { coll.replace_one(filter, built.doc).upsert(true).await })
                            .await
                        {
                            Ok(_) => Ok(Change::Written),
                            // a newer version is already there: the guard refused, as it should
                            Err(e) if e.kind == StoreErrorKind::Conflict => Ok(Change::Unchanged),
                            Err(e) => Err(e),
                        }
                    }
                    // gone from PostgreSQL: remove it, unless Mongo somehow holds a newer version
                    (None, Some(v)) => mongo
                        .call("delete document", async {
                            coll.delete_one(doc! { "_id": id, "version": { "$lte": v } }).await
                        })
                        .await
                        .map(|r| if r.deleted_count > 0 { Change::Deleted } else { Change::Unchanged }),
                    (None, None) => mongo
                        .call("delete document", async { coll.delete_one(doc! { "_id": id }).await })
                        .await
                        .map(|r| if r.deleted_count > 0 { Change::Deleted } else { Change::Unchanged }),
                };
                (key, result)
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    for (key, result) in results {
        match result {
            Ok(Change::Written) => outcome.written += 1,
            Ok(Change::Deleted) => outcome.deleted += 1,
            Ok(Change::Unchanged) => {}
            Err(e) if matches!(e.kind, StoreErrorKind::Unavailable | StoreErrorKind::Timeout) => return Err(e),
            Err(e) => {
                tracing::error!(kind = kind.name(), key = %key, detail = %e.detail, "projector: document refused");
                outcome.failed.push(key);
            }
        }
    }
    stats.documents_written.fetch_add(outcome.written as u64, Ordering::Relaxed);
    stats.documents_deleted.fetch_add(outcome.deleted as u64, Ordering::Relaxed);
    Ok(outcome)
}

enum Change {
    Written,
    Deleted,
    Unchanged,
}

/// Outbox rows waiting, and the age of the oldest (for metrics and `project status`).
pub async fn backlog(db: &impl ConnectionTrait) -> Result<(i64, Option<f64>), StoreError> {
    #[derive(FromQueryResult)]
    struct Row {
        n: i64,
        oldest: Option<f64>,
    }
    let row = Row::find_by_statement(Statement::from_string(
        DbBackend::Postgres,
        "SELECT count(*) AS n, EXTRACT(EPOCH FROM clock_timestamp() - min(enqueued_at))::float8 AS oldest FROM outbox",
    ))
    .one(db)
    .await?;
    Ok(row.map(|r| (r.n, r.oldest)).unwrap_or((0, None)))
}
