//! The filter of a course list, checked field by field into the store's `CourseFilter`: a
//! bad value is a `BAD_USER_INPUT` naming the field.

use async_graphql::{InputObject, ID};
use rust_decimal::Decimal;

use super::course::CourseLevel;
use crate::{domain::ids::parse_id, error::AppError, store::pg::discovery::CourseFilter};

/// Narrows a course list; every field is optional, and all given ones must hold.
#[derive(InputObject, Default, Clone)]
pub struct CourseFilterInput {
    /// Courses in this category or any of its subcategories.
    category_id: Option<ID>,
    /// Courses at any of these levels.
    levels: Option<Vec<CourseLevel>>,
    /// Courses taught by this instructor.
    instructor_id: Option<ID>,
    /// true: free courses only; false: paid courses only.
    free: Option<bool>,
    /// Courses costing at least this much.
    min_price: Option<Decimal>,
    /// Courses costing at most this much.
    max_price: Option<Decimal>,
    /// Courses rated at least this (0 to 5).
    min_rating: Option<f64>,
    /// Courses carrying every one of these tags (up to 20).
    tags: Option<Vec<String>>,
    /// Words to find in titles and descriptions; tolerates typos in title words. Up to 200
    /// characters; ordered by relevance unless `orderBy` says otherwise.
    search: Option<String>,
}

const MAX_SEARCH: usize = 200;
const MAX_TAGS: usize = 20;
const MAX_TAG_LEN: usize = 50;

impl CourseFilterInput {
    /// The store's filter, or a `BAD_USER_INPUT` naming the field.
    pub(crate) fn validate(self) -> Result<CourseFilter, AppError> {
        let bad = |field: &str, why: &str| AppError::bad_input(format!("`filter.{field}` {why}"));
        let mut levels: Vec<&'static str> =
            self.levels.unwrap_or_default().into_iter().map(CourseLevel::as_db).collect();
        levels.sort_unstable();
        levels.dedup();
        let nonnegative = |field: &str, v: Option<Decimal>| match v {
            Some(d) if d.is_sign_negative() && !d.is_zero() => Err(bad(field, "must not be negative")),
            Some(d) if d > Decimal::new(99_999_999, 2) => Err(bad(field, "is above any price")),
            _ => Ok(v),
        };
        let min_price = nonnegative("minPrice", self.min_price)?;
        let max_price = nonnegative("maxPrice", self.max_price)?;
        if let (Some(lo), Some(hi)) = (min_price, max_price) {
            if lo > hi {
                return Err(bad("minPrice", "is above `filter.maxPrice`"));
            }
        }
        let min_rating = match self.min_rating {
            None => None,
            Some(r) if (0.0..=5.0).contains(&r) => {
                Some(Decimal::from_f64_retain(r).ok_or_else(|| bad("minRating", "must be between 0 and 5"))?)
            }
            Some(_) => return Err(bad("minRating", "must be between 0 and 5")),
        };
        let tags = self.tags.unwrap_or_default();
        if tags.len() > MAX_TAGS {
            return Err(bad("tags", &format!("may hold at most {MAX_TAGS} tags")));
        }
        if tags.iter().any(|t| t.is_empty() || t.chars().count() > MAX_TAG_LEN) {
            return Err(bad("tags", &format!("must hold tags of 1 to {MAX_TAG_LEN} characters")));
        }
        let search = match self.search {
            None => None,
            Some(q) if q.chars().count() > MAX_SEARCH => {
                return Err(bad("search", &format!("must be at most {MAX_SEARCH} characters")))
            }
            Some(q) if q.trim().is_empty() => return Err(bad("search", "must not be blank")),
            Some(q) if q.contains('\0') => return Err(bad("search", "must not contain NUL characters")),
            Some(q) => Some(q.trim().to_owned()),
        };
        Ok(CourseFilter {
            category: self.category_id.as_ref().map(|id| parse_id("category", id)).transpose()?,
            levels,
            instructor: self.instructor_id.as_ref().map(|id| parse_id("instructor", id)).transpose()?,
            free: self.free,
            min_price,
            max_price,
            min_rating,
            tags,
            search,
            drafts: false,
        })
    }
}
