use sea_orm_migration::prelude::*;

use crate::{exec_all, m20261130_000014_create_read_model_outbox::TOUCH_READ_MODELS};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The change feed: a committed change to a course's read model is announced on the
/// `learngraph_changes` channel with the course's new version, so every replica drops the
/// course page it keeps in memory at once (`src/projection/cache.rs`). NOTIFY is sent at
/// commit and only then; it is sent for courses only (authoring, enrolment counts, lessons,
/// names), not for the learner's own progress and attempts, whose kept documents are checked
/// against PostgreSQL's versions on every read instead. A statement touching more than 100
/// courses announces `course *` (payloads stay under PostgreSQL's 8,000 bytes: 100 keys of 36
/// characters with versions of up to 19 digits).
const ANNOUNCE: &str = r#"
        IF p_kind = 'course' AND cardinality(p_keys) > 0 THEN
            IF cardinality(p_keys) > 100 THEN
                PERFORM pg_notify('learngraph_changes', 'course *');
            ELSE
                PERFORM pg_notify('learngraph_changes', 'course ' || (
                    SELECT string_agg(v.key || '@' || v.version, ' ' ORDER BY v.key) FROM read_model_versions v
                    WHERE v.kind = 'course' AND v.key = ANY(p_keys)));
            END IF;
        END IF;
    END;"#;

/// Migration 14's function with the announcement added at its end.
fn touch_and_announce() -> String {
    TOUCH_READ_MODELS.replacen("\n    END;", ANNOUNCE, 1)
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let touch = touch_and_announce();
        if touch == TOUCH_READ_MODELS {
            return Err(DbErr::Migration(
                "migration 14's touch_read_models no longer ends as migration 18 expects".into(),
            ));
        }
        exec_all(manager, &[&touch]).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        exec_all(manager, &[TOUCH_READ_MODELS]).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_announcement_goes_at_the_end_of_migration_14s_function() {
        let touch = touch_and_announce();
        let notify = touch.find("pg_notify").expect("announces");
        assert!(touch.find("INSERT INTO outbox").expect("enqueues") < notify, "after the outbox row");
        assert!(touch.trim_end().ends_with("END;\n    $$ LANGUAGE plpgsql"), "{touch}");
        assert_eq!(touch.matches("\n    END;").count(), 1, "one end of the function body");
    }
}
