//! Builds the whole service from a `Config`: the entry `learngraph serve` and the tests share.
//!
//! A request: `http` (router, GraphQL handler) → `graphql` (resolvers) → `loaders` (one query
//! per batch, per store) → `store::pg` / `store::mongo` → back as GraphQL types.

use std::{future::Future, net::SocketAddr, sync::Arc};

use tokio::net::TcpListener;

use crate::{
    auth::Authenticator,
    config::Config,
    error::StoreError,
    graphql,
    http::{persisted::PersistedDocuments, AppState},
    loaders::Loaders,
    projection::{
        cache::{CacheSizes, DocCache},
        feed::Feed,
        projector::Projector,
        read::ReadModels,
    },
    store::{
        mongo::MongoStore,
        pg::{
            pooler::{self, PoolerCheck},
            PgStore,
        },
    },
};

/// The service, bound to its port and ready to serve.
pub struct App {
    state: AppState,
    listener: TcpListener,
    projector: Option<Projector>,
    /// The cache's task that applies the change feed.
    following: tokio::task::AbortHandle,
}

/// Why the service did not start. The message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot bind {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("PostgreSQL: {0}")]
    Postgres(String),
    #[error("MongoDB: {0}")]
    Mongo(String),
    #[error("{0}")]
    BrokenPooler(String),
    #[error("invalid configuration: {0}")]
    Config(String),
}

impl App {
    /// Connects the stores, checks the pooler, builds the schema and binds the listener.
    pub async fn build(config: Config) -> Result<App, StartupError> {
        let auth = Arc::new(Authenticator::new(&config.auth).map_err(StartupError::Config)?);
        crate::store::log_calls_slower_than(config.postgres.slow_query_threshold);
        let pg = PgStore::connect(&config.postgres).await.map_err(|e| StartupError::Postgres(describe(&e)))?;
        let dedicated = if config.postgres.check_pooler { check_pooler(&config).await? } else { false };
        let mongo = MongoStore::connect(&config.mongo, &config.postgres.application_name)
            .await
            .map_err(|e| StartupError::Mongo(describe(&e)))?;
        let feed = start_feed(&config, dedicated);
        let cache = Arc::new(DocCache::new(
            feed.clone(),
            CacheSizes {
                courses: config.read_cache.courses,
                progress: config.read_cache.progress,
                attempts: config.read_cache.attempts,
            },
            config.read_cache.course_ttl,
        ));
        let following = tokio::spawn(cache.clone().follow(feed.subscribe())).abort_handle();
        let read_models = Arc::new(
            ReadModels::new(
                pg.db().clone(),
                mongo.clone(),
                config.mongo.read_timeout,
                config.mongo.hedge_after,
                config.postgres.statement_timeout,
            )
            .with_cache(cache),
        );
        let loaders = Arc::new(Loaders::new(pg.clone(), read_models.clone(), config.loader_delay));
        let options = graphql::SchemaOptions {
            introspection: config.introspection,
            suggestions: config.field_suggestions,
            nesting: config.limits.nesting,
            resolver_spans: config.telemetry.resolver_spans,
        };
        let projector = config.projector.enabled.then(|| {
            Projector::new(pg.db().clone(), mongo.clone(), config.projector.batch, config.postgres.statement_timeout)
        });
        let ops =
            graphql::ops::OpsSources { mongo: mongo.clone(), projector: projector.as_ref().map(|p| p.stats.clone()) };
        let schema = graphql::build(pg.clone(), loaders.clone(), ops.clone(), options);
        let traced_schema = config.ftv1.enabled.then(|| graphql::build_traced(pg.clone(), loaders, ops, options));
        let listener = TcpListener::bind(config.listen_addr)
            .await
            .map_err(|source| StartupError::Bind { addr: config.listen_addr, source })?;
        let persisted = Arc::new(
            PersistedDocuments::new(&config.persisted, mongo.clone(), config.mongo.op_timeout)
                .map_err(|e| StartupError::Config(format!("TRUSTED_DOCUMENTS_MANIFEST: {}", e.0)))?,
        );
        let in_flight = Arc::new(tokio::sync::Semaphore::new(config.transport.max_concurrent_requests));
        let state = AppState {
            config: Arc::new(config),
            schema,
            traced_schema,
            pg,
            mongo,
            read_models,
            auth,
            persisted,
            in_flight,
            projector: projector.as_ref().map(|p| p.stats.clone()),
            feed,
            parsed: Arc::new(crate::http::limits::ParsedDocuments::new(256)),
        };
        Ok(App { state, listener, projector, following })
    }

    /// The address the service listens on (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The projector this replica runs (None when PROJECTOR_ENABLED=false).
    pub fn projector(&self) -> Option<&Projector> {
        self.projector.as_ref()
    }

    /// Serves until `shutdown` completes, then stops taking connections and lets in-flight
    /// requests finish (bounded by SHUTDOWN_GRACE_PERIOD).
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let App { state, listener, projector, following } = self;
        let grace = state.config.shutdown_grace;
        let (stop_projector, projector_stopped) = tokio::sync::watch::channel(false);
        let projector = projector.map(|p| tokio::spawn(p.run(state.config.projector.poll, projector_stopped)));
        // latency samples are folded into their histograms between scrapes too
        let upkeep = tokio::spawn(async {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(5));
            loop {
                every.tick().await;
                crate::metrics::upkeep();
            }
        });
        let router = crate::http::router(state.clone());
        let result = crate::http::serve::run(listener, router, &state.config.transport, grace, shutdown).await;
        upkeep.abort();
        state.feed.stop();
        following.abort();
        let _ = stop_projector.send(true);
        if let Some(task) = projector {
            // a round in progress finishes (or is abandoned: its rows stay in the outbox)
            if tokio::time::timeout(std::time::Duration::from_secs(5), task).await.is_err() {
                tracing::warn!("projector did not stop within 5 s");
            }
        }
        // connections still held by dropped requests must not hold the exit up
        let closing = async { tokio::join!(state.pg.close(), state.mongo.close()) };
        if tokio::time::timeout(std::time::Duration::from_secs(5), closing).await.is_err() {
            tracing::warn!("store connections did not close within 5 s");
        }
        result
    }
}

/// Refuses a pooler that breaks prepared statements; true when DATABASE_URL gives each client
/// a session of its own (no pooler, or session pooling).
async fn check_pooler(config: &Config) -> Result<bool, StartupError> {
    let deadline = config.postgres.connect_timeout * 5;
    match pooler::check_prepared_statements(&config.postgres.url, deadline).await {
        Ok(PoolerCheck::Broken { evidence }) => {
            Err(StartupError::BrokenPooler(pooler::broken_pooler_message(&evidence)))
        }
        Ok(found) => {
            tracing::info!(?found, "pooler check passed");
            Ok(matches!(found, PoolerCheck::Dedicated))
        }
        Err(e) => Err(StartupError::Postgres(format!("the pooler check could not run: {}", describe(&e)))),
    }
}

/// The change feed listens on a session of its own: DATABASE_DIRECT_URL when it is given, or
/// DATABASE_URL when the pooler check found no transaction pooling there. Without one the feed
/// stays off, and so does keeping course pages (progress and attempts are still kept: they are
/// checked against PostgreSQL's versions).
fn start_feed(config: &Config, dedicated: bool) -> Arc<Feed> {
    let postgres = &config.postgres;
    let url = if postgres.direct_url != postgres.url {
        Some(postgres.direct_url.clone())
    } else {
        dedicated.then(|| postgres.url.clone())
    };
    match url {
        Some(url) => Feed::start(url),
        None => {
            tracing::info!("no DATABASE_DIRECT_URL: the change feed is off, course pages are not kept in memory");
            Feed::off()
        }
    }
}

fn describe(err: &StoreError) -> String {
    format!("{:?}: {}", err.kind, err.detail)
}

/// Resolves on SIGINT or SIGTERM. The handlers are installed when this is called, not when the
/// future is first polled: a signal that arrives while the service is still starting (after
/// its port already accepts, say) is kept and ends it cleanly instead of killing the process.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let interrupt = signal(SignalKind::interrupt());
        let terminate = signal(SignalKind::terminate());
        async move {
            let wait = |s: std::io::Result<tokio::signal::unix::Signal>| async move {
                match s {
                    Ok(mut s) => {
                        s.recv().await;
                    }
                    Err(_) => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = wait(interrupt) => {},
                () = wait(terminate) => {},
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}
