//! The target format, as data.
//!
//! A [`Profile`] lists the items of a checkup format — number, standard name, type (numeric
//! with its format such as `NNN.N`, a code list with standard terms, text, date), unit, byte
//! limit, input range, reference ranges, value-set OID, which programmes use it — so that the
//! licensed 健診標準フォーマット item list can be loaded the same way as the default profile
//! built from the public MHLW 第4期 items, with no code change.
//!
//! Profiles are stored as CSV files that staff can open in a spreadsheet
//! ([`Profile::from_csv_reader`], [`Profile::write_csv`]; the format is described in
//! `docs/PROFILE_FORMAT.md`). The built-in one is [`Profile::default_profile`], generated from
//! the public MHLW tables by [`generate::from_mhlw_tables`]. [`Profile::check`] reports what
//! looks inconsistent in a loaded profile.
//!
//! A [`CheckupRecord`] is one examinee's visit in standard terms: the header fields that
//! identify the person, the insurer and the visit, and item values that keep the institution's
//! original text beside the standardised value.

mod check;
mod file;
pub mod generate;
mod model;
mod record;

pub use check::{ProfileWarning, WarningKind};
pub use file::{profile_columns, DEFAULT_MAX_BYTES, MAX_FILE_BYTES, MAX_LINE_BYTES};
pub use model::{
    CodeTerm, Item, ItemKind, NumberFormat, Profile, ProfileError, Range, ReferenceRanges, Sex,
    XmlDataType, XmlInfo,
};
pub use record::{CheckupRecord, Header, HeaderField, ItemValue, RangeFlag, Value};
