//! Grading a quiz submission: pure rules, no I/O.

use std::collections::{BTreeSet, HashMap};

use super::quiz::{Question, QuestionKind};

/// A learner's answer to one question.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub question_id: String,
    pub option_ids: Vec<String>,
    pub text: Option<String>,
}

/// How one question went (what a learner may see: never the right answer).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Feedback {
    pub question_id: String,
    pub correct: bool,
    pub points_awarded: i32,
    pub points_possible: i32,
}

/// The result of grading.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grade {
    /// 0 to 100.
    pub score: i32,
    pub feedback: Vec<Feedback>,
}

/// Why a submission cannot be graded.
#[derive(Debug, PartialEq, Eq)]
pub struct Invalid(pub String);

/// Grades `answers` against `questions`. Unanswered questions are wrong; answers to unknown
/// questions, repeated answers and unknown options are refused.
pub fn grade(questions: &[Question], answers: &[Answer]) -> Result<Grade, Invalid> {
    let mut by_question: HashMap<&str, &Answer> = HashMap::new();
    for a in answers {
        let Some(q) = questions.iter().find(|q| q.id == a.question_id) else {
            return Err(Invalid(format!("`answers`: the quiz has no question `{}`", truncate(&a.question_id))));
        };
        if by_question.insert(q.id.as_str(), a).is_some() {
            return Err(Invalid(format!("`answers`: question `{}` is answered twice", q.id)));
        }
        if let QuestionKind::SingleChoice { options, .. } | QuestionKind::MultipleChoice { options, .. } = &q.kind {
            if let Some(bad) = a.option_ids.iter().find(|o| !options.iter().any(|c| &c.id == *o)) {
                return Err(Invalid(format!("`answers`: question `{}` has no option `{}`", q.id, truncate(bad))));
            }
        }
    }
    let mut feedback = Vec::with_capacity(questions.len());
    let (mut earned, mut possible) = (0i64, 0i64);
    for q in questions {
        let answer = by_question.get(q.id.as_str());
        let correct = answer.is_some_and(|a| is_right(&q.kind, a));
        let points = q.points.max(0);
        possible += i64::from(points);
        if correct {
            earned += i64::from(points);
        }
        feedback.push(Feedback {
            question_id: q.id.clone(),
            correct,
            points_awarded: if correct { points } else { 0 },
            points_possible: points,
        });
    }
    let score = if possible == 0 { 0 } else { ((earned * 100) as f64 / possible as f64).round() as i32 };
    Ok(Grade { score: score.clamp(0, 100), feedback })
}

fn is_right(kind: &QuestionKind, answer: &Answer) -> bool {
    match kind {
        QuestionKind::SingleChoice { correct, .. } => {
            answer.option_ids.len() == 1 && correct.contains(&answer.option_ids[0])
        }
        QuestionKind::MultipleChoice { correct, .. } => {
            let chosen: BTreeSet<&String> = answer.option_ids.iter().collect();
            let right: BTreeSet<&String> = correct.iter().collect();
            !chosen.is_empty() && chosen == right
        }
        QuestionKind::ShortAnswer { accepted } => answer.text.as_deref().is_some_and(|t| {
            let t = t.trim().to_lowercase();
            accepted.iter().any(|a| a.trim().to_lowercase() == t)
        }),
    }
}

fn truncate(s: &str) -> String {
    super::ids::truncate(s)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::domain::quiz::parse_questions;

    fn questions() -> Vec<Question> {
        parse_questions(&json!([
            { "id": "q1", "type": "single_choice", "prompt": "P", "points": 1,
              "options": [{ "id": "a", "text": "A" }, { "id": "b", "text": "B" }], "correct": ["b"] },
            { "id": "q2", "type": "multiple_choice", "prompt": "P", "points": 2,
              "options": [{ "id": "a", "text": "A" }, { "id": "b", "text": "B" }, { "id": "c", "text": "C" }], "correct": ["a", "c"] },
            { "id": "q3", "type": "short_answer", "prompt": "P", "points": 1, "accepted": ["Rust"] },
        ]))
        .expect("valid")
    }

    fn answer(q: &str, options: &[&str], text: Option<&str>) -> Answer {
        Answer {
            question_id: q.into(),
            option_ids: options.iter().map(|s| s.to_string()).collect(),
            text: text.map(String::from),
        }
    }

    #[test]
    fn all_right_is_100_and_partial_is_weighted_by_points() {
        let all = grade(
            &questions(),
            &[answer("q1", &["b"], None), answer("q2", &["c", "a"], None), answer("q3", &[], Some("  rust "))],
        )
        .expect("graded");
        assert_eq!(all.score, 100);
        let some = grade(&questions(), &[answer("q2", &["a", "c"], None)]).expect("graded");
        assert_eq!(some.score, 50, "2 of 4 points");
        assert_eq!(some.feedback.iter().filter(|f| f.correct).count(), 1);
        let none = grade(&questions(), &[answer("q2", &["a"], None), answer("q1", &["a", "b"], None)]).expect("graded");
        assert_eq!(none.score, 0, "a subset, or two options for a single choice, is wrong");
    }

    #[test]
    fn refuses_unknown_questions_options_and_repeats() {
        assert!(grade(&questions(), &[answer("q9", &[], None)]).is_err());
        assert!(grade(&questions(), &[answer("q1", &["z"], None)]).is_err());
        assert!(grade(&questions(), &[answer("q1", &["a"], None), answer("q1", &["b"], None)]).is_err());
    }
}
