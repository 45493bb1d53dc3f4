//! `learngraph seed`: a deterministic, realistic data set (a fixed RNG seed: the same scale
//! gives the same rows, ids included). Skewed enrolments (a few courses are very popular),
//! varied lesson counts, quizzes with several question types, progress and attempts spread
//! over time. Loaded with COPY in one transaction: all of it or nothing.

mod csv;
mod generate;
mod words;

use std::{
    fmt,
    time::{Duration, Instant},
};

use sea_orm::sqlx::{self, postgres::PgPool, Connection as _, PgConnection};

use self::{csv::Chunks, generate::generate};
use crate::store::pg::PgStore;

/// How much data to generate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scale {
    /// Enough to click around in GraphiQL.
    Demo,
    /// What the integration tests load: small, still several pages of courses.
    Ci,
    /// The benchmark's data: 50k users, 5k courses, 100k lessons, 1.5M progress rows, 300k attempts.
    Bench,
}

struct Sizes {
    students: usize,
    instructors: usize,
    courses: usize,
    lessons: (usize, usize),
    /// Mean courses per learner (the actual count is skewed around it).
    enrolments_per_learner: f64,
    /// One quiz for every this many lessons.
    lessons_per_quiz: usize,
}

impl Scale {
    fn sizes(self) -> Sizes {
        match self {
            Scale::Demo => Sizes {
                students: 300,
                instructors: 20,
                courses: 60,
                lessons: (4, 14),
                enrolments_per_learner: 4.0,
                lessons_per_quiz: 3,
            },
            Scale::Ci => Sizes {
                students: 400,
                instructors: 25,
                courses: 130,
                lessons: (3, 12),
                enrolments_per_learner: 3.0,
                lessons_per_quiz: 3,
            },
            Scale::Bench => Sizes {
                students: 49_000,
                instructors: 1_000,
                courses: 5_000,
                lessons: (6, 34),
                enrolments_per_learner: 4.0,
                lessons_per_quiz: 3,
            },
        }
    }
}

/// Why seeding did not happen.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// The database already holds data (and `--force` was not given).
    #[error("{0}")]
    NotEmpty(String),
    #[error("{0}")]
    Failed(String),
}

impl From<String> for SeedError {
    fn from(message: String) -> Self {
        SeedError::Failed(message)
    }
}

/// Rows loaded per table, and how fast.
pub struct SeedReport {
    pub tables: Vec<(&'static str, u64, Duration)>,
    pub total: Duration,
}

impl fmt::Display for SeedReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rows = 0;
        for (table, n, took) in &self.tables {
            rows += n;
            writeln!(f, "  {table:<14} {n:>9} rows  {:>10.0} rows/s", *n as f64 / took.as_secs_f64().max(1e-6))?;
        }
        write!(
            f,
            "seeded {rows} rows in {:.1} s ({:.0} rows/s, indexes and triggers included)",
            self.total.as_secs_f64(),
            rows as f64 / self.total.as_secs_f64().max(1e-6)
        )
    }
}

/// Seeds the database at `direct_url`. A database that already holds data is refused unless
/// `force`, which empties the tables first.
pub async fn run(direct_url: &str, scale: Scale, force: bool) -> Result<SeedReport, SeedError> {
    let db = PgStore::connect_admin(direct_url, "learngraph-seed")
        .await
        .map_err(|e| format!("cannot connect: {}", e.detail))?;
    let pool: PgPool = db.get_postgres_connection_pool().clone();
    let mut conn = pool.acquire().await.map_err(|e| SeedError::Failed(e.to_string()))?;
    let report = seed(&mut conn, scale, force).await;
    drop(conn);
    pool.close().await;
    report
}

async fn seed(conn: &mut PgConnection, scale: Scale, force: bool) -> Result<SeedReport, SeedError> {
    let migrated: bool = sqlx::query_scalar("SELECT to_regclass('public.quiz_attempts') IS NOT NULL")
        .fetch_one(&mut *conn)
        .await
        .map_err(|e| e.to_string())?;
    if !migrated {
        return Err(SeedError::Failed("the schema is missing: run `learngraph migrate up` first".into()));
    }
    let (users, courses): (i64, i64) =
        sqlx::query_as("SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM courses)")
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| e.to_string())?;
    if (users > 0 || courses > 0) && !force {
        return Err(SeedError::NotEmpty(format!(
            "the database already holds data ({users} users, {courses} courses); refusing to seed over it. \
             Use `learngraph seed --force` to replace it."
        )));
    }

    let started = Instant::now();
    let data = generate(scale);
    let mut tx = conn.begin().await.map_err(|e| e.to_string())?;
    if force {
        sqlx::raw_sql(
            "TRUNCATE idempotency_keys, quiz_attempts, user_progress, enrollments, quizzes, lessons, courses, categories, users",
        )
        .execute(&mut *tx)
        .await
        .map_err(|e| e.to_string())?;
    }
    let mut tables = Vec::new();
    let all = data.tables();
    let total = all.iter().flat_map(|(_, _, body)| body.iter().map(|(_, rows)| rows)).sum();
    let mut progress = crate::progress::Progress::new("seed", "rows", Some(total));
    for (table, columns, body) in all {
        let t = Instant::now();
        let rows = copy(&mut tx, table, columns, body, &mut progress).await.map_err(SeedError::Failed)?;
        tables.push((table, rows, t.elapsed()));
    }
    progress.finish();
    tx.commit().await.map_err(|e| e.to_string())?;
    sqlx::raw_sql("ANALYZE categories, users, courses, lessons, quizzes, enrollments, user_progress, quiz_attempts")
        .execute(&mut *conn)
        .await
        .map_err(|e| e.to_string())?;
    Ok(SeedReport { tables, total: started.elapsed() })
}

/// Streams one table's CSV rows through COPY.
async fn copy(
    conn: &mut PgConnection,
    table: &str,
    columns: &str,
    body: Chunks,
    progress: &mut crate::progress::Progress,
) -> Result<u64, String> {
    let mut copy = conn
        .copy_in_raw(&format!("COPY {table} ({columns}) FROM STDIN WITH (FORMAT csv)"))
        .await
        .map_err(|e| format!("COPY {table}: {e}"))?;
    for (chunk, rows) in body {
        copy.send(chunk).await.map_err(|e| format!("COPY {table}: {e}"))?;
        progress.add(rows, table);
    }
    copy.finish().await.map_err(|e| format!("COPY {table}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::{csv::Csv, generate::Generated, *};
    use crate::domain::slug::slugify;

    #[test]
    fn the_same_scale_generates_the_same_bytes() {
        let flat = |g: Generated| {
            g.tables().into_iter().flat_map(|(_, _, body)| body).flat_map(|(chunk, _)| chunk).collect::<Vec<u8>>()
        };
        assert_eq!(flat(generate(Scale::Ci)), flat(generate(Scale::Ci)));
    }

    #[test]
    fn csv_quotes_text_and_leaves_null_unquoted() {
        let mut c = Csv::start();
        c.text("say \"hi\", ok").opt_text(None).raw(3);
        c.row();
        assert_eq!(
            String::from_utf8(c.finish().into_iter().flat_map(|(chunk, _)| chunk).collect()).expect("utf8"),
            "\"say \"\"hi\"\", ok\",,3\n"
        );
    }

    #[test]
    fn slugs_are_url_safe() {
        assert_eq!(slugify("Rust: The Complete Guide"), "rust-the-complete-guide");
        assert_eq!(slugify("C++ & Go!"), "c-go");
    }
}
