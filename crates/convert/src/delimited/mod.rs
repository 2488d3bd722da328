//! Streaming reader of institutions' delimited exports.
//!
//! Checkup systems (健診システム) export results as CSV or TSV, in UTF-8 or Shift_JIS, with or
//! without a header row. [`DelimitedReader`] reads any of these incrementally and yields one
//! [`SourceRow`] per record, with the line it starts on, so that later stages can point an
//! operator at the exact place in the institution's own file.
//!
//! # Guesses
//!
//! Whatever [`DelimitedOptions`] leaves unset is guessed from the first [`SAMPLE_LEN`]
//! bytes (which are kept and read normally afterwards):
//!
//! - **Encoding**: a UTF-8 byte order mark means UTF-8; otherwise UTF-8 if the whole sample
//!   is valid UTF-8; otherwise Shift_JIS. A file whose first 64 KiB are pure ASCII is thus
//!   read as UTF-8, and a Shift_JIS byte after that is reported as invalid UTF-8: set the
//!   encoding for such institutions.
//! - **Delimiter**: comma or tab, whichever splits the sampled records into a consistent
//!   number of fields (quotes respected); comma when in doubt.
//! - **Header**: the first record is a header when its cells are mostly text and, column by
//!   column, text stands above mostly numeric cells more often than numbers stand above
//!   numbers. A file with a single record has a header if that record has no numeric cell
//!   (a header-only export). Numeric means numbers, dates and times (ASCII or full-width
//!   digits, era prefixes such as `R6.5.10` or `令和6年`, comparators such as `<0.5`); cells
//!   of only symbols (`-`, `＊`) are ignored. In doubt the answer is "no header", so that a
//!   wrong guess shows up as an extra row rather than a lost examinee. Callers that know
//!   better force it with [`HeaderMode::Present`] or [`HeaderMode::Absent`].
//!
//! # Decoding
//!
//! Shift_JIS is decoded as Windows code page 932 (encoding_rs's WHATWG Shift_JIS), which
//! includes the NEC special characters (row 13: ①, ㈱, Ⅰ), the NEC-selected and IBM
//! extension kanji (髙, 﨑) and the user-defined area 0xF040..=0xF9FC, which decodes to the
//! Private Use Area (U+E000..=U+E757) as on Windows; what an institution's 外字 there mean is
//! for later validation to decide.
//!
//! Shift_JIS 0x8160 (～) is U+FF5E FULLWIDTH TILDE in Windows' mapping but U+301C WAVE DASH
//! in JIS-based ones, so the same character reaches us as either depending on which tool
//! last converted the file. Every decoded field has U+301C replaced by U+FF5E, in both
//! encodings, so an export decodes the same way whichever mapping produced it. The other
//! characters that differ between the two mappings (‖, −, ¢, £, ¬) are left alone: their
//! Unicode forms are also used independently (U+2212 MINUS SIGN in lab values, for one), so
//! rewriting them could change data.
//!
//! # Records
//!
//! Fields are separated by the delimiter; records end at CRLF, LF or CR. A field that starts
//! with `"` is quoted: it may contain delimiters and line breaks, and `""` stands for one
//! `"`. Text after a closing quote is kept (`"ab"c` is `abc`), and a `"` inside an unquoted
//! field is an ordinary character, as in spreadsheet programs. Blank lines are skipped (so a
//! single-column file cannot carry an empty value on its own line unless it is written
//! `""`), and a lone 0x1A (MS-DOS end-of-file mark) at the very end is ignored. Rows with
//! more or fewer fields than the header are returned as they are; checking them is the
//! caller's job.
//!
//! Line numbers are 1-based, count CRLF, LF and CR each as one line break (quoted ones too)
//! and, for a [`SourceRow`], are those of the line the record starts on.
//!
//! # Bounded memory
//!
//! The input goes through one 64 KiB buffer (the sample is its first fill), and a field may
//! not exceed [`DelimitedOptions::max_field_bytes`] source bytes: the limit is checked
//! before bytes are kept, so a 100 MB field fails at the limit after reading little more
//! than that. A record is therefore at most `max_fields × max_field_bytes` source bytes
//! (256 MiB with the defaults; its decoded text up to 1.5 times that, 3 times for
//! half-width katakana), so lower the limits where that is too much.
//!
//! # Errors
//!
//! Any error ends the iteration. Errors carry the line and byte offset of the problem and
//! never any field text: invalid bytes are shown as at most four bytes of hex.

mod decode;
mod error;
mod scan;
mod sniff;

use std::fmt;
use std::io::{self, Read};
use std::iter::FusedIterator;
use std::str::FromStr;

pub use error::{ReadError, ReadErrorKind};

use scan::{Limits, RawRecord, Scan, Scanner};

/// Number of bytes at the start of the input that the guesses look at.
pub const SAMPLE_LEN: usize = 64 * 1024;

/// Default of [`DelimitedOptions::max_field_bytes`].
pub const DEFAULT_MAX_FIELD_BYTES: usize = 64 * 1024;

/// Default of [`DelimitedOptions::max_fields`].
pub const DEFAULT_MAX_FIELDS: usize = 4096;

/// Default number of bytes read from the input at a time.
const DEFAULT_BUFFER_SIZE: usize = 64 * 1024;

/// Character encoding of an export.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SourceEncoding {
    Utf8,
    /// Shift_JIS as Windows code page 932 (Windows-31J), with the NEC and IBM extensions.
    ShiftJis,
}

impl fmt::Display for SourceEncoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SourceEncoding::Utf8 => "UTF-8",
            SourceEncoding::ShiftJis => "Shift_JIS",
        })
    }
}

/// Error of [`SourceEncoding::from_str`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown encoding {name:?} (expected UTF-8 or Shift_JIS)")]
pub struct ParseEncodingError {
    /// The name that was not recognised (at most 32 characters of it).
    pub name: String,
}

impl FromStr for SourceEncoding {
    type Err = ParseEncodingError;

    /// Accepts, ignoring case and surrounding spaces: `utf-8`, `utf8`; `shift_jis`,
    /// `shift-jis`, `sjis`, `cp932`, `ms932`, `windows-31j` (the names institutions' systems
    /// and Java/Windows tools use for the same code page).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let name = s.trim().to_ascii_lowercase();
        match name.as_str() {
            "utf-8" | "utf8" => Ok(SourceEncoding::Utf8),
            "shift_jis" | "shift-jis" | "sjis" | "cp932" | "ms932" | "windows-31j" => {
                Ok(SourceEncoding::ShiftJis)
            }
            _ => Err(ParseEncodingError {
                name: s.trim().chars().take(32).collect(),
            }),
        }
    }
}

/// Whether the first record is a header row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum HeaderMode {
    /// Guess (see the [module documentation](self)).
    #[default]
    Auto,
    Present,
    Absent,
}

/// How to read an export; `None` and [`HeaderMode::Auto`] mean "guess".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DelimitedOptions {
    pub encoding: Option<SourceEncoding>,
    /// Field separator: an ASCII byte other than `"`, CR and LF (usually `,` or `\t`).
    pub delimiter: Option<u8>,
    pub header: HeaderMode,
    /// Header rows when there is a header (at least 1): exports that write item codes on one
    /// row and names on the next have 2. The first is [`DelimitedReader::header`], the others
    /// [`DelimitedReader::more_header_rows`].
    pub header_rows: usize,
    /// Largest field, in bytes of the source encoding after removing quotes.
    pub max_field_bytes: usize,
    /// Most fields in one record (header included).
    pub max_fields: usize,
}

impl Default for DelimitedOptions {
    fn default() -> Self {
        DelimitedOptions {
            encoding: None,
            delimiter: None,
            header: HeaderMode::Auto,
            header_rows: 1,
            max_field_bytes: DEFAULT_MAX_FIELD_BYTES,
            max_fields: DEFAULT_MAX_FIELDS,
        }
    }
}

/// One data record of an export.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceRow {
    /// 1-based number of the record among the data records (the header is not counted).
    pub record: u64,
    /// 1-based line of the input the record starts on.
    pub line: u64,
    pub fields: Vec<String>,
}

/// Streaming reader of a delimited export; an iterator of [`SourceRow`]s.
///
/// ```
/// use kenshin_convert::delimited::{DelimitedOptions, DelimitedReader};
///
/// let export = "氏名,受診日,身長\n山田 太郎,2024/05/10,170.2\n";
/// let mut reader = DelimitedReader::new(export.as_bytes(), DelimitedOptions::default())?;
/// assert_eq!(reader.header().map(|h| h.len()), Some(3));
/// let row = reader.next().unwrap()?;
/// assert_eq!((row.record, row.line), (1, 2));
/// assert_eq!(row.fields[2], "170.2");
/// # Ok::<(), kenshin_convert::delimited::ReadError>(())
/// ```
pub struct DelimitedReader<R: Read> {
    inner: R,
    /// Holds the sample first, then successive reads of at most `chunk` bytes.
    buf: Vec<u8>,
    /// Next byte of `buf` to scan.
    pos: usize,
    /// Number of valid bytes in `buf`.
    filled: usize,
    /// Most bytes read, or handed to the scanner, at once.
    chunk: usize,
    /// Whether `inner` has reported the end of the input.
    eof: bool,
    scanner: Scanner,
    encoding: SourceEncoding,
    delimiter: u8,
    header: Option<Vec<String>>,
    /// Header rows after the first.
    more_header: Vec<Vec<String>>,
    /// Data records returned so far.
    records: u64,
    /// The first data record (or the error reading it), read ahead by `new` to tell an empty
    /// input from one that only has data.
    pending: Option<Result<SourceRow, ReadError>>,
    done: bool,
}

impl<R: Read> DelimitedReader<R> {
    /// Sniffs encoding, delimiter and header from the first 64 KiB (buffered, not lost) and
    /// returns the reader.
    ///
    /// Fails if the input cannot be read, has no record at all ([`ReadErrorKind::Empty`]),
    /// the delimiter option is unusable, or there is a header row that cannot be read.
    /// Errors in the first data record are returned by the first call to `next` instead.
    pub fn new(inner: R, options: DelimitedOptions) -> Result<Self, ReadError> {
        Self::with_buffer_size(inner, options, DEFAULT_BUFFER_SIZE)
    }

    /// Like [`DelimitedReader::new`], reading at most `buffer_size` bytes at a time
    /// (minimum 1) and scanning the sample in pieces of that size.
    ///
    /// Small sizes are for tests: they put buffer boundaries inside characters, quotes and
    /// line breaks. The sample is still [`SAMPLE_LEN`] bytes.
    pub fn with_buffer_size(
        mut inner: R,
        options: DelimitedOptions,
        buffer_size: usize,
    ) -> Result<Self, ReadError> {
        if let Some(delimiter) = options.delimiter {
            if !delimiter.is_ascii() || matches!(delimiter, b'"' | b'\r' | b'\n') {
                return Err(ReadError {
                    kind: ReadErrorKind::InvalidDelimiter { delimiter },
                    line: 1,
                    byte_offset: 0,
                });
            }
        }
        let chunk = buffer_size.max(1);
        let mut buf = vec![0; SAMPLE_LEN.max(chunk)];
        let (filled, eof) = read_sample(&mut inner, &mut buf[..SAMPLE_LEN])?;
        let sample = &buf[..filled];

        let encoding = options
            .encoding
            .unwrap_or_else(|| sniff::guess_encoding(sample, eof));
        // A BOM is only a BOM in UTF-8; in a file forced to Shift_JIS it is invalid data and
        // is reported as such.
        let bom = if encoding == SourceEncoding::Utf8 && sample.starts_with(sniff::UTF8_BOM) {
            sniff::UTF8_BOM.len()
        } else {
            0
        };
        let body = &sample[bom..];
        let limits = Limits {
            max_field_bytes: options.max_field_bytes,
            max_fields: options.max_fields,
        };
        let delimiter = options
            .delimiter
            .unwrap_or_else(|| sniff::guess_delimiter(body, eof, encoding, limits));
        let has_header = match options.header {
            HeaderMode::Present => true,
            HeaderMode::Absent => false,
            HeaderMode::Auto => sniff::guess_header(body, eof, encoding, delimiter, limits),
        };

        let mut reader = DelimitedReader {
            inner,
            buf,
            pos: bom,
            filled,
            chunk,
            eof,
            scanner: Scanner::new(delimiter, encoding, limits, bom as u64),
            encoding,
            delimiter,
            header: None,
            more_header: Vec::new(),
            records: 0,
            pending: None,
            done: false,
        };
        let empty = |reader: &Self| ReadError {
            kind: ReadErrorKind::Empty,
            line: reader.scanner.line(),
            byte_offset: reader.scanner.offset(),
        };
        if has_header {
            if !reader.next_record()? {
                return Err(empty(&reader));
            }
            reader.header = Some(decode_record(reader.scanner.record(), encoding)?);
            for _ in 1..options.header_rows {
                if !reader.next_record()? {
                    return Err(empty(&reader));
                }
                let row = decode_record(reader.scanner.record(), encoding)?;
                reader.more_header.push(row);
            }
        } else {
            match reader.read_row() {
                Ok(None) => return Err(empty(&reader)),
                Ok(Some(row)) => reader.pending = Some(Ok(row)),
                Err(e) => reader.pending = Some(Err(e)),
            }
        }
        Ok(reader)
    }

    /// The encoding the input is decoded with (given or guessed).
    pub fn encoding(&self) -> SourceEncoding {
        self.encoding
    }

    /// The field delimiter (given or guessed).
    pub fn delimiter(&self) -> u8 {
        self.delimiter
    }

    /// The header row's fields, if there is one.
    pub fn header(&self) -> Option<&[String]> {
        self.header.as_deref()
    }

    /// The header rows after the first (see [`DelimitedOptions::header_rows`]).
    pub fn more_header_rows(&self) -> &[Vec<String>] {
        &self.more_header
    }

    /// Input bytes scanned so far (a byte order mark included), for progress reporting.
    /// Equals the input's size once iteration has ended without error.
    pub fn bytes_read(&self) -> u64 {
        self.scanner.offset()
    }

    /// Reads and decodes the next data record.
    fn read_row(&mut self) -> Result<Option<SourceRow>, ReadError> {
        if !self.next_record()? {
            return Ok(None);
        }
        let record = self.scanner.record();
        let fields = decode_record(record, self.encoding)?;
        self.records += 1;
        Ok(Some(SourceRow {
            record: self.records,
            line: record.line(),
            fields,
        }))
    }

    /// Scans up to the end of the next record; false at the end of the input.
    fn next_record(&mut self) -> Result<bool, ReadError> {
        loop {
            if self.pos < self.filled {
                let end = self.filled.min(self.pos + self.chunk);
                let (consumed, result) = self.scanner.scan(&self.buf[self.pos..end]);
                self.pos += consumed;
                if result? == Scan::Record {
                    return Ok(true);
                }
            } else if self.eof {
                return self.scanner.finish();
            } else {
                self.fill()?;
            }
        }
    }

    /// Replaces the (fully scanned) buffer with the next read from the input.
    fn fill(&mut self) -> Result<(), ReadError> {
        loop {
            match self.inner.read(&mut self.buf[..self.chunk]) {
                Ok(n) => {
                    self.pos = 0;
                    self.filled = n;
                    self.eof = n == 0;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(ReadError {
                        kind: ReadErrorKind::Io(e),
                        line: self.scanner.line(),
                        byte_offset: self.scanner.offset(),
                    })
                }
            }
        }
    }
}

impl<R: Read> Iterator for DelimitedReader<R> {
    type Item = Result<SourceRow, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let item = match self.pending.take() {
            Some(item) => Some(item),
            None => self.read_row().transpose(),
        };
        // After an error the scanner's position no longer matches a record boundary, so
        // there is nothing sound to continue with.
        if !matches!(item, Some(Ok(_))) {
            self.done = true;
        }
        item
    }
}

impl<R: Read> FusedIterator for DelimitedReader<R> {}

impl<R: Read> fmt::Debug for DelimitedReader<R> {
    /// Shows the reader's settings and progress, never data.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DelimitedReader")
            .field("encoding", &self.encoding)
            .field("delimiter", &char::from(self.delimiter))
            .field("has_header", &self.header.is_some())
            .field("records", &self.records)
            .field("bytes_read", &self.bytes_read())
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

/// Fills `buf` from `inner` until it is full or the input ends; returns the number of bytes
/// read and whether the input ended.
fn read_sample(inner: &mut impl Read, buf: &mut [u8]) -> Result<(usize, bool), ReadError> {
    let mut filled = 0;
    while filled < buf.len() {
        match inner.read(&mut buf[filled..]) {
            Ok(0) => return Ok((filled, true)),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                // Quoted line breaks count as lines too, so the line of the failure does not
                // depend on parsing what was read.
                return Err(ReadError {
                    kind: ReadErrorKind::Io(e),
                    line: 1 + scan::count_line_breaks(&buf[..filled]),
                    byte_offset: filled as u64,
                });
            }
        }
    }
    Ok((filled, false))
}

/// Decodes every field of a record, reporting the first invalid byte sequence by position.
fn decode_record(record: &RawRecord, encoding: SourceEncoding) -> Result<Vec<String>, ReadError> {
    let mut fields = Vec::with_capacity(record.field_count());
    for (start, bytes) in record.fields() {
        match decode::decode_field(encoding, bytes) {
            Ok(text) => fields.push(text),
            Err(bad) => {
                let (line, byte_offset) = record.position_of(start + bad.index);
                let end = (bad.index + bad.len).min(bytes.len());
                return Err(ReadError {
                    kind: ReadErrorKind::InvalidEncoding {
                        bytes_hex: error::hex_bytes(&bytes[bad.index..end]),
                        encoding,
                    },
                    line,
                    byte_offset,
                });
            }
        }
    }
    Ok(fields)
}
