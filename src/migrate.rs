//! `learngraph migrate`: PostgreSQL migrations (the `migration` crate) over the direct URL,
//! and MongoDB's validators and indexes.

use migration::{Migrator, MigratorTrait};

use crate::{config::Config, store::mongo::MongoStore, store::pg::PgStore};

/// The advisory lock key `migrate up` holds while it migrates ("LGMIGRAT").
const MIGRATION_LOCK: i64 = 0x4C47_4D49_4752_4154;

pub async fn up(config: &Config) -> Result<(), String> {
    let db = admin(config).await?;
    // One migrator at a time (both stores): replicas that all run `migrate up` as they start (an init
    // container each) wait for the first, then find nothing left to do. The lock is held by a
    // connection of its own and ends with it, should this process die.
    let mut lock = db
        .get_postgres_connection_pool()
        .acquire()
        .await
        .map_err(|e| format!("PostgreSQL: cannot connect for the migration lock: {e}"))?;
    sea_orm::sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *lock)
        .await
        .map_err(|e| format!("PostgreSQL: cannot take the migration lock: {e}"))?;
    let migrated = migrate_both(config, &db).await;
    let _ = sea_orm::sqlx::query("SELECT pg_advisory_unlock($1)").bind(MIGRATION_LOCK).execute(&mut *lock).await;
    drop(lock);
    let _ = db.close().await;
    migrated
}

async fn migrate_both(config: &Config, db: &sea_orm::DatabaseConnection) -> Result<(), String> {
    Migrator::up(db, None).await.map_err(|e| format!("PostgreSQL migration failed: {e}"))?;
    println!("postgres: all migrations applied");
    let mongo = mongo(config).await?;
    let report = mongo.apply_setup().await.map_err(|e| format!("MongoDB setup failed: {}", e.detail))?;
    println!(
        "mongo: {} collection(s) created, {} updated, {} index(es) in place",
        report.collections_created.len(),
        report.collections_updated.len(),
        report.indexes.len()
    );
    for w in &report.warnings {
        println!("mongo: warning: {w}");
    }
    Ok(())
}

/// Reverts `steps` migrations, or all of them with `None`.
pub async fn down(config: &Config, steps: Option<u32>) -> Result<(), String> {
    let db = admin(config).await?;
    Migrator::down(&db, steps).await.map_err(|e| format!("PostgreSQL migration failed: {e}"))?;
    match steps {
        Some(n) => println!("postgres: reverted {n} migration(s)"),
        None => println!("postgres: reverted every migration"),
    }
    println!("mongo: collections are left in place (read models are rebuilt from PostgreSQL)");
    Ok(())
}

pub async fn status(config: &Config) -> Result<(), String> {
    let db = admin(config).await?;
    let statuses =
        Migrator::get_migration_with_status(&db).await.map_err(|e| format!("cannot read migrations: {e}"))?;
    for m in statuses {
        println!("postgres  {:<8} {}", format!("{}", m.status()).to_lowercase(), m.name());
    }
    match mongo(config).await?.setup_status().await {
        Ok(collections) => {
            for c in collections {
                let state = match (c.exists, c.missing_indexes.is_empty()) {
                    (false, _) => "pending".to_owned(),
                    (true, true) => "applied".to_owned(),
                    (true, false) => format!("partial (missing: {})", c.missing_indexes.join(", ")),
                };
                println!("mongo     {:<8} {}", state, c.name);
            }
        }
        Err(e) => println!("mongo     unknown  ({:?}: {})", e.kind, e.detail),
    }
    Ok(())
}

async fn admin(config: &Config) -> Result<sea_orm::DatabaseConnection, String> {
    PgStore::connect_admin(&config.postgres.direct_url, &config.postgres.application_name)
        .await
        .map_err(|e| format!("cannot connect to DATABASE_DIRECT_URL: {}", e.detail))
}

async fn mongo(config: &Config) -> Result<MongoStore, String> {
    MongoStore::connect(&config.mongo, &config.postgres.application_name)
        .await
        .map_err(|e| format!("cannot connect to MONGODB_URI: {}", e.detail))
}
