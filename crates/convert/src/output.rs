//! Per-record outputs: a converted record goes to one [`RecordWriter`] per receiver, chosen by
//! the receiver's [`OutputFormat`], never by the code that routes the records. The standard
//! CSV ([`StdCsvWriter`]) is the first format; a new one is a type that implements the trait
//! plus a variant here.

use std::io::Write;

use kenshin_profile::{CheckupRecord, Profile};

use crate::stdcsv::{OutputEncoding, StdCsvWriter, WriteError};

/// Where converted records are written, one at a time; memory must not grow with their number.
pub trait RecordWriter<W: Write> {
    /// Writes one record.
    fn write_record(&mut self, record: &CheckupRecord) -> Result<(), WriteError>;
    /// How many records were written.
    fn records_written(&self) -> u64;
    /// Completes the output (trailers, flushing) and gives the sink back.
    fn finish(self: Box<Self>) -> Result<W, WriteError>;
}

impl<W: Write> RecordWriter<W> for StdCsvWriter<'_, W> {
    fn write_record(&mut self, record: &CheckupRecord) -> Result<(), WriteError> {
        self.write(record)
    }

    fn records_written(&self) -> u64 {
        StdCsvWriter::records_written(self)
    }

    fn finish(self: Box<Self>) -> Result<W, WriteError> {
        StdCsvWriter::finish(*self)
    }
}

/// The per-record output formats a receiver can be given.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OutputFormat {
    /// The standard CSV (`docs/STD_CSV.md`): one row per examinee, UTF-8 with a BOM.
    #[default]
    StdCsv,
}

impl OutputFormat {
    /// Every format, in the order they are offered.
    pub const ALL: [OutputFormat; 1] = [OutputFormat::StdCsv];

    /// The stable name (configuration, API, CLI).
    pub fn code(self) -> &'static str {
        match self {
            OutputFormat::StdCsv => "std-csv",
        }
    }

    /// What an output file's name ends with.
    pub fn file_suffix(self) -> &'static str {
        match self {
            OutputFormat::StdCsv => ".std.csv",
        }
    }

    /// A writer of this format into `sink`.
    pub fn writer<'p, W: Write + 'p>(
        self,
        profile: &'p Profile,
        sink: W,
    ) -> Result<Box<dyn RecordWriter<W> + 'p>, WriteError> {
        match self {
            OutputFormat::StdCsv => Ok(Box::new(StdCsvWriter::new(
                profile,
                sink,
                OutputEncoding::Utf8Bom,
            )?)),
        }
    }
}

impl std::str::FromStr for OutputFormat {
    type Err = String;

    fn from_str(text: &str) -> Result<OutputFormat, String> {
        OutputFormat::ALL
            .into_iter()
            .find(|f| f.code() == text)
            .ok_or_else(|| format!("unknown output format {text:?} (known: std-csv)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_format_writes_what_its_writer_writes_and_gives_the_sink_back() {
        let profile = Profile::default_profile();
        let mut record = CheckupRecord::default();
        record.header.set(
            kenshin_profile::HeaderField::InsurerNumber,
            "06130012".into(),
        );
        let mut writer = OutputFormat::StdCsv.writer(profile, Vec::new()).unwrap();
        assert_eq!(writer.records_written(), 0);
        writer.write_record(&record).unwrap();
        assert_eq!(writer.records_written(), 1);
        let bytes = writer.finish().unwrap();
        assert!(bytes.starts_with("\u{FEFF}".as_bytes()), "UTF-8 with a BOM");
        assert!(String::from_utf8_lossy(&bytes).contains("06130012"));
        let mut direct = StdCsvWriter::new(profile, Vec::new(), OutputEncoding::Utf8Bom).unwrap();
        direct.write(&record).unwrap();
        assert_eq!(
            bytes,
            direct.finish().unwrap(),
            "the trait adds nothing to the format"
        );
    }

    #[test]
    fn formats_round_trip_through_their_codes() {
        for format in OutputFormat::ALL {
            assert_eq!(format.code().parse::<OutputFormat>(), Ok(format));
        }
        assert!("xml".parse::<OutputFormat>().is_err());
    }
}
