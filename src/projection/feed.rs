//! The change feed: the changes PostgreSQL commits to course read models, as every replica
//! learns them. The trigger that versions a course's read model (migration 18) sends
//! `NOTIFY learngraph_changes, 'course <id>@<version> …'`; PostgreSQL delivers it when the
//! transaction commits, and only then. Each replica LISTENs on a direct session (LISTEN does
//! not work through PgBouncer's transaction pooling) and hands every change to its
//! subscribers: the read-model cache today (it drops what changed); the same events can drive
//! subscriptions and carry positions. `project rebuild` announces `course *`.
//!
//! A lost connection is itself an event (`Change::Lost`): notifications sent while it was down
//! are gone, so a subscriber must assume anything changed.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use sea_orm::sqlx::postgres::PgListener;
use tokio::sync::broadcast;

use super::docs::Kind;

/// The channel the projector notifies and every replica listens to.
pub const CHANNEL: &str = "learngraph_changes";

/// One event of the feed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// These documents of `kind` changed: each key, with `@<version>` when the sender knew it.
    Keys { kind: Kind, keys: Vec<String> },
    /// Any document of `kind` may have changed (a rebuild).
    All(Kind),
    /// The feed was interrupted: anything may have changed meanwhile.
    Lost,
}

/// The payload that says every document of `kind` may have changed.
pub fn everything(kind: Kind) -> String {
    format!("{} *", kind.name())
}

/// Reads a payload back (None for one this version does not know).
pub fn parse(payload: &str) -> Option<Change> {
    let mut words = payload.split(' ');
    let kind = Kind::parse(words.next()?)?;
    let keys: Vec<String> = words.filter(|w| !w.is_empty()).map(str::to_owned).collect();
    match keys.as_slice() {
        [] => None,
        [all] if all == "*" => Some(Change::All(kind)),
        _ => Some(Change::Keys { kind, keys }),
    }
}

/// This replica's end of the feed.
pub struct Feed {
    changes: broadcast::Sender<Change>,
    /// LISTEN is in effect on a live session: every change from now on will arrive.
    live: AtomicBool,
    /// The listening task (stopped with the service).
    task: std::sync::Mutex<Option<tokio::task::AbortHandle>>,
}

impl Feed {
    /// A feed that never goes live (no direct PostgreSQL session to listen on).
    pub fn off() -> Arc<Feed> {
        Arc::new(Feed { changes: broadcast::channel(1024).0, live: AtomicBool::new(false), task: Default::default() })
    }

    /// Listens on `url` (a direct session) from a task of its own, reconnecting with backoff.
    pub fn start(url: String) -> Arc<Feed> {
        let feed = Feed::off();
        let task = tokio::spawn(listen(url, feed.clone())).abort_handle();
        if let Ok(mut slot) = feed.task.lock() {
            *slot = Some(task);
        }
        feed
    }

    /// Whether every change from now on will arrive (false while disconnected).
    pub fn is_live(&self) -> bool {
        self.live.load(Ordering::Acquire)
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.changes.subscribe()
    }

    /// Stops listening (the service is shutting down).
    pub fn stop(&self) {
        if let Some(task) = self.task.lock().ok().and_then(|mut t| t.take()) {
            task.abort();
        }
        self.lost();
    }

    fn lost(&self) {
        if self.live.swap(false, Ordering::AcqRel) {
            let _ = self.changes.send(Change::Lost);
        }
    }
}

async fn listen(url: String, feed: Arc<Feed>) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let connected = async {
            let mut listener = PgListener::connect(&url).await?;
            listener.eager_reconnect(false);
            listener.listen(CHANNEL).await?;
            Ok::<_, sea_orm::sqlx::Error>(listener)
        };
        let mut listener = match connected.await {
            Ok(listener) => listener,
            Err(e) => {
                tracing::warn!(error = %e, "change feed: cannot listen; read-model caching is off meanwhile");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        backoff = Duration::from_millis(100);
        feed.live.store(true, Ordering::Release);
        tracing::info!("change feed: listening");
        // None or an error: the session is gone, and whatever was sent meanwhile is lost
        while let Ok(Some(notification)) = listener.try_recv().await {
            if let Some(change) = parse(notification.payload()) {
                let _ = feed.changes.send(change);
            }
        }
        feed.lost();
        tracing::warn!("change feed: the session was lost; reconnecting");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_are_read_back() {
        let id = "0b7d3c1e-8a5f-4e2b-9c6d-1f2a3b4c5d6e";
        assert_eq!(
            parse(&format!("course {id}@7 {id}@8")),
            Some(Change::Keys { kind: Kind::Course, keys: vec![format!("{id}@7"), format!("{id}@8")] })
        );
        assert_eq!(parse(&everything(Kind::Course)), Some(Change::All(Kind::Course)));
        assert_eq!(parse("nonsense 1 2"), None);
        assert_eq!(parse("course"), None);
    }
}
