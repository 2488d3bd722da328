//! The standard CSV (健診標準フォーマット per profile): one record per examinee per visit,
//! header fields first, then for each profile item its standard value and, beside it, the
//! institution's original value.

use std::collections::HashMap;
use std::io::Write;

use kenshin_profile::{CheckupRecord, HeaderField, Item, ItemKind, Profile, RangeFlag, Value};

/// Standard CSV values are at most this many bytes (健診標準フォーマット).
pub const MAX_VALUE_BYTES: usize = 512;

/// Separator of several values in one item (健診標準フォーマット).
pub const JOIN: &str = "、";

/// Output text encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputEncoding {
    /// UTF-8 with a byte-order mark, which spreadsheet software needs to recognise UTF-8.
    Utf8Bom,
    /// Shift_JIS (CP932), for receivers' older systems.
    ShiftJis,
}

impl std::str::FromStr for OutputEncoding {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "utf-8" | "utf8" | "utf-8-bom" => Ok(OutputEncoding::Utf8Bom),
            "shift_jis" | "sjis" | "cp932" | "windows-31j" => Ok(OutputEncoding::ShiftJis),
            other => Err(format!(
                "unknown output encoding {other:?} (utf-8 or shift_jis)"
            )),
        }
    }
}

/// The text of a value in the standard CSV: codes as their standard terms.
pub fn value_text(item: Option<&Item>, value: &Value) -> String {
    match value {
        Value::Number(text) | Value::Text(text) | Value::Date(text) => text.clone(),
        Value::Code(codes) => codes
            .iter()
            .map(|code| match item.map(|i| &i.kind) {
                Some(ItemKind::Code { terms }) => terms
                    .iter()
                    .find(|t| &t.code == code)
                    .map(|t| t.term.clone())
                    .unwrap_or_else(|| code.clone()),
                _ => code.clone(),
            })
            .collect::<Vec<_>>()
            .join(JOIN),
        Value::NotPerformed => "未実施".into(),
        Value::Unmeasurable => "測定不能".into(),
        Value::Invalid => String::new(),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("record {record}, {column}: a character cannot be written in Shift_JIS")]
    Unencodable { record: u64, column: String },
    /// The format cannot hold this record (nothing of it was written; the next one is taken).
    #[error("{0}")]
    Refused(String),
    /// The output cannot be started with what is known of its sender and receiver.
    #[error("{0}")]
    Setting(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl From<csv::Error> for WriteError {
    fn from(err: csv::Error) -> WriteError {
        WriteError::Io(std::io::Error::other(err))
    }
}

/// Streams standard records as CSV; memory does not depend on the number of records.
///
/// A standard CSV is wide — three columns for each of the profile's items, most of them
/// empty in any one record — so rows are serialised here rather than field by field through
/// the `csv` crate's writer, which spends most of its time on the empty fields: a run of
/// empty columns is a run of commas. Quoting follows RFC 4180 (a field containing a comma,
/// a quote, CR or LF is quoted, quotes doubled), and a property test reads rows back with the
/// `csv` crate. Values are placed by a precomputed code → column index.
pub struct StdCsvWriter<'p, W: Write> {
    profile: &'p Profile,
    out: W,
    encoding: OutputEncoding,
    columns: HashMap<&'p str, usize>,
    line: Vec<u8>,
    /// Per item, the index of the record's value for it (reused across rows).
    slots: Vec<Option<usize>>,
    written: u64,
}

/// Appends one CSV field (RFC 4180 quoting).
pub(crate) fn push_field(line: &mut Vec<u8>, field: &str) {
    if field
        .bytes()
        .any(|b| matches!(b, b',' | b'"' | b'\r' | b'\n'))
    {
        line.push(b'"');
        for part in field.split_inclusive('"') {
            line.extend_from_slice(part.as_bytes());
            if part.ends_with('"') {
                line.push(b'"');
            }
        }
        line.push(b'"');
    } else {
        line.extend_from_slice(field.as_bytes());
    }
}

impl<'p, W: Write> StdCsvWriter<'p, W> {
    pub fn new(
        profile: &'p Profile,
        mut out: W,
        encoding: OutputEncoding,
    ) -> Result<Self, WriteError> {
        if encoding == OutputEncoding::Utf8Bom {
            out.write_all("\u{FEFF}".as_bytes())?;
        }
        let mut writer = StdCsvWriter {
            profile,
            out,
            encoding,
            columns: profile
                .items
                .iter()
                .enumerate()
                .map(|(i, item)| (item.code.as_str(), i))
                .collect(),
            line: Vec::with_capacity(16 * 1024),
            slots: vec![None; profile.items.len()],
            written: 0,
        };
        let mut names: Vec<String> = HeaderField::ALL
            .iter()
            .map(|f| f.label_ja().to_owned())
            .collect();
        for item in &profile.items {
            names.push(format!("{}[{}]", item.name, item.code));
            names.push(format!("{}[{}](元値)", item.name, item.code));
            names.push(format!("{}[{}](H/L)", item.name, item.code));
        }
        for (i, name) in names.iter().enumerate() {
            if i > 0 {
                writer.line.push(b',');
            }
            push_field(&mut writer.line, name);
        }
        writer.line.extend_from_slice(b"\r\n");
        writer.flush_row(0)?;
        Ok(writer)
    }

    pub fn write(&mut self, record: &CheckupRecord) -> Result<(), WriteError> {
        for (i, field) in HeaderField::ALL.into_iter().enumerate() {
            if i > 0 {
                self.line.push(b',');
            }
            push_field(&mut self.line, record.header.get(field).unwrap_or_default());
        }
        self.slots.iter_mut().for_each(|slot| *slot = None);
        for (index, value) in record.values.iter().enumerate() {
            if let Some(&column) = self.columns.get(value.code.as_str()) {
                self.slots[column] = Some(index);
            }
        }
        for (column, slot) in self.slots.iter().enumerate() {
            match slot {
                Some(index) => {
                    let value = &record.values[*index];
                    let item = &self.profile.items[column];
                    self.line.push(b',');
                    push_field(&mut self.line, &value_text(Some(item), &value.value));
                    self.line.push(b',');
                    push_field(&mut self.line, &value.original);
                    self.line.push(b',');
                    self.line.extend_from_slice(match value.flag {
                        Some(RangeFlag::High) => b"H",
                        Some(RangeFlag::Low) => b"L",
                        None => b"",
                    });
                }
                None => self.line.extend_from_slice(b",,,"),
            }
        }
        self.line.extend_from_slice(b"\r\n");
        self.flush_row(record.source_record)?;
        self.written += 1;
        Ok(())
    }

    fn flush_row(&mut self, record: u64) -> Result<(), WriteError> {
        let result = match self.encoding {
            OutputEncoding::Utf8Bom => self.out.write_all(&self.line).map_err(WriteError::from),
            OutputEncoding::ShiftJis => {
                let text = std::str::from_utf8(&self.line).unwrap_or_default();
                let (bytes, _, unmappable) = encoding_rs::SHIFT_JIS.encode(text);
                if unmappable {
                    Err(WriteError::Unencodable {
                        record,
                        column: unencodable_column(self.profile, text),
                    })
                } else {
                    self.out.write_all(&bytes).map_err(WriteError::from)
                }
            }
        };
        self.line.clear();
        result
    }

    pub fn records_written(&self) -> u64 {
        self.written
    }

    pub fn finish(mut self) -> Result<W, WriteError> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Names the first column of a CSV line that Shift_JIS cannot hold (only on the error path).
fn unencodable_column(profile: &Profile, line: &str) -> String {
    let mut fields = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(line.as_bytes());
    let Some(Ok(record)) = fields.records().next() else {
        return String::new();
    };
    record
        .iter()
        .position(|f| encoding_rs::SHIFT_JIS.encode(f).2)
        .map(|i| column_name(profile, i))
        .unwrap_or_default()
}

fn column_name(profile: &Profile, index: usize) -> String {
    let headers = HeaderField::ALL.len();
    if index < headers {
        HeaderField::ALL[index].label_ja().to_owned()
    } else {
        profile
            .items
            .get((index - headers) / 3)
            .map(|i| format!("{} [{}]", i.name, i.code))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn rows_read_back_with_the_csv_crate(
            fields in proptest::collection::vec("\\PC{0,12}|[,\"\r\n a]{0,6}", 2..12)
        ) {
            let mut line = Vec::new();
            for (i, field) in fields.iter().enumerate() {
                if i > 0 {
                    line.push(b',');
                }
                push_field(&mut line, field);
            }
            line.extend_from_slice(b"\r\n");
            let mut reader = csv::ReaderBuilder::new().has_headers(false).from_reader(&line[..]);
            let record = reader.records().next().unwrap().unwrap();
            let back: Vec<&str> = record.iter().collect();
            prop_assert_eq!(back, fields.iter().map(String::as_str).collect::<Vec<_>>());
        }
    }
}

/// Whether a header row is the standard CSV's (so a standard CSV can be an input again).
pub fn is_standard_header(first_line: &str) -> bool {
    let first_line = first_line.trim_start_matches('\u{FEFF}');
    let expected: Vec<&str> = HeaderField::ALL.iter().map(|f| f.label_ja()).collect();
    first_line.split(',').take(expected.len()).eq(expected)
}

#[derive(Debug, thiserror::Error)]
pub enum StdReadError {
    #[error("the header row is not a standard CSV header of profile {profile}: {detail}")]
    Header { profile: String, detail: String },
    #[error("record {record}: {detail}")]
    Record { record: u64, detail: String },
    #[error(transparent)]
    Csv(#[from] csv::Error),
}

/// Reads a standard CSV written by [`StdCsvWriter`] (UTF-8) back into records: the standard
/// value of each column, its original value, its H/L flag.
pub fn read_std_csv<'p, R: std::io::Read + 'p>(
    input: R,
    profile: &'p Profile,
) -> Result<impl Iterator<Item = Result<CheckupRecord, StdReadError>> + 'p, StdReadError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(input);
    let headers = reader.headers()?.clone();
    let header_error = |detail: String| StdReadError::Header {
        profile: profile.label(),
        detail,
    };
    let fixed = HeaderField::ALL.len();
    for (i, field) in HeaderField::ALL.iter().enumerate() {
        let found = headers.get(i).unwrap_or("").trim_start_matches('\u{FEFF}');
        if found != field.label_ja() {
            return Err(header_error(format!(
                "column {} is {found:?}, not {:?}",
                i + 1,
                field.label_ja()
            )));
        }
    }
    // Columns after the header fields: (item code, which part) for each.
    let mut items = Vec::new();
    for (i, name) in headers.iter().enumerate().skip(fixed) {
        let code = name
            .rsplit_once('[')
            .and_then(|(_, rest)| rest.split_once(']'))
            .map(|(code, _)| code)
            .ok_or_else(|| header_error(format!("column {} ({name:?}) names no item", i + 1)))?;
        if profile.item(code).is_none() {
            return Err(header_error(format!("item {code} is not in the profile")));
        }
        if (i - fixed) % 3 == 0 {
            items.push(code.to_owned());
        }
    }
    let mut number = 0u64;
    Ok(reader.into_records().map(move |row| {
        number += 1;
        let row = row?;
        let mut record = CheckupRecord {
            source_record: number,
            ..CheckupRecord::default()
        };
        for (i, field) in HeaderField::ALL.iter().enumerate() {
            let value = row.get(i).unwrap_or("");
            if !value.is_empty() {
                record.header.set(*field, value.to_owned());
            }
        }
        for (n, code) in items.iter().enumerate() {
            let base = fixed + n * 3;
            let text = row.get(base).unwrap_or("");
            if text.is_empty() {
                // An original without a standard value: the source's value was not taken.
                let original = row.get(base + 1).unwrap_or("");
                if !original.is_empty() {
                    record.values.push(kenshin_profile::ItemValue {
                        code: code.clone(),
                        value: Value::Invalid,
                        original: original.to_owned(),
                        flag: None,
                    });
                }
                continue;
            }
            let item = profile.item(code).expect("checked with the header");
            let value = match text {
                "未実施" => Value::NotPerformed,
                "測定不能" => Value::Unmeasurable,
                _ => match &item.kind {
                    ItemKind::Numeric { .. } => Value::Number(text.to_owned()),
                    ItemKind::Date => Value::Date(text.to_owned()),
                    ItemKind::Text => Value::Text(text.to_owned()),
                    // A term may itself contain 「、」 (喫煙: 「以前は吸っていたが、…」): the
                    // whole text is tried as one term before it is split into several.
                    ItemKind::Code { terms } if terms.iter().any(|t| t.term == text) => {
                        Value::Code(
                            terms
                                .iter()
                                .filter(|t| t.term == text)
                                .map(|t| t.code.clone())
                                .take(1)
                                .collect(),
                        )
                    }
                    ItemKind::Code { terms } => Value::Code(
                        text.split(JOIN)
                            .map(|term| {
                                terms
                                    .iter()
                                    .find(|t| t.term == term || t.code == term)
                                    .map(|t| t.code.clone())
                                    .ok_or_else(|| StdReadError::Record {
                                        record: number,
                                        detail: format!(
                                            "{} [{}]: not a term of its code list",
                                            item.name, item.code
                                        ),
                                    })
                            })
                            .collect::<Result<_, _>>()?,
                    ),
                },
            };
            let flag = match row.get(base + 2).unwrap_or("") {
                "H" => Some(RangeFlag::High),
                "L" => Some(RangeFlag::Low),
                _ => None,
            };
            record.values.push(kenshin_profile::ItemValue {
                code: code.clone(),
                value,
                original: row.get(base + 1).unwrap_or("").to_owned(),
                flag,
            });
        }
        Ok(record)
    }))
}
