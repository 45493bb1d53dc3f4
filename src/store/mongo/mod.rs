//! MongoDB: the document read models (DESIGN.md §1). This module owns the client, its
//! deadlines, and the collections' validators and indexes (`mongo-init/collections.json`).

mod errors;
pub mod ops;
pub mod setup;

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use mongodb::{
    bson::doc,
    event::{cmap::CmapEvent, command::CommandEvent, EventHandler},
    options::{
        Acknowledgment, ClientOptions, Compressor, ReadPreference, ReadPreferenceOptions, SelectionCriteria,
        WriteConcern,
    },
    Client, Database,
};

use super::with_deadline;
use crate::{
    config::{MongoConfig, ReadPreferenceSetting},
    error::{Store, StoreError, StoreErrorKind},
};

/// The service's handle on MongoDB. Cheap to clone.
#[derive(Clone)]
pub struct MongoStore {
    client: Client,
    db: Database,
    op_timeout: Duration,
    stats: Arc<MongoStats>,
}

/// Counters kept from the driver's command events.
#[derive(Default, Debug)]
pub struct MongoStats {
    commands: AtomicU64,
    failed: AtomicU64,
    /// Connection pool events (CMAP): open = created - closed, in use = out - in.
    pub connections_created: AtomicU64,
    pub connections_closed: AtomicU64,
    pub checked_out: AtomicU64,
    pub checked_in: AtomicU64,
    pub checkout_failed: AtomicU64,
    /// Time spent waiting for a connection, over all checkouts (microseconds).
    pub checkout_wait_micros: AtomicU64,
    /// Commands sent and not yet answered: request id → command and collection.
    started: std::sync::Mutex<std::collections::HashMap<i32, String>>,
}

/// Logs an answered command that took SLOW_QUERY_THRESHOLD or longer (in the caller's span, so
/// the line carries the request's trace id).
fn slow_command(stats: &MongoStats, request_id: i32, took: Duration, failed: bool) {
    let Some(text) = stats.started.lock().ok().and_then(|mut s| s.remove(&request_id)) else { return };
    if super::is_slow(took) {
        tracing::warn!(elapsed_ms = took.as_millis() as u64, failed, command = %text, "slow MongoDB command");
    }
}

impl MongoStats {
    /// Commands sent since start (heartbeats are not commands): tests assert on differences.
    pub fn commands(&self) -> u64 {
        self.commands.load(Ordering::Relaxed)
    }

    /// Commands the server answered with an error, or that failed on the wire.
    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }
}

impl MongoStore {
    /// Builds the client. The driver connects lazily: a Mongo that is down at startup does not
    /// stop the service (reads fall back to PostgreSQL; /readyz says which store is down).
    pub async fn connect(config: &MongoConfig, app_name: &str) -> Result<Self, StoreError> {
        let invalid = |e: mongodb::error::Error| {
            StoreError::new(Store::Mongo, StoreErrorKind::Other, format!("MONGODB_URI: {e}"))
        };
        let mut options = with_deadline(Store::Mongo, "parse MONGODB_URI", config.connect_timeout, async {
            ClientOptions::parse(&config.uri).await.map_err(invalid)
        })
        .await?;
        options.app_name = Some(app_name.to_owned());
        options.min_pool_size = Some(config.pool_min);
        options.max_pool_size = Some(config.pool_max);
        options.max_idle_time = Some(config.max_idle);
        options.connect_timeout = Some(config.connect_timeout);
        options.server_selection_timeout = Some(config.server_selection_timeout);
        // Find a restarted server quickly: the default heartbeat is 10 s.
        options.heartbeat_freq = Some(Duration::from_secs(1));
        let mut write_concern =
            WriteConcern::builder().journal(config.write_journal).w_timeout(config.write_timeout).build();
        write_concern.w =
            Some(if config.write_concern_majority { Acknowledgment::Majority } else { Acknowledgment::Nodes(1) });
        options.write_concern = Some(write_concern);
        options.selection_criteria = Some(SelectionCriteria::ReadPreference(read_preference(config.read_preference)));
        options.compressors = Some(
            config
                .compressors
                .iter()
                .map(|c| match c.as_str() {
                    "zlib" => Compressor::Zlib { level: None },
                    _ => Compressor::Snappy,
                })
                .collect(),
        );
        let stats = Arc::new(MongoStats::default());
        let counters = stats.clone();
        options.command_event_handler = Some(EventHandler::callback(move |event: CommandEvent| match event {
            CommandEvent::Started(e) => {
                counters.commands.fetch_add(1, Ordering::Relaxed);
                // what a command is, for spans and logs: its name and collection, never values
                let collection = e.command.iter().next().and_then(|(_, v)| v.as_str()).unwrap_or("");
                let text = format!("{} {collection}", e.command_name).trim_end().to_owned();
                if crate::telemetry::exporting() {
                    let span = tracing::Span::current();
                    if span.has_field("db.query.text") {
                        span.record("db.query.text", text.as_str());
                    }
                }
                if let Ok(mut started) = counters.started.lock() {
                    // a command whose answer never came is forgotten, not kept forever
                    if started.len() >= 10_000 {
                        started.clear();
                    }
                    started.insert(e.request_id, text);
                }
            }
            CommandEvent::Succeeded(e) => slow_command(&counters, e.request_id, e.duration, false),
            CommandEvent::Failed(e) => {
                counters.failed.fetch_add(1, Ordering::Relaxed);
                slow_command(&counters, e.request_id, e.duration, true);
            }
            _ => {}
        }));
        let pool = stats.clone();
        let micros = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        options.cmap_event_handler = Some(EventHandler::callback(move |event: CmapEvent| match event {
            CmapEvent::ConnectionCreated(_) => {
                pool.connections_created.fetch_add(1, Ordering::Relaxed);
            }
            CmapEvent::ConnectionClosed(_) => {
                pool.connections_closed.fetch_add(1, Ordering::Relaxed);
            }
            CmapEvent::ConnectionCheckedOut(e) => {
                pool.checked_out.fetch_add(1, Ordering::Relaxed);
                pool.checkout_wait_micros.fetch_add(micros(e.duration), Ordering::Relaxed);
            }
            CmapEvent::ConnectionCheckoutFailed(e) => {
                pool.checkout_failed.fetch_add(1, Ordering::Relaxed);
                pool.checkout_wait_micros.fetch_add(micros(e.duration), Ordering::Relaxed);
            }
            CmapEvent::ConnectionCheckedIn(_) => {
                pool.checked_in.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }));
        let client = Client::with_options(options).map_err(invalid)?;
        let db = client.database(&config.database);
        Ok(Self { client, db, op_timeout: config.op_timeout, stats })
    }

    pub fn database(&self) -> &Database {
        &self.db
    }

    pub fn stats(&self) -> &Arc<MongoStats> {
        &self.stats
    }

    /// The deadline around each call.
    pub fn op_timeout(&self) -> Duration {
        self.op_timeout
    }

    /// The same client with another deadline per call (long maintenance commands).
    pub fn with_op_timeout(&self, op_timeout: Duration) -> MongoStore {
        MongoStore { op_timeout, ..self.clone() }
    }

    /// Is MongoDB answering? (for /readyz)
    pub async fn ping(&self, deadline: Duration) -> Result<(), StoreError> {
        with_deadline(Store::Mongo, "ping", deadline, async { self.db.run_command(doc! { "ping": 1 }).await }).await?;
        Ok(())
    }

    pub async fn close(self) {
        self.client.shutdown().await;
    }
}

fn read_preference(setting: ReadPreferenceSetting) -> ReadPreference {
    let options = || Some(ReadPreferenceOptions::default());
    match setting {
        ReadPreferenceSetting::Primary => ReadPreference::Primary,
        ReadPreferenceSetting::PrimaryPreferred => ReadPreference::PrimaryPreferred { options: options() },
        ReadPreferenceSetting::Secondary => ReadPreference::Secondary { options: options() },
        ReadPreferenceSetting::SecondaryPreferred => ReadPreference::SecondaryPreferred { options: options() },
        ReadPreferenceSetting::Nearest => ReadPreference::Nearest { options: options() },
    }
}
