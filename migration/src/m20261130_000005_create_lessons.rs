use sea_orm_migration::prelude::*;

use crate::exec_all;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        exec_all(
            manager,
            &[r#"CREATE TABLE lessons (
    id UUID PRIMARY KEY DEFAULT uuid_generate_v4(),
    course_id UUID NOT NULL REFERENCES courses(id) ON DELETE CASCADE,
    title VARCHAR(255) NOT NULL,
    slug VARCHAR(255) NOT NULL,
    content TEXT,
    video_url VARCHAR(500),
    duration_minutes INTEGER CHECK (duration_minutes >= 0),
    order_position INTEGER NOT NULL,
    is_free BOOLEAN NOT NULL DEFAULT false,
    resources JSONB, -- Additional resources, files, etc.
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    UNIQUE (course_id, slug),
    -- lets user_progress check that a lesson belongs to the course it names
    UNIQUE (id, course_id),
    -- deferrable, so that an instructor can reorder lessons in one transaction
    UNIQUE (course_id, order_position) DEFERRABLE INITIALLY IMMEDIATE
)"#],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        exec_all(manager, &[r#"DROP TABLE lessons"#]).await
    }
}
