//! The command line: `serve`, `migrate`, `seed`, `sdl`.

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::{
    app::{shutdown_signal, App},
    config::Config,
    migrate, seed,
};

#[derive(Parser)]
#[command(name = "learngraph", version, about = "LearnGraph: the GraphQL service for online learning")]
#[command(after_help = "Configuration comes from environment variables: see .env.example.\n\
    Local stack: eval \"$(scripts/stack env | sed 's/^/export /')\"")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve GraphQL on LISTEN_ADDR (GraphiQL at /graphql, probes at /healthz and /readyz).
    #[command(after_help = "Example: learngraph serve")]
    Serve,
    /// Apply, revert or list the migrations of PostgreSQL and MongoDB.
    #[command(
        after_help = "Examples:\n  learngraph migrate up\n  learngraph migrate down --all\n  learngraph migrate status"
    )]
    Migrate {
        #[command(subcommand)]
        action: MigrateAction,
    },
    /// Load a deterministic data set into an empty database.
    #[command(after_help = "Examples:\n  learngraph seed --scale demo\n  learngraph seed --scale bench --force")]
    Seed {
        /// How much data: demo (small), ci (the tests'), bench (50k users, 5k courses, 1.5M progress rows).
        #[arg(long, value_enum, default_value = "demo")]
        scale: Scale,
        /// Empty the tables first when they hold data.
        #[arg(long, conflicts_with = "if_empty")]
        force: bool,
        /// Seed only an empty database; a database with data is left alone (exit 0).
        #[arg(long)]
        if_empty: bool,
    },
    /// Project PostgreSQL into the MongoDB read models: drain the outbox, rebuild, verify.
    #[command(
        after_help = "Examples:\n  learngraph project rebuild\n  learngraph project verify\n  learngraph project run --until-empty"
    )]
    Project {
        #[command(subcommand)]
        action: ProjectAction,
    },
    /// Print the GraphQL schema (SDL), as committed in schema.graphql.
    Sdl,
}

#[derive(Subcommand)]
enum ProjectAction {
    /// Run the projector alone (as `serve` does), until SIGTERM, or until the outbox is empty.
    Run {
        #[arg(long)]
        until_empty: bool,
    },
    /// Rebuild every read model from PostgreSQL (and remove documents with no aggregate).
    Rebuild,
    /// Compare every document with what PostgreSQL builds; exit 0 only when all match.
    Verify,
    /// Outbox backlog and the age of its oldest row.
    Status,
}

#[derive(Subcommand)]
enum MigrateAction {
    /// Apply every pending PostgreSQL migration, then MongoDB's validators and indexes.
    Up,
    /// Revert PostgreSQL migrations: the last one, `--steps N`, or `--all`.
    Down {
        #[arg(long, conflicts_with = "all")]
        steps: Option<u32>,
        #[arg(long)]
        all: bool,
    },
    /// List applied and pending migrations of both stores.
    Status,
}

#[derive(Clone, Copy, ValueEnum)]
enum Scale {
    Demo,
    Ci,
    Bench,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Sdl = cli.command {
        print!("{}", crate::graphql::sdl());
        return ExitCode::SUCCESS;
    }
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("learngraph: {e}");
            return ExitCode::from(2);
        }
    };
    let telemetry = crate::telemetry::init(config.log_format, &config.log_filter, &config.telemetry);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("learngraph: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(cli.command, config));
    drop(runtime);
    telemetry.shutdown();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("learngraph: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, config: Config) -> Result<(), String> {
    match command {
        Command::Serve => {
            // installed before the port opens: a stop request during start-up ends it cleanly
            let mut stop = Box::pin(shutdown_signal());
            let app = tokio::select! {
                app = App::build(config) => app.map_err(|e| e.to_string())?,
                () = &mut stop => {
                    tracing::info!("stopped while starting");
                    return Ok(());
                }
            };
            let addr = app.local_addr().map_err(|e| e.to_string())?;
            tracing::info!(%addr, "serving GraphQL on http://{addr}/graphql");
            app.serve(stop).await.map_err(|e| e.to_string())
        }
        Command::Migrate { action } => match action {
            MigrateAction::Up => migrate::up(&config).await,
            MigrateAction::Down { steps, all } => {
                migrate::down(&config, if all { None } else { Some(steps.unwrap_or(1)) }).await
            }
            MigrateAction::Status => migrate::status(&config).await,
        },
        Command::Seed { scale, force, if_empty } => {
            let scale = match scale {
                Scale::Demo => seed::Scale::Demo,
                Scale::Ci => seed::Scale::Ci,
                Scale::Bench => seed::Scale::Bench,
            };
            match seed::run(&config.postgres.direct_url, scale, force).await {
                Ok(report) => {
                    println!("{report}");
                    Ok(())
                }
                Err(seed::SeedError::NotEmpty(message)) if if_empty => {
                    println!("not seeding: {message}");
                    Ok(())
                }
                Err(e) => Err(e.to_string()),
            }
        }
        Command::Project { action } => project(action, config).await,
        Command::Sdl => Ok(()),
    }
}

async fn project(action: ProjectAction, config: Config) -> Result<(), String> {
    use crate::{
        projection::{maintain, projector},
        store::{mongo::MongoStore, pg::PgStore},
    };
    let pg = PgStore::connect(&config.postgres).await.map_err(|e| format!("PostgreSQL: {}", e.detail))?;
    let mongo = MongoStore::connect(&config.mongo, &config.postgres.application_name)
        .await
        .map_err(|e| format!("MongoDB: {}", e.detail))?;
    let db = pg.db().clone();
    match action {
        ProjectAction::Run { until_empty } => {
            let p = projector::Projector::new(db, mongo, config.projector.batch, config.postgres.statement_timeout);
            if until_empty {
                let n = p.drain().await.map_err(|e| format!("projector: {:?}: {}", e.kind, e.detail))?;
                println!("projected {n} outbox rows; the outbox is empty");
                return Ok(());
            }
            let signal = shutdown_signal();
            let (stop, stopped) = tokio::sync::watch::channel(false);
            let task = tokio::spawn(p.run(config.projector.poll, stopped));
            signal.await;
            let _ = stop.send(true);
            let _ = task.await;
            Ok(())
        }
        ProjectAction::Rebuild => {
            let started = std::time::Instant::now();
            let report =
                maintain::rebuild(&db, &mongo).await.map_err(|e| format!("rebuild: {:?}: {}", e.kind, e.detail))?;
            println!("{report}\nrebuilt in {:.1} s", started.elapsed().as_secs_f64());
            Ok(())
        }
        ProjectAction::Verify => {
            let (checked, differences) =
                maintain::verify(&db, &mongo).await.map_err(|e| format!("verify: {:?}: {}", e.kind, e.detail))?;
            for d in &differences {
                println!("{d}");
            }
            if differences.is_empty() {
                println!("verified {checked} aggregates: every document matches PostgreSQL");
                Ok(())
            } else {
                Err(format!("{} of {checked} aggregates differ (listed above)", differences.len()))
            }
        }
        ProjectAction::Status => {
            let (n, oldest) = projector::backlog(&db).await.map_err(|e| e.detail.to_string())?;
            println!("outbox: {n} rows waiting{}", oldest.map(|s| format!(", oldest {s:.1} s")).unwrap_or_default());
            Ok(())
        }
    }
}
