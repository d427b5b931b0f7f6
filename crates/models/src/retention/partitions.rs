//! The monthly partitions of the audit tables: which exist, creating months
//! ahead, dropping or detaching months older than a window.
//!
//! Both tables are `PARTITION BY RANGE (id)`. A month's partition holds the
//! UUIDv7 ids whose time falls in that UTC month: from the UUID whose first
//! 48 bits are the month's first millisecond (the rest zero) to the next
//! month's. `<table>_default` holds ids that fit no month.

use chrono::{DateTime, Datelike, Days, Months, NaiveDate, NaiveTime, Utc};
use diesel::{
    sql_types::{BigInt, Double, Text, Timestamptz},
    QueryableByName,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use serde::Serialize;
use uuid::Uuid;

use crate::{Error, Result};

// `Result` here is the crate's; serde's needs the std one.
type SerResult<T, E> = std::result::Result<T, E>;

/// A table partitioned by month of its UUIDv7 ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PartitionedTable {
    /// `fsm_transitions`.
    FsmTransitions,
    /// `metadata_stamps`.
    MetadataStamps,
}

impl PartitionedTable {
    /// Both, in report order.
    pub const ALL: [Self; 2] = [Self::FsmTransitions, Self::MetadataStamps];

    /// The parent table's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::FsmTransitions => "fsm_transitions",
            Self::MetadataStamps => "metadata_stamps",
        }
    }

    /// The name of the default partition, `<table>_default`.
    pub fn default_partition(self) -> String {
        format!("{}_default", self.name())
    }

    /// The name of the partition of `month`, `<table>_pYYYYMM`.
    pub fn partition_name(self, month: Month) -> String {
        format!("{}_p{:04}{:02}", self.name(), month.year(), month.month())
    }
}

/// A UTC calendar month; made by [`Month::new`], which refuses what is no
/// month, or by [`Month::of`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    /// Its first day; the invariant every method relies on.
    first: NaiveDate,
}

impl Month {
    /// The first year [`Month::new`] accepts: UUIDv7 time starts in 1970.
    pub const MIN_YEAR: i32 = 1970;
    /// The last year [`Month::new`] accepts: partition names hold four digits.
    pub const MAX_YEAR: i32 = 9999;

    /// Month `month` (1 to 12) of `year` ([`Self::MIN_YEAR`] to
    /// [`Self::MAX_YEAR`]); anything else is [`Error::InvalidValue`] naming
    /// the field, never a panic.
    pub fn new(year: i32, month: u32) -> Result<Self> {
        if !(Self::MIN_YEAR..=Self::MAX_YEAR).contains(&year) {
            return Err(Error::invalid(
                "month year",
                format!("{year} is outside {}..={}", Self::MIN_YEAR, Self::MAX_YEAR),
            ));
        }
        let first = NaiveDate::from_ymd_opt(year, month, 1)
            .ok_or_else(|| Error::invalid("month", format!("{month} is outside 1..=12")))?;
        Ok(Self { first })
    }

    /// The UTC month `at` falls in.
    pub fn of(at: DateTime<Utc>) -> Self {
        let day = at.date_naive();
        Self {
            first: day - Days::new(u64::from(day.day0())),
        }
    }

    /// The year, e.g. 2026.
    pub fn year(self) -> i32 {
        self.first.year()
    }

    /// The month of the year, 1 to 12.
    pub fn month(self) -> u32 {
        self.first.month()
    }

    /// Its first instant.
    pub fn start(self) -> DateTime<Utc> {
        self.first.and_time(NaiveTime::MIN).and_utc()
    }

    /// The month after it (the last month chrono can represent is its own
    /// successor).
    pub fn next(self) -> Self {
        self.first
            .checked_add_months(Months::new(1))
            .map_or(self, |first| Self { first })
    }

    /// The first instant after it.
    pub fn end(self) -> DateTime<Utc> {
        self.next().start()
    }

    /// The months from `self` to `last`, both included.
    pub fn through(self, last: Self) -> impl Iterator<Item = Self> {
        std::iter::successors(Some(self), move |month| {
            (*month < last).then(|| month.next())
        })
    }
}

impl Serialize for Month {
    /// As `{"year": 2026, "month": 11}`.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> SerResult<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut month = serializer.serialize_struct("Month", 2)?;
        month.serialize_field("year", &self.year())?;
        month.serialize_field("month", &self.month())?;
        month.end()
    }
}

/// The smallest UUID of the UUIDv7 ids made at `at` or later: `at`'s Unix
/// milliseconds in the first 48 bits, the rest zero.
pub fn uuid_v7_bound(at: DateTime<Utc>) -> Uuid {
    let millis = u128::try_from(at.timestamp_millis().max(0)).unwrap_or(0);
    Uuid::from_u128((millis & 0xFFFF_FFFF_FFFF) << 80)
}

/// The time in the first 48 bits of `id` (for a UUIDv7, when it was made).
pub fn uuid_v7_time(id: Uuid) -> DateTime<Utc> {
    let millis = (id.as_u128() >> 80) as i64;
    DateTime::from_timestamp_millis(millis).expect("48-bit milliseconds are a valid time")
}

/// The id range of a month partition as times: first instant, first instant
/// after; `None` for MINVALUE / MAXVALUE.
pub(crate) type TimeRange = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// One partition as the catalog shows it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Partition {
    /// Its table name.
    pub name: String,
    /// `None` for the default partition, else its id range as times.
    pub range: Option<TimeRange>,
    /// The planner's row estimate; negative when never analysed.
    pub reltuples: f64,
}

impl Partition {
    /// Whether every id it can hold is older than `cutoff`.
    pub fn wholly_before(&self, cutoff: DateTime<Utc>) -> bool {
        matches!(self.range, Some((_, Some(upper))) if upper <= cutoff)
    }
}

#[derive(QueryableByName)]
struct PartitionRow {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    bound: String,
    #[diesel(sql_type = Double)]
    reltuples: f64,
}

/// The partitions of `table`, in name order.
pub(crate) async fn list(
    conn: &mut AsyncPgConnection,
    table: PartitionedTable,
) -> Result<Vec<Partition>> {
    let rows: Vec<PartitionRow> = diesel::sql_query(
        "SELECT c.relname::text AS name, pg_get_expr(c.relpartbound, c.oid) AS bound, \
                c.reltuples::float8 AS reltuples \
         FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
         WHERE i.inhparent = $1::text::regclass ORDER BY 1",
    )
    .bind::<Text, _>(table.name())
    .load(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| Partition {
            range: parse_bound(&row.bound),
            name: row.name,
            reltuples: row.reltuples,
        })
        .collect())
}

/// The range of `FOR VALUES FROM ('…') TO ('…')` as times (`None` for
/// MINVALUE or MAXVALUE); `None` for `DEFAULT`.
fn parse_bound(bound: &str) -> Option<TimeRange> {
    let rest = bound.strip_prefix("FOR VALUES FROM (")?;
    let (from, to) = rest.split_once(") TO (")?;
    let to = to.strip_suffix(')')?;
    let time = |value: &str| {
        Uuid::parse_str(value.trim().trim_matches('\''))
            .ok()
            .map(uuid_v7_time)
    };
    Some((time(from), time(to)))
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Rows of `partition`: exact below `EXACT_BELOW` estimated rows, else the
/// planner's estimate (counting a month of a busy table would take minutes).
pub(crate) async fn rows(
    conn: &mut AsyncPgConnection,
    partition: &Partition,
) -> Result<(i64, bool)> {
    const EXACT_BELOW: f64 = 1_000_000.0;
    if partition.reltuples >= EXACT_BELOW {
        return Ok((partition.reltuples as i64, true));
    }
    let count: Count =
        diesel::sql_query(format!("SELECT count(*) AS n FROM \"{}\"", partition.name))
            .load(conn)
            .await?
            .remove(0);
    Ok((count.n, false))
}

/// Rows of the default partition of `table` whose id falls in `month`.
pub(crate) async fn default_rows_in(
    conn: &mut AsyncPgConnection,
    table: PartitionedTable,
    month: Month,
) -> Result<i64> {
    let count: Count = diesel::sql_query(format!(
        "SELECT count(*) AS n FROM \"{}\" WHERE id >= $1 AND id < $2",
        table.default_partition()
    ))
    .bind::<diesel::sql_types::Uuid, _>(uuid_v7_bound(month.start()))
    .bind::<diesel::sql_types::Uuid, _>(uuid_v7_bound(month.end()))
    .load(conn)
    .await?
    .remove(0);
    Ok(count.n)
}

/// Creates the partition of `month`, moving into it the rows of the default
/// partition that belong there; how many moved. One transaction.
///
/// The table is made on its own and then attached, which locks the parent
/// only in SHARE UPDATE EXCLUSIVE mode (reads and writes go on); the default
/// partition is locked exclusively while PostgreSQL checks that it holds no
/// row of the new month. `lock_timeout` bounds every wait for a lock.
pub(crate) async fn create(
    conn: &mut AsyncPgConnection,
    table: PartitionedTable,
    month: Month,
    has_default: bool,
    lock_timeout: std::time::Duration,
) -> Result<i64> {
    let parent = table.name();
    let name = table.partition_name(month);
    let (from, to) = (uuid_v7_bound(month.start()), uuid_v7_bound(month.end()));
    let moved = if has_default {
        default_rows_in(conn, table, month).await?
    } else {
        0
    };
    let mut sql = format!(
        "SELECT set_config('lock_timeout', '{}ms', true); \
         CREATE TABLE \"{name}\" (LIKE \"{parent}\" INCLUDING DEFAULTS INCLUDING CONSTRAINTS); ",
        lock_timeout.as_millis()
    );
    if moved > 0 {
        sql.push_str(&format!(
            "WITH moved AS (DELETE FROM \"{default}\" WHERE id >= '{from}' AND id < '{to}' RETURNING *) \
             INSERT INTO \"{name}\" SELECT * FROM moved; ",
            default = table.default_partition()
        ));
    }
    sql.push_str(&format!(
        "ALTER TABLE \"{parent}\" ATTACH PARTITION \"{name}\" FOR VALUES FROM ('{from}') TO ('{to}')"
    ));
    // One query string: PostgreSQL runs it as one implicit transaction.
    conn.batch_execute(&sql).await?;
    Ok(moved)
}

/// Drops `partition`, or detaches it (then it stays as a table of its own,
/// for archiving) when `detach`. One transaction, bounded by `lock_timeout`.
pub(crate) async fn remove(
    conn: &mut AsyncPgConnection,
    table: PartitionedTable,
    partition: &Partition,
    detach: bool,
    lock_timeout: std::time::Duration,
) -> Result<()> {
    let statement = if detach {
        format!(
            "ALTER TABLE \"{}\" DETACH PARTITION \"{}\"",
            table.name(),
            partition.name
        )
    } else {
        format!("DROP TABLE \"{}\"", partition.name)
    };
    conn.batch_execute(&format!(
        "SELECT set_config('lock_timeout', '{}ms', true); {statement}",
        lock_timeout.as_millis()
    ))
    .await?;
    Ok(())
}

/// Deletes up to `batch` rows of the default partition of `table` recorded
/// before `cutoff`, oldest first; how many.
pub(crate) async fn delete_old_default_rows(
    conn: &mut AsyncPgConnection,
    table: PartitionedTable,
    cutoff: DateTime<Utc>,
    batch: i64,
) -> Result<usize> {
    let default = table.default_partition();
    Ok(diesel::sql_query(format!(
        "DELETE FROM \"{default}\" WHERE created_at < $1 AND id = ANY(ARRAY( \
             SELECT id FROM \"{default}\" WHERE created_at < $1 ORDER BY created_at LIMIT $2))"
    ))
    .bind::<Timestamptz, _>(cutoff)
    .bind::<BigInt, _>(batch)
    .execute(conn)
    .await?)
}

/// Rows of the default partition of `table`, and how many of them were
/// recorded before `cutoff`.
pub(crate) async fn default_rows(
    conn: &mut AsyncPgConnection,
    table: PartitionedTable,
    cutoff: DateTime<Utc>,
) -> Result<(i64, i64)> {
    #[derive(QueryableByName)]
    struct Counts {
        #[diesel(sql_type = BigInt)]
        all: i64,
        #[diesel(sql_type = BigInt)]
        old: i64,
    }
    let counts: Counts = diesel::sql_query(format!(
        "SELECT count(*) AS all, count(*) FILTER (WHERE created_at < $1) AS old FROM \"{}\"",
        table.default_partition()
    ))
    .bind::<Timestamptz, _>(cutoff)
    .load(conn)
    .await?
    .remove(0);
    Ok((counts.all, counts.old))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_month_bound_is_the_uuid_of_its_first_millisecond() {
        let month = Month::new(2026, 11).unwrap();
        assert_eq!(month.start().to_rfc3339(), "2026-11-01T00:00:00+00:00");
        assert_eq!(month.end().to_rfc3339(), "2026-12-01T00:00:00+00:00");
        let bound = uuid_v7_bound(month.start());
        assert_eq!(uuid_v7_time(bound), month.start());
        assert_eq!(&bound.to_string()[19..], "0000-000000000000");
        let made_then = Uuid::new_v7(uuid::Timestamp::from_unix(
            uuid::NoContext,
            month.start().timestamp() as u64 + 3600,
            0,
        ));
        assert!(bound <= made_then && made_then < uuid_v7_bound(month.end()));
    }

    #[test]
    fn months_run_across_years() {
        let dec = Month::new(2025, 12).unwrap();
        assert_eq!(dec.next(), Month::new(2026, 1).unwrap());
        let months: Vec<_> = dec.through(Month::new(2026, 2).unwrap()).collect();
        assert_eq!(months.len(), 3);
        assert_eq!(
            PartitionedTable::FsmTransitions.partition_name(dec),
            "fsm_transitions_p202512"
        );
    }

    #[test]
    fn a_month_that_is_none_is_refused_not_a_panic() {
        for (year, month, field) in [
            (2026, 13, "month"),
            (2026, 0, "month"),
            (1969, 12, "month year"),
            (10_000, 1, "month year"),
        ] {
            let err = Month::new(year, month).unwrap_err();
            assert!(
                matches!(&err, Error::InvalidValue { field: f, .. } if f == field),
                "{year}-{month}: {err:?}"
            );
            assert!(!err.is_retryable());
        }
        let last = Month::new(Month::MAX_YEAR, 12).unwrap();
        assert_eq!(last.end().to_rfc3339(), "+10000-01-01T00:00:00+00:00");
    }

    #[test]
    fn of_gives_the_month_an_instant_falls_in() {
        let at = DateTime::parse_from_rfc3339("2024-02-29T23:59:59.999Z")
            .unwrap()
            .to_utc();
        let month = Month::of(at);
        assert_eq!((month.year(), month.month()), (2024, 2));
        assert_eq!(month.start().to_rfc3339(), "2024-02-01T00:00:00+00:00");
        assert_eq!(
            serde_json::to_string(&month).unwrap(),
            r#"{"year":2024,"month":2}"#
        );
    }

    #[test]
    fn bounds_parse_from_the_catalog_text() {
        let (from, to) = parse_bound(
            "FOR VALUES FROM ('019a3e00-0000-0000-0000-000000000000') TO ('019ad600-0000-0000-0000-000000000000')",
        )
        .unwrap();
        assert!(from.unwrap() < to.unwrap());
        assert_eq!(parse_bound("DEFAULT"), None);
        assert_eq!(
            parse_bound("FOR VALUES FROM (MINVALUE) TO ('019ad600-0000-0000-0000-000000000000')")
                .unwrap()
                .0,
            None
        );
    }
}
