//! A whole conversion: read an export, build records by the map, validate, write, account.

use std::collections::BTreeMap;
use std::io::Read;

use kenshin_profile::{CheckupRecord, HeaderField, Profile};
use serde::{Deserialize, Serialize};

use crate::delimited::{
    DelimitedOptions, DelimitedReader, HeaderMode, ReadError, SourceEncoding, SourceRow,
};
use crate::finding::{Finding, Rule, Severity};
use crate::map::MapFile;
use crate::record::{BindError, RecordBuilder};

/// Version of the converter, recorded with every output (真正性).
pub const CONVERTER_VERSION: &str = concat!("kenshin-convert ", env!("CARGO_PKG_VERSION"));

/// Findings kept in a report in full; beyond this only counts are kept, so a broken export
/// of a million rows does not make a million-line report.
pub const MAX_FINDINGS_KEPT: usize = 1000;

#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    /// The input cannot be read at all (encoding, structure): nothing was converted.
    #[error("変換できないファイルです / unusable input: {0}")]
    Read(#[from] ReadError),
    #[error("変換表がこのファイルに合いません / the map does not fit this export: {0}")]
    Bind(#[from] BindError),
    #[error("{0}")]
    Setting(String),
    /// An archive or standard CSV that cannot be read as a whole.
    #[error("変換できないファイルです / unusable input: {0}")]
    Input(String),
    /// Writing an output failed.
    #[error("output: {0}")]
    Output(String),
}

/// Counts of one (item, rule, severity).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingCount {
    pub item: Option<String>,
    pub item_name: Option<String>,
    pub rule: Rule,
    pub severity: Severity,
    pub count: u64,
}

/// What a conversion did; goes to the sender only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub converter: String,
    /// SHA-256 of the input as received, when the caller knows it (真正性: which file the
    /// outputs were made from).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_sha256: Option<String>,
    pub profile: String,
    pub map: Option<String>,
    pub input_encoding: String,
    pub input_delimiter: String,
    pub records_in: u64,
    pub records_out: u64,
    pub records_rejected: u64,
    /// Delivered records per 保険者番号.
    pub records_by_insurer: BTreeMap<String, u64>,
    pub errors: u64,
    pub warnings: u64,
    pub finding_counts: Vec<FindingCount>,
    /// The first findings in full (see [`MAX_FINDINGS_KEPT`]).
    pub findings: Vec<Finding>,
    /// Source record numbers of the rejected records (the sender's error list).
    pub rejected_records: Vec<u64>,
    /// Values of delivered or held records that could not be taken: left empty in the
    /// standard value, the original carried beside it (each has an error finding).
    #[serde(default)]
    pub values_left_empty: u64,
    /// Records whose 保険者番号 no receiver takes: held back and listed for the sender.
    #[serde(default)]
    pub records_unrouted: u64,
    #[serde(default)]
    pub unrouted_records: Vec<u64>,
    /// Held (unrouted) records per 保険者番号.
    #[serde(default)]
    pub held_by_insurer: BTreeMap<String, u64>,
    /// What the sender should know about how the input was read (e.g. an MHLW archive of
    /// results only, sent without its summary), in Japanese.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Why nothing could be converted, when the input was unusable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unusable: Option<String>,
}

/// Where a conversion's records go: each record built is delivered or found unrouted by
/// [`Sink::record`]; what cannot become a record is handed to the sink too, so that it can be
/// returned to the sender instead of disappearing with the input.
pub trait Sink {
    /// A record built and checked.
    fn record(&mut self, record: &CheckupRecord) -> Result<Routed, String>;

    /// A row of a delimited export that is rejected (it cannot be identified or routed):
    /// the row as read, the export's header if it has one, and the findings that reject it.
    fn rejected_row(
        &mut self,
        _header: Option<&[String]>,
        _row: &SourceRow,
        _reasons: &[Finding],
    ) -> Result<(), String> {
        Ok(())
    }

    /// A standard record (from an MHLW archive) that is rejected, with the findings.
    fn rejected_record(
        &mut self,
        _record: &CheckupRecord,
        _reasons: &[Finding],
    ) -> Result<(), String> {
        Ok(())
    }

    /// Every finding, as it is made: the report keeps the first [`MAX_FINDINGS_KEPT`] in full
    /// and counts the rest; a sink that keeps them all gives the sender the complete list.
    fn finding(&mut self, _finding: &Finding) -> Result<(), String> {
        Ok(())
    }
}

/// A finding to the sink, then into the report's counts.
fn note(
    tally: &mut Tally,
    report: &mut Report,
    sink: &mut impl Sink,
    finding: Finding,
) -> Result<(), ConvertError> {
    sink.finding(&finding).map_err(ConvertError::Output)?;
    tally.add(report, finding);
    Ok(())
}

/// A closure is a sink that keeps nothing of rejected rows (they are in the report).
impl<F: FnMut(&CheckupRecord) -> Result<Routed, String>> Sink for F {
    fn record(&mut self, record: &CheckupRecord) -> Result<Routed, String> {
        self(record)
    }
}

/// What a sink did with a record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Routed {
    Delivered,
    /// No receiver takes the record's 保険者番号.
    Unrouted,
    /// A format the receiver chose cannot hold the record (the reason, without values): it
    /// is returned to the sender like a rejected record, and delivered in no format.
    Refused(String),
}

fn refused_finding(number: u64, line: u64, reason: String) -> Finding {
    Finding {
        record: number,
        line,
        column: None,
        item: None,
        item_name: None,
        rule: Rule::OutputFormat,
        severity: Severity::Error,
        message: reason,
        value: None,
    }
}

impl Report {
    /// Every input record ended in exactly one place.
    pub fn reconciles(&self) -> bool {
        self.records_in == self.records_out + self.records_rejected + self.records_unrouted
            && self.records_out == self.records_by_insurer.values().sum::<u64>()
            && self.records_rejected == self.rejected_records.len() as u64
            && self.records_unrouted == self.unrouted_records.len() as u64
            && self.records_unrouted == self.held_by_insurer.values().sum::<u64>()
    }

    /// The report of an input that could not be read at all.
    pub fn unusable(profile: &Profile, map: Option<&MapFile>, error: &ConvertError) -> Report {
        let mut report = Report::empty(profile, map);
        report.unusable = Some(error.to_string());
        report
    }

    fn empty(profile: &Profile, map: Option<&MapFile>) -> Report {
        Report {
            converter: CONVERTER_VERSION.into(),
            input_sha256: None,
            profile: profile.label(),
            map: map.map(MapFile::label),
            input_encoding: String::new(),
            input_delimiter: String::new(),
            records_in: 0,
            records_out: 0,
            records_rejected: 0,
            records_by_insurer: BTreeMap::new(),
            errors: 0,
            warnings: 0,
            finding_counts: Vec::new(),
            findings: Vec::new(),
            rejected_records: Vec::new(),
            values_left_empty: 0,
            records_unrouted: 0,
            unrouted_records: Vec::new(),
            held_by_insurer: BTreeMap::new(),
            notes: Vec::new(),
            unusable: None,
        }
    }

    /// 0 clean, 1 findings (records delivered, some warnings or rejections).
    pub fn exit_code(&self) -> i32 {
        if self.errors == 0 && self.warnings == 0 {
            0
        } else {
            1
        }
    }
}

/// Reader options from a map's settings.
pub fn reader_options(map: &MapFile) -> Result<DelimitedOptions, ConvertError> {
    let mut options = DelimitedOptions::default();
    if let Some(encoding) = map.settings.get("encoding").filter(|e| *e != "auto") {
        options.encoding = Some(encoding.parse::<SourceEncoding>().map_err(|_| {
            ConvertError::Setting(format!("map setting encoding: unknown {encoding:?}"))
        })?);
    }
    if let Some(delimiter) = map.settings.get("delimiter").filter(|d| *d != "auto") {
        options.delimiter = Some(match delimiter.as_str() {
            "comma" | "," => b',',
            "tab" | "\\t" => b'\t',
            "semicolon" | ";" => b';',
            other => {
                return Err(ConvertError::Setting(format!(
                    "map setting delimiter: use comma, tab or semicolon, not {other:?}"
                )))
            }
        });
    }
    if let Some(rows) = map.settings.get("header_rows") {
        options.header_rows = match rows.parse::<usize>() {
            Ok(n @ 1..=5) => n,
            _ => {
                return Err(ConvertError::Setting(format!(
                    "map setting header_rows: 1 to 5, not {rows:?}"
                )))
            }
        };
    }
    if let Some(header) = map.settings.get("header") {
        options.header = match header.as_str() {
            "auto" => HeaderMode::Auto,
            "present" | "yes" | "あり" => HeaderMode::Present,
            "absent" | "no" | "なし" => HeaderMode::Absent,
            other => {
                return Err(ConvertError::Setting(format!(
                    "map setting header: use present, absent or auto, not {other:?}"
                )))
            }
        };
    }
    Ok(options)
}

/// Converts a delimited export. Each delivered record goes to `sink` as soon as it is built
/// (memory stays flat); `progress` gets the bytes read so far.
pub fn convert_delimited<R: Read>(
    input: R,
    profile: &Profile,
    map: &MapFile,
    mut sink: impl Sink,
    mut progress: impl FnMut(u64),
) -> Result<Report, ConvertError> {
    let reader = DelimitedReader::new(input, reader_options(map)?)?;
    let header: Option<Vec<String>> = reader.header().map(<[String]>::to_vec);
    let builder =
        RecordBuilder::bind_rows(profile, map, header.as_deref(), reader.more_header_rows())?;
    let mut report = Report::empty(profile, Some(map));
    report.input_encoding = reader.encoding().to_string();
    report.input_delimiter = match reader.delimiter() {
        b'\t' => "tab".into(),
        b',' => "comma".into(),
        other => (other as char).to_string(),
    };
    let mut tally = Tally::default();
    let mut reader = reader;
    loop {
        let row = match reader.next() {
            None => break,
            Some(row) => row?,
        };
        progress(reader.bytes_read());
        report.records_in += 1;
        let outcome = builder.build(&row);
        if outcome.record.is_none() {
            let reasons: Vec<Finding> = outcome
                .findings
                .iter()
                .filter(|f| f.rejects_record())
                .cloned()
                .collect();
            sink.rejected_row(header.as_deref(), &row, &reasons)
                .map_err(ConvertError::Output)?;
        }
        for finding in outcome.findings {
            note(&mut tally, &mut report, &mut sink, finding)?;
        }
        match outcome.record {
            Some(record) => match sink.record(&record).map_err(ConvertError::Output)? {
                Routed::Refused(reason) => {
                    let finding = refused_finding(row.record, row.line, reason);
                    sink.rejected_row(header.as_deref(), &row, std::slice::from_ref(&finding))
                        .map_err(ConvertError::Output)?;
                    note(&mut tally, &mut report, &mut sink, finding)?;
                    report.records_rejected += 1;
                    report.rejected_records.push(row.record);
                }
                routed => {
                    if let Some(f) = report.count_routed(&record, routed, row.record, row.line) {
                        note(&mut tally, &mut report, &mut sink, f)?;
                    }
                }
            },
            None => {
                report.records_rejected += 1;
                report.rejected_records.push(row.record);
            }
        }
    }
    report.finding_counts = tally.counts.into_values().collect();
    debug_assert!(report.reconciles());
    Ok(report)
}

impl Report {
    /// Counts a record the sink took (or could not route), by 保険者番号.
    fn count_routed(
        &mut self,
        record: &CheckupRecord,
        routed: Routed,
        number: u64,
        line: u64,
    ) -> Option<Finding> {
        let insurer = record
            .header
            .get(HeaderField::InsurerNumber)
            .unwrap_or_default()
            .to_owned();
        self.values_left_empty += record
            .values
            .iter()
            .filter(|v| v.value == kenshin_profile::Value::Invalid)
            .count() as u64;
        match routed {
            Routed::Delivered => {
                self.records_out += 1;
                *self.records_by_insurer.entry(insurer).or_default() += 1;
                None
            }
            Routed::Unrouted => {
                self.records_unrouted += 1;
                self.unrouted_records.push(number);
                *self.held_by_insurer.entry(insurer.clone()).or_default() += 1;
                Some(Finding {
                        record: number,
                        line,
                        column: None,
                        item: None,
                        item_name: None,
                        rule: Rule::UnknownInsurer,
                        severity: Severity::Error,
                        message: "この保険者番号の配信先がありません。記録は保留し、配信先ができたときに届けます（送信元は保留分をダウンロードできます）"
                            .into(),
                        value: Some(insurer),
                    })
            }
            // Counted by the caller as a rejected record.
            Routed::Refused(_) => None,
        }
    }
}

/// Counts findings by (item, rule, severity) and keeps the first ones in full.
#[derive(Default)]
struct Tally {
    counts: BTreeMap<(Option<String>, Rule, Severity), FindingCount>,
}

impl Tally {
    fn add(&mut self, report: &mut Report, finding: Finding) {
        match finding.severity {
            Severity::Error => report.errors += 1,
            Severity::Warning => report.warnings += 1,
        }
        self.counts
            .entry((finding.item.clone(), finding.rule, finding.severity))
            .or_insert_with(|| FindingCount {
                item: finding.item.clone(),
                item_name: finding.item_name.clone(),
                rule: finding.rule,
                severity: finding.severity,
                count: 0,
            })
            .count += 1;
        if report.findings.len() < MAX_FINDINGS_KEPT {
            report.findings.push(finding);
        }
    }
}

/// Converts records that are already standard (from an MHLW archive or a standard CSV): no
/// map, the same checks, the same accounting. A record that cannot be read is rejected with a
/// finding; the others go on.
pub fn convert_records<I, E>(
    records: I,
    profile: &Profile,
    input_description: &str,
    mut sink: impl Sink,
) -> Result<Report, ConvertError>
where
    I: Iterator<Item = Result<CheckupRecord, E>>,
    E: std::fmt::Display,
{
    let mut report = Report::empty(profile, None);
    report.input_encoding = input_description.to_owned();
    let mut tally = Tally::default();
    for (index, record) in records.enumerate() {
        let number = index as u64 + 1;
        report.records_in += 1;
        let record = match record {
            Ok(record) => record,
            Err(err) => {
                note(
                    &mut tally,
                    &mut report,
                    &mut sink,
                    Finding {
                        record: number,
                        line: 0,
                        column: None,
                        item: None,
                        item_name: None,
                        rule: Rule::Format,
                        severity: Severity::Error,
                        message: err.to_string(),
                        value: None,
                    },
                )?;
                report.records_rejected += 1;
                report.rejected_records.push(number);
                continue;
            }
        };
        let mut record = record;
        let findings = crate::record::check_record(profile, &mut record, 0, &[]);
        let reasons: Vec<Finding> = findings
            .iter()
            .filter(|f| f.rejects_record())
            .cloned()
            .collect();
        for finding in findings {
            note(&mut tally, &mut report, &mut sink, finding)?;
        }
        if !reasons.is_empty() {
            sink.rejected_record(&record, &reasons)
                .map_err(ConvertError::Output)?;
            report.records_rejected += 1;
            report.rejected_records.push(number);
            continue;
        }
        match sink.record(&record).map_err(ConvertError::Output)? {
            Routed::Refused(reason) => {
                let finding = refused_finding(number, 0, reason);
                sink.rejected_record(&record, std::slice::from_ref(&finding))
                    .map_err(ConvertError::Output)?;
                note(&mut tally, &mut report, &mut sink, finding)?;
                report.records_rejected += 1;
                report.rejected_records.push(number);
            }
            routed => {
                if let Some(f) = report.count_routed(&record, routed, number, 0) {
                    note(&mut tally, &mut report, &mut sink, f)?;
                }
            }
        }
    }
    report.finding_counts = tally.counts.into_values().collect();
    debug_assert!(report.reconciles());
    Ok(report)
}
