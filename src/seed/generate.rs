//! The rows of every table, generated from a fixed RNG seed: categories, users, courses with
//! their lessons and quizzes, then enrolments, progress and attempts over time.

use std::collections::HashSet;

use chrono::{DateTime, TimeZone, Utc};
use rand::{seq::SliceRandom, Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;
use uuid::Uuid;

use super::{
    csv::{Chunks, Csv},
    words::*,
    Scale,
};
use crate::domain::slug::slugify;

pub(super) struct Generated {
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
    pub(super) fn tables(self) -> Vec<(&'static str, &'static str, Chunks)> {
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

pub(super) fn generate(scale: Scale) -> Generated {
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
