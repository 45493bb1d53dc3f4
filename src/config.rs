//! The service's configuration. This is the only module that reads the environment; every
//! variable is documented in `.env.example`. A bad value is an error that names the variable.

use std::{collections::HashMap, net::SocketAddr, str::FromStr, time::Duration};

/// Everything the service needs to start, read once from the environment.
#[derive(Clone, Debug)]
pub struct Config {
    pub listen_addr: SocketAddr,
    pub profile: Profile,
    pub graphiql: bool,
    /// Whether introspection answers (`__schema`, `__type`).
    pub introspection: bool,
    /// Whether validation errors suggest field names.
    pub field_suggestions: bool,
    /// When set, `_service` and `_entities` answer only requests whose `Router-Authorization`
    /// header carries it (the gateway's), so the subgraph surface is not public.
    pub router_secret: Option<RouterSecret>,
    pub shutdown_grace: Duration,
    pub log_format: LogFormat,
    /// Which logs to keep (`RUST_LOG` syntax).
    pub log_filter: String,
    pub postgres: PostgresConfig,
    pub mongo: MongoConfig,
    /// How long a DataLoader waits to gather keys into one batch.
    pub loader_delay: Duration,
    pub projector: ProjectorConfig,
    pub read_cache: ReadCacheConfig,
    pub auth: AuthConfig,
    pub persisted: PersistedConfig,
    pub ftv1: Ftv1Config,
    pub limits: LimitsConfig,
    pub transport: TransportConfig,
    pub telemetry: TelemetryConfig,
}

/// OpenTelemetry trace export (OTLP over HTTP). Off when no endpoint is set; the request's
/// trace id is in the logs either way.
#[derive(Clone, Debug)]
pub struct TelemetryConfig {
    /// Where spans are sent: the full traces URL (`.../v1/traces`).
    pub traces_endpoint: Option<String>,
    pub protocol: OtlpProtocol,
    /// Fraction of new traces kept (a caller's sampled flag is followed).
    pub sample_ratio: f64,
    pub service_name: String,
    /// A span per resolved field (many spans; for investigating one operation).
    pub resolver_spans: bool,
    /// How long finished spans wait to be sent in a batch.
    pub batch_delay: Duration,
    /// Deadline of one export request.
    pub export_timeout: Duration,
}

/// OTLP's HTTP encodings (gRPC is not built in: point it at a collector's HTTP port, 4318).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OtlpProtocol {
    HttpProtobuf,
    HttpJson,
}

/// How connections and requests are bounded.
#[derive(Clone, Debug)]
pub struct TransportConfig {
    /// A client must send a request's headers within this (slow or idle clients are cut off).
    pub header_read_timeout: Duration,
    /// A request must be answered within this (503 otherwise; a mutation still finishes).
    pub request_timeout: Duration,
    /// GraphQL requests in progress at once; more are shed with 503 and `Retry-After`.
    pub max_concurrent_requests: usize,
    /// Open connections; more are closed as they arrive.
    pub max_connections: usize,
}

/// The secret a gateway shows in `Router-Authorization` (never printed).
#[derive(Clone)]
pub struct RouterSecret(pub String);

impl std::fmt::Debug for RouterSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RouterSecret(***)")
    }
}

/// What one request may ask for (each over-limit request is refused before any store work).
#[derive(Clone, Debug)]
pub struct LimitsConfig {
    /// Request body, in bytes (413 over it, declared or not).
    pub body_bytes: usize,
    /// The GraphQL document, in bytes.
    pub document_bytes: usize,
    /// Tokens in the document.
    pub tokens: usize,
    /// Nesting of `{`, `[` and `(` in the document's text.
    pub nesting: usize,
    /// Field depth, fragments expanded.
    pub depth: u64,
    /// Complexity: a field counts 1, a paged field its selection once per item of a page.
    pub complexity: u64,
    /// Aliases, fragments expanded.
    pub aliases: u64,
    /// Root fields of an operation.
    pub root_fields: u64,
    /// Directives on one field.
    pub directives_per_field: usize,
    /// Selections the document expands to (fragments expanded; what validation visits).
    pub selections: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            body_bytes: 64 * 1024,
            document_bytes: 32 * 1024,
            tokens: 5_000,
            nesting: 40,
            depth: 20,
            complexity: 5_000,
            aliases: 30,
            root_fields: 20,
            directives_per_field: 5,
            selections: 2_000,
        }
    }
}

/// Federated traces (`apollo-federation-include-trace: ftv1`).
#[derive(Clone, Debug)]
pub struct Ftv1Config {
    /// Whether a request that asks gets a trace.
    pub enabled: bool,
    /// What the trace says of errors.
    pub errors: ErrorDetail,
}

/// What a trace says about errors. Apollo's default (`Masked`) keeps their paths and drops
/// their messages and extensions, since traces leave for a reporting service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorDetail {
    Masked,
    Unmodified,
}

/// Persisted documents: automatic persisted queries and trusted documents.
#[derive(Clone, Debug)]
pub struct PersistedConfig {
    /// Whether clients may register queries by hash (Apollo's automatic persisted queries).
    pub apq: bool,
    /// Registered queries each replica keeps in memory (the shared store is MongoDB).
    pub cache_size: usize,
    /// How long a registered query lives in the shared store.
    pub ttl: Duration,
    pub trusted: TrustedMode,
    /// The trusted documents (Apollo's persisted query manifest format).
    pub manifest: Option<std::path::PathBuf>,
}

/// What trusted documents allow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrustedMode {
    /// No manifest.
    Off,
    /// The manifest's operations can be run by hash; anything else runs too.
    Allow,
    /// Only the manifest's operations run, except for staff (admins).
    Require,
}

/// How bearer tokens are checked.
#[derive(Clone)]
pub struct AuthConfig {
    pub key: Option<AuthKey>,
    pub issuer: Option<String>,
    pub audience: Option<String>,
    /// The claim that holds the role (student, instructor, admin).
    pub role_claim: String,
}

#[derive(Clone)]
pub enum AuthKey {
    Hs256(String),
    /// A PEM public key.
    Rs256(String),
}

impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let key = match self.key {
            None => "none",
            Some(AuthKey::Hs256(_)) => "HS256 (secret hidden)",
            Some(AuthKey::Rs256(_)) => "RS256",
        };
        f.debug_struct("AuthConfig").field("key", &key).field("issuer", &self.issuer).finish_non_exhaustive()
    }
}

/// The outbox projector that runs inside `serve`.
#[derive(Clone, Debug)]
pub struct ProjectorConfig {
    pub enabled: bool,
    /// Outbox rows claimed per round.
    pub batch: u64,
    /// How often an idle projector looks at the outbox.
    pub poll: Duration,
}

/// Read-model documents each replica keeps in memory (`projection/cache.rs`).
#[derive(Clone, Debug)]
pub struct ReadCacheConfig {
    /// Course pages kept (0: none).
    pub courses: usize,
    /// Learners' progress documents kept (0: none).
    pub progress: usize,
    /// Quiz attempt documents kept (0: none).
    pub attempts: usize,
    /// The longest a kept course page is served (the course type's cache hint is 60 s).
    pub course_ttl: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    Development,
    Production,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

#[derive(Clone)]
pub struct PostgresConfig {
    /// The URL the service uses: through PgBouncer in transaction mode in production.
    pub url: String,
    /// A direct URL for migrations, seeding and admin queries (falls back to `url`).
    pub direct_url: String,
    pub application_name: String,
    pub pool_min: u32,
    pub pool_max: u32,
    pub connect_timeout: Duration,
    pub acquire_timeout: Duration,
    pub idle_timeout: Duration,
    /// Every statement's deadline, enforced by the service around each call.
    pub statement_timeout: Duration,
    /// Statements slower than this are logged.
    pub slow_query_threshold: Duration,
    /// Probe the pooler at startup for broken prepared-statement handling (PgBouncer < 1.21).
    pub check_pooler: bool,
}

#[derive(Clone)]
pub struct MongoConfig {
    pub uri: String,
    pub database: String,
    pub pool_min: u32,
    pub pool_max: u32,
    pub max_idle: Duration,
    pub connect_timeout: Duration,
    pub server_selection_timeout: Duration,
    /// The deadline around each Mongo call (the driver has no socket timeout).
    pub op_timeout: Duration,
    /// The deadline of a read-model read: past it Mongo counts as failed for a moment.
    pub read_timeout: Duration,
    /// How long a request waits for a read-model read before it builds the documents from
    /// PostgreSQL instead (the tail latency a stalling Mongo can add).
    pub hedge_after: Duration,
    pub write_concern_majority: bool,
    pub write_journal: bool,
    pub write_timeout: Duration,
    pub read_preference: ReadPreferenceSetting,
    pub compressors: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadPreferenceSetting {
    Primary,
    PrimaryPreferred,
    Secondary,
    SecondaryPreferred,
    Nearest,
}

/// A configuration error: which variable, and what is wrong with it.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {var}: {problem}")]
pub struct ConfigError {
    pub var: String,
    pub problem: String,
}

impl std::fmt::Debug for PostgresConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresConfig")
            .field("url", &redact(&self.url))
            .field("pool_min", &self.pool_min)
            .field("pool_max", &self.pool_max)
            .field("statement_timeout", &self.statement_timeout)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for MongoConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MongoConfig")
            .field("uri", &redact(&self.uri))
            .field("database", &self.database)
            .field("pool_max", &self.pool_max)
            .finish_non_exhaustive()
    }
}

/// A URL with its password replaced, for logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}{}:***{}", &url[..scheme + 3], user, &url[at..])
        }
        _ => url.to_owned(),
    }
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_map(std::env::vars().collect())
    }

    /// Reads a map of variables (tests build their configuration this way).
    pub fn from_map(vars: HashMap<String, String>) -> Result<Self, ConfigError> {
        let env = Env(vars);
        let profile = env.parse_with("APP_PROFILE", Profile::Development, |v| match v {
            "development" | "dev" => Ok(Profile::Development),
            "production" | "prod" => Ok(Profile::Production),
            _ => Err("expected `development` or `production`".into()),
        })?;
        let url = env.required("DATABASE_URL")?;
        let direct_url = env.get("DATABASE_DIRECT_URL").unwrap_or_else(|| url.clone());
        for (var, value) in [("DATABASE_URL", &url), ("DATABASE_DIRECT_URL", &direct_url)] {
            if !(value.starts_with("postgres://") || value.starts_with("postgresql://")) {
                return Err(ConfigError::new(var, "expected a postgres:// URL"));
            }
        }
        let pool_min = env.parse("DB_POOL_MIN", 5u32)?;
        let pool_max = env.parse("DB_POOL_MAX", 100u32)?;
        if pool_max == 0 || pool_min > pool_max {
            return Err(ConfigError::new("DB_POOL_MAX", "must be at least 1 and at least DB_POOL_MIN"));
        }
        let postgres = PostgresConfig {
            url,
            direct_url,
            application_name: env.get("APPLICATION_NAME").unwrap_or_else(|| "learngraph".into()),
            pool_min,
            pool_max,
            connect_timeout: env.millis("DB_CONNECTION_TIMEOUT", 2_000)?,
            acquire_timeout: env.millis("DB_ACQUIRE_TIMEOUT", 3_000)?,
            idle_timeout: env.millis("DB_IDLE_TIMEOUT", 30_000)?,
            statement_timeout: env.millis("DB_STATEMENT_TIMEOUT", 10_000)?,
            slow_query_threshold: env.millis_or_zero("SLOW_QUERY_THRESHOLD", 1_000)?,
            check_pooler: env.parse_with("DB_CHECK_POOLER", true, parse_bool)?,
        };
        let mongo_uri = env.required("MONGODB_URI")?;
        if !(mongo_uri.starts_with("mongodb://") || mongo_uri.starts_with("mongodb+srv://")) {
            return Err(ConfigError::new("MONGODB_URI", "expected a mongodb:// or mongodb+srv:// URI"));
        }
        let mongo_pool_min = env.parse("MONGO_POOL_MIN", 5u32)?;
        let mongo_pool_max = env.parse("MONGO_POOL_MAX", 100u32)?;
        if mongo_pool_max == 0 || mongo_pool_min > mongo_pool_max {
            return Err(ConfigError::new("MONGO_POOL_MAX", "must be at least 1 and at least MONGO_POOL_MIN"));
        }
        let database = env.get("MONGODB_DATABASE").unwrap_or_else(|| "learngraph".into());
        if database.is_empty() || database.contains(['/', '\\', '.', ' ', '"', '$']) {
            return Err(ConfigError::new("MONGODB_DATABASE", "not a valid database name"));
        }
        let mongo = MongoConfig {
            uri: mongo_uri,
            database,
            pool_min: mongo_pool_min,
            pool_max: mongo_pool_max,
            max_idle: env.millis("MONGO_MAX_IDLE_TIME", 30_000)?,
            connect_timeout: env.millis("MONGO_CONNECT_TIMEOUT", 10_000)?,
            server_selection_timeout: env.millis("MONGO_SERVER_SELECTION_TIMEOUT", 5_000)?,
            op_timeout: env.millis("MONGO_OPERATION_TIMEOUT", 5_000)?,
            read_timeout: env.millis("MONGO_READ_TIMEOUT", 1_000)?,
            hedge_after: env.millis_or_zero("MONGO_HEDGE_AFTER", 100)?,
            write_concern_majority: env.parse_with("MONGO_WRITE_CONCERN", true, |v| match v {
                "majority" => Ok(true),
                "1" => Ok(false),
                _ => Err("expected `majority` or `1`".into()),
            })?,
            write_journal: env.parse_with("MONGO_WRITE_JOURNAL", true, parse_bool)?,
            write_timeout: env.millis("MONGO_WRITE_TIMEOUT", 5_000)?,
            read_preference: env.parse_with("MONGO_READ_PREFERENCE", ReadPreferenceSetting::Primary, |v| {
                Ok(match v {
                    "primary" => ReadPreferenceSetting::Primary,
                    "primaryPreferred" => ReadPreferenceSetting::PrimaryPreferred,
                    "secondary" => ReadPreferenceSetting::Secondary,
                    "secondaryPreferred" => ReadPreferenceSetting::SecondaryPreferred,
                    "nearest" => ReadPreferenceSetting::Nearest,
                    _ => {
                        return Err(
                            "expected primary, primaryPreferred, secondary, secondaryPreferred or nearest".into()
                        )
                    }
                })
            })?,
            compressors: env.parse_with("MONGO_COMPRESSORS", vec!["snappy".into(), "zlib".into()], |v| {
                let list: Vec<String> =
                    v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect();
                match list.iter().find(|c| !matches!(c.as_str(), "snappy" | "zlib")) {
                    Some(bad) => Err(format!("unsupported compressor `{bad}` (this build has snappy and zlib)")),
                    None => Ok(list),
                }
            })?,
        };
        let graphiql = env.parse_with("GRAPHIQL", profile == Profile::Development, parse_bool)?;
        Ok(Config {
            listen_addr: env.parse("LISTEN_ADDR", SocketAddr::from(([127, 0, 0, 1], 8080)))?,
            profile,
            graphiql,
            introspection: env.parse_with("INTROSPECTION", graphiql, parse_bool)?,
            field_suggestions: env.parse_with("FIELD_SUGGESTIONS", profile == Profile::Development, parse_bool)?,
            router_secret: env.get("ROUTER_SECRET").filter(|s| !s.is_empty()).map(RouterSecret),
            shutdown_grace: env.millis("SHUTDOWN_GRACE_PERIOD", 20_000)?,
            log_format: env.parse_with("LOG_FORMAT", LogFormat::Json, |v| match v {
                "json" => Ok(LogFormat::Json),
                "pretty" | "text" => Ok(LogFormat::Pretty),
                _ => Err("expected `json` or `pretty`".into()),
            })?,
            log_filter: env.get("RUST_LOG").unwrap_or_else(|| "info,sqlx=warn,sea_orm=warn".into()),
            postgres,
            mongo,
            loader_delay: Duration::from_micros(env.parse("LOADER_DELAY_MICROS", 1_000u64)?),
            projector: ProjectorConfig {
                enabled: env.parse_with("PROJECTOR_ENABLED", true, parse_bool)?,
                batch: match env.parse("PROJECTOR_BATCH", 500u64)? {
                    0 => return Err(ConfigError::new("PROJECTOR_BATCH", "must be at least 1")),
                    n => n.min(5_000),
                },
                poll: env.millis("PROJECTOR_POLL_INTERVAL", 100)?,
            },
            read_cache: ReadCacheConfig {
                courses: env.parse("READ_MODEL_CACHE_COURSES", 1_000usize)?,
                progress: env.parse("READ_MODEL_CACHE_PROGRESS", 10_000usize)?,
                attempts: env.parse("READ_MODEL_CACHE_ATTEMPTS", 20_000usize)?,
                course_ttl: env.millis_or_zero("READ_MODEL_CACHE_TTL", 60_000)?,
            },
            auth: auth(&env, profile)?,
            persisted: persisted(&env)?,
            limits: limits(&env)?,
            transport: TransportConfig {
                header_read_timeout: env.millis("HEADER_READ_TIMEOUT", 10_000)?,
                request_timeout: env.millis("REQUEST_TIMEOUT", 15_000)?,
                max_concurrent_requests: match env.parse("MAX_CONCURRENT_REQUESTS", 256usize)? {
                    0 => return Err(ConfigError::new("MAX_CONCURRENT_REQUESTS", "must be at least 1")),
                    n => n,
                },
                max_connections: match env.parse("MAX_CONNECTIONS", 1_024usize)? {
                    0 => return Err(ConfigError::new("MAX_CONNECTIONS", "must be at least 1")),
                    n => n,
                },
            },
            telemetry: telemetry(&env)?,
            ftv1: Ftv1Config {
                enabled: env.parse_with("FTV1_ENABLED", true, parse_bool)?,
                errors: env.parse_with("FTV1_ERRORS", ErrorDetail::Masked, |v| match v {
                    "masked" => Ok(ErrorDetail::Masked),
                    "unmodified" => Ok(ErrorDetail::Unmodified),
                    _ => Err("expected `masked` or `unmodified`".into()),
                })?,
            },
        })
    }
}

impl ConfigError {
    fn new(var: &str, problem: impl Into<String>) -> Self {
        Self { var: var.into(), problem: problem.into() }
    }
}

fn auth(env: &Env, profile: Profile) -> Result<AuthConfig, ConfigError> {
    let secret = env.get("AUTH_JWT_HS256_SECRET");
    let pem = match (env.get("AUTH_JWT_RS256_PUBLIC_KEY"), env.get("AUTH_JWT_RS256_PUBLIC_KEY_FILE")) {
        (Some(pem), None) => Some(pem.replace("\\n", "\n")),
        (None, Some(path)) => Some(
            std::fs::read_to_string(&path)
                .map_err(|e| ConfigError::new("AUTH_JWT_RS256_PUBLIC_KEY_FILE", format!("cannot read {path}: {e}")))?,
        ),
        (Some(_), Some(_)) => {
            return Err(ConfigError::new(
                "AUTH_JWT_RS256_PUBLIC_KEY",
                "set it or AUTH_JWT_RS256_PUBLIC_KEY_FILE, not both",
            ))
        }
        (None, None) => None,
    };
    let key = match (secret, pem) {
        (Some(_), Some(_)) => {
            return Err(ConfigError::new("AUTH_JWT_HS256_SECRET", "set an HS256 secret or an RS256 key, not both"))
        }
        (Some(secret), None) if secret.len() < 32 => {
            return Err(ConfigError::new("AUTH_JWT_HS256_SECRET", "must be at least 32 characters"))
        }
        (Some(secret), None) => Some(AuthKey::Hs256(secret)),
        (None, Some(pem)) if !pem.contains("BEGIN PUBLIC KEY") && !pem.contains("BEGIN RSA PUBLIC KEY") => {
            return Err(ConfigError::new("AUTH_JWT_RS256_PUBLIC_KEY", "expected a PEM public key"))
        }
        (None, Some(pem)) => Some(AuthKey::Rs256(pem)),
        (None, None) if profile == Profile::Production => {
            return Err(ConfigError::new(
                "AUTH_JWT_HS256_SECRET",
                "the production profile needs a token key (AUTH_JWT_HS256_SECRET or AUTH_JWT_RS256_PUBLIC_KEY)",
            ))
        }
        (None, None) => None,
    };
    let issuer = env.get("AUTH_JWT_ISSUER");
    if profile == Profile::Production && issuer.is_none() {
        return Err(ConfigError::new(
            "AUTH_JWT_ISSUER",
            "the production profile checks the `iss` claim: set the issuer your tokens name",
        ));
    }
    Ok(AuthConfig {
        key,
        issuer,
        audience: env.get("AUTH_JWT_AUDIENCE"),
        role_claim: env.get("AUTH_JWT_ROLE_CLAIM").unwrap_or_else(|| "role".into()),
    })
}

fn limits(env: &Env) -> Result<LimitsConfig, ConfigError> {
    let d = LimitsConfig::default();
    let at_least_1 = |var: &str, v: u64| {
        if v == 0 {
            Err(ConfigError::new(var, "must be at least 1"))
        } else {
            Ok(v)
        }
    };
    let size = |var: &str, default: usize| -> Result<usize, ConfigError> {
        match env.parse(var, default)? {
            0 => Err(ConfigError::new(var, "must be at least 1")),
            v => Ok(v),
        }
    };
    let count = |var: &str, default: u64| -> Result<u64, ConfigError> { at_least_1(var, env.parse(var, default)?) };
    Ok(LimitsConfig {
        body_bytes: size("MAX_BODY_BYTES", d.body_bytes)?,
        document_bytes: size("MAX_DOCUMENT_BYTES", d.document_bytes)?,
        tokens: size("MAX_TOKENS", d.tokens)?,
        nesting: size("MAX_NESTING", d.nesting)?,
        depth: count("MAX_DEPTH", d.depth)?,
        complexity: count("MAX_COMPLEXITY", d.complexity)?,
        aliases: env.parse("MAX_ALIASES", d.aliases)?,
        root_fields: count("MAX_ROOT_FIELDS", d.root_fields)?,
        directives_per_field: env.parse("MAX_DIRECTIVES_PER_FIELD", d.directives_per_field)?,
        selections: count("MAX_SELECTIONS", d.selections)?,
    })
}

fn persisted(env: &Env) -> Result<PersistedConfig, ConfigError> {
    let trusted = env.parse_with("TRUSTED_DOCUMENTS", TrustedMode::Off, |v| match v {
        "off" => Ok(TrustedMode::Off),
        "allow" => Ok(TrustedMode::Allow),
        "require" => Ok(TrustedMode::Require),
        _ => Err("expected off, allow or require".into()),
    })?;
    let manifest = env.get("TRUSTED_DOCUMENTS_MANIFEST").map(std::path::PathBuf::from);
    if trusted != TrustedMode::Off && manifest.is_none() {
        return Err(ConfigError::new(
            "TRUSTED_DOCUMENTS_MANIFEST",
            "is required when TRUSTED_DOCUMENTS is allow or require",
        ));
    }
    Ok(PersistedConfig {
        apq: env.parse_with("APQ_ENABLED", true, parse_bool)?,
        cache_size: match env.parse("APQ_CACHE_SIZE", 1_000usize)? {
            0 => return Err(ConfigError::new("APQ_CACHE_SIZE", "must be at least 1")),
            n => n,
        },
        ttl: Duration::from_secs(match env.parse("APQ_TTL_SECONDS", 7 * 24 * 3600u64)? {
            0 => return Err(ConfigError::new("APQ_TTL_SECONDS", "must be at least 1")),
            n => n,
        }),
        trusted,
        manifest,
    })
}

fn telemetry(env: &Env) -> Result<TelemetryConfig, ConfigError> {
    let base = env.get("OTEL_EXPORTER_OTLP_ENDPOINT").filter(|v| !v.is_empty());
    let traces = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").filter(|v| !v.is_empty());
    // the base endpoint gets the signal's path; the per-signal one is used as it is (the OTLP spec)
    let traces_endpoint = match (traces, base) {
        (Some(url), _) => Some((url, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")),
        (None, Some(base)) => {
            Some((format!("{}/v1/traces", base.trim_end_matches('/')), "OTEL_EXPORTER_OTLP_ENDPOINT"))
        }
        (None, None) => None,
    };
    if let Some((url, var)) = &traces_endpoint {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(ConfigError::new(var, "expected an http:// or https:// URL"));
        }
    }
    let protocol = env.parse_with("OTEL_EXPORTER_OTLP_PROTOCOL", OtlpProtocol::HttpProtobuf, |v| match v {
        "http/protobuf" => Ok(OtlpProtocol::HttpProtobuf),
        "http/json" => Ok(OtlpProtocol::HttpJson),
        "grpc" => Err("gRPC is not built in: use http/protobuf (a collector's port 4318)".into()),
        _ => Err("expected `http/protobuf` or `http/json`".into()),
    })?;
    let sample_ratio = env.parse("OTEL_TRACES_SAMPLER_ARG", 1.0f64)?;
    if !(0.0..=1.0).contains(&sample_ratio) {
        return Err(ConfigError::new("OTEL_TRACES_SAMPLER_ARG", "expected a ratio between 0 and 1"));
    }
    Ok(TelemetryConfig {
        traces_endpoint: traces_endpoint.map(|(url, _)| url),
        protocol,
        sample_ratio,
        service_name: env.get("OTEL_SERVICE_NAME").filter(|v| !v.is_empty()).unwrap_or_else(|| "learngraph".into()),
        resolver_spans: env.parse_with("OTEL_RESOLVER_SPANS", false, parse_bool)?,
        batch_delay: env.millis("OTEL_BSP_SCHEDULE_DELAY", 5_000)?,
        export_timeout: env.millis("OTEL_EXPORTER_OTLP_TIMEOUT", 10_000)?,
    })
}

fn parse_bool(v: &str) -> Result<bool, String> {
    match v {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err("expected true or false".into()),
    }
}

struct Env(HashMap<String, String>);

impl Env {
    /// A set, non-blank variable.
    fn get(&self, var: &str) -> Option<String> {
        self.0.get(var).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
    }

    fn required(&self, var: &str) -> Result<String, ConfigError> {
        self.get(var).ok_or_else(|| {
            ConfigError::new(var, "is required (see .env.example; `scripts/stack env` prints it for the local stack)")
        })
    }

    fn parse<T: FromStr>(&self, var: &str, default: T) -> Result<T, ConfigError>
    where
        T::Err: std::fmt::Display,
    {
        self.parse_with(var, default, |v| v.parse::<T>().map_err(|e| format!("`{v}`: {e}")))
    }

    fn parse_with<T>(
        &self,
        var: &str,
        default: T,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        match self.get(var) {
            None => Ok(default),
            Some(v) => parse(&v).map_err(|problem| ConfigError::new(var, problem)),
        }
    }

    /// A duration in milliseconds; 0 is refused (use a large value to mean "long").
    fn millis(&self, var: &str, default: u64) -> Result<Duration, ConfigError> {
        let ms = self.parse(var, default)?;
        if ms == 0 {
            return Err(ConfigError::new(var, "must be a positive number of milliseconds"));
        }
        Ok(Duration::from_millis(ms))
    }

    /// As `millis`, where 0 is a meaningful setting.
    fn millis_or_zero(&self, var: &str, default: u64) -> Result<Duration, ConfigError> {
        Ok(Duration::from_millis(self.parse(var, default)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variable_read_here_is_in_the_env_example() {
        let source = include_str!("config.rs");
        let source = &source[..source.find("#[cfg(test)]").unwrap_or(source.len())];
        let example = include_str!("../.env.example");
        let documented = |var: &str| {
            example.lines().any(|l| l.trim_start_matches(['#', ' ']).starts_with(&format!("{var}=")))
                || example.contains(&format!("Filter with {var}"))
        };
        let mut missing = Vec::new();
        // every "NAME_LIKE_THIS" between two quotes (quote parity is unreliable: '"' exists)
        let pieces: Vec<&str> = source.split('"').collect();
        for literal in pieces.iter().skip(1).take(pieces.len().saturating_sub(2)) {
            let is_var = literal.len() > 3
                && literal.contains('_')
                && literal.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
            if is_var && !documented(literal) {
                missing.push(*literal);
            }
        }
        assert!(missing.is_empty(), "not in .env.example: {missing:?}");
    }

    fn base() -> HashMap<String, String> {
        HashMap::from([
            ("DATABASE_URL".to_owned(), "postgres://u:secret@127.0.0.1:6432/db".to_owned()),
            ("MONGODB_URI".to_owned(), "mongodb://127.0.0.1:27017/".to_owned()),
        ])
    }

    #[test]
    fn defaults_follow_the_guide() {
        let c = Config::from_map(base()).expect("valid");
        assert_eq!(c.postgres.pool_min, 5);
        assert_eq!(c.postgres.pool_max, 100);
        assert_eq!(c.postgres.idle_timeout, Duration::from_secs(30));
        assert_eq!(c.postgres.connect_timeout, Duration::from_secs(2));
        assert_eq!(c.postgres.slow_query_threshold, Duration::from_secs(1));
        assert!(c.mongo.write_concern_majority && c.mongo.write_journal);
        assert_eq!(c.mongo.compressors, vec!["snappy", "zlib"]);
        assert_eq!(c.postgres.direct_url, c.postgres.url);
    }

    #[test]
    fn a_bad_value_names_its_variable() {
        for (var, value) in [
            ("DB_POOL_MAX", "lots"),
            ("DB_POOL_MIN", "-1"),
            ("DB_STATEMENT_TIMEOUT", "0"),
            ("MONGO_READ_PREFERENCE", "fastest"),
            ("MONGO_COMPRESSORS", "zstd"),
            ("LISTEN_ADDR", "localhost"),
            ("DATABASE_URL", "mysql://x"),
            ("APP_PROFILE", "staging"),
        ] {
            let mut vars = base();
            vars.insert(var.into(), value.into());
            let err = Config::from_map(vars).expect_err(var);
            assert_eq!(err.var, var, "{err}");
        }
        let err = Config::from_map(HashMap::new()).expect_err("missing");
        assert_eq!(err.var, "DATABASE_URL");
    }

    #[test]
    fn passwords_stay_out_of_debug_output() {
        let mut vars = base();
        vars.insert("ROUTER_SECRET".into(), "hunter2-router".into());
        let c = Config::from_map(vars).expect("valid");
        let shown = format!("{c:?}");
        assert!(!shown.contains("u:secret@") && !shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("u:***@127.0.0.1"), "{shown}");
    }
}
