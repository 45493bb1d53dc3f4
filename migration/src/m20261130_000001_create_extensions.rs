use sea_orm_migration::prelude::*;

use crate::exec_all;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        exec_all(
            manager,
            &[
                r#"CREATE EXTENSION IF NOT EXISTS "uuid-ossp""#,
                r#"CREATE EXTENSION IF NOT EXISTS "pg_trgm""#,
                // pg_stat_statements is not a trusted extension: a superuser installs it (the
                // stack and deploy/ do). Without it the service still runs; `ops` reports it missing.
                r#"DO $$ BEGIN
                     CREATE EXTENSION IF NOT EXISTS "pg_stat_statements";
                   EXCEPTION WHEN insufficient_privilege OR undefined_file THEN
                     RAISE NOTICE 'pg_stat_statements not installed: %', SQLERRM;
                   END $$"#,
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // pg_stat_statements belongs to the operator who installed it; it stays.
        exec_all(manager, &[r#"DROP EXTENSION IF EXISTS "pg_trgm""#, r#"DROP EXTENSION IF EXISTS "uuid-ossp""#]).await
    }
}
