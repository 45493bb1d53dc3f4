//! Quiz questions as stored in `quizzes.questions` (JSON), typed. The answer key is part of
//! each question here; the GraphQL layer decides who may see it.

use serde::Deserialize;

/// One question of a quiz.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Question {
    pub id: String,
    pub prompt: String,
    #[serde(default = "one")]
    pub points: i32,
    #[serde(flatten)]
    pub kind: QuestionKind,
}

fn one() -> i32 {
    1
}

/// What kind of answer a question takes, with its key.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum QuestionKind {
    /// Exactly one option is right.
    SingleChoice { options: Vec<Choice>, correct: Vec<String> },
    /// Every right option, and no other, must be chosen.
    MultipleChoice { options: Vec<Choice>, correct: Vec<String> },
    /// A short text, compared with the accepted answers ignoring case and surrounding spaces.
    ShortAnswer { accepted: Vec<String> },
}

/// An option of a choice question.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Choice {
    pub id: String,
    pub text: String,
}

/// Reads a quiz's questions; a malformed document is an error (for the log), not a guess.
pub fn parse_questions(json: &serde_json::Value) -> Result<Vec<Question>, String> {
    serde_json::from_value(json.clone()).map_err(|e| format!("quiz questions: {e}"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn reads_the_three_kinds() {
        let q = parse_questions(&json!([
            { "id": "q1", "type": "single_choice", "prompt": "P1", "points": 1,
              "options": [{ "id": "a", "text": "A" }, { "id": "b", "text": "B" }], "correct": ["b"] },
            { "id": "q2", "type": "multiple_choice", "prompt": "P2", "points": 2,
              "options": [{ "id": "a", "text": "A" }], "correct": ["a"] },
            { "id": "q3", "type": "short_answer", "prompt": "P3", "accepted": ["rust"] },
        ]))
        .expect("valid");
        assert_eq!(q.len(), 3);
        assert!(matches!(&q[0].kind, QuestionKind::SingleChoice { correct, .. } if correct == &["b"]));
        assert_eq!(q[2].points, 1);
    }

    #[test]
    fn refuses_unknown_kinds() {
        assert!(parse_questions(&json!([{ "id": "q", "type": "essay", "prompt": "P" }])).is_err());
        assert!(parse_questions(&json!({ "not": "a list" })).is_err());
    }
}
