//! Column decoding shared by the aggregates. Times are stored as integer milliseconds since
//! the Unix epoch, UTC: sortable, compact, and free of time-zone text in the database.

use time::OffsetDateTime;

use crate::StoreError;

pub(crate) fn to_ms(at: OffsetDateTime) -> i64 {
    (at.unix_timestamp_nanos() / 1_000_000) as i64
}

pub(crate) fn from_ms(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

pub(crate) fn opt_from_ms(ms: Option<i64>) -> Option<OffsetDateTime> {
    ms.map(from_ms)
}

/// A text column parsed into its type; a value that does not parse is a corrupt row.
pub(crate) fn parse<T: std::str::FromStr>(
    table: &'static str,
    text: String,
) -> Result<T, StoreError>
where
    T::Err: std::fmt::Display,
{
    text.parse().map_err(|e| StoreError::corrupt(table, e))
}
