use sea_orm_migration::prelude::*;

use crate::exec_all;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// A client's retried mutation, recognised by its idempotency key: the first request claims
/// the key in its transaction and stores its response; a repeat gets that response back.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        exec_all(
            manager,
            &[
                r#"CREATE TABLE idempotency_keys (
                    user_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                    key VARCHAR(128) NOT NULL,
                    operation TEXT NOT NULL,
                    -- the same key with other arguments is an error, not a replay
                    arguments JSONB NOT NULL,
                    response JSONB,
                    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
                    PRIMARY KEY (user_id, key)
                )"#,
                "CREATE INDEX idx_idempotency_keys_created ON idempotency_keys (created_at)",
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        exec_all(manager, &["DROP TABLE idempotency_keys"]).await
    }
}
