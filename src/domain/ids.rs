//! Parsing ids a client sends.

use uuid::Uuid;

use crate::error::AppError;

/// Parses a client-sent id: a UUID in its canonical text form.
pub fn parse_id(what: &str, raw: &str) -> Result<Uuid, AppError> {
    if raw.len() != 36 {
        return Err(AppError::bad_input(format!("`{}` is not a valid {what} id", truncate(raw))));
    }
    Uuid::parse_str(raw).map_err(|_| AppError::bad_input(format!("`{}` is not a valid {what} id", truncate(raw))))
}

/// At most 40 characters of client input, for error messages.
pub fn truncate(raw: &str) -> String {
    match raw.char_indices().nth(40) {
        Some((i, _)) => format!("{}…", &raw[..i]),
        None => raw.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_canonical_uuids_only() {
        assert!(parse_id("course", "0b8a2d2e-7c4f-4a7e-9a57-5f4b3c2d1e0f").is_ok());
        for bad in [
            "",
            "1",
            "0b8a2d2e7c4f4a7e9a575f4b3c2d1e0f",
            "{0b8a2d2e-7c4f-4a7e-9a57-5f4b3c2d1e0f}",
            "zzzzzzzz-7c4f-4a7e-9a57-5f4b3c2d1e0f",
        ] {
            assert!(matches!(parse_id("course", bad), Err(AppError::BadUserInput(_))), "{bad}");
        }
    }

    #[test]
    fn error_messages_do_not_echo_huge_input() {
        let huge = "x".repeat(10_000);
        let Err(AppError::BadUserInput(message)) = parse_id("course", &huge) else { panic!("accepted") };
        assert!(message.len() < 100, "{message}");
    }
}
