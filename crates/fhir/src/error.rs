//! The one error type of the crate.

use kenshin_profile::HeaderField;

/// Why a record could not be written as a FHIR Bundle, or the output failed.
///
/// Messages name the field or item but never carry the record's values (they may be logged).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FhirError {
    /// The [`ReportingContext`](crate::ReportingContext) cannot be used.
    #[error("reporting context: {0}")]
    Context(String),
    /// A header field the IG requires is missing from the record.
    #[error("header field {field} is missing")]
    MissingHeader { field: HeaderField },
    /// A header field is present but not in the form the IG needs.
    #[error("header field {field} is not valid: {reason}")]
    InvalidHeader {
        field: HeaderField,
        reason: &'static str,
    },
    /// The record has an item the profile does not know.
    #[error("item {code} is not in profile {profile}")]
    UnknownItem { code: String, profile: String },
    /// The record has the same item twice.
    #[error("item {code} appears twice in the record")]
    DuplicateItem { code: String },
    /// An item's value does not fit the item (a code for a numeric item, a malformed number).
    #[error("item {code}: {reason}")]
    InvalidValue { code: String, reason: String },
    /// Writing the output failed.
    #[error("writing the NDJSON output: {0}")]
    Io(#[from] std::io::Error),
    /// An earlier write failed part-way through a line: the output is incomplete, so the
    /// writer takes no more records.
    #[error("an earlier write failed part-way; the NDJSON output takes no more records")]
    Poisoned,
}
