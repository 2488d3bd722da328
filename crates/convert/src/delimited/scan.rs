//! Byte-level record scanner.
//!
//! The scanner splits raw (still encoded) bytes into records and fields. Working on the
//! source bytes rather than on decoded text is what lets every error name an exact byte
//! offset in the file, and lets the field limit cut off a runaway field before it is
//! decoded or even fully read.
//!
//! This is sound for both encodings because the structural bytes (`"`, CR, LF, and a comma
//! or tab delimiter) are ASCII below 0x40: UTF-8 never uses ASCII bytes inside a multi-byte
//! sequence, and Shift_JIS trail bytes are 0x40..=0xFC. Only a Shift_JIS export with a
//! delimiter in 0x40..=0x7E (e.g. `|`, which is the trail byte of "－" 0x817C) needs the
//! scanner to skip trail bytes, and it does so only in that case.
//!
//! The scanner is resumable: it is fed arbitrary slices of the input and keeps its state
//! (including a pending Shift_JIS lead byte or CR) from one slice to the next.

use super::decode::{is_lead_byte, is_trail_byte};
use super::{ReadError, ReadErrorKind, SourceEncoding};

/// Limits that keep memory bounded whatever the input.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    pub max_field_bytes: usize,
    pub max_fields: usize,
}

/// Record buffers are kept between records to avoid reallocating for each one, but not
/// beyond this size: one oversized record must not pin its memory for the rest of the file.
const RETAINED_CAPACITY: usize = 256 * 1024;

/// Maps a stretch of a record's content back to the input. A new run starts wherever the
/// content and the input stop being byte-for-byte aligned: at each field start (the
/// delimiter and opening quote are not content), after a doubled quote, and after a
/// closing quote.
#[derive(Debug, Clone, Copy)]
struct Run {
    /// Index in the record's content of the run's first byte.
    content: usize,
    /// Input offset of that byte.
    offset: u64,
    /// Line of that byte.
    line: u64,
}

/// One record's fields as raw source bytes, with what is needed to locate any of its bytes
/// in the input.
#[derive(Debug, Default)]
pub(super) struct RawRecord {
    content: Vec<u8>,
    /// End index in `content` of each field; field `i` starts where field `i - 1` ends.
    ends: Vec<usize>,
    runs: Vec<Run>,
    line: u64,
}

impl RawRecord {
    fn clear(&mut self) {
        self.content.clear();
        self.ends.clear();
        self.runs.clear();
        self.content.shrink_to(RETAINED_CAPACITY);
        self.ends
            .shrink_to(RETAINED_CAPACITY / std::mem::size_of::<usize>());
        self.runs
            .shrink_to(RETAINED_CAPACITY / std::mem::size_of::<Run>());
    }

    /// Line the record starts on.
    pub fn line(&self) -> u64 {
        self.line
    }

    pub fn field_count(&self) -> usize {
        self.ends.len()
    }

    /// Each field's raw bytes with the index of its first byte in the record's content.
    pub fn fields(&self) -> impl Iterator<Item = (usize, &[u8])> + '_ {
        let mut start = 0;
        self.ends.iter().map(move |&end| {
            let field = (start, &self.content[start..end]);
            start = end;
            field
        })
    }

    /// Line and input offset of the content byte at `index`.
    pub fn position_of(&self, index: usize) -> (u64, u64) {
        let run_index = self.runs.partition_point(|r| r.content <= index);
        let Some(run) = run_index.checked_sub(1).map(|i| self.runs[i]) else {
            // Unreachable while every field starts a run; the record start is a safe answer.
            return (self.line, 0);
        };
        let before = &self.content[run.content..index];
        (
            run.line + count_line_breaks(before),
            run.offset + (index - run.content) as u64,
        )
    }
}

/// Counts CRLF, CR and LF as one line break each.
///
/// A leading LF is counted as a break of its own, which is right for the slices passed here:
/// the start of the input, or the start of a run, and a run never starts between the CR and
/// the LF of a CRLF (runs start after a delimiter, a quote or a line break, never after a
/// CR that is content).
pub(super) fn count_line_breaks(bytes: &[u8]) -> u64 {
    let mut count = 0;
    let mut previous = 0u8;
    for &b in bytes {
        if b == b'\r' || (b == b'\n' && previous != b'\r') {
            count += 1;
        }
        previous = b;
    }
    count
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Between records: line breaks here are blank lines and are skipped.
    RecordStart,
    /// At the first byte of a field (after a delimiter, or at the start of a record).
    FieldStart,
    /// Inside a field that did not start with a quote.
    Unquoted,
    /// Just after a Shift_JIS lead byte in an unquoted field (only when trail bytes can be
    /// mistaken for the delimiter).
    UnquotedTrail,
    /// Inside a quoted field.
    Quoted,
    /// After a quote inside a quoted field: either the first of a doubled quote or the
    /// closing quote.
    QuoteInQuoted,
}

/// Outcome of feeding a slice to the scanner.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Scan {
    /// The slice is consumed and no record is complete yet.
    NeedInput,
    /// A record is complete (see [`Scanner::record`]); the remaining bytes of the slice have
    /// not been looked at.
    Record,
}

pub(super) struct Scanner {
    delimiter: u8,
    /// Whether Shift_JIS trail bytes must be skipped because the delimiter is in their range.
    track_lead_bytes: bool,
    limits: Limits,
    state: State,
    /// Input offset of the next byte.
    offset: u64,
    /// Line of the next byte.
    line: u64,
    /// Whether the last byte was a CR, so that a following LF does not count a second line.
    last_was_cr: bool,
    /// Index in the record content where the current field starts.
    field_start: usize,
    /// Position of the current field's first byte (its opening quote, if quoted).
    field_line: u64,
    field_offset: u64,
    field_quoted: bool,
    record: RawRecord,
}

impl Scanner {
    /// A scanner whose first byte is at input offset `offset` (after any byte order mark).
    pub fn new(delimiter: u8, encoding: SourceEncoding, limits: Limits, offset: u64) -> Self {
        Scanner {
            delimiter,
            track_lead_bytes: encoding == SourceEncoding::ShiftJis && is_trail_byte(delimiter),
            limits,
            state: State::RecordStart,
            offset,
            line: 1,
            last_was_cr: false,
            field_start: 0,
            field_line: 1,
            field_offset: offset,
            field_quoted: false,
            record: RawRecord::default(),
        }
    }

    /// Input offset of the next byte to scan.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Line of the next byte to scan.
    pub fn line(&self) -> u64 {
        self.line
    }

    /// The last completed record; valid until the next call to [`Scanner::scan`].
    pub fn record(&self) -> &RawRecord {
        &self.record
    }

    /// Scans `input`, stopping after the first record completed in it.
    ///
    /// Returns how many bytes were consumed; on [`Scan::NeedInput`] that is all of them.
    pub fn scan(&mut self, input: &[u8]) -> (usize, Result<Scan, ReadError>) {
        let mut i = 0;
        while i < input.len() {
            let b = input[i];
            match self.state {
                State::RecordStart => {
                    if b == b'\r' || b == b'\n' {
                        self.line_break(b);
                        i += 1;
                    } else {
                        // The byte is looked at again as the start of the first field.
                        self.record.clear();
                        self.record.line = self.line;
                        self.state = State::FieldStart;
                    }
                }
                State::FieldStart => {
                    let quoted = b == b'"';
                    if let Err(e) = self.begin_field(quoted) {
                        return (i, Err(e));
                    }
                    if quoted {
                        self.advance(1);
                        i += 1;
                        self.start_run();
                        self.state = State::Quoted;
                    } else {
                        self.start_run();
                        self.state = State::Unquoted;
                    }
                }
                State::Unquoted => {
                    let rest = &input[i..];
                    let delimiter = self.delimiter;
                    let track = self.track_lead_bytes;
                    let plain = rest
                        .iter()
                        .position(|&c| {
                            c == delimiter || c == b'\n' || c == b'\r' || (track && is_lead_byte(c))
                        })
                        .unwrap_or(rest.len());
                    if plain > 0 {
                        if let Err(e) = self.push_content(&rest[..plain]) {
                            return (i, Err(e));
                        }
                        self.advance(plain);
                        i += plain;
                    } else if b == delimiter {
                        self.end_field();
                        self.advance(1);
                        i += 1;
                        self.state = State::FieldStart;
                    } else if b == b'\n' || b == b'\r' {
                        self.end_field();
                        self.line_break(b);
                        self.state = State::RecordStart;
                        return (i + 1, Ok(Scan::Record));
                    } else {
                        // A lead byte: its trail byte, if any, is content whatever its value.
                        if let Err(e) = self.push_content(&[b]) {
                            return (i, Err(e));
                        }
                        self.advance(1);
                        i += 1;
                        self.state = State::UnquotedTrail;
                    }
                }
                State::UnquotedTrail => {
                    // A byte outside the trail range is not part of the character: leave it
                    // to be scanned normally (the decoder reports the lone lead byte).
                    if is_trail_byte(b) {
                        if let Err(e) = self.push_content(&[b]) {
                            return (i, Err(e));
                        }
                        self.advance(1);
                        i += 1;
                    }
                    self.state = State::Unquoted;
                }
                State::Quoted => {
                    let rest = &input[i..];
                    let plain = rest
                        .iter()
                        .position(|&c| c == b'"' || c == b'\n' || c == b'\r')
                        .unwrap_or(rest.len());
                    if plain > 0 {
                        if let Err(e) = self.push_content(&rest[..plain]) {
                            return (i, Err(e));
                        }
                        self.advance(plain);
                        i += plain;
                    } else if b == b'"' {
                        self.advance(1);
                        i += 1;
                        self.state = State::QuoteInQuoted;
                    } else {
                        // A line break inside quotes is content, but still a new line.
                        if let Err(e) = self.push_content(&[b]) {
                            return (i, Err(e));
                        }
                        self.line_break(b);
                        i += 1;
                    }
                }
                State::QuoteInQuoted => {
                    if b == b'"' {
                        // Doubled quote: the second one is the content.
                        self.start_run();
                        if let Err(e) = self.push_content(&[b]) {
                            return (i, Err(e));
                        }
                        self.advance(1);
                        i += 1;
                        self.state = State::Quoted;
                    } else if b == self.delimiter {
                        self.end_field();
                        self.advance(1);
                        i += 1;
                        self.state = State::FieldStart;
                    } else if b == b'\n' || b == b'\r' {
                        self.end_field();
                        self.line_break(b);
                        self.state = State::RecordStart;
                        return (i + 1, Ok(Scan::Record));
                    } else {
                        // Text after the closing quote (`"abc"def`): kept as content, as
                        // spreadsheet programs and the csv crate do, rather than failing a
                        // whole file over a sloppy export.
                        self.start_run();
                        self.state = State::Unquoted;
                    }
                }
            }
        }
        (i, Ok(Scan::NeedInput))
    }

    /// Ends the input: completes the last record if it has no final line break.
    ///
    /// Returns whether a record was completed. A last "record" that is a lone unquoted
    /// 0x1A (the MS-DOS end-of-file mark some older systems still append) is dropped.
    pub fn finish(&mut self) -> Result<bool, ReadError> {
        let state = std::mem::replace(&mut self.state, State::RecordStart);
        match state {
            State::RecordStart => return Ok(false),
            State::Quoted => {
                return Err(self.field_error(ReadErrorKind::UnterminatedQuote));
            }
            State::FieldStart => {
                // The input ends right after a delimiter: the record ends with an empty field.
                self.begin_field(false)?;
                self.start_run();
                self.end_field();
            }
            State::Unquoted | State::UnquotedTrail | State::QuoteInQuoted => self.end_field(),
        }
        let eof_mark = self.record.field_count() == 1
            && !self.field_quoted
            && self.record.content.as_slice() == [0x1A];
        Ok(!eof_mark)
    }

    fn begin_field(&mut self, quoted: bool) -> Result<(), ReadError> {
        self.field_line = self.line;
        self.field_offset = self.offset;
        self.field_quoted = quoted;
        self.field_start = self.record.content.len();
        if self.record.ends.len() >= self.limits.max_fields {
            return Err(self.field_error(ReadErrorKind::TooManyFields {
                limit: self.limits.max_fields,
            }));
        }
        Ok(())
    }

    fn end_field(&mut self) {
        self.record.ends.push(self.record.content.len());
    }

    /// Starts a run at the next content byte, which is the next input byte.
    fn start_run(&mut self) {
        self.record.runs.push(Run {
            content: self.record.content.len(),
            offset: self.offset,
            line: self.line,
        });
    }

    /// Appends to the current field, refusing to grow it beyond the limit: the check comes
    /// before the copy, so a huge field costs at most the limit in memory.
    fn push_content(&mut self, bytes: &[u8]) -> Result<(), ReadError> {
        let used = self.record.content.len() - self.field_start;
        if bytes.len() > self.limits.max_field_bytes - used {
            return Err(self.field_error(ReadErrorKind::FieldTooLarge {
                limit: self.limits.max_field_bytes,
            }));
        }
        self.record.content.extend_from_slice(bytes);
        Ok(())
    }

    /// Moves past `n` bytes that are not line breaks.
    fn advance(&mut self, n: usize) {
        self.offset += n as u64;
        self.last_was_cr = false;
    }

    /// Moves past a CR or LF, counting CRLF as a single line break.
    fn line_break(&mut self, b: u8) {
        self.offset += 1;
        if b == b'\n' && self.last_was_cr {
            self.last_was_cr = false;
        } else {
            self.line += 1;
            self.last_was_cr = b == b'\r';
        }
    }

    fn field_error(&self, kind: ReadErrorKind) -> ReadError {
        ReadError {
            kind,
            line: self.field_line,
            byte_offset: self.field_offset,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_field_bytes: 64,
        max_fields: 8,
    };

    /// A record as its start line and raw fields.
    type Scanned = (u64, Vec<Vec<u8>>);

    /// Scans `input` fed `chunk` bytes at a time.
    fn scan_all(input: &[u8], chunk: usize, delimiter: u8) -> Result<Vec<Scanned>, ReadError> {
        let mut scanner = Scanner::new(delimiter, SourceEncoding::Utf8, LIMITS, 0);
        let mut out = Vec::new();
        let collect = |s: &Scanner| {
            (
                s.record().line(),
                s.record().fields().map(|(_, f)| f.to_vec()).collect(),
            )
        };
        for piece in input.chunks(chunk) {
            let mut pos = 0;
            while pos < piece.len() {
                let (n, result) = scanner.scan(&piece[pos..]);
                pos += n;
                if result? == Scan::Record {
                    out.push(collect(&scanner));
                }
            }
        }
        if scanner.finish()? {
            out.push(collect(&scanner));
        }
        Ok(out)
    }

    fn owned(fields: &[&str]) -> Vec<Vec<u8>> {
        fields.iter().map(|f| f.as_bytes().to_vec()).collect()
    }

    #[test]
    fn quoting_and_line_breaks_in_every_chunking() {
        let input = b"a,\"b\r\nc\",\"d\"\"e\"\r\n\r\nf,\"g\"h,\r\"\"\n\nlast";
        for chunk in 1..=input.len() {
            let records = scan_all(input, chunk, b',').unwrap();
            assert_eq!(
                records,
                vec![
                    (1, owned(&["a", "b\r\nc", "d\"e"])),
                    (4, owned(&["f", "gh", ""])),
                    (5, owned(&[""])),
                    (7, owned(&["last"])),
                ],
                "chunk size {chunk}"
            );
        }
    }

    #[test]
    fn positions_map_back_through_quotes() {
        let input = b"x,\"a\"\"\nb\"\n";
        let mut scanner = Scanner::new(b',', SourceEncoding::Utf8, LIMITS, 3);
        let (_, result) = scanner.scan(input);
        assert_eq!(result.unwrap(), Scan::Record);
        let record = scanner.record();
        // content: x | a " \n b
        assert_eq!(record.position_of(0), (1, 3));
        assert_eq!(record.position_of(1), (1, 6));
        assert_eq!(record.position_of(2), (1, 8));
        assert_eq!(record.position_of(3), (1, 9));
        assert_eq!(record.position_of(4), (2, 10));
    }

    #[test]
    fn limits() {
        let err = scan_all(&[b'x'; 65], 7, b',').unwrap_err();
        assert!(matches!(
            err.kind,
            ReadErrorKind::FieldTooLarge { limit: 64 }
        ));
        let err = scan_all(b"ok\n1,2,3,4,5,6,7,8,9\n", 4, b',').unwrap_err();
        assert!(matches!(
            err.kind,
            ReadErrorKind::TooManyFields { limit: 8 }
        ));
        assert_eq!((err.line, err.byte_offset), (2, 19));
        let err = scan_all(b"a\n\"open\nx", 3, b',').unwrap_err();
        assert!(matches!(err.kind, ReadErrorKind::UnterminatedQuote));
        assert_eq!((err.line, err.byte_offset), (2, 2));
    }

    #[test]
    fn eof_mark_is_dropped() {
        assert_eq!(
            scan_all(b"a\n\x1A", 1, b',').unwrap(),
            vec![(1, owned(&["a"]))]
        );
    }

    #[test]
    fn trail_bytes_are_not_delimiters_when_they_could_be() {
        // "－" is 0x81 0x7C in Shift_JIS; 0x7C is `|`.
        let input = b"\x81\x7C|b\n";
        let mut scanner = Scanner::new(b'|', SourceEncoding::ShiftJis, LIMITS, 0);
        assert_eq!(scanner.scan(input).1.unwrap(), Scan::Record);
        let fields: Vec<_> = scanner.record().fields().map(|(_, f)| f.to_vec()).collect();
        assert_eq!(fields, vec![vec![0x81, 0x7C], b"b".to_vec()]);
    }
}
