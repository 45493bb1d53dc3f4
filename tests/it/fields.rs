//! The exact JSON a client sees for every field of a course page, a learner's progress and
//! attempt, over rows written by hand.

use serde_json::json;

use crate::support::{data, sql_exec, token, TestApp, TestDb};

const INSTRUCTOR: &str = "40000000-0000-4000-8000-000000000001";
const LEARNER: &str = "40000000-0000-4000-8000-000000000002";
const ROOT: &str = "40000000-0000-4000-8000-000000000010";
const CATEGORY: &str = "40000000-0000-4000-8000-000000000011";
const COURSE: &str = "40000000-0000-4000-8000-000000000020";
const LESSON1: &str = "40000000-0000-4000-8000-000000000031";
const LESSON2: &str = "40000000-0000-4000-8000-000000000032";
const QUIZ: &str = "40000000-0000-4000-8000-000000000040";
const ATTEMPT: &str = "40000000-0000-4000-8000-000000000050";

#[tokio::test]
async fn every_field_of_a_course_page_and_a_learners_record_reads_as_written() {
    let db = TestDb::migrated().await;
    sql_exec(
        &db.direct_url,
        &format!(
            "INSERT INTO users (id, email, password_hash, first_name, last_name, role) VALUES \
               ('{INSTRUCTOR}', 'grace@example.org', 'x', 'Grace', 'Hopper', 'instructor'), \
               ('{LEARNER}', 'alan@example.org', 'x', 'Alan', 'Turing', 'student'); \
             INSERT INTO categories (id, name, slug, description) VALUES ('{ROOT}', 'Computing', 'computing', 'All of it'); \
             INSERT INTO categories (id, parent_id, name, slug) VALUES ('{CATEGORY}', '{ROOT}', 'Compilers', 'compilers'); \
             INSERT INTO courses (id, title, slug, description, category_id, instructor_id, level, duration_minutes, price, \
               is_published, rating, tags, metadata, created_at, updated_at) VALUES ('{COURSE}', 'Compilers', 'compilers', \
               'From source to machine code.', '{CATEGORY}', '{INSTRUCTOR}', 'advanced', 90, 49.99, true, 4.75, \
               '{{compilers,cobol}}', '{{\"language\": \"en\"}}', '2026-01-02T03:04:05.678Z', '2026-01-02T03:04:05.678Z'); \
             INSERT INTO lessons (id, course_id, title, slug, content, video_url, duration_minutes, order_position, is_free, resources) VALUES \
               ('{LESSON1}', '{COURSE}', 'Lexing', 'lexing', 'Tokens.', 'https://video.example.org/1', 30, 1, true, '[{{\"title\": \"Dragon book\"}}]'), \
               ('{LESSON2}', '{COURSE}', 'Parsing', 'parsing', 'Grammars.', NULL, 60, 2, false, NULL); \
             INSERT INTO quizzes (id, lesson_id, title, description, questions, passing_score, time_limit_minutes) VALUES \
               ('{QUIZ}', '{LESSON1}', 'Tokens quiz', 'Five minutes.', \
                '[{{\"id\": \"q1\", \"type\": \"short_answer\", \"prompt\": \"A token?\", \"points\": 2, \"accepted\": [\"lexeme\"]}}]', 50, 5); \
             INSERT INTO enrollments (user_id, course_id, enrolled_at) VALUES ('{LEARNER}', '{COURSE}', '2026-02-01T00:00:00Z'); \
             INSERT INTO user_progress (user_id, course_id, lesson_id, completion_percentage, time_spent_minutes, is_completed, \
               last_accessed_at, completed_at) VALUES \
               ('{LEARNER}', '{COURSE}', '{LESSON1}', 100, 25, true, '2026-02-02T10:00:00Z', '2026-02-02T10:00:00Z'), \
               ('{LEARNER}', '{COURSE}', '{LESSON2}', 40, 12, false, '2026-02-03T10:00:00Z', NULL); \
             INSERT INTO quiz_attempts (id, user_id, quiz_id, score, answers, time_taken_minutes, is_passed, attempt_number, \
               started_at, completed_at) VALUES ('{ATTEMPT}', '{LEARNER}', '{QUIZ}', 100, \
               '[{{\"questionId\": \"q1\", \"text\": \"lexeme\", \"feedback\": {{\"question_id\": \"q1\", \"correct\": true, \"points_awarded\": 2, \"points_possible\": 2}}}}]', \
               4, true, 1, '2026-02-02T10:00:00.123456Z', '2026-02-02T10:04:00.5Z');"
        ),
    )
    .await;
    let app = TestApp::spawn_authed(&db).await;
    let bearer = token(LEARNER, "student", 600);
    let query = r#"query($id: ID!) {
      course(id: $id) {
        id slug title description level durationMinutes price isFree isPublished rating enrollmentCount tags metadata
        createdAt updatedAt lessonCount
        category { id name slug description parent { id name slug description parent { id } } }
        instructor { id displayName firstName lastName }
        lessons { id title slug position durationMinutes isFree isLocked content videoUrl resources
          quizzes { id title description passingScore timeLimitMinutes questions { id prompt points } } }
        myProgress { overallCompletionPercentage totalTimeSpentMinutes lastAccessedAt startedAt completedAt
          lessons { lessonId completionPercentage timeSpentMinutes isCompleted lastAccessedAt completedAt } }
      }
      me { id email firstName lastName role
        recentQuizAttempts { id attemptNumber score isPassed startedAt completedAt timeTakenMinutes
          feedback { questionId correct pointsAwarded pointsPossible } quiz { id } } }
    }"#;
    let body = app
        .client()
        .post(app.url("/graphql"))
        .bearer_auth(&bearer)
        .json(&json!({ "query": query, "variables": { "id": COURSE } }))
        .send()
        .await
        .expect("send")
        .json::<serde_json::Value>()
        .await
        .expect("json");
    let expected = json!({
      "course": {
        "id": COURSE, "slug": "compilers", "title": "Compilers", "description": "From source to machine code.",
        "level": "ADVANCED", "durationMinutes": 90, "price": "49.99", "isFree": false, "isPublished": true,
        "rating": 4.75, "enrollmentCount": 1, "tags": ["compilers", "cobol"], "metadata": { "language": "en" },
        "createdAt": "2026-01-02T03:04:05.678+00:00", "updatedAt": "2026-01-02T03:04:05.678+00:00", "lessonCount": 2,
        "category": { "id": CATEGORY, "name": "Compilers", "slug": "compilers", "description": null,
          "parent": { "id": ROOT, "name": "Computing", "slug": "computing", "description": "All of it", "parent": null } },
        "instructor": { "id": INSTRUCTOR, "displayName": "Grace Hopper", "firstName": "Grace", "lastName": "Hopper" },
        "lessons": [
          { "id": LESSON1, "title": "Lexing", "slug": "lexing", "position": 1, "durationMinutes": 30, "isFree": true,
            "isLocked": false, "content": "Tokens.", "videoUrl": "https://video.example.org/1",
            "resources": [{ "title": "Dragon book" }],
            "quizzes": [{ "id": QUIZ, "title": "Tokens quiz", "description": "Five minutes.", "passingScore": 50,
              "timeLimitMinutes": 5, "questions": [{ "id": "q1", "prompt": "A token?", "points": 2 }] }] },
          { "id": LESSON2, "title": "Parsing", "slug": "parsing", "position": 2, "durationMinutes": 60, "isFree": false,
            "isLocked": false, "content": "Grammars.", "videoUrl": null, "resources": null, "quizzes": [] }
        ],
        "myProgress": { "overallCompletionPercentage": 50, "totalTimeSpentMinutes": 37,
          "lastAccessedAt": "2026-02-03T10:00:00+00:00", "startedAt": "2026-02-01T00:00:00+00:00", "completedAt": null,
          "lessons": [
            { "lessonId": LESSON1, "completionPercentage": 100, "timeSpentMinutes": 25, "isCompleted": true,
              "lastAccessedAt": "2026-02-02T10:00:00+00:00", "completedAt": "2026-02-02T10:00:00+00:00" },
            { "lessonId": LESSON2, "completionPercentage": 40, "timeSpentMinutes": 12, "isCompleted": false,
              "lastAccessedAt": "2026-02-03T10:00:00+00:00", "completedAt": null }
          ] }
      },
      "me": { "id": LEARNER, "email": "alan@example.org", "firstName": "Alan", "lastName": "Turing", "role": "STUDENT",
        "recentQuizAttempts": [{ "id": ATTEMPT, "attemptNumber": 1, "score": 100, "isPassed": true,
          "startedAt": "2026-02-02T10:00:00.123+00:00", "completedAt": "2026-02-02T10:04:00.500+00:00", "timeTakenMinutes": 4,
          "feedback": [{ "questionId": "q1", "correct": true, "pointsAwarded": 2, "pointsPossible": 2 }],
          "quiz": { "id": QUIZ } }] }
    });
    assert_eq!(data(&body), &expected);
    app.stop().await;
}
