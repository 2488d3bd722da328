//! Per-record outputs: a converted record goes to one [`RecordWriter`] per receiver and format,
//! chosen by the receiver's [`OutputFormat`]s, never by the code that routes the records:
//! the standard CSV ([`StdCsvWriter`]), MHLW 特定健診 XML archives (`kenshin-mhlw`'s
//! `ArchiveWriter`, one per 保険者番号) and FHIR document Bundles after the JP 健診結果報告書 IG
//! (`kenshin-fhir`, NDJSON). A new format is a type that implements the trait plus a variant
//! here.

use std::io::Write;

use kenshin_profile::{CheckupRecord, HeaderField, Profile};
use time::OffsetDateTime;

use crate::stdcsv::{OutputEncoding, StdCsvWriter, WriteError};

/// Where converted records are written, one at a time; memory must not grow with their number.
pub trait RecordWriter<W: Write> {
    /// Writes one record. [`WriteError::Refused`]: this format cannot hold the record (it
    /// wrote nothing, and takes the next one).
    fn write_record(&mut self, record: &CheckupRecord) -> Result<(), WriteError>;
    /// How many records were written.
    fn records_written(&self) -> u64;
    /// Completes the output (trailers, flushing) and gives the sink back.
    fn finish(self: Box<Self>) -> Result<W, WriteError>;
    /// The name the format's own rules give the file (an MHLW archive's), if any.
    fn file_name(&self) -> Option<String> {
        None
    }
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

/// An MHLW 特定健診 archive (XSD-valid CDA documents, index, summary), streamed.
struct MhlwXml<'p, W: Write> {
    inner: kenshin_mhlw::ArchiveWriter<'p, W>,
    name: String,
}

impl<W: Write> RecordWriter<W> for MhlwXml<'_, W> {
    fn write_record(&mut self, record: &CheckupRecord) -> Result<(), WriteError> {
        self.inner.write(record).map_err(|err| match err {
            kenshin_mhlw::MhlwError::InvalidRecord { field, message, .. } => WriteError::Refused(
                format!("特定健診 XML にできません（{field}: {message}）/ cannot be written as MHLW XML"),
            ),
            kenshin_mhlw::MhlwError::TooManyRecords { max } => WriteError::Refused(format!(
                "1 つのアーカイブには {max} 件までしか入りません / at most {max} records per archive"
            )),
            other => WriteError::Io(std::io::Error::other(other.to_string())),
        })
    }

    fn records_written(&self) -> u64 {
        self.inner.records_written()
    }

    fn finish(self: Box<Self>) -> Result<W, WriteError> {
        self.inner
            .finish()
            .map(|(sink, _)| sink)
            .map_err(|e| WriteError::Io(std::io::Error::other(e.to_string())))
    }

    fn file_name(&self) -> Option<String> {
        Some(self.name.clone())
    }
}

/// FHIR document Bundles, one per line.
struct Fhir<W: Write>(kenshin_fhir::NdjsonWriter<W>);

impl<W: Write> RecordWriter<W> for Fhir<W> {
    fn write_record(&mut self, record: &CheckupRecord) -> Result<(), WriteError> {
        self.0.write(record).map_err(|err| match err {
            kenshin_fhir::FhirError::Io(io) => WriteError::Io(io),
            kenshin_fhir::FhirError::Poisoned => WriteError::Io(std::io::Error::other(err.to_string())),
            other => WriteError::Refused(format!(
                "FHIR の健診結果報告書にできません（{other}）/ cannot be written as a FHIR checkup report"
            )),
        })
    }

    fn records_written(&self) -> u64 {
        self.0.records_written()
    }

    fn finish(self: Box<Self>) -> Result<W, WriteError> {
        self.0
            .finish()
            .map_err(|e| WriteError::Io(std::io::Error::other(e.to_string())))
    }
}

/// Who writes an output, to whom and when: what the XML archive and the FHIR documents name.
#[derive(Clone, Debug)]
pub struct OutputContext {
    /// The sending 健診機関's 10-digit number (from the records' 健診機関番号).
    pub institution_number: String,
    pub institution_name: String,
    /// The 保険者番号 of every record of the output.
    pub insurer_number: String,
    pub created: OffsetDateTime,
    /// Distinguishes the documents of one run from another's over the same records.
    pub batch_id: String,
    /// The MHLW archive's 同日作成回数 (1–9): how many archives the sender made for this
    /// insurer on the creation day, this one included; 1 unless the caller knows better.
    pub daily_sequence: u8,
}

impl OutputContext {
    /// A context for the records of `first`'s 保険者番号 and 健診機関.
    pub fn for_record(
        first: &CheckupRecord,
        institution_name: &str,
        created: OffsetDateTime,
        batch_id: &str,
    ) -> OutputContext {
        let get = |field| first.header.get(field).unwrap_or_default().to_owned();
        OutputContext {
            institution_number: get(HeaderField::InstitutionNumber),
            institution_name: institution_name.to_owned(),
            insurer_number: get(HeaderField::InsurerNumber),
            created,
            batch_id: batch_id.to_owned(),
            daily_sequence: 1,
        }
    }
}

/// The per-record output formats a receiver can be given.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum OutputFormat {
    /// The standard CSV (`docs/STD_CSV.md`): one row per examinee, UTF-8 with a BOM.
    #[default]
    StdCsv,
    /// MHLW 特定健診 XML: one submission archive per 保険者番号 (`docs/MHLW_XML.md`).
    MhlwXml,
    /// FHIR R4 document Bundles after the JP 健診結果報告書 IG, one per examinee, as NDJSON.
    Fhir,
}

impl OutputFormat {
    /// Every format, in the order they are offered.
    pub const ALL: [OutputFormat; 3] = [
        OutputFormat::StdCsv,
        OutputFormat::MhlwXml,
        OutputFormat::Fhir,
    ];

    /// The stable name (configuration, API, CLI).
    pub fn code(self) -> &'static str {
        match self {
            OutputFormat::StdCsv => "std-csv",
            OutputFormat::MhlwXml => "mhlw-xml",
            OutputFormat::Fhir => "fhir",
        }
    }

    /// What an output file's name ends with.
    pub fn file_suffix(self) -> &'static str {
        match self {
            OutputFormat::StdCsv => ".std.csv",
            OutputFormat::MhlwXml => ".zip",
            OutputFormat::Fhir => ".fhir.ndjson",
        }
    }

    /// Whether the format may refuse a record that passed validation (a record the standard
    /// CSV holds always): such formats are written first, so a refused record is returned to
    /// the sender before any other format delivered it.
    pub fn may_refuse(self) -> bool {
        !matches!(self, OutputFormat::StdCsv)
    }

    /// A writer of the standard CSV into `sink` (held and returned batches are always in it).
    pub fn std_csv<'p, W: Write + 'p>(
        profile: &'p Profile,
        sink: W,
    ) -> Result<Box<dyn RecordWriter<W> + 'p>, WriteError> {
        Ok(Box::new(StdCsvWriter::new(
            profile,
            sink,
            OutputEncoding::Utf8Bom,
        )?))
    }

    /// A writer of this format into `sink`.
    pub fn writer<'p, W: Write + 'p>(
        self,
        profile: &'p Profile,
        sink: W,
        ctx: &OutputContext,
    ) -> Result<Box<dyn RecordWriter<W> + 'p>, WriteError> {
        match self {
            OutputFormat::StdCsv => OutputFormat::std_csv(profile, sink),
            OutputFormat::MhlwXml => {
                let date = ctx.created.to_offset(time::macros::offset!(+9)).date();
                let mut meta = kenshin_mhlw::ArchiveMeta::new(
                    ctx.institution_number.clone(),
                    ctx.institution_name.clone(),
                    kenshin_mhlw::Party::insurer(ctx.insurer_number.clone()),
                    date,
                );
                meta.daily_sequence = ctx.daily_sequence.clamp(1, 9);
                let name = meta.archive_file_name();
                let inner = kenshin_mhlw::ArchiveWriter::new(sink, profile, meta).map_err(|e| {
                    WriteError::Setting(format!(
                        "特定健診 XML のアーカイブを始められません（健診機関番号 10 桁と保険者番号 8 桁が必要です）/ cannot start the MHLW archive: {e}"
                    ))
                })?;
                Ok(Box::new(MhlwXml { inner, name }))
            }
            OutputFormat::Fhir => {
                let report = kenshin_fhir::ReportingContext::new(
                    ctx.institution_number.clone(),
                    ctx.institution_name.clone(),
                    ctx.created,
                )
                .map_err(|e| {
                    WriteError::Setting(format!(
                        "FHIR の報告書を始められません / cannot start the FHIR documents: {e}"
                    ))
                })?
                .with_batch_id(ctx.batch_id.clone());
                // The 17-digit codes of laboratory items (analyte groups 1–8) are JLAC10 codes
                // themselves — the MHLW item table heads that column "JLAC10コード" —, so their
                // Observations carry the JLAC10 coding too; physical measurements and questions
                // (9…) have the 特定健診 code only.
                let report = profile
                    .items
                    .iter()
                    .filter(|item| is_jlac10_laboratory_code(&item.code))
                    .fold(report, |report, item| {
                        report.with_jlac10(item.code.clone(), item.code.clone())
                    });
                Ok(Box::new(Fhir(kenshin_fhir::NdjsonWriter::new(
                    profile, report, sink,
                ))))
            }
        }
    }
}

/// Whether an item code is a JLAC10 17-digit laboratory code (analyte groups 1–8).
fn is_jlac10_laboratory_code(code: &str) -> bool {
    code.len() == 17 && code.is_ascii() && matches!(code.as_bytes()[0], b'1'..=b'8')
}

impl std::str::FromStr for OutputFormat {
    type Err = String;

    fn from_str(text: &str) -> Result<OutputFormat, String> {
        OutputFormat::ALL
            .into_iter()
            .find(|f| f.code() == text)
            .ok_or_else(|| {
                format!("unknown output format {text:?} (known: std-csv, mhlw-xml, fhir)")
            })
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
        let mut writer = OutputFormat::std_csv(profile, Vec::new()).unwrap();
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
        assert_eq!(
            "mhlw-xml".parse::<OutputFormat>(),
            Ok(OutputFormat::MhlwXml)
        );
    }
}
