use sea_orm_migration::prelude::*;

use crate::exec_all;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The change feed: a committed change to a course's read model is announced on the
/// `learngraph_changes` channel with the course's new version, so every replica drops the
/// course page it keeps in memory at once (`src/projection/cache.rs`). NOTIFY is sent at
/// commit and only then; it is sent for courses only (authoring, enrolment counts, lessons,
/// names), not for the learner's own progress and attempts, whose kept documents are checked
/// against PostgreSQL's versions on every read instead. A statement touching more than 180
/// courses announces `course *` (payloads stay under PostgreSQL's 8,000 bytes).
const TOUCH: &str = r#"CREATE OR REPLACE FUNCTION touch_read_models(p_kind TEXT, p_keys TEXT[])
    RETURNS VOID AS $$
    BEGIN
        INSERT INTO read_model_versions AS v (kind, key, version, changed_at)
        SELECT p_kind, k, 1, clock_timestamp() FROM (SELECT DISTINCT unnest(p_keys) AS k ORDER BY 1) keys
        ON CONFLICT (kind, key) DO UPDATE SET version = v.version + 1, changed_at = excluded.changed_at;
        INSERT INTO outbox (kind, key) SELECT p_kind, k FROM (SELECT DISTINCT unnest(p_keys) AS k ORDER BY 1) keys;
        IF p_kind = 'course' AND cardinality(p_keys) > 0 THEN
            IF cardinality(p_keys) > 180 THEN
                PERFORM pg_notify('learngraph_changes', 'course *');
            ELSE
                PERFORM pg_notify('learngraph_changes', 'course ' || (
                    SELECT string_agg(v.key || '@' || v.version, ' ' ORDER BY v.key) FROM read_model_versions v
                    WHERE v.kind = 'course' AND v.key = ANY(p_keys)));
            END IF;
        END IF;
    END;
    $$ LANGUAGE plpgsql"#;

/// The function as migration 14 made it.
const UNTOUCHED: &str = r#"CREATE OR REPLACE FUNCTION touch_read_models(p_kind TEXT, p_keys TEXT[])
    RETURNS VOID AS $$
    BEGIN
        INSERT INTO read_model_versions AS v (kind, key, version, changed_at)
        SELECT p_kind, k, 1, clock_timestamp() FROM (SELECT DISTINCT unnest(p_keys) AS k ORDER BY 1) keys
        ON CONFLICT (kind, key) DO UPDATE SET version = v.version + 1, changed_at = excluded.changed_at;
        INSERT INTO outbox (kind, key) SELECT p_kind, k FROM (SELECT DISTINCT unnest(p_keys) AS k ORDER BY 1) keys;
    END;
    $$ LANGUAGE plpgsql"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        exec_all(manager, &[TOUCH]).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        exec_all(manager, &[UNTOUCHED]).await
    }
}
