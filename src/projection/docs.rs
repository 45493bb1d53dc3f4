//! The documents of the MongoDB read models (validated by `mongo-init/collections.json`).
//! Ids are PostgreSQL's UUIDs as BSON binary (subtype 4); `version` is the aggregate's version
//! in `read_model_versions` when the document was built.

use mongodb::bson::{self, Bson, DateTime, Decimal128, Document};
use serde::{Deserialize, Serialize};

/// Which read model an outbox row or a document belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Course,
    Progress,
    Attempt,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Course, Kind::Progress, Kind::Attempt];

    /// The name in `outbox.kind` and `read_model_versions.kind`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Course => "course",
            Kind::Progress => "progress",
            Kind::Attempt => "attempt",
        }
    }

    pub fn parse(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The Mongo collection.
    pub fn collection(self) -> &'static str {
        match self {
            Kind::Course => "courses",
            Kind::Progress => "user_progress",
            Kind::Attempt => "quiz_attempts",
        }
    }
}

/// A UUID as BSON binary subtype 4.
pub fn bin(id: uuid::Uuid) -> bson::Uuid {
    bson::Uuid::from_bytes(id.into_bytes())
}

pub fn date(t: chrono::DateTime<chrono::FixedOffset>) -> DateTime {
    DateTime::from_millis(t.timestamp_millis())
}

pub fn decimal(d: rust_decimal::Decimal) -> Decimal128 {
    // rust_decimal prints plain decimal notation, which Decimal128 parses exactly
    d.to_string().parse().unwrap_or_else(|_| Decimal128::from_bytes([0; 16]))
}

/// JSON from PostgreSQL as BSON (objects stay objects, arrays stay arrays).
pub fn json(value: &serde_json::Value) -> Bson {
    bson::to_bson(value).unwrap_or(Bson::Null)
}

/// The course page: the course with its category, instructor and ordered lessons.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CourseDoc {
    #[serde(rename = "_id")]
    pub id: bson::Uuid,
    pub title: String,
    pub slug: String,
    pub description: Option<String>,
    pub category_id: Option<bson::Uuid>,
    pub category: Option<CategoryRef>,
    pub instructor_id: Option<bson::Uuid>,
    pub instructor: Option<InstructorRef>,
    pub level: String,
    pub duration_minutes: Option<i32>,
    pub price: Decimal128,
    pub is_published: bool,
    pub enrollment_count: i32,
    pub rating: Decimal128,
    pub tags: Vec<String>,
    pub metadata: Option<Bson>,
    pub lessons: Vec<LessonDoc>,
    pub version: i64,
    pub created_at: DateTime,
    pub updated_at: DateTime,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CategoryRef {
    pub id: bson::Uuid,
    pub name: String,
    pub slug: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InstructorRef {
    pub id: bson::Uuid,
    pub first_name: String,
    pub last_name: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LessonDoc {
    pub lesson_id: bson::Uuid,
    pub title: String,
    pub slug: String,
    pub content: Option<String>,
    pub video_url: Option<String>,
    pub duration_minutes: Option<i32>,
    pub order_position: i32,
    pub is_free: bool,
    pub resources: Option<Bson>,
}

/// A learner's progress in one course: one document per enrolment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProgressDoc {
    /// `user_id:course_id`
    #[serde(rename = "_id")]
    pub id: String,
    pub user_id: bson::Uuid,
    pub course_id: bson::Uuid,
    pub lesson_progress: Vec<LessonProgressDoc>,
    pub overall_completion_percentage: i32,
    pub total_time_spent: i32,
    pub last_accessed_at: Option<DateTime>,
    pub started_at: Option<DateTime>,
    pub completed_at: Option<DateTime>,
    pub version: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LessonProgressDoc {
    pub lesson_id: bson::Uuid,
    pub completion_percentage: i32,
    pub time_spent_minutes: i32,
    pub is_completed: bool,
    pub last_accessed_at: DateTime,
    pub completed_at: Option<DateTime>,
}

/// One quiz attempt with its answer sheet.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttemptDoc {
    #[serde(rename = "_id")]
    pub id: bson::Uuid,
    pub user_id: bson::Uuid,
    pub course_id: bson::Uuid,
    pub quiz_id: bson::Uuid,
    pub score: i32,
    pub answers: Vec<Document>,
    pub time_taken_minutes: Option<i32>,
    pub is_passed: bool,
    pub attempt_number: i32,
    pub started_at: Option<DateTime>,
    pub completed_at: Option<DateTime>,
    pub version: i64,
}

impl AttemptDoc {
    /// The attempt as the row it was built from (times to the millisecond, as stored).
    pub fn into_row(self) -> crate::store::pg::attempt::AttemptRow {
        let time = |d: DateTime| {
            chrono::DateTime::from_timestamp_millis(d.timestamp_millis()).unwrap_or_default().fixed_offset()
        };
        crate::store::pg::attempt::AttemptRow {
            id: uuid::Uuid::from_bytes(self.id.bytes()),
            user_id: uuid::Uuid::from_bytes(self.user_id.bytes()),
            quiz_id: uuid::Uuid::from_bytes(self.quiz_id.bytes()),
            score: self.score,
            answers: Bson::Array(self.answers.into_iter().map(Bson::Document).collect()).into_relaxed_extjson(),
            time_taken_minutes: self.time_taken_minutes,
            is_passed: self.is_passed,
            attempt_number: self.attempt_number,
            started_at: self.started_at.map(time).unwrap_or_default(),
            completed_at: self.completed_at.map(time),
        }
    }
}

/// A built document of any kind, with the `_id` it is stored under.
#[derive(Clone, Debug, PartialEq)]
pub struct Built {
    pub id: Bson,
    pub version: i64,
    pub doc: Document,
}

impl Built {
    pub fn from<T: Serialize>(id: Bson, version: i64, value: &T) -> Result<Built, bson::ser::Error> {
        Ok(Built { id, version, doc: bson::to_document(value)? })
    }
}

/// A read-model document as the rows it was built from (for the GraphQL types, which wrap rows).
impl CourseDoc {
    pub fn into_rows(self) -> (crate::store::pg::entity::course::Model, Vec<crate::store::pg::entity::lesson::Model>) {
        use crate::store::pg::entity::{course, lesson};
        let id = uuid::Uuid::from_bytes(self.id.bytes());
        let created_at = from_date(self.created_at);
        let updated_at = from_date(self.updated_at);
        let lessons = self
            .lessons
            .into_iter()
            .map(|l| lesson::Model {
                id: uuid::Uuid::from_bytes(l.lesson_id.bytes()),
                course_id: id,
                title: l.title,
                slug: l.slug,
                content: l.content,
                video_url: l.video_url,
                duration_minutes: l.duration_minutes,
                order_position: l.order_position,
                is_free: l.is_free,
                resources: l.resources.map(Bson::into_relaxed_extjson),
                created_at,
                updated_at,
            })
            .collect();
        let row = course::Model {
            id,
            title: self.title,
            slug: self.slug,
            description: self.description,
            category_id: self.category_id.map(|u| uuid::Uuid::from_bytes(u.bytes())),
            instructor_id: self.instructor_id.map(|u| uuid::Uuid::from_bytes(u.bytes())),
            level: self.level,
            duration_minutes: self.duration_minutes,
            price: to_decimal(self.price),
            is_published: self.is_published,
            enrollment_count: self.enrollment_count,
            rating: to_decimal(self.rating),
            tags: self.tags,
            metadata: self.metadata.map(Bson::into_relaxed_extjson),
            created_at,
            updated_at,
        };
        (row, lessons)
    }
}

fn from_date(d: DateTime) -> chrono::DateTime<chrono::FixedOffset> {
    chrono::DateTime::from_timestamp_millis(d.timestamp_millis()).unwrap_or_default().fixed_offset()
}

fn to_decimal(d: Decimal128) -> rust_decimal::Decimal {
    let text = d.to_string();
    text.parse().or_else(|_| rust_decimal::Decimal::from_scientific(&text)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_survive_decimal128() {
        for s in ["0", "19.99", "4.50", "199.99", "0.01"] {
            let d: rust_decimal::Decimal = s.parse().expect("decimal");
            assert_eq!(to_decimal(decimal(d)), d, "{s}");
        }
    }
}
