//! Read-model documents a replica keeps in memory, so that a hot read costs no round trip:
//!
//! - **Course pages** read from MongoDB, by id (and slug → id). They are kept only while the
//!   change feed is live and only at the version PostgreSQL holds (checked when a page is
//!   kept: one statement per fill), dropped as soon as a change to the course commits (the feed
//!   carries the new version), all dropped when the feed is lost, and never kept longer than
//!   `course_ttl` (the course type's own cache hint). So a kept page is never older than what
//!   MongoDB would answer. Pages built from PostgreSQL (MongoDB down or behind) are not kept:
//!   the next read builds them again, fresh.
//! - **A learner's progress and attempt documents**, by key, with their version. A read takes a
//!   cached document only when it is at least the version PostgreSQL holds, which the read
//!   learns from a statement it runs anyway: read-your-writes does not depend on the feed.
//!
//! A fill that raced with a change is not kept: each fill notes the feed's epoch before it
//! reads, and is dropped if any change arrived since.

use std::{
    hash::Hash,
    num::NonZeroUsize,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use lru::LruCache;
use tokio::sync::broadcast;
use uuid::Uuid;

use super::docs::{AttemptDoc, CourseDoc, Kind, ProgressDoc};
use super::feed::{Change, Feed};

/// How many documents of each kind a replica keeps.
#[derive(Clone, Copy, Debug)]
pub struct CacheSizes {
    pub courses: usize,
    pub progress: usize,
    pub attempts: usize,
}

/// The documents this replica keeps; see the module's description.
pub struct DocCache {
    feed: Arc<Feed>,
    course_ttl: Duration,
    /// Changes seen so far (fills compare it before and after their read).
    epoch: AtomicU64,
    courses: Mutex<LruCache<Uuid, (Instant, Arc<CourseDoc>)>>,
    slugs: Mutex<LruCache<String, Uuid>>,
    /// The newest version of each course the feed announced (no older page is kept).
    announced: Mutex<LruCache<Uuid, i64>>,
    progress: ByVersion<String, ProgressDoc>,
    attempts: ByVersion<Uuid, AttemptDoc>,
    /// Reads answered from here.
    pub hits: AtomicU64,
}

fn lru<K: std::hash::Hash + Eq, V>(n: usize) -> Mutex<LruCache<K, V>> {
    Mutex::new(LruCache::new(NonZeroUsize::new(n).unwrap_or(NonZeroUsize::MIN)))
}

/// A document that says which version of its aggregate it is.
trait Versioned: Clone {
    fn version(&self) -> i64;
}

impl Versioned for ProgressDoc {
    fn version(&self) -> i64 {
        self.version
    }
}

impl Versioned for AttemptDoc {
    fn version(&self) -> i64 {
        self.version
    }
}

/// Documents kept by key, each taken only when it is at least the version the reader asks for
/// (none kept when the size is 0).
struct ByVersion<K: Hash + Eq, V>(Option<Mutex<LruCache<K, Arc<V>>>>);

impl<K: Hash + Eq, V: Versioned> ByVersion<K, V> {
    fn new(size: usize) -> Self {
        Self((size > 0).then(|| lru(size)))
    }

    fn get<Q: Hash + Eq + ?Sized>(&self, key: &Q, version: i64) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
    {
        let kept = self.0.as_ref()?.lock().ok()?.get(key).filter(|d| d.version() >= version).cloned()?;
        Some(V::clone(&kept))
    }

    /// Keeps `doc` unless a newer version of it is kept already.
    fn keep(&self, key: K, doc: &V) {
        let Some(Ok(mut docs)) = self.0.as_ref().map(Mutex::lock) else { return };
        if docs.peek(&key).is_none_or(|kept| kept.version() <= doc.version()) {
            docs.put(key, Arc::new(doc.clone()));
        }
    }
}

impl DocCache {
    /// `course_ttl` bounds how old a kept course page may be; a size of 0 keeps nothing of
    /// that kind.
    pub fn new(feed: Arc<Feed>, sizes: CacheSizes, course_ttl: Duration) -> Self {
        Self {
            feed,
            course_ttl: if sizes.courses == 0 { Duration::ZERO } else { course_ttl },
            epoch: AtomicU64::new(0),
            courses: lru(sizes.courses.max(1)),
            slugs: lru(sizes.courses.max(1)),
            announced: lru(sizes.courses.max(1) * 4),
            progress: ByVersion::new(sizes.progress),
            attempts: ByVersion::new(sizes.attempts),
            hits: AtomicU64::new(0),
        }
    }

    /// The epoch a fill starts from.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    fn hit(&self, n: usize) {
        self.hits.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// The course page of `id`, if kept and fresh.
    pub fn course(&self, id: Uuid) -> Option<CourseDoc> {
        let doc = self.kept_course(id)?;
        self.hit(1);
        Some(doc)
    }

    fn kept_course(&self, id: Uuid) -> Option<CourseDoc> {
        if !self.feed.is_live() {
            return None;
        }
        let kept = {
            let mut courses = self.courses.lock().ok()?;
            match courses.get(&id) {
                Some((at, doc)) if at.elapsed() < self.course_ttl => doc.clone(),
                Some(_) => {
                    courses.pop(&id);
                    return None;
                }
                None => return None,
            }
        };
        // the copy is made outside the lock
        Some(CourseDoc::clone(&kept))
    }

    /// The course page whose slug is `slug`, if kept and fresh.
    pub fn course_by_slug(&self, slug: &str) -> Option<CourseDoc> {
        let id = *self.slugs.lock().ok()?.get(slug)?;
        let doc = self.kept_course(id).filter(|doc| doc.slug == slug)?;
        self.hit(1);
        Some(doc)
    }

    /// Whether course pages may be kept now (the feed is live and pages are kept at all).
    pub fn keeps_courses(&self) -> bool {
        !self.course_ttl.is_zero() && self.feed.is_live()
    }

    /// Keeps a course page MongoDB answered with at `epoch`, unless a change arrived since, the
    /// feed is down, or the feed announced a newer version of it. The caller has checked it
    /// against PostgreSQL's version (a page older than that is never kept).
    pub fn keep_course(&self, epoch: u64, doc: &CourseDoc) {
        if !self.keeps_courses() {
            return;
        }
        let id = Uuid::from_bytes(doc.id.bytes());
        if self.announced.lock().ok().and_then(|mut a| a.get(&id).copied()).is_some_and(|v| v > doc.version) {
            return;
        }
        let (Ok(mut courses), Ok(mut slugs)) = (self.courses.lock(), self.slugs.lock()) else { return };
        if self.epoch.load(Ordering::Acquire) != epoch {
            return;
        }
        courses.put(id, (Instant::now(), Arc::new(doc.clone())));
        slugs.put(doc.slug.clone(), id);
    }

    /// A learner's progress document, if kept at `version` or newer.
    pub fn progress(&self, key: &str, version: i64) -> Option<ProgressDoc> {
        self.counted(self.progress.get(key, version))
    }

    /// Keeps a progress document (its version says what it may answer for).
    pub fn keep_progress(&self, doc: &ProgressDoc) {
        self.progress.keep(doc.id.clone(), doc);
    }

    /// An attempt document, if kept at `version` or newer.
    pub fn attempt(&self, id: Uuid, version: i64) -> Option<AttemptDoc> {
        self.counted(self.attempts.get(&id, version))
    }

    /// Keeps an attempt document.
    pub fn keep_attempt(&self, doc: &AttemptDoc) {
        self.attempts.keep(Uuid::from_bytes(doc.id.bytes()), doc);
    }

    fn counted<T>(&self, found: Option<T>) -> Option<T> {
        if found.is_some() {
            self.hit(1);
        }
        found
    }

    /// Applies one change of the feed.
    pub fn apply(&self, change: &Change) {
        // first the epoch, then the entries: a fill either sees the new epoch, or is removed
        self.epoch.fetch_add(1, Ordering::AcqRel);
        match change {
            Change::Keys { kind: Kind::Course, keys } => {
                let (Ok(mut courses), Ok(mut announced)) = (self.courses.lock(), self.announced.lock()) else {
                    return;
                };
                for key in keys {
                    let (id, version) = key.split_once('@').unwrap_or((key, ""));
                    let Ok(id) = id.parse::<Uuid>() else { continue };
                    courses.pop(&id);
                    if let Ok(version) = version.parse::<i64>() {
                        let newest = announced.get(&id).map_or(version, |v| (*v).max(version));
                        announced.put(id, newest);
                    }
                }
            }
            Change::All(Kind::Course) | Change::Lost => {
                if let Ok(mut courses) = self.courses.lock() {
                    courses.clear();
                }
            }
            // progress and attempts answer by version: a newer one is never mistaken for
            Change::Keys { .. } | Change::All(_) => {}
        }
    }

    /// Applies the feed's changes until it closes (a subscriber that falls behind has missed
    /// changes: it drops every course page, as for a lost feed).
    pub async fn follow(self: Arc<Self>, mut changes: broadcast::Receiver<Change>) {
        loop {
            match changes.recv().await {
                Ok(change) => self.apply(&change),
                Err(broadcast::error::RecvError::Lagged(_)) => self.apply(&Change::Lost),
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }
}
