//! Course discovery: filters, full-text search with typo tolerance, keyset pages in five
//! orders, counts and facets. One statement per call; every predicate is a bound parameter.

use rust_decimal::Decimal;
use sea_orm::{ConnectionTrait, DbBackend, FromQueryResult, QueryResult, Statement, Value};
use uuid::Uuid;

use super::{entity::course, PgStore};
use crate::{
    domain::cursor::{CourseCursor, CourseKey, CourseOrder},
    error::{Store, StoreError, StoreErrorKind},
};

/// The indexed document of a course: the guide's search expression over title and
/// description, stored in a generated column (migration 017) so ranking reads it instead of
/// recomputing it per matching row.
const DOCUMENT: &str = "c.search_vector";

/// A course row's columns (not `c.*`: the stored search vector stays in the database).
const COURSE_COLUMNS: &str = "SELECT c.id, c.title, c.slug, c.description, c.category_id, c.instructor_id, c.level, \
     c.duration_minutes, c.price, c.is_published, c.enrollment_count, c.rating, c.tags, c.metadata, c.created_at, \
     c.updated_at";

/// Which published courses a list holds (every field optional; all given ones must hold).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CourseFilter {
    /// In this category or any of its subcategories.
    pub category: Option<Uuid>,
    /// At one of these levels (`beginner`, `intermediate`, `advanced`); empty: any.
    pub levels: Vec<&'static str>,
    pub instructor: Option<Uuid>,
    /// `Some(true)`: free only; `Some(false)`: paid only.
    pub free: Option<bool>,
    pub min_price: Option<Decimal>,
    pub max_price: Option<Decimal>,
    pub min_rating: Option<Decimal>,
    /// Carrying every one of these tags.
    pub tags: Vec<String>,
    /// Words matched against title and description (stemmed), or close to words of the title
    /// (trigram word similarity, for typos).
    pub search: Option<String>,
    /// Drafts too (an instructor's own list); otherwise published courses only.
    pub drafts: bool,
}

/// Which way a page is read from its cursor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// The order itself, after the cursor (`first`/`after`).
    Forward,
    /// The reverse order, before the cursor (`last`/`before`); rows come back reversed.
    Backward,
}

/// A course in a list, with its position in the list's order.
pub struct Listed {
    pub course: course::Model,
    pub cursor: CourseCursor,
}

/// A statement being written: text plus its positional parameters.
struct Sql {
    text: String,
    values: Vec<Value>,
}

impl Sql {
    fn new() -> Self {
        Self { text: String::with_capacity(512), values: Vec::new() }
    }

    /// Binds a value and returns its placeholder.
    fn bind(&mut self, value: impl Into<Value>) -> String {
        self.values.push(value.into());
        format!("${}", self.values.len())
    }

    fn push(&mut self, text: &str) {
        self.text.push_str(text);
    }

    fn statement(self) -> Statement {
        Statement::from_sql_and_values(DbBackend::Postgres, self.text, self.values)
    }
}

/// Appends ` WHERE …` for `filter` (published courses only) and returns the search's
/// placeholders, if any, for a relevance expression to reuse.
fn push_where(sql: &mut Sql, filter: &CourseFilter) -> Option<Search> {
    sql.push(if filter.drafts { " WHERE true" } else { " WHERE c.is_published" });
    if let Some(category) = filter.category {
        // UNION (not UNION ALL) stops at a cycle instead of looping
        let p = sql.bind(category);
        sql.push(&format!(
            " AND c.category_id IN (WITH RECURSIVE sub(id) AS (SELECT {p}::uuid UNION \
             SELECT k.id FROM categories k JOIN sub ON k.parent_id = sub.id) SELECT id FROM sub)"
        ));
    }
    if !filter.levels.is_empty() {
        let levels: Vec<String> = filter.levels.iter().map(|l| l.to_string()).collect();
        let p = sql.bind(levels);
        sql.push(&format!(" AND c.level = ANY({p}::text[])"));
    }
    if let Some(instructor) = filter.instructor {
        let p = sql.bind(instructor);
        sql.push(&format!(" AND c.instructor_id = {p}"));
    }
    match filter.free {
        Some(true) => sql.push(" AND c.price = 0"),
        Some(false) => sql.push(" AND c.price > 0"),
        None => {}
    }
    if let Some(min) = filter.min_price {
        let p = sql.bind(min);
        sql.push(&format!(" AND c.price >= {p}"));
    }
    if let Some(max) = filter.max_price {
        let p = sql.bind(max);
        sql.push(&format!(" AND c.price <= {p}"));
    }
    if let Some(min) = filter.min_rating {
        let p = sql.bind(min);
        sql.push(&format!(" AND c.rating >= {p}"));
    }
    if !filter.tags.is_empty() {
        let p = sql.bind(filter.tags.clone());
        sql.push(&format!(" AND c.tags @> {p}::text[]"));
    }
    let Some(raw) = &filter.search else { return None };
    let (wanted, excluded) = split_search(raw);
    let q = Search { query: sql.bind(raw.clone()), words: sql.bind(wanted) };
    sql.push(&format!(" AND ({DOCUMENT} @@ websearch_to_tsquery('english', {}) OR {} <% c.title)", q.query, q.words));
    if !excluded.is_empty() {
        // `-word` excludes for the typo-tolerant match too, not only for the full-text one
        let p = sql.bind(excluded.join(" or "));
        sql.push(&format!(" AND NOT ({DOCUMENT} @@ websearch_to_tsquery('english', {p}))"));
    }
    Some(q)
}

/// The placeholders of a bound search: the query as typed (web-search syntax, for the
/// full-text match) and its wanted words alone (for the trigram match).
struct Search {
    query: String,
    words: String,
}

/// A search's wanted words (quotes dropped) and its `-excluded` words.
fn split_search(raw: &str) -> (String, Vec<String>) {
    let mut wanted = Vec::new();
    let mut excluded = Vec::new();
    for token in raw.split_whitespace() {
        let clean = |t: &str| t.trim_matches('"').to_owned();
        match token.strip_prefix('-') {
            Some(word) if !clean(word).is_empty() => excluded.push(clean(word)),
            _ if !clean(token).is_empty() => wanted.push(clean(token)),
            _ => {}
        }
    }
    (wanted.join(" "), excluded)
}

/// The relevance of a course to a bound search: full-text rank plus how close the wanted
/// words are to words of the title. Computed in float8 so a cursor compares exactly.
fn relevance(q: &Search) -> String {
    format!(
        "(ts_rank_cd({DOCUMENT}, websearch_to_tsquery('english', {}))::float8 \
         + word_similarity({}, c.title)::float8)",
        q.query, q.words
    )
}

impl PgStore {
    /// Up to `limit` courses of `filter` in `order`, strictly after (or, backward, before)
    /// `from`. Backward pages come back in the list's order too.
    #[tracing::instrument(level = "debug", skip_all, fields(?order, ?direction, limit))]
    pub async fn discover_courses(
        &self,
        filter: &CourseFilter,
        order: CourseOrder,
        from: Option<CourseCursor>,
        direction: Direction,
        limit: u64,
    ) -> Result<Vec<Listed>, StoreError> {
        let mut sql = Sql::new();
        // the WHERE clause binds first, so the search placeholder exists for the select list
        let mut tail = Sql::new();
        let search = push_where(&mut tail, filter);
        let score = match (order, &search) {
            (CourseOrder::Relevance, Some(q)) => Some(relevance(q)),
            (CourseOrder::Relevance, None) => {
                return Err(StoreError::new(Store::Postgres, StoreErrorKind::Other, "relevance needs a search"))
            }
            _ => None,
        };
        sql.values = tail.values;
        sql.push(COURSE_COLUMNS);
        if let Some(score) = &score {
            sql.push(&format!(", {score} AS score"));
        }
        sql.push(" FROM courses c");
        sql.push(&tail.text);

        // the sort columns; every order ends on the id, so positions are total
        let columns: Vec<String> = match order {
            CourseOrder::Relevance => vec![score.clone().unwrap_or_default()],
            CourseOrder::Rating => vec!["c.rating".into(), "c.enrollment_count".into()],
            CourseOrder::Enrollments => vec!["c.enrollment_count".into()],
            CourseOrder::Newest => vec!["c.created_at".into()],
            CourseOrder::Price => vec!["c.price".into()],
        };
        let descending = order != CourseOrder::Price;
        // read the other way when going backward
        let descending = descending == (direction == Direction::Forward);
        if let Some(from) = from {
            if from.key.order() != order {
                return Err(StoreError::new(Store::Postgres, StoreErrorKind::Other, "cursor of another order"));
            }
            let mut bound = match from.key {
                CourseKey::Relevance(score) => vec![sql.bind(score)],
                CourseKey::Rating { rating, enrollments } => vec![sql.bind(rating), sql.bind(enrollments)],
                CourseKey::Enrollments(n) => vec![sql.bind(n)],
                CourseKey::Newest(at) => vec![sql.bind(at)],
                CourseKey::Price(price) => vec![sql.bind(price)],
            };
            bound.push(sql.bind(from.id));
            let op = if descending { "<" } else { ">" };
            sql.push(&format!(" AND ({}, c.id) {op} ({})", columns.join(", "), bound.join(", ")));
        }
        let dir = if descending { "DESC" } else { "ASC" };
        let order_by: Vec<String> = columns.iter().map(|c| format!("{c} {dir}")).collect();
        sql.push(&format!(" ORDER BY {}, c.id {dir} LIMIT {limit}", order_by.join(", ")));

        let rows = self.call("discover_courses", self.db().query_all(sql.statement())).await?;
        let mut listed = rows.iter().map(|row| listed(row, order)).collect::<Result<Vec<_>, _>>()?;
        if direction == Direction::Backward {
            listed.reverse();
        }
        Ok(listed)
    }

    /// How many courses `filter` holds.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn count_courses(&self, filter: &CourseFilter) -> Result<i64, StoreError> {
        let mut sql = Sql::new();
        sql.push("SELECT count(*) AS n FROM courses c");
        push_where(&mut sql, filter);
        let row = self.call("count_courses", self.db().query_one(sql.statement())).await?;
        Ok(match row {
            Some(row) => row.try_get::<i64>("", "n")?,
            None => 0,
        })
    }

    /// How many courses of `filter` sit at each level (levels with none are left out).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn level_facets(&self, filter: &CourseFilter) -> Result<Vec<(String, i64)>, StoreError> {
        let mut sql = Sql::new();
        sql.push("SELECT c.level AS key, count(*) AS n FROM courses c");
        push_where(&mut sql, filter);
        sql.push(" GROUP BY c.level ORDER BY n DESC, c.level");
        let rows = self.call("level_facets", self.db().query_all(sql.statement())).await?;
        rows.iter().map(|r| Ok((r.try_get::<String>("", "key")?, r.try_get::<i64>("", "n")?))).collect()
    }

    /// How many courses of `filter` sit directly in each category (None: no category).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn category_facets(&self, filter: &CourseFilter) -> Result<Vec<(Option<Uuid>, i64)>, StoreError> {
        let mut sql = Sql::new();
        sql.push("SELECT c.category_id AS key, count(*) AS n FROM courses c");
        push_where(&mut sql, filter);
        sql.push(" GROUP BY c.category_id ORDER BY n DESC, c.category_id");
        let rows = self.call("category_facets", self.db().query_all(sql.statement())).await?;
        rows.iter().map(|r| Ok((r.try_get::<Option<Uuid>>("", "key")?, r.try_get::<i64>("", "n")?))).collect()
    }
}

/// A row of a discovery statement, with its cursor in `order`.
fn listed(row: &QueryResult, order: CourseOrder) -> Result<Listed, StoreError> {
    let course = course::Model::from_query_result(row, "")?;
    let key = match order {
        CourseOrder::Relevance => CourseKey::Relevance(row.try_get::<f64>("", "score")?),
        CourseOrder::Rating => CourseKey::Rating { rating: course.rating, enrollments: course.enrollment_count },
        CourseOrder::Enrollments => CourseKey::Enrollments(course.enrollment_count),
        CourseOrder::Newest => CourseKey::Newest(course.created_at),
        CourseOrder::Price => CourseKey::Price(course.price),
    };
    let cursor = CourseCursor { key, id: course.id };
    Ok(Listed { course, cursor })
}

#[cfg(test)]
mod tests {
    use super::split_search;

    #[test]
    fn searches_split_into_wanted_and_excluded_words() {
        assert_eq!(split_search("rust  async"), ("rust async".to_owned(), vec![]));
        assert_eq!(
            split_search("\"web apps\" -java -\"php\" - --"),
            ("web apps -".to_owned(), vec!["java".to_owned(), "php".to_owned(), "-".to_owned()])
        );
    }
}
