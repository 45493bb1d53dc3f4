//! A page of courses (Relay connection) with its counts and facets, and the discovery query
//! that reads it: order, direction, cursors and the page's edges.

use std::sync::Arc;

use async_graphql::{Context, Enum, Object, Result, SimpleObject};
use uuid::Uuid;

use super::{
    course::{clamp, CourseLevel},
    pg_store, Category, Course,
};
use crate::{
    domain::cursor::{CourseCursor, CourseOrder},
    error::AppError,
    loaders::{Batch, CategoryById, PgReader},
    store::pg::discovery::{CourseFilter, Direction},
};

/// Page sizes a client may ask for.
const DEFAULT_PAGE: i32 = 20;
const MAX_PAGE: i32 = 100;

/// One course in a page of courses.
#[derive(SimpleObject)]
#[graphql(cache_control(max_age = 60))]
pub struct CourseEdge {
    /// Pass as `after` (or `before`) to get the courses that follow (or precede) this one.
    cursor: String,
    /// The course.
    node: Course,
}

/// Where a page sits in the whole list (Relay).
#[derive(SimpleObject)]
#[graphql(shareable, cache_control(max_age = 60))]
pub struct PageInfo {
    /// Whether more items follow this page.
    pub(crate) has_next_page: bool,
    /// Whether items precede this page.
    pub(crate) has_previous_page: bool,
    /// The first edge's cursor: pass it as `before` for the previous page (where a list pages backward).
    pub(crate) start_cursor: Option<String>,
    /// The last edge's cursor: pass it as `after` for the next page.
    pub(crate) end_cursor: Option<String>,
}

/// A page of courses (Relay connection). Counts and facets cover the whole list, not just
/// this page, and each runs only when asked for.
pub struct CourseConnection {
    edges: Vec<CourseEdge>,
    page_info: PageInfo,
    filter: Arc<CourseFilter>,
}

/// A page of courses (Relay connection). Counts and facets cover the whole list, not just
/// this page, and each runs only when asked for.
#[Object(cache_control(max_age = 60))]
impl CourseConnection {
    /// The courses of this page, with their cursors.
    async fn edges(&self) -> &[CourseEdge] {
        &self.edges
    }

    /// The courses of this page.
    async fn nodes(&self) -> Vec<&Course> {
        self.edges.iter().map(|e| &e.node).collect()
    }

    /// Where this page sits.
    async fn page_info(&self) -> &PageInfo {
        &self.page_info
    }

    /// How many courses the whole list has (counted only when asked for).
    async fn total_count(&self, ctx: &Context<'_>) -> Result<i32> {
        let n = pg_store(ctx)?.count_courses(&self.filter).await?;
        Ok(i32::try_from(n).unwrap_or(i32::MAX))
    }

    /// How the whole list spreads over levels and categories (counted only when asked for).
    async fn facets(&self) -> CourseFacets {
        CourseFacets { filter: self.filter.clone() }
    }
}

/// Counts of a course list by level and by category, for narrowing it down.
pub struct CourseFacets {
    filter: Arc<CourseFilter>,
}

/// How many courses of a list are at one level.
#[derive(SimpleObject)]
#[graphql(cache_control(max_age = 60))]
pub struct LevelCount {
    /// The level.
    level: CourseLevel,
    /// How many courses of the list are at it.
    count: i32,
}

/// How many courses of a list are directly in one category.
pub struct CategoryCount {
    category: Option<Uuid>,
    count: i32,
    /// The categories of all the counts listed together, loaded once.
    categories: Arc<Batch<PgReader, CategoryById>>,
}

/// How many courses of a list are directly in one category.
#[Object(cache_control(max_age = 60))]
impl CategoryCount {
    /// The category; null for courses filed under none.
    async fn category(&self, ctx: &Context<'_>) -> Result<Option<Category>> {
        let Some(id) = self.category else { return Ok(None) };
        Ok(self.categories.get(ctx, CategoryById(id)).await?.map(Category::from))
    }

    /// How many courses of the list are directly in it (not in its subcategories).
    async fn count(&self) -> i32 {
        self.count
    }
}

/// Counts of a course list by level and by category, for narrowing it down.
#[Object(cache_control(max_age = 60))]
impl CourseFacets {
    /// Courses per level, most first; levels with none are left out.
    async fn levels(&self, ctx: &Context<'_>) -> Result<Vec<LevelCount>> {
        let rows = pg_store(ctx)?.level_facets(&self.filter).await?;
        Ok(rows
            .into_iter()
            .map(|(level, n)| LevelCount { level: CourseLevel::from_db(&level), count: clamp(n) })
            .collect())
    }

    /// Courses per category, most first; categories with none are left out.
    async fn categories(&self, ctx: &Context<'_>) -> Result<Vec<CategoryCount>> {
        let rows = pg_store(ctx)?.category_facets(&self.filter).await?;
        let categories = Batch::new(rows.iter().filter_map(|(category, _)| category.map(CategoryById)));
        Ok(rows
            .into_iter()
            .map(|(category, n)| CategoryCount { category, count: clamp(n), categories: categories.clone() })
            .collect())
    }
}

/// The orders a course list can be read in; every order is stable (ties go by id).
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum CourseOrderBy {
    /// Best match for `filter.search` first (needs a search; the default when there is one).
    Relevance,
    /// Highest rated first; among equal ratings, most enrolments first.
    Rating,
    /// Most enrolled first.
    Enrollments,
    /// Most recently created first (the default without a search).
    Newest,
    /// Cheapest first.
    Price,
}

impl From<CourseOrderBy> for CourseOrder {
    fn from(order: CourseOrderBy) -> Self {
        match order {
            CourseOrderBy::Relevance => Self::Relevance,
            CourseOrderBy::Rating => Self::Rating,
            CourseOrderBy::Enrollments => Self::Enrollments,
            CourseOrderBy::Newest => Self::Newest,
            CourseOrderBy::Price => Self::Price,
        }
    }
}

/// A page of the courses `filter` holds, in `order_by` (or its default), one way or the other.
pub(crate) async fn list_courses(
    ctx: &Context<'_>,
    filter: CourseFilter,
    order_by: Option<CourseOrderBy>,
    first: Option<i32>,
    after: Option<String>,
    last: Option<i32>,
    before: Option<String>,
) -> Result<CourseConnection> {
    let order = match (order_by, &filter.search) {
        (Some(CourseOrderBy::Relevance), None) => {
            return Err(AppError::bad_input("`orderBy: RELEVANCE` needs a `filter.search`").into())
        }
        (Some(order), _) => CourseOrder::from(order),
        (None, Some(_)) => CourseOrder::Relevance,
        (None, None) => CourseOrder::Newest,
    };
    let page = |field: &str, n: i32| {
        if (1..=MAX_PAGE).contains(&n) {
            Ok(n as u64)
        } else {
            Err(AppError::bad_input(format!("`{field}` must be between 1 and {MAX_PAGE}")))
        }
    };
    let (direction, size, from) = match (first, after, last, before) {
        (_, Some(_), _, Some(_)) | (Some(_), _, Some(_), _) => {
            return Err(
                AppError::bad_input("page forward (`first`/`after`) or backward (`last`/`before`), not both").into()
            )
        }
        (first, after, None, None) => (
            Direction::Forward,
            page("first", first.unwrap_or(DEFAULT_PAGE))?,
            after.as_deref().map(|c| CourseCursor::decode(c, order, "after")).transpose()?,
        ),
        (None, None, last, before) => (
            Direction::Backward,
            page("last", last.unwrap_or(DEFAULT_PAGE))?,
            before.as_deref().map(|c| CourseCursor::decode(c, order, "before")).transpose()?,
        ),
        (Some(_), None, None, Some(_)) => {
            return Err(AppError::bad_input("`before` pages backward: give `last` with it, not `first`").into())
        }
        (None, Some(_), Some(_), None) => {
            return Err(AppError::bad_input("`after` pages forward: give `first` with it, not `last`").into())
        }
    };
    let cursor_given = from.is_some();
    let mut rows = pg_store(ctx)?.discover_courses(&filter, order, from, direction, size + 1).await?;
    let more = rows.len() as u64 > size;
    if more {
        match direction {
            Direction::Forward => rows.truncate(size as usize),
            // backward pages come back in list order: the extra row is the first
            Direction::Backward => {
                rows.remove(0);
            }
        }
    }
    let (cursors, models): (Vec<String>, Vec<_>) = rows.into_iter().map(|r| (r.cursor.encode(), r.course)).unzip();
    // the page's courses share their relations' loads: one statement per relation per page
    let edges: Vec<CourseEdge> =
        cursors.into_iter().zip(Course::all_of(models)).map(|(cursor, node)| CourseEdge { cursor, node }).collect();
    let (has_next_page, has_previous_page) = match direction {
        Direction::Forward => (more, cursor_given),
        Direction::Backward => (cursor_given, more),
    };
    let page_info = PageInfo {
        has_next_page,
        has_previous_page,
        start_cursor: edges.first().map(|e| e.cursor.clone()),
        end_cursor: edges.last().map(|e| e.cursor.clone()),
    };
    Ok(CourseConnection { edges, page_info, filter: Arc::new(filter) })
}
