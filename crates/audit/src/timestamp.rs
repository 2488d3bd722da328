//! The one timestamp format every export uses: RFC 3339 in UTC with exactly three fractional
//! digits and a `Z`, e.g. `2025-04-01T09:30:00.250Z`. That single form is at the same time a
//! FHIR `instant`, an XML Schema `xs:dateTime` (for ATNA `EventDateTime`) and sorts
//! lexicographically in spreadsheets.

use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

/// Earliest representable value. FHIR `instant` and XML Schema 1.0 have no year 0000 and
/// need exactly four year digits, so the range is 0001..=9999.
const MIN: &str = "0001-01-01T00:00:00.000Z";
const MAX: &str = "9999-12-31T23:59:59.999Z";

/// Formats `at` in UTC as `YYYY-MM-DDThh:mm:ss.sssZ`.
///
/// Sub-millisecond digits are truncated (the log's precision is the millisecond). Instants
/// outside years 0001..=9999 cannot be written in that form; they are clamped to the nearest
/// end of the range rather than failing the whole export, because the service stamps records
/// with the current time and such values can only come from corrupted input.
pub fn format_timestamp(at: OffsetDateTime) -> String {
    let Some(utc) = at.checked_to_offset(UtcOffset::UTC) else {
        // Conversion only fails at the edges of the `time` crate's own range.
        return if at.year() < 0 { MIN } else { MAX }.to_owned();
    };
    if utc.year() < 1 {
        return MIN.to_owned();
    }
    if utc.year() > 9999 {
        return MAX.to_owned();
    }
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        utc.year(),
        u8::from(utc.month()),
        utc.day(),
        utc.hour(),
        utc.minute(),
        utc.second(),
        utc.millisecond()
    )
}

/// Parses any RFC 3339 timestamp (any offset, any number of fractional digits) and returns
/// it in UTC.
pub fn parse_timestamp(text: &str) -> Result<OffsetDateTime, time::error::Parse> {
    let parsed = OffsetDateTime::parse(text, &Rfc3339)?;
    // An offset that pushes the value out of range is as invalid as a malformed string;
    // fall back to the parsed value, which still denotes the same instant.
    Ok(parsed.checked_to_offset(UtcOffset::UTC).unwrap_or(parsed))
}

/// Serde adapter for [`AccessRecord::at`](crate::AccessRecord::at).
pub(crate) mod serde_millis {
    use serde::{de::Error as _, Deserialize, Deserializer, Serializer};
    use std::borrow::Cow;
    use time::OffsetDateTime;

    pub fn serialize<S: Serializer>(at: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_timestamp(*at))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<OffsetDateTime, D::Error> {
        let text = Cow::<'de, str>::deserialize(d)?;
        super::parse_timestamp(&text).map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn formats_utc_with_milliseconds() {
        assert_eq!(
            format_timestamp(datetime!(2025-04-01 09:30:00.25 UTC)),
            "2025-04-01T09:30:00.250Z"
        );
        assert_eq!(
            format_timestamp(datetime!(2025-04-01 00:00:00 UTC)),
            "2025-04-01T00:00:00.000Z"
        );
    }

    #[test]
    fn converts_offsets_and_truncates_below_milliseconds() {
        assert_eq!(
            format_timestamp(datetime!(2025-04-01 09:00:00.123999 +09:00)),
            "2025-04-01T00:00:00.123Z"
        );
    }

    #[test]
    fn clamps_out_of_range_years() {
        assert_eq!(format_timestamp(datetime!(-0001-06-01 00:00 UTC)), MIN);
        assert_eq!(format_timestamp(datetime!(0000-12-31 23:59 UTC)), MIN);
        assert_eq!(format_timestamp(datetime!(9999-12-31 23:00 -05:00)), MAX);
        assert_eq!(format_timestamp(datetime!(0001-01-01 00:00 UTC)), MIN);
    }

    #[test]
    fn parses_back() {
        let at = datetime!(2025-04-01 09:30:00.25 UTC);
        assert_eq!(parse_timestamp(&format_timestamp(at)).unwrap(), at);
        assert_eq!(parse_timestamp("2025-04-01T18:30:00.25+09:00").unwrap(), at);
        assert!(parse_timestamp("2025-04-01").is_err());
    }
}
