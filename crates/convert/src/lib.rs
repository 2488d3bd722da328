//! Conversion of institution exports into standardised checkup records.
//!
//! - [`delimited`]: streaming reader of delimited exports (UTF-8 or Shift_JIS/CP932, CSV or
//!   TSV, header or not, quoted newlines), with precise errors and bounded memory.
//! - [`normalize`]: widths, numbers, 西暦/和暦 dates, sex codes.
//! - [`map`]: map files (変換テーブル), the institution's rules.
//! - [`record`]: one row → one standard record by a map; [`validate`]: checks across items.
//! - [`stdcsv`]: the standard CSV writer; [`run`]: a whole conversion with its report.

pub mod delimited;
pub mod finding;
pub mod map;
pub mod normalize;
pub mod output;
pub mod record;
pub mod returned;
pub mod run;
pub mod stdcsv;
pub mod suggest;
pub mod validate;
pub mod xlsx;

pub use finding::{Finding, Rule, Severity};
pub use map::MapFile;
pub use output::{OutputFormat, RecordWriter};
pub use run::{
    convert_delimited, convert_records, ConvertError, Report, Routed, Sink, CONVERTER_VERSION,
};
pub use stdcsv::{OutputEncoding, StdCsvWriter};
