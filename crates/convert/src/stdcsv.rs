//! The standard CSV (健診標準フォーマット per profile): one record per examinee per visit,
//! header fields first, then for each profile item its standard value and, beside it, the
//! institution's original value.

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
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("record {record}, {column}: a character cannot be written in Shift_JIS")]
    Unencodable { record: u64, column: String },
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl From<csv::Error> for WriteError {
    fn from(err: csv::Error) -> WriteError {
        WriteError::Io(std::io::Error::other(err))
    }
}

/// Streams standard records as CSV; memory does not depend on the number of records.
pub struct StdCsvWriter<'p, W: Write> {
    profile: &'p Profile,
    out: W,
    encoding: OutputEncoding,
    /// Profile items that have a column (all of them, in profile order).
    row: Vec<String>,
    line: Vec<u8>,
    written: u64,
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
            row: Vec::new(),
            line: Vec::new(),
            written: 0,
        };
        let mut header: Vec<String> = HeaderField::ALL
            .iter()
            .map(|f| f.label_ja().to_owned())
            .collect();
        for item in &profile.items {
            header.push(format!("{}[{}]", item.name, item.code));
            header.push(format!("{}[{}](元値)", item.name, item.code));
            header.push(format!("{}[{}](H/L)", item.name, item.code));
        }
        writer.row = header;
        writer.flush_row(0)?;
        Ok(writer)
    }

    pub fn write(&mut self, record: &CheckupRecord) -> Result<(), WriteError> {
        self.row.clear();
        for field in HeaderField::ALL {
            self.row
                .push(record.header.get(field).unwrap_or_default().to_owned());
        }
        for item in &self.profile.items {
            match record.value(&item.code) {
                Some(value) => {
                    self.row.push(value_text(Some(item), &value.value));
                    self.row.push(value.original.clone());
                    self.row.push(
                        match value.flag {
                            Some(RangeFlag::High) => "H",
                            Some(RangeFlag::Low) => "L",
                            None => "",
                        }
                        .to_owned(),
                    );
                }
                None => self
                    .row
                    .extend([String::new(), String::new(), String::new()]),
            }
        }
        self.flush_row(record.source_record)?;
        self.written += 1;
        Ok(())
    }

    fn flush_row(&mut self, record: u64) -> Result<(), WriteError> {
        self.line.clear();
        {
            let mut csv = csv::WriterBuilder::new()
                .terminator(csv::Terminator::CRLF)
                .from_writer(&mut self.line);
            csv.write_record(&self.row)?;
            csv.flush()?;
        }
        match self.encoding {
            OutputEncoding::Utf8Bom => self.out.write_all(&self.line)?,
            OutputEncoding::ShiftJis => {
                let text = std::str::from_utf8(&self.line).unwrap_or_default();
                let (bytes, _, unmappable) = encoding_rs::SHIFT_JIS.encode(text);
                if unmappable {
                    let column = self
                        .row
                        .iter()
                        .position(|f| encoding_rs::SHIFT_JIS.encode(f).2)
                        .map(|i| column_name(self.profile, i))
                        .unwrap_or_default();
                    return Err(WriteError::Unencodable { record, column });
                }
                self.out.write_all(&bytes)?;
            }
        }
        Ok(())
    }

    pub fn records_written(&self) -> u64 {
        self.written
    }

    pub fn finish(mut self) -> Result<W, WriteError> {
        self.out.flush()?;
        Ok(self.out)
    }
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
