//! Keyset paging, newest first, on `(created_at, id)`.
//!
//! A page asks for rows strictly before the last row of the previous page,
//! so paging stays an index range scan however deep it goes, and rows
//! inserted meanwhile never shift or repeat the pages already read.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{Error, Result};

/// Where a page ends: the `(created_at, id)` of its last row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Cursor {
    /// `created_at` of the last row read.
    pub created_at: DateTime<Utc>,
    /// `id` of the last row read; breaks ties between rows of one transaction.
    pub id: Uuid,
}

/// Rows that page by `(created_at, id)`.
pub trait Keyset {
    /// This row's position in the newest-first order.
    fn cursor(&self) -> Cursor;
}

/// Which page to read: at most `limit` rows, older than `after` when given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageRequest {
    /// Most rows to return, from 1 to [`PageRequest::MAX_LIMIT`].
    pub limit: u32,
    /// Start after this row; `None` starts at the newest row.
    pub after: Option<Cursor>,
}

impl PageRequest {
    /// The largest page a query returns.
    pub const MAX_LIMIT: u32 = 10_000;

    /// The first (newest) page of `limit` rows.
    pub const fn first(limit: u32) -> Self {
        Self { limit, after: None }
    }

    /// The `LIMIT` to query: one more row than asked, to learn whether more follow.
    pub(crate) fn fetch_limit(&self) -> Result<i64> {
        if self.limit == 0 || self.limit > Self::MAX_LIMIT {
            return Err(Error::invalid(
                "page limit",
                format!("{} is outside 1..={}", self.limit, Self::MAX_LIMIT),
            ));
        }
        Ok(i64::from(self.limit) + 1)
    }
}

/// One page of rows, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    /// The rows of this page.
    pub items: Vec<T>,
    /// The request for the following page; `None` on the last page.
    pub next: Option<PageRequest>,
}

impl<T: Keyset> Page<T> {
    /// Builds a page from up to `limit + 1` rows fetched for `request`.
    pub(crate) fn from_rows(mut rows: Vec<T>, request: PageRequest) -> Self {
        let limit = request.limit as usize;
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next = match rows.last() {
            Some(last) if more => Some(PageRequest {
                limit: request.limit,
                after: Some(last.cursor()),
            }),
            _ => None,
        };
        Self { items: rows, next }
    }
}

/// The filter "row is older than `$cursor`" in `(created_at, id)` order on `$table`.
///
/// Written as `created_at <= c AND (created_at < c OR id < i)` rather than a
/// row comparison, which Diesel's DSL lacks; the leading `<=` gives
/// PostgreSQL an index range bound.
macro_rules! older_than {
    ($table:ident, $cursor:expr) => {{
        let cursor: $crate::paging::Cursor = $cursor;
        $table::created_at.le(cursor.created_at).and(
            $table::created_at
                .lt(cursor.created_at)
                .or($table::id.lt(cursor.id)),
        )
    }};
}
pub(crate) use older_than;

/// Implements [`Keyset`] for `$row`, whose `created_at` and `id` fields order it.
macro_rules! keyset {
    ($row:ty) => {
        impl $crate::paging::Keyset for $row {
            fn cursor(&self) -> $crate::paging::Cursor {
                $crate::paging::Cursor {
                    created_at: self.created_at,
                    id: self.id,
                }
            }
        }
    };
}
pub(crate) use keyset;

/// Loads the page `$page` of `$query`, a filtered select on `$table`, newest
/// first on `(created_at, id)`; evaluates to `Result<Page<_>>`.
macro_rules! load_page {
    ($conn:expr, $table:ident, $query:expr, $page:expr) => {{
        let page: $crate::paging::PageRequest = $page;
        let mut query = $query
            .order(($table::created_at.desc(), $table::id.desc()))
            .limit(page.fetch_limit()?)
            .into_boxed();
        if let Some(after) = page.after {
            query = query.filter($crate::paging::older_than!($table, after));
        }
        Ok($crate::paging::Page::from_rows(
            query.load($conn).await?,
            page,
        ))
    }};
}
pub(crate) use load_page;
