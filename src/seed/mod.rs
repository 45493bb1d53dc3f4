//! `learngraph seed`: a deterministic, realistic data set (a fixed RNG seed: the same scale
//! gives the same rows, ids included). Skewed enrolments (a few courses are very popular),
//! varied lesson counts, quizzes with several question types, progress and attempts spread
//! over time. Loaded with COPY in one transaction: all of it or nothing.

mod words;

use std::{
    collections::HashSet,
    fmt,
    time::{Duration, Instant},
};

use chrono::{DateTime, TimeZone, Utc};
use rand::{seq::SliceRandom, Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sea_orm::sqlx::{self, postgres::PgPool, Connection as _, PgConnection};
use serde_json::json;
use uuid::Uuid;

use self::words::*;
use crate::{domain::slug::slugify, store::pg::PgStore};

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

// ------------------------------------------------------------------------------------------
// Generation

/// A table's CSV chunks and the rows in each.
type Chunks = Vec<(Vec<u8>, u64)>;

/// CSV for COPY, cut into chunks of about 1 MiB (progress is shown per chunk).
#[derive(Default)]
struct Csv {
    /// Chunks and the rows in each.
    chunks: Chunks,
    buf: Vec<u8>,
    rows: u64,
    first: bool,
}

impl Csv {
    fn text(&mut self, s: &str) -> &mut Self {
        self.sep();
        self.buf.push(b'"');
        for b in s.bytes() {
            if b == b'"' {
                self.buf.push(b'"');
            }
            self.buf.push(b);
        }
        self.buf.push(b'"');
        self
    }

    fn opt_text(&mut self, s: Option<&str>) -> &mut Self {
        match s {
            Some(s) => self.text(s),
            None => self.raw(""),
        }
    }

    fn raw(&mut self, s: impl fmt::Display) -> &mut Self {
        self.sep();
        use std::io::Write;
        let _ = write!(self.buf, "{s}");
        self
    }

    fn time(&mut self, t: DateTime<Utc>) -> &mut Self {
        self.raw(t.format("%Y-%m-%d %H:%M:%S%.6f+00"))
    }

    fn opt_time(&mut self, t: Option<DateTime<Utc>>) -> &mut Self {
        match t {
            Some(t) => self.time(t),
            None => self.raw(""),
        }
    }

    fn sep(&mut self) {
        if self.first {
            self.first = false;
        } else {
            self.buf.push(b',');
        }
    }

    fn row(&mut self) {
        self.buf.push(b'\n');
        self.first = true;
        self.rows += 1;
        if self.buf.len() >= 1 << 20 {
            self.chunks.push((std::mem::take(&mut self.buf), std::mem::take(&mut self.rows)));
        }
    }

    fn start() -> Self {
        Self { first: true, ..Self::default() }
    }

    fn finish(mut self) -> Chunks {
        if !self.buf.is_empty() {
            self.chunks.push((self.buf, self.rows));
        }
        self.chunks
    }
}

struct Generated {
    categories: Csv,
    users: Csv,
    courses: Csv,
    lessons: Csv,
    quizzes: Csv,
    enrollments: Csv,
    progress: Csv,
    attempts: Csv,
}

impl Generated {
    fn tables(self) -> Vec<(&'static str, &'static str, Chunks)> {
        vec![
            ("categories", "id, parent_id, name, slug, description, position, created_at, updated_at", self.categories.finish()),
            ("users", "id, email, password_hash, first_name, last_name, role, country, subscription_tier, is_active, last_login_at, created_at, updated_at", self.users.finish()),
            ("courses", "id, title, slug, description, category_id, instructor_id, level, duration_minutes, price, is_published, rating, tags, metadata, created_at, updated_at", self.courses.finish()),
            ("lessons", "id, course_id, title, slug, content, video_url, duration_minutes, order_position, is_free, resources, created_at, updated_at", self.lessons.finish()),
            ("quizzes", "id, lesson_id, title, description, questions, passing_score, time_limit_minutes, is_active, created_at, updated_at", self.quizzes.finish()),
            ("enrollments", "id, user_id, course_id, enrolled_at", self.enrollments.finish()),
            ("user_progress", "id, user_id, lesson_id, course_id, completion_percentage, time_spent_minutes, is_completed, last_accessed_at, completed_at, created_at", self.progress.finish()),
            ("quiz_attempts", "id, user_id, quiz_id, score, answers, time_taken_minutes, is_passed, attempt_number, started_at, completed_at, created_at", self.attempts.finish()),
        ]
    }
}

struct CourseRow {
    id: Uuid,
    created_at: DateTime<Utc>,
    lessons: Vec<LessonRow>,
}

struct LessonRow {
    id: Uuid,
    duration: i32,
    quiz: Option<QuizRow>,
}

struct QuizRow {
    id: Uuid,
    passing_score: i32,
    questions: usize,
}

fn uuid(rng: &mut ChaCha8Rng) -> Uuid {
    uuid::Builder::from_random_bytes(rng.gen()).into_uuid()
}

fn sentence(rng: &mut ChaCha8Rng, words: usize) -> String {
    let mut text = (0..words).map(|_| TEXT_WORDS[rng.gen_range(0..TEXT_WORDS.len())]).collect::<Vec<_>>().join(" ");
    if let Some(c) = text.get_mut(0..1) {
        c.make_ascii_uppercase();
    }
    text.push('.');
    text
}

fn paragraph(rng: &mut ChaCha8Rng, sentences: usize) -> String {
    (0..sentences)
        .map(|_| {
            let n = rng.gen_range(6..14);
            sentence(rng, n)
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A day-resolution random instant after `after`, within `days`.
fn later(rng: &mut ChaCha8Rng, after: DateTime<Utc>, days: i64) -> DateTime<Utc> {
    after + chrono::Duration::seconds(rng.gen_range(60..days.max(1) * 86_400))
}

fn generate(scale: Scale) -> Generated {
    let sizes = scale.sizes();
    let mut rng = ChaCha8Rng::seed_from_u64(0x1EA2_6A4F);
    let epoch = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).single().unwrap_or_else(Utc::now);
    let mut g = Generated {
        categories: Csv::start(),
        users: Csv::start(),
        courses: Csv::start(),
        lessons: Csv::start(),
        quizzes: Csv::start(),
        enrollments: Csv::start(),
        progress: Csv::start(),
        attempts: Csv::start(),
    };

    // Categories: top level, then subcategories with their topics.
    let mut subcategories: Vec<(Uuid, &[&str])> = Vec::new();
    for (position, (name, subs)) in CATEGORIES.iter().enumerate() {
        let id = uuid(&mut rng);
        let c = &mut g.categories;
        c.raw(id)
            .raw("")
            .text(name)
            .text(&slugify(name))
            .text(&format!("Courses about {}.", name.to_lowercase()))
            .raw(position)
            .time(epoch)
            .time(epoch);
        c.row();
        for (sub_position, (sub, topics)) in subs.iter().enumerate() {
            let sub_id = uuid(&mut rng);
            c.raw(sub_id)
                .raw(id)
                .text(sub)
                .text(&slugify(sub))
                .text(&format!("{sub}: {}.", topics.join(", ")))
                .raw(sub_position)
                .time(epoch)
                .time(epoch);
            c.row();
            subcategories.push((sub_id, topics));
        }
    }

    // Users: instructors first, two admins, then learners.
    let mut instructors = Vec::with_capacity(sizes.instructors);
    let mut learners = Vec::with_capacity(sizes.students);
    let total_users = sizes.instructors + sizes.students;
    for n in 0..total_users {
        let id = uuid(&mut rng);
        let first = *FIRST_NAMES.choose(&mut rng).unwrap_or(&"Ada");
        let last = *LAST_NAMES.choose(&mut rng).unwrap_or(&"Lovelace");
        let role = if n < sizes.instructors {
            "instructor"
        } else if n < sizes.instructors + 2 {
            "admin"
        } else {
            "student"
        };
        let created = later(&mut rng, epoch, 300);
        let tier = match rng.gen_range(0..100) {
            0..=59 => "free",
            60..=79 => "basic",
            80..=94 => "premium",
            _ => "enterprise",
        };
        let country = (rng.gen_range(0..10) > 0).then(|| *COUNTRIES.choose(&mut rng).unwrap_or(&"US"));
        let last_login = (rng.gen_range(0..5) > 0).then(|| later(&mut rng, created, 200));
        let u = &mut g.users;
        u.raw(id)
            .text(&format!("{}.{}.{n}@example.org", first.to_lowercase(), last.to_lowercase()))
            .text("$argon2id$v=19$m=19456,t=2,p=1$c2VlZC1kYXRh$bm90LWEtcmVhbC1wYXNzd29yZC1oYXNo")
            .text(first)
            .text(last)
            .text(role)
            .opt_text(country)
            .text(tier)
            .raw(rng.gen_range(0..50) > 0)
            .opt_time(last_login)
            .time(created)
            .time(created);
        u.row();
        if role == "instructor" {
            instructors.push((id, created));
        } else {
            learners.push((id, created));
        }
    }

    // Courses and their lessons and quizzes.
    let mut courses = Vec::with_capacity(sizes.courses);
    let mut slugs = HashSet::new();
    for _ in 0..sizes.courses {
        let id = uuid(&mut rng);
        let (category_id, topics) = subcategories[rng.gen_range(0..subcategories.len())];
        let topic = topics[rng.gen_range(0..topics.len())];
        let pattern = TITLE_PATTERNS[rng.gen_range(0..TITLE_PATTERNS.len())];
        let title = pattern.replace("{}", topic);
        let mut slug = slugify(&title);
        let mut k = 2;
        while !slugs.insert(slug.clone()) {
            slug = format!("{}-{k}", slugify(&title));
            k += 1;
        }
        let (instructor, joined) = instructors[rng.gen_range(0..instructors.len())];
        let created_at = later(&mut rng, joined, 400);
        let level = ["beginner", "intermediate", "advanced"][rng.gen_range(0..3)];
        let price = if rng.gen_range(0..4) == 0 { "0".to_owned() } else { format!("{}.99", rng.gen_range(9..200)) };
        let published = rng.gen_range(0..10) > 0;
        let rating = format!("{:.2}", (5.0 - rng.gen::<f64>().powi(2) * 2.5).clamp(0.0, 5.0));
        let n_tags = rng.gen_range(1..4);
        let mut tags: Vec<&str> = TAGS.choose_multiple(&mut rng, n_tags).copied().collect();
        tags.sort_unstable();
        let tags = format!("{{{}}}", tags.join(","));
        let metadata = json!({
            "language": (["en", "en", "en", "es", "de", "ja"][rng.gen_range(0..6)]),
            "certificate": rng.gen_range(0..3) > 0,
            "prerequisites": if level == "beginner" { vec![] } else { vec![format!("Introduction to {topic}")] },
        });

        let n_lessons = rng.gen_range(sizes.lessons.0..=sizes.lessons.1);
        let mut lessons = Vec::with_capacity(n_lessons);
        let mut total_minutes = 0;
        for position in 1..=n_lessons {
            let lesson_id = uuid(&mut rng);
            let pattern = LESSON_PATTERNS[(position - 1) % LESSON_PATTERNS.len()];
            let lesson_title = format!("{}. {}", position, pattern.replace("{}", topic));
            let lesson_slug = format!("{position}-{}", slugify(&pattern.replace("{}", topic)));
            let duration = rng.gen_range(4..45);
            total_minutes += duration;
            let content = {
                let n = rng.gen_range(2..6);
                paragraph(&mut rng, n)
            };
            let resources = (rng.gen_range(0..3) == 0).then(|| {
                json!({ "files": [{ "name": "slides.pdf", "url": format!("https://cdn.example.org/{slug}/{lesson_slug}/slides.pdf") }] })
                    .to_string()
            });
            let l = &mut g.lessons;
            l.raw(lesson_id)
                .raw(id)
                .text(&lesson_title)
                .text(&lesson_slug)
                .text(&content)
                .text(&format!("https://videos.example.org/{slug}/{lesson_slug}.mp4"))
                .raw(duration)
                .raw(position)
                .raw(position <= 2)
                .opt_text(resources.as_deref())
                .time(created_at)
                .time(created_at);
            l.row();

            let quiz = (position % sizes.lessons_per_quiz == 0).then(|| {
                let quiz_id = uuid(&mut rng);
                let questions = rng.gen_range(3..7);
                let passing_score = [60, 70, 70, 80][rng.gen_range(0..4)];
                let q = &mut g.quizzes;
                q.raw(quiz_id)
                    .raw(lesson_id)
                    .text(&format!("Check: {}", pattern.replace("{}", topic)))
                    .text(&format!("{questions} questions on {topic}."))
                    .text(&quiz_questions(&mut rng, topic, questions))
                    .raw(passing_score)
                    .opt_text((rng.gen_range(0..2) == 0).then_some("15"))
                    .raw(true)
                    .time(created_at)
                    .time(created_at);
                q.row();
                QuizRow { id: quiz_id, passing_score, questions }
            });
            lessons.push(LessonRow { id: lesson_id, duration, quiz });
        }

        let description = {
            let n = rng.gen_range(2..5);
            format!("Learn {topic} step by step. {}", paragraph(&mut rng, n))
        };
        let c = &mut g.courses;
        c.raw(id)
            .text(&title)
            .text(&slug)
            .text(&description)
            .raw(category_id)
            .raw(instructor)
            .text(level)
            .raw(total_minutes)
            .raw(&price)
            .raw(published)
            .raw(&rating)
            .text(&tags)
            .text(&metadata.to_string())
            .time(created_at)
            .time(created_at);
        c.row();
        courses.push(CourseRow { id, created_at, lessons });
    }

    // Popularity: a few courses draw most enrolments (Zipf-like weights over a shuffled order).
    let mut order: Vec<usize> = (0..courses.len()).collect();
    order.shuffle(&mut rng);
    let mut cumulative = Vec::with_capacity(order.len());
    let mut acc = 0.0;
    for rank in 0..order.len() {
        acc += 1.0 / (rank as f64 + 1.0).powf(0.9);
        cumulative.push(acc);
    }
    let pick_course = |rng: &mut ChaCha8Rng| -> usize {
        let x = rng.gen::<f64>() * acc;
        order[cumulative.partition_point(|&c| c < x).min(order.len() - 1)]
    };

    // Enrolments, progress through lessons in order, and quiz attempts.
    let now_cap = epoch + chrono::Duration::days(730);
    for &(user_id, joined) in &learners {
        let wanted =
            ((-(1.0 - rng.gen::<f64>()).ln()) * sizes.enrolments_per_learner).round().clamp(1.0, 40.0) as usize;
        let mut taken = HashSet::with_capacity(wanted);
        for _ in 0..wanted * 3 {
            if taken.len() == wanted {
                break;
            }
            taken.insert(pick_course(&mut rng));
        }
        let mut taken: Vec<usize> = taken.into_iter().collect();
        taken.sort_unstable();
        for ci in taken {
            let course = &courses[ci];
            let start = later(&mut rng, joined.max(course.created_at), 120).min(now_cap);
            g.enrollments.raw(uuid(&mut rng)).raw(user_id).raw(course.id).time(start);
            g.enrollments.row();
            // how far the learner got: many stop early, some finish
            let reach = rng.gen::<f64>().powf(1.6);
            let touched = ((course.lessons.len() as f64) * reach).ceil() as usize;
            let mut at = start;
            for (i, lesson) in course.lessons.iter().take(touched.max(1)).enumerate() {
                at = later(&mut rng, at, 6).min(now_cap);
                let last = i + 1 == touched.max(1);
                let completion = if last && reach < 0.999 { rng.gen_range(5..=100) } else { 100 };
                let done = completion == 100;
                let spent = (lesson.duration * completion / 100) + rng.gen_range(0..10);
                g.progress
                    .raw(uuid(&mut rng))
                    .raw(user_id)
                    .raw(lesson.id)
                    .raw(course.id)
                    .raw(completion)
                    .raw(spent)
                    .raw(done)
                    .time(at)
                    .opt_time(done.then_some(at))
                    .time(at);
                g.progress.row();
                if let (Some(quiz), true) = (&lesson.quiz, done) {
                    let attempts = if rng.gen_range(0..10) < 8 { rng.gen_range(1..=2) } else { 0 };
                    for attempt in 1..=attempts {
                        let started = later(&mut rng, at, 2).min(now_cap);
                        let taken_minutes = rng.gen_range(2..20);
                        let score = rng.gen_range(20..=100);
                        g.attempts
                            .raw(uuid(&mut rng))
                            .raw(user_id)
                            .raw(quiz.id)
                            .raw(score)
                            .text(&attempt_answers(&mut rng, quiz.questions))
                            .raw(taken_minutes)
                            .raw(score >= quiz.passing_score)
                            .raw(attempt)
                            .time(started)
                            .time(started + chrono::Duration::minutes(taken_minutes))
                            .time(started);
                        g.attempts.row();
                    }
                }
            }
        }
    }
    g
}

/// Questions of the three kinds the API serves; the answer key lives with them.
fn quiz_questions(rng: &mut ChaCha8Rng, topic: &str, n: usize) -> String {
    let questions: Vec<serde_json::Value> = (1..=n)
        .map(|i| match i % 3 {
            1 => json!({
                "id": format!("q{i}"), "type": "single_choice", "points": 1,
                "prompt": format!("Which statement about {topic} is true? ({i})"),
                "options": [{"id": "a", "text": "The first option"}, {"id": "b", "text": "The second option"},
                            {"id": "c", "text": "The third option"}, {"id": "d", "text": "The fourth option"}],
                "correct": [(["a", "b", "c", "d"][rng.gen_range(0..4)])],
            }),
            2 => json!({
                "id": format!("q{i}"), "type": "multiple_choice", "points": 2,
                "prompt": format!("Select every practice that helps with {topic}. ({i})"),
                "options": [{"id": "a", "text": "Write tests"}, {"id": "b", "text": "Measure first"},
                            {"id": "c", "text": "Skip reviews"}, {"id": "d", "text": "Read the docs"}],
                "correct": ["a", "b", "d"],
            }),
            _ => json!({
                "id": format!("q{i}"), "type": "short_answer", "points": 1,
                "prompt": format!("Name the topic of this course in one word. ({i})"),
                "accepted": [topic.to_lowercase()],
            }),
        })
        .collect();
    serde_json::Value::Array(questions).to_string()
}

fn attempt_answers(rng: &mut ChaCha8Rng, questions: usize) -> String {
    let answers: Vec<serde_json::Value> = (1..=questions)
        .map(|i| match i % 3 {
            1 => json!({ "question_id": format!("q{i}"), "selected": [(["a", "b", "c", "d"][rng.gen_range(0..4)])] }),
            2 => json!({ "question_id": format!("q{i}"), "selected": ["a", "b"] }),
            _ => json!({ "question_id": format!("q{i}"), "text": "answer" }),
        })
        .collect();
    serde_json::Value::Array(answers).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

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
