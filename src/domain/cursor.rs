//! Opaque keyset cursors. A cursor names the last row a client saw in one order: its sort key
//! and its id. The next page starts strictly after it, so pages stay stable while rows are
//! added or removed, and no query needs OFFSET.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use chrono::{DateTime, FixedOffset, TimeZone, Utc};
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::error::AppError;

/// Cursors longer than this are refused before decoding.
const MAX_CURSOR_LEN: usize = 160;

/// The orders a course list can be read in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CourseOrder {
    /// Best match for the search first (needs a search).
    Relevance,
    /// Highest rating first; more enrolments first among equal ratings.
    Rating,
    /// Most enrolments first.
    Enrollments,
    /// Most recently created first.
    Newest,
    /// Cheapest first.
    Price,
}

impl CourseOrder {
    fn tag(self) -> &'static str {
        match self {
            Self::Relevance => "rel",
            Self::Rating => "rat",
            Self::Enrollments => "enr",
            Self::Newest => "new",
            Self::Price => "pri",
        }
    }
}

/// Where a course sits in one order: the values it is sorted by.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum CourseKey {
    /// Search relevance (exact bits, so the seek compares equal to what the server computed).
    Relevance(f64),
    Rating {
        rating: Decimal,
        enrollments: i32,
    },
    Enrollments(i32),
    Newest(DateTime<FixedOffset>),
    Price(Decimal),
}

impl CourseKey {
    pub fn order(&self) -> CourseOrder {
        match self {
            Self::Relevance(_) => CourseOrder::Relevance,
            Self::Rating { .. } => CourseOrder::Rating,
            Self::Enrollments(_) => CourseOrder::Enrollments,
            Self::Newest(_) => CourseOrder::Newest,
            Self::Price(_) => CourseOrder::Price,
        }
    }
}

/// A position in a course list: the sort key of the last course seen, and its id.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CourseCursor {
    pub key: CourseKey,
    pub id: Uuid,
}

impl CourseCursor {
    pub fn encode(&self) -> String {
        let key = match self.key {
            CourseKey::Relevance(score) => format!("{:016x}", score.to_bits()),
            CourseKey::Rating { rating, enrollments } => format!("{rating},{enrollments}"),
            CourseKey::Enrollments(n) => n.to_string(),
            CourseKey::Newest(at) => at.timestamp_micros().to_string(),
            CourseKey::Price(price) => price.to_string(),
        };
        URL_SAFE_NO_PAD.encode(format!("c1:{}:{key}:{}", self.key.order().tag(), self.id.simple()))
    }

    /// Decodes a cursor given back by a client, which must belong to `order`. `field` names
    /// the argument in the error (`after` or `before`).
    pub fn decode(raw: &str, order: CourseOrder, field: &str) -> Result<Self, AppError> {
        let bad = || AppError::bad_input(format!("`{field}` is not a cursor this list returned in this order"));
        if raw.is_empty() || raw.len() > MAX_CURSOR_LEN {
            return Err(bad());
        }
        let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| bad())?;
        let text = std::str::from_utf8(&bytes).map_err(|_| bad())?;
        let mut parts = text.split(':');
        let (Some("c1"), Some(tag), Some(key), Some(id), None) =
            (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        if tag != order.tag() {
            return Err(bad());
        }
        let key = match order {
            CourseOrder::Relevance => {
                let bits = u64::from_str_radix(key, 16).map_err(|_| bad())?;
                let score = f64::from_bits(bits);
                if !score.is_finite() {
                    return Err(bad());
                }
                CourseKey::Relevance(score)
            }
            CourseOrder::Rating => {
                let (rating, enrollments) = key.split_once(',').ok_or_else(bad)?;
                CourseKey::Rating {
                    rating: parse_decimal(rating).ok_or_else(bad)?,
                    enrollments: enrollments.parse().map_err(|_| bad())?,
                }
            }
            CourseOrder::Enrollments => CourseKey::Enrollments(key.parse().map_err(|_| bad())?),
            CourseOrder::Newest => {
                let micros: i64 = key.parse().map_err(|_| bad())?;
                CourseKey::Newest(Utc.timestamp_micros(micros).single().ok_or_else(bad)?.fixed_offset())
            }
            CourseOrder::Price => CourseKey::Price(parse_decimal(key).ok_or_else(bad)?),
        };
        let id = Uuid::try_parse(id).map_err(|_| bad())?;
        Ok(Self { key, id })
    }
}

/// A decimal as the database stores it (prices and ratings are small and non-negative).
fn parse_decimal(raw: &str) -> Option<Decimal> {
    let d: Decimal = raw.parse().ok()?;
    (raw.len() <= 24 && !d.is_sign_negative()).then_some(d)
}

/// A position in a list ordered by a time, newest first, then by an id (enrolments).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeCursor {
    pub at: DateTime<FixedOffset>,
    pub id: Uuid,
}

impl TimeCursor {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("t1:{}:{}", self.at.timestamp_micros(), self.id.simple()))
    }

    pub fn decode(raw: &str, field: &str) -> Result<Self, AppError> {
        let bad = || AppError::bad_input(format!("`{field}` is not a cursor this list returned"));
        if raw.is_empty() || raw.len() > MAX_CURSOR_LEN {
            return Err(bad());
        }
        let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| bad())?;
        let text = std::str::from_utf8(&bytes).map_err(|_| bad())?;
        let mut parts = text.split(':');
        let (Some("t1"), Some(micros), Some(id), None) = (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        let micros: i64 = micros.parse().map_err(|_| bad())?;
        let at = Utc.timestamp_micros(micros).single().ok_or_else(bad)?.fixed_offset();
        Ok(Self { at, id: Uuid::try_parse(id).map_err(|_| bad())? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> DateTime<FixedOffset> {
        Utc.timestamp_micros(1_733_000_000_123_456).single().expect("valid").fixed_offset()
    }

    #[test]
    fn every_order_round_trips_exactly() {
        let id = Uuid::from_u128(42);
        let keys = [
            CourseKey::Relevance(0.1 + 0.2),
            CourseKey::Rating { rating: Decimal::new(475, 2), enrollments: 1234 },
            CourseKey::Enrollments(0),
            CourseKey::Newest(at()),
            CourseKey::Price(Decimal::new(4999, 2)),
        ];
        for key in keys {
            let cursor = CourseCursor { key, id };
            assert_eq!(CourseCursor::decode(&cursor.encode(), key.order(), "after").expect("decodes"), cursor);
        }
    }

    #[test]
    fn time_cursors_round_trip_and_refuse_course_cursors() {
        let c = TimeCursor { at: at(), id: Uuid::from_u128(7) };
        assert_eq!(TimeCursor::decode(&c.encode(), "after").expect("decodes"), c);
        let course = CourseCursor { key: CourseKey::Newest(at()), id: Uuid::nil() }.encode();
        assert!(TimeCursor::decode(&course, "after").is_err());
    }

    #[test]
    fn a_cursor_of_another_order_is_refused() {
        let cursor = CourseCursor { key: CourseKey::Newest(at()), id: Uuid::nil() }.encode();
        let err = CourseCursor::decode(&cursor, CourseOrder::Price, "before");
        assert!(matches!(err, Err(AppError::BadUserInput(ref m)) if m.contains("`before`")), "{err:?}");
    }

    #[test]
    fn refuses_forged_and_oversized_cursors() {
        let id = Uuid::nil().simple();
        let forged = URL_SAFE_NO_PAD.encode(format!("c1:new:notanumber:{id}"));
        let extra = URL_SAFE_NO_PAD.encode(format!("c1:new:1:{id}:more"));
        let out_of_range = URL_SAFE_NO_PAD.encode(format!("c1:new:{}:{id}", i64::MAX));
        let nan = URL_SAFE_NO_PAD.encode(format!("c1:rel:{:016x}:{id}", f64::NAN.to_bits()));
        let negative = URL_SAFE_NO_PAD.encode(format!("c1:pri:-1:{id}"));
        let old = URL_SAFE_NO_PAD.encode(format!("n1:1:{id}"));
        for raw in ["", "!!!", &forged, &extra, &out_of_range, &old, &"A".repeat(10_000)] {
            assert!(matches!(CourseCursor::decode(raw, CourseOrder::Newest, "after"), Err(AppError::BadUserInput(_))));
        }
        assert!(CourseCursor::decode(&nan, CourseOrder::Relevance, "after").is_err());
        assert!(CourseCursor::decode(&negative, CourseOrder::Price, "after").is_err());
    }
}
