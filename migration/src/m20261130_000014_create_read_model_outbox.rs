use sea_orm_migration::prelude::*;

use crate::exec_all;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Bumps and enqueues a set of aggregates, keys in order (migration 18 adds the change feed's
/// announcement to it, and restores this on the way down).
pub(crate) const TOUCH_READ_MODELS: &str = r#"CREATE OR REPLACE FUNCTION touch_read_models(p_kind TEXT, p_keys TEXT[])
    RETURNS VOID AS $$
    BEGIN
        INSERT INTO read_model_versions AS v (kind, key, version, changed_at)
        SELECT p_kind, k, 1, clock_timestamp() FROM (SELECT DISTINCT unnest(p_keys) AS k ORDER BY 1) keys
        ON CONFLICT (kind, key) DO UPDATE SET version = v.version + 1, changed_at = excluded.changed_at;
        INSERT INTO outbox (kind, key) SELECT p_kind, k FROM (SELECT DISTINCT unnest(p_keys) AS k ORDER BY 1) keys;
    END;
    $$ LANGUAGE plpgsql"#;

/// The transactional outbox of the Mongo read models. Every change to an aggregate that has a
/// read model bumps that aggregate's version and enqueues it, in the same transaction as the
/// change, from statement-level triggers: a write that commits is always projected, whatever
/// wrote it (the API, a seed, an operator's SQL).
///
/// Aggregates (kind, key): `course` (course id: the course, its lessons, category name and
/// instructor name, enrolment count), `progress` (`user_id:course_id`: enrolment and lesson
/// progress), `attempt` (attempt id).
const UP: &[&str] = &[
    r#"CREATE TABLE read_model_versions (
        kind TEXT NOT NULL,
        key TEXT NOT NULL,
        version BIGINT NOT NULL,
        changed_at TIMESTAMP WITH TIME ZONE NOT NULL,
        PRIMARY KEY (kind, key)
    )"#,
    r#"CREATE TABLE outbox (
        id BIGSERIAL PRIMARY KEY,
        kind TEXT NOT NULL,
        key TEXT NOT NULL,
        enqueued_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT clock_timestamp(),
        -- a row whose document Mongo refused waits longer after each failure
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT '-infinity'
    )"#,
    // Bumps and enqueues a set of aggregates, keys in order. Across kinds, every path touches
    // `progress` before `course` (enrolments do, through the enrolment-count trigger), so two
    // writers never wait on each other's version rows in opposite orders.
    TOUCH_READ_MODELS,
    // courses: the course itself (its counters included). A course that joins a category or
    // gets an instructor share-locks that row: a concurrent rename then waits for this commit and
    // its own trigger sees this course (or this one waits for the rename and builds the new name).
    r#"CREATE OR REPLACE FUNCTION outbox_courses() RETURNS TRIGGER AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            PERFORM 1 FROM categories WHERE id IN (SELECT category_id FROM new_rows) FOR SHARE;
            PERFORM 1 FROM users WHERE id IN (SELECT instructor_id FROM new_rows) FOR SHARE;
        ELSIF TG_OP = 'UPDATE' THEN
            PERFORM 1 FROM categories WHERE id IN (
                SELECT n.category_id FROM new_rows n JOIN old_rows o ON o.id = n.id
                WHERE n.category_id IS DISTINCT FROM o.category_id) FOR SHARE;
            PERFORM 1 FROM users WHERE id IN (
                SELECT n.instructor_id FROM new_rows n JOIN old_rows o ON o.id = n.id
                WHERE n.instructor_id IS DISTINCT FROM o.instructor_id) FOR SHARE;
        END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') THEN
            PERFORM touch_read_models('course', ARRAY(SELECT id::text FROM new_rows));
        ELSE
            PERFORM touch_read_models('course', ARRAY(SELECT id::text FROM old_rows));
        END IF;
        RETURN NULL;
    END;
    $$ LANGUAGE plpgsql"#,
    // lessons: their course; an added, removed, moved or reordered lesson changes the progress
    // documents of the course's learners, and a moved lesson the course of its quizzes' attempts.
    // The courses are share-locked first: an enrolment in progress (it updates the course's
    // counter) commits before the enrolments are read here, or waits until this commits.
    r#"CREATE OR REPLACE FUNCTION outbox_lessons() RETURNS TRIGGER AS $$
    DECLARE
        touched UUID[];
        learners UUID[];
    BEGIN
        IF TG_OP = 'INSERT' THEN
            touched := ARRAY(SELECT DISTINCT course_id FROM new_rows);
            learners := touched;
        ELSIF TG_OP = 'DELETE' THEN
            touched := ARRAY(SELECT DISTINCT course_id FROM old_rows);
            learners := touched;
        ELSE
            touched := ARRAY(SELECT course_id FROM new_rows UNION SELECT course_id FROM old_rows);
            learners := ARRAY(
                SELECT n.course_id FROM new_rows n JOIN old_rows o ON o.id = n.id
                WHERE (n.course_id, n.order_position) IS DISTINCT FROM (o.course_id, o.order_position)
                UNION
                SELECT o.course_id FROM new_rows n JOIN old_rows o ON o.id = n.id
                WHERE n.course_id IS DISTINCT FROM o.course_id);
            PERFORM touch_read_models('attempt', ARRAY(
                SELECT a.id::text FROM quiz_attempts a JOIN quizzes q ON q.id = a.quiz_id
                JOIN new_rows n ON n.id = q.lesson_id JOIN old_rows o ON o.id = n.id
                WHERE n.course_id IS DISTINCT FROM o.course_id));
        END IF;
        PERFORM 1 FROM courses WHERE id = ANY(learners) FOR SHARE;
        PERFORM touch_read_models('progress',
            ARRAY(SELECT e.user_id::text || ':' || e.course_id::text FROM enrollments e WHERE e.course_id = ANY(learners)));
        PERFORM touch_read_models('course', ARRAY(SELECT unnest(touched)::text));
        RETURN NULL;
    END;
    $$ LANGUAGE plpgsql"#,
    // quizzes moved to another lesson: their attempts' course may change
    r#"CREATE OR REPLACE FUNCTION outbox_quizzes() RETURNS TRIGGER AS $$
    BEGIN
        PERFORM touch_read_models('attempt', ARRAY(
            SELECT a.id::text FROM quiz_attempts a JOIN new_rows n ON n.id = a.quiz_id
            JOIN old_rows o ON o.id = n.id WHERE n.lesson_id IS DISTINCT FROM o.lesson_id));
        RETURN NULL;
    END;
    $$ LANGUAGE plpgsql"#,
    // categories and users: the courses that show their names
    r#"CREATE OR REPLACE FUNCTION outbox_categories() RETURNS TRIGGER AS $$
    BEGIN
        PERFORM touch_read_models('course', ARRAY(
            SELECT c.id::text FROM courses c JOIN new_rows n ON c.category_id = n.id
            JOIN old_rows o ON o.id = n.id WHERE (o.name, o.slug) IS DISTINCT FROM (n.name, n.slug)));
        RETURN NULL;
    END;
    $$ LANGUAGE plpgsql"#,
    r#"CREATE OR REPLACE FUNCTION outbox_instructors() RETURNS TRIGGER AS $$
    BEGIN
        PERFORM touch_read_models('course', ARRAY(
            SELECT c.id::text FROM courses c JOIN new_rows n ON c.instructor_id = n.id
            JOIN old_rows o ON o.id = n.id WHERE (o.first_name, o.last_name) IS DISTINCT FROM (n.first_name, n.last_name)));
        RETURN NULL;
    END;
    $$ LANGUAGE plpgsql"#,
    // enrolments and lesson progress: the learner's progress in the course
    r#"CREATE OR REPLACE FUNCTION outbox_progress() RETURNS TRIGGER AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            PERFORM touch_read_models('progress', ARRAY(SELECT user_id::text || ':' || course_id::text FROM new_rows));
        ELSIF TG_OP = 'DELETE' THEN
            PERFORM touch_read_models('progress', ARRAY(SELECT user_id::text || ':' || course_id::text FROM old_rows));
        ELSE
            -- a row moved to another learner or course changes both documents, each once
            PERFORM touch_read_models('progress', ARRAY(
                SELECT user_id::text || ':' || course_id::text FROM new_rows
                UNION SELECT user_id::text || ':' || course_id::text FROM old_rows));
        END IF;
        RETURN NULL;
    END;
    $$ LANGUAGE plpgsql"#,
    r#"CREATE OR REPLACE FUNCTION outbox_attempts() RETURNS TRIGGER AS $$
    BEGIN
        IF TG_OP IN ('INSERT', 'UPDATE') THEN
            PERFORM touch_read_models('attempt', ARRAY(SELECT id::text FROM new_rows));
        ELSE
            PERFORM touch_read_models('attempt', ARRAY(SELECT id::text FROM old_rows));
        END IF;
        RETURN NULL;
    END;
    $$ LANGUAGE plpgsql"#,
];

/// (table, function, events): one statement-level trigger per event, as transition tables require.
const TRIGGERS: &[(&str, &str, &[&str])] = &[
    ("courses", "outbox_courses", &["INSERT", "UPDATE", "DELETE"]),
    ("lessons", "outbox_lessons", &["INSERT", "UPDATE", "DELETE"]),
    ("quizzes", "outbox_quizzes", &["UPDATE"]),
    ("categories", "outbox_categories", &["UPDATE"]),
    ("users", "outbox_instructors", &["UPDATE"]),
    ("enrollments", "outbox_progress", &["INSERT", "UPDATE", "DELETE"]),
    ("user_progress", "outbox_progress", &["INSERT", "UPDATE", "DELETE"]),
    ("quiz_attempts", "outbox_attempts", &["INSERT", "UPDATE", "DELETE"]),
];

fn trigger_name(table: &str, event: &str) -> String {
    format!("outbox_{table}_{}", event.to_lowercase())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        exec_all(manager, UP).await?;
        let mut statements = Vec::new();
        for (table, function, events) in TRIGGERS {
            for event in *events {
                let referencing = match *event {
                    "INSERT" => "NEW TABLE AS new_rows",
                    "DELETE" => "OLD TABLE AS old_rows",
                    _ => "OLD TABLE AS old_rows NEW TABLE AS new_rows",
                };
                statements.push(format!(
                    "CREATE TRIGGER {} AFTER {event} ON {table} REFERENCING {referencing} \
                     FOR EACH STATEMENT EXECUTE FUNCTION {function}()",
                    trigger_name(table, event)
                ));
            }
        }
        // what existed before this migration starts at version 1, and is enqueued once
        statements.push("SELECT touch_read_models('course', ARRAY(SELECT id::text FROM courses))".into());
        statements.push(
            "SELECT touch_read_models('progress', ARRAY(SELECT user_id::text || ':' || course_id::text FROM enrollments \
             UNION SELECT user_id::text || ':' || course_id::text FROM user_progress))"
                .into(),
        );
        statements.push("SELECT touch_read_models('attempt', ARRAY(SELECT id::text FROM quiz_attempts))".into());
        let refs: Vec<&str> = statements.iter().map(String::as_str).collect();
        exec_all(manager, &refs).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut statements = Vec::new();
        for (table, _, events) in TRIGGERS.iter().rev() {
            for event in events.iter().rev() {
                statements.push(format!("DROP TRIGGER {} ON {table}", trigger_name(table, event)));
            }
        }
        for f in [
            "outbox_attempts",
            "outbox_progress",
            "outbox_instructors",
            "outbox_categories",
            "outbox_quizzes",
            "outbox_lessons",
            "outbox_courses",
        ] {
            statements.push(format!("DROP FUNCTION {f}()"));
        }
        statements.push("DROP FUNCTION touch_read_models(TEXT, TEXT[])".into());
        statements.push("DROP TABLE outbox".into());
        statements.push("DROP TABLE read_model_versions".into());
        let refs: Vec<&str> = statements.iter().map(String::as_str).collect();
        exec_all(manager, &refs).await
    }
}
