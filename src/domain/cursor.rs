//! Opaque keyset cursors. A cursor names the last row a client saw in one order; the next
//! page starts strictly after it, so pages stay stable while rows are added or removed.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use chrono::{DateTime, FixedOffset, TimeZone, Utc};
use uuid::Uuid;

use crate::error::AppError;

/// Cursors longer than this are refused before decoding.
const MAX_CURSOR_LEN: usize = 128;

/// The position of a course in the "newest first" order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NewestCursor {
    pub created_at: DateTime<FixedOffset>,
    pub id: Uuid,
}

impl NewestCursor {
    pub fn encode(&self) -> String {
        let micros = self.created_at.timestamp_micros();
        URL_SAFE_NO_PAD.encode(format!("n1:{micros}:{}", self.id.simple()))
    }

    pub fn decode(raw: &str) -> Result<Self, AppError> {
        let bad = || AppError::bad_input("`after` is not a cursor this field returned");
        if raw.is_empty() || raw.len() > MAX_CURSOR_LEN {
            return Err(bad());
        }
        let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| bad())?;
        let text = std::str::from_utf8(&bytes).map_err(|_| bad())?;
        let mut parts = text.split(':');
        let (Some("n1"), Some(micros), Some(id), None) = (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        let micros: i64 = micros.parse().map_err(|_| bad())?;
        let id = Uuid::try_parse(id).map_err(|_| bad())?;
        let created_at = Utc.timestamp_micros(micros).single().ok_or_else(bad)?.fixed_offset();
        Ok(Self { created_at, id })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_to_the_microsecond() {
        let at = Utc.timestamp_micros(1_733_000_000_123_456).single().expect("valid").fixed_offset();
        let c = NewestCursor { created_at: at, id: Uuid::from_u128(42) };
        assert_eq!(NewestCursor::decode(&c.encode()).expect("decodes"), c);
    }

    #[test]
    fn refuses_forged_and_oversized_cursors() {
        let forged = URL_SAFE_NO_PAD.encode("n1:notanumber:0000");
        let wrong_kind = URL_SAFE_NO_PAD.encode(format!("x9:1:{}", Uuid::nil().simple()));
        let extra = URL_SAFE_NO_PAD.encode(format!("n1:1:{}:more", Uuid::nil().simple()));
        let out_of_range = URL_SAFE_NO_PAD.encode(format!("n1:{}:{}", i64::MAX, Uuid::nil().simple()));
        for raw in ["", "!!!", &forged, &wrong_kind, &extra, &out_of_range, &"A".repeat(10_000)] {
            assert!(matches!(NewestCursor::decode(raw), Err(AppError::BadUserInput(_))), "{raw}");
        }
    }
}
