//! Reads of the MongoDB read models, with PostgreSQL as the fallback: when Mongo fails, times
//! out, or does not hold a document yet, the same builder the projector uses answers from
//! PostgreSQL, so the answer is the same document either way. A Mongo outage slows course
//! pages down; it never fails them. The fallback is counted, and logged once per outage.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use futures::TryStreamExt;
use mongodb::bson::{self, doc, Bson, Document};
use sea_orm::{DatabaseConnection, DbBackend, FromQueryResult, Statement};
use uuid::Uuid;

use super::{
    build::{self, mongo_id},
    cache::{CacheSizes, DocCache},
    docs::{AttemptDoc, CourseDoc, Kind, ProgressDoc},
};
use crate::{
    error::{AppError, Store, StoreError, StoreErrorKind},
    store::{mongo::MongoStore, with_deadline},
};

/// Documents per reply of a read-model find.
const FIND_BATCH: u32 = 100_000;

/// How long reads skip Mongo after it failed, before trying it again.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Read-model reads with the PostgreSQL fallback. Shared by all requests.
pub struct ReadModels {
    pg: DatabaseConnection,
    mongo: MongoStore,
    read_timeout: Duration,
    hedge_after: Duration,
    pg_deadline: Duration,
    pub stats: Arc<ReadStats>,
    skip_mongo_until: Arc<Mutex<Option<Instant>>>,
    /// Documents kept in memory (none unless `with_cache` gives sizes).
    pub cache: Arc<DocCache>,
}

#[derive(Debug, Default)]
pub struct ReadStats {
    /// Documents answered by MongoDB.
    pub mongo_hits: AtomicU64,
    /// Documents built from PostgreSQL because Mongo failed, timed out or lacked them.
    pub fallbacks: AtomicU64,
    /// Reads that stopped waiting for a slow Mongo (after `hedge_after`) and built their
    /// documents from PostgreSQL.
    pub hedged: AtomicU64,
    degraded: AtomicBool,
}

impl ReadModels {
    /// `read_timeout`: how long a Mongo read may take before Mongo counts as failed (reads then
    /// skip it for a moment); `hedge_after`: how long a request waits for Mongo before it builds
    /// its documents from PostgreSQL instead (the read goes on, and may still find Mongo failed).
    pub fn new(
        pg: DatabaseConnection,
        mongo: MongoStore,
        read_timeout: Duration,
        hedge_after: Duration,
        pg_deadline: Duration,
    ) -> Self {
        Self {
            pg,
            mongo,
            read_timeout,
            hedge_after,
            pg_deadline,
            stats: Arc::default(),
            skip_mongo_until: Arc::new(Mutex::new(None)),
            cache: Arc::new(DocCache::new(
                super::feed::Feed::off(),
                CacheSizes { courses: 0, progress: 0, attempts: 0 },
                Duration::ZERO,
            )),
        }
    }

    /// Reads through `cache` (see `cache.rs`: what is kept, and for how long).
    pub fn with_cache(mut self, cache: Arc<DocCache>) -> Self {
        self.cache = cache;
        self
    }

    /// Whether reads skip MongoDB right now (it failed or timed out a moment ago).
    pub fn skipping_mongo(&self) -> bool {
        self.skip_mongo_until.lock().ok().and_then(|g| *g).is_some_and(|t| Instant::now() < t)
    }

    /// Course documents by id (unknown ids are absent): kept ones first, then MongoDB.
    pub async fn courses_by_ids(&self, ids: &[Uuid]) -> Result<HashMap<Uuid, CourseDoc>, AppError> {
        let epoch = self.cache.epoch();
        let mut out = HashMap::with_capacity(ids.len());
        let mut keys = Vec::new();
        for id in ids {
            match self.cache.course(*id) {
                Some(doc) => {
                    out.insert(*id, doc);
                }
                None => keys.push(id.to_string()),
            }
        }
        if keys.is_empty() {
            return Ok(out);
        }
        let filter = doc! { "_id": { "$in": keys.iter().map(|k| mongo_id(Kind::Course, k)).collect::<Vec<Bson>>() } };
        let found = self.courses(filter, keys).await?;
        self.keep_courses(epoch, found.iter().filter(|(_, from_mongo)| *from_mongo).map(|(doc, _)| doc)).await;
        for (doc, _) in found {
            out.insert(Uuid::from_bytes(doc.id.bytes()), doc);
        }
        Ok(out)
    }

    /// Keeps the course pages MongoDB answered with that are at PostgreSQL's version (one
    /// statement for the lot, on a fill only): a page MongoDB holds from before a change the
    /// projector has not carried yet is served, not kept. The feed drops kept pages on later
    /// changes.
    async fn keep_courses<'a>(&self, epoch: u64, docs: impl Iterator<Item = &'a CourseDoc>) {
        if !self.cache.keeps_courses() {
            return;
        }
        let docs: Vec<&CourseDoc> = docs.collect();
        if docs.is_empty() {
            return;
        }
        let keys: Vec<String> = docs.iter().map(|d| course_id(d).to_string()).collect();
        let Ok(versions) = self.pg_versions(Kind::Course, &keys).await else { return };
        for (doc, key) in docs.into_iter().zip(&keys) {
            if versions.get(key).is_some_and(|v| doc.version >= *v) {
                self.cache.keep_course(epoch, doc);
            }
        }
    }

    /// Course documents by slug (unknown slugs are absent): kept ones first, then MongoDB.
    pub async fn courses_by_slugs(&self, slugs: &[String]) -> Result<HashMap<String, CourseDoc>, AppError> {
        let epoch = self.cache.epoch();
        let mut out: HashMap<String, CourseDoc> = HashMap::with_capacity(slugs.len());
        let mut wanted = Vec::new();
        for slug in slugs {
            match self.cache.course_by_slug(slug) {
                Some(doc) => {
                    out.insert(slug.clone(), doc);
                }
                None => wanted.push(slug.clone()),
            }
        }
        if wanted.is_empty() {
            return Ok(out);
        }
        let found = self.mongo_find(Kind::Course, doc! { "slug": { "$in": &wanted } }).await;
        let mut read = Vec::new();
        if let Some(docs) = &found {
            for d in docs {
                if let Ok(c) = bson::from_document::<CourseDoc>(d.clone()) {
                    read.push(c);
                }
            }
        }
        self.stats.mongo_hits.fetch_add(found.map_or(0, |d| d.len() as u64), Ordering::Relaxed);
        let missing: Vec<String> = wanted.into_iter().filter(|s| !read.iter().any(|c| &c.slug == s)).collect();
        self.keep_courses(epoch, read.iter()).await;
        for doc in read {
            out.insert(doc.slug.clone(), doc);
        }
        if !missing.is_empty() {
            // not in Mongo (down, or not projected yet): which courses are these, then build them
            let ids = self.ids_of_slugs(&missing).await?;
            if !ids.is_empty() {
                let keys: Vec<String> = ids.iter().map(Uuid::to_string).collect();
                for doc in self.build_courses(&keys).await? {
                    out.insert(doc.slug.clone(), doc);
                }
            }
        }
        Ok(out)
    }

    /// A learner's progress documents in `courses` (absent where the learner is not enrolled).
    ///
    /// Read-your-writes: the learner's own changes may not be projected yet, so the versions
    /// PostgreSQL holds are read first (one primary-key lookup for the batch), and only a
    /// document at that version or newer is taken (see `progress_at`).
    pub async fn progress_of(&self, user: Uuid, courses: &[Uuid]) -> Result<HashMap<Uuid, ProgressDoc>, AppError> {
        let keys: Vec<String> = courses.iter().map(|c| format!("{user}:{c}")).collect();
        let versions = self.pg_versions(Kind::Progress, &keys).await?;
        let docs = self.progress_at(&versions).await?;
        Ok(docs.into_values().map(|p| (Uuid::from_bytes(p.course_id.bytes()), p)).collect())
    }

    /// Progress documents at `versions` (`user:course` key → PostgreSQL's version) or newer, by
    /// key: kept ones, then MongoDB's, and any that is behind or missing built from PostgreSQL.
    /// The caller read the versions in a statement that ran after the learner's last write
    /// committed.
    pub async fn progress_at(&self, versions: &HashMap<String, i64>) -> Result<HashMap<String, ProgressDoc>, AppError> {
        let mut out = HashMap::with_capacity(versions.len());
        let mut wanted = Vec::new();
        for (key, version) in versions {
            match self.cache.progress(key, *version) {
                Some(p) => {
                    out.insert(p.id.clone(), p);
                }
                None => wanted.push(key.clone()),
            }
        }
        if wanted.is_empty() {
            return Ok(out);
        }
        let found = self.mongo_find(Kind::Progress, doc! { "_id": { "$in": &wanted } }).await;
        let mut behind: std::collections::HashSet<String> = wanted.into_iter().collect();
        for d in found.unwrap_or_default() {
            let Ok(p) = bson::from_document::<ProgressDoc>(d) else { continue };
            if versions.get(&p.id).is_some_and(|v| p.version >= *v) && behind.remove(&p.id) {
                self.stats.mongo_hits.fetch_add(1, Ordering::Relaxed);
                self.cache.keep_progress(&p);
                out.insert(p.id.clone(), p);
            }
        }
        if !behind.is_empty() {
            let behind: Vec<String> = behind.into_iter().collect();
            for b in self.build(Kind::Progress, &behind).await? {
                let p: ProgressDoc = bson::from_document(b.doc).map_err(|e| {
                    AppError::from(StoreError::new(Store::Postgres, StoreErrorKind::Other, e.to_string()))
                })?;
                self.cache.keep_progress(&p);
                out.insert(p.id.clone(), p);
            }
        }
        Ok(out)
    }

    /// A learner's attempts at several quizzes (the attempt history read model), newest first
    /// per quiz.
    ///
    /// Read-your-writes, as for progress: PostgreSQL names the learner's attempts and their
    /// versions (one indexed lookup), MongoDB answers with the documents, and any attempt that
    /// Mongo lacks or holds an older version of is built from PostgreSQL instead.
    pub async fn attempts_of(&self, user: Uuid, quizzes: &[Uuid]) -> Result<Vec<AttemptDoc>, AppError> {
        #[derive(FromQueryResult)]
        struct Row {
            key: String,
            version: i64,
        }
        let versions = with_deadline(
            Store::Postgres,
            "attempt versions",
            self.pg_deadline,
            Row::find_by_statement(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT a.id::text AS key, COALESCE(v.version, 0) AS version FROM quiz_attempts a \
                 LEFT JOIN read_model_versions v ON v.kind = $3 AND v.key = a.id::text \
                 WHERE a.user_id = $1 AND a.quiz_id = ANY($2)",
                [user.into(), quizzes.to_vec().into(), Kind::Attempt.name().into()],
            ))
            .all(&self.pg),
        )
        .await?;
        if versions.is_empty() {
            return Ok(Vec::new());
        }
        let mut wanted: HashMap<String, i64> = HashMap::with_capacity(versions.len());
        let mut out = Vec::with_capacity(versions.len());
        for r in versions {
            match r.key.parse::<Uuid>().ok().and_then(|id| self.cache.attempt(id, r.version)) {
                Some(kept) => out.push(kept),
                None => {
                    wanted.insert(r.key, r.version);
                }
            }
        }
        if !wanted.is_empty() {
            let ids: Vec<Bson> = wanted.keys().map(|k| mongo_id(Kind::Attempt, k)).collect();
            let found = self.mongo_find(Kind::Attempt, doc! { "_id": { "$in": ids } }).await;
            let before = out.len();
            for d in found.unwrap_or_default() {
                let Ok(a) = bson::from_document::<AttemptDoc>(d) else { continue };
                let key = Uuid::from_bytes(a.id.bytes()).to_string();
                if wanted.get(&key).is_some_and(|v| a.version >= *v) {
                    self.cache.keep_attempt(&a);
                    out.push(a);
                }
            }
            self.stats.mongo_hits.fetch_add((out.len() - before) as u64, Ordering::Relaxed);
        }
        let have: std::collections::HashSet<String> =
            out.iter().map(|a| Uuid::from_bytes(a.id.bytes()).to_string()).collect();
        let behind: Vec<String> = wanted.into_keys().filter(|k| !have.contains(k)).collect();
        if !behind.is_empty() {
            for b in self.build(Kind::Attempt, &behind).await? {
                let a: AttemptDoc = bson::from_document(b.doc).map_err(|e| {
                    AppError::from(StoreError::new(Store::Postgres, StoreErrorKind::Other, e.to_string()))
                })?;
                self.cache.keep_attempt(&a);
                out.push(a);
            }
        }
        out.sort_by_key(|a| (a.quiz_id.bytes(), std::cmp::Reverse(a.attempt_number)));
        Ok(out)
    }

    async fn pg_versions(&self, kind: Kind, keys: &[String]) -> Result<HashMap<String, i64>, AppError> {
        Ok(with_deadline(
            Store::Postgres,
            "read-model versions",
            self.pg_deadline,
            build::versions(&self.pg, kind, keys),
        )
        .await?)
    }

    /// Builds documents from PostgreSQL (the fallback), counted.
    async fn build(&self, kind: Kind, keys: &[String]) -> Result<Vec<super::docs::Built>, AppError> {
        let built = with_deadline(Store::Postgres, "build fallback documents", self.pg_deadline, async {
            let snapshot = build::snapshot(&self.pg).await?;
            let batch = build::build(&snapshot, kind, keys).await;
            let _ = snapshot.rollback().await;
            batch
        })
        .await?;
        self.stats.fallbacks.fetch_add(built.docs.len() as u64, Ordering::Relaxed);
        Ok(built.docs.into_values().collect())
    }

    /// Course documents from MongoDB (true) or, where it lacks them, built from PostgreSQL.
    async fn courses(&self, filter: Document, keys: Vec<String>) -> Result<Vec<(CourseDoc, bool)>, AppError> {
        let mut out = Vec::with_capacity(keys.len());
        let mut have = std::collections::HashSet::new();
        if let Some(docs) = self.mongo_find(Kind::Course, filter).await {
            for d in docs {
                if let Ok(c) = bson::from_document::<CourseDoc>(d) {
                    have.insert(Uuid::from_bytes(c.id.bytes()).to_string());
                    out.push((c, true));
                }
            }
            self.stats.mongo_hits.fetch_add(out.len() as u64, Ordering::Relaxed);
        }
        let missing: Vec<String> = keys.into_iter().filter(|k| !have.contains(k)).collect();
        if !missing.is_empty() {
            out.extend(self.build_courses(&missing).await?.into_iter().map(|c| (c, false)));
        }
        Ok(out)
    }

    /// The documents Mongo answers with, or None when it failed (then reads skip Mongo for a
    /// moment) or was slower than `hedge_after`. The read runs as a task of its own: a request
    /// waits for it at most `hedge_after` and then builds its documents from PostgreSQL, so a
    /// stalling Mongo costs a request that long, not `read_timeout`; the read itself goes on,
    /// and a failure or a `read_timeout` still marks Mongo down.
    async fn mongo_find(&self, kind: Kind, filter: Document) -> Option<Vec<Document>> {
        if self.skipping_mongo() {
            return None;
        }
        let coll = self.mongo.database().collection::<Document>(kind.collection());
        let (read_timeout, stats, breaker) = (self.read_timeout, self.stats.clone(), self.skip_mongo_until.clone());
        let read = tokio::spawn(tracing::Instrument::in_current_span(async move {
            let found = with_deadline(Store::Mongo, "read documents", read_timeout, async {
                // one reply, not 101 documents and then a getMore per batch: a read's round trips
                // do not grow with its documents (the server still caps a reply at 16 MB)
                coll.find(filter)
                    .max_time(read_timeout)
                    .batch_size(FIND_BATCH)
                    .await?
                    .try_collect::<Vec<Document>>()
                    .await
            })
            .await;
            match found {
                Ok(docs) => {
                    if stats.degraded.swap(false, Ordering::Relaxed) {
                        tracing::info!("read models: MongoDB answers again");
                    }
                    Some(docs)
                }
                Err(e) => {
                    if let Ok(mut until) = breaker.lock() {
                        *until = Some(Instant::now() + RETRY_AFTER);
                    }
                    if !stats.degraded.swap(true, Ordering::Relaxed) {
                        tracing::warn!(kind = ?e.kind, detail = %e.detail,
                            "read models: MongoDB failed; answering from PostgreSQL until it is back");
                    }
                    None
                }
            }
        }));
        match tokio::time::timeout(self.hedge_after, read).await {
            Ok(Ok(found)) => found,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "read models: the Mongo read's task failed");
                None
            }
            Err(_) => {
                self.stats.hedged.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    async fn build_courses(&self, keys: &[String]) -> Result<Vec<CourseDoc>, AppError> {
        self.build(Kind::Course, keys)
            .await?
            .into_iter()
            .map(|b| {
                bson::from_document::<CourseDoc>(b.doc)
                    .map_err(|e| AppError::from(StoreError::new(Store::Postgres, StoreErrorKind::Other, e.to_string())))
            })
            .collect()
    }

    async fn ids_of_slugs(&self, slugs: &[String]) -> Result<Vec<Uuid>, AppError> {
        #[derive(FromQueryResult)]
        struct Row {
            id: Uuid,
        }
        let rows = with_deadline(
            Store::Postgres,
            "course ids by slug",
            self.pg_deadline,
            Row::find_by_statement(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT id FROM courses WHERE slug = ANY($1)",
                [slugs.to_vec().into()],
            ))
            .all(&self.pg),
        )
        .await?;
        Ok(rows.into_iter().map(|r| r.id).collect())
    }
}

/// The id of a course document as a UUID.
pub fn course_id(doc: &CourseDoc) -> Uuid {
    Uuid::from_bytes(doc.id.bytes())
}

#[cfg(test)]
mod tests {
    #[test]
    fn uuid_round_trips_through_bson() {
        let id = uuid::Uuid::from_u128(0x1234_5678_9abc_def0_1234_5678_9abc_def0);
        assert_eq!(uuid::Uuid::from_bytes(super::super::docs::bin(id).bytes()), id);
    }
}
