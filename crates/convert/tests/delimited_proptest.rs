//! Round trip: random tables written by the csv crate read back identically, with the right
//! line numbers, whatever the encoding, delimiter, line end and internal buffer size.

use encoding_rs::SHIFT_JIS;
use kenshin_convert::delimited::{
    DelimitedOptions, DelimitedReader, HeaderMode, SourceEncoding, SourceRow,
};
use proptest::prelude::*;

/// Characters that survive a CP932 round trip, chosen to hit the awkward cases: structural
/// bytes, full-width forms, half-width katakana, NEC and IBM extensions, and "－" whose
/// second byte is `|`.
const CP932_CHARS: &[char] = &[
    'a', 'Z', '0', '9', ' ', '.', '-', '/', ',', ';', '|', '"', '\'', '\r', '\n', '\t', 'あ', 'ア',
    'ｱ', 'ﾞ', '山', '田', '髙', '﨑', '①', '㈱', 'Ⅰ', '～', '－', '＼', '\u{3000}',
];

/// CP932 characters plus some that only UTF-8 can carry.
const UTF8_ONLY_CHARS: &[char] = &['é', '한', '🍣', '\u{1F600}'];

fn cell(chars: &'static [char]) -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(chars), 0..12)
        .prop_map(|chars| chars.into_iter().collect())
}

fn utf8_chars() -> &'static [char] {
    static CHARS: std::sync::OnceLock<Vec<char>> = std::sync::OnceLock::new();
    CHARS.get_or_init(|| [CP932_CHARS, UTF8_ONLY_CHARS].concat())
}

/// Rows of 1 to 6 cells (ragged on purpose).
fn table(chars: &'static [char]) -> impl Strategy<Value = Vec<Vec<String>>> {
    prop::collection::vec(prop::collection::vec(cell(chars), 1..6), 1..15)
}

/// Writes `rows` with the csv crate; returns the text and the byte offset of each record.
fn write_csv(rows: &[Vec<String>], delimiter: u8, crlf: bool) -> (String, Vec<usize>) {
    let terminator = if crlf {
        csv::Terminator::CRLF
    } else {
        csv::Terminator::Any(b'\n')
    };
    let mut writer = csv::WriterBuilder::new()
        .delimiter(delimiter)
        .terminator(terminator)
        .flexible(true)
        .from_writer(Vec::new());
    let mut starts = Vec::new();
    for row in rows {
        writer.flush().unwrap();
        starts.push(writer.get_ref().len());
        writer.write_record(row).unwrap();
    }
    let bytes = writer.into_inner().unwrap();
    (String::from_utf8(bytes).unwrap(), starts)
}

/// 1-based line of each record start, counting CRLF, CR and LF as one break each.
fn expected_lines(text: &str, starts: &[usize]) -> Vec<u64> {
    starts
        .iter()
        .map(|&start| {
            let before = &text.as_bytes()[..start];
            let mut lines = 1;
            for (i, &b) in before.iter().enumerate() {
                if b == b'\r' || (b == b'\n' && (i == 0 || before[i - 1] != b'\r')) {
                    lines += 1;
                }
            }
            lines
        })
        .collect()
}

/// csv writes a row made of one empty cell as `""`, but a row with no cells cannot exist in
/// CSV; the strategy never makes one, and every written row must come back.
fn read_back(
    input: &[u8],
    encoding: SourceEncoding,
    delimiter: u8,
    buffer_size: usize,
) -> Vec<SourceRow> {
    let options = DelimitedOptions {
        encoding: Some(encoding),
        delimiter: Some(delimiter),
        header: HeaderMode::Absent,
        ..DelimitedOptions::default()
    };
    DelimitedReader::with_buffer_size(input, options, buffer_size)
        .expect("reader opens")
        .collect::<Result<Vec<_>, _>>()
        .expect("rows read")
}

fn check(
    rows: &[Vec<String>],
    input: &[u8],
    text: &str,
    starts: &[usize],
    encoding: SourceEncoding,
    delimiter: u8,
    buffer_size: usize,
) -> Result<(), TestCaseError> {
    let read = read_back(input, encoding, delimiter, buffer_size);
    let fields: Vec<Vec<String>> = read.iter().map(|r| r.fields.clone()).collect();
    prop_assert_eq!(&fields, rows);
    let lines: Vec<u64> = read.iter().map(|r| r.line).collect();
    prop_assert_eq!(lines, expected_lines(text, starts));
    let records: Vec<u64> = read.iter().map(|r| r.record).collect();
    prop_assert_eq!(records, (1..=rows.len() as u64).collect::<Vec<_>>());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn utf8_tables_round_trip(
        rows in table(utf8_chars()),
        delimiter in prop::sample::select(vec![b',', b'\t', b';', b'|']),
        crlf in any::<bool>(),
        buffer_size in 1usize..300,
    ) {
        let (text, starts) = write_csv(&rows, delimiter, crlf);
        check(&rows, text.as_bytes(), &text, &starts, SourceEncoding::Utf8, delimiter, buffer_size)?;
    }

    #[test]
    fn cp932_tables_round_trip(
        rows in table(CP932_CHARS),
        delimiter in prop::sample::select(vec![b',', b'\t', b';', b'|']),
        crlf in any::<bool>(),
        buffer_size in 1usize..300,
    ) {
        let (text, starts) = write_csv(&rows, delimiter, crlf);
        // Encoding the whole text keeps the csv crate from seeing (and quoting because of)
        // Shift_JIS trail bytes that equal the delimiter, so unquoted "－" with `|` occurs.
        let (encoded, _, unmappable) = SHIFT_JIS.encode(&text);
        prop_assert!(!unmappable);
        // Byte offsets differ between the encodings, but line breaks are the same bytes.
        let sjis_starts: Vec<usize> = starts
            .iter()
            .map(|&s| SHIFT_JIS.encode(&text[..s]).0.len())
            .collect();
        let sjis_text: String = encoded.iter().map(|&b| if b < 0x80 { b as char } else { 'x' }).collect();
        check(&rows, &encoded, &sjis_text, &sjis_starts, SourceEncoding::ShiftJis, delimiter, buffer_size)?;
    }

    /// Anything at all: the reader returns rows or one error, never panics, and stops after
    /// an error.
    #[test]
    fn arbitrary_bytes_never_panic(
        input in prop::collection::vec(any::<u8>(), 0..400),
        buffer_size in 1usize..64,
        max_field_bytes in 0usize..40,
        max_fields in 0usize..8,
    ) {
        let options = DelimitedOptions {
            max_field_bytes,
            max_fields,
            ..DelimitedOptions::default()
        };
        if let Ok(mut reader) = DelimitedReader::with_buffer_size(input.as_slice(), options, buffer_size) {
            let mut last_line = 0;
            while let Some(item) = reader.next() {
                match item {
                    Ok(row) => {
                        prop_assert!(row.line > last_line);
                        last_line = row.line;
                    }
                    Err(e) => {
                        prop_assert!(e.byte_offset <= input.len() as u64);
                        prop_assert!(reader.next().is_none());
                        break;
                    }
                }
            }
            prop_assert!(reader.bytes_read() <= input.len() as u64);
        }
    }
}

#[test]
fn cp932_alphabet_round_trips() {
    for &c in CP932_CHARS {
        let text = c.to_string();
        let (bytes, _, unmappable) = SHIFT_JIS.encode(&text);
        assert!(!unmappable, "{c:?}");
        assert_eq!(
            SHIFT_JIS.decode_without_bom_handling(&bytes).0,
            text,
            "{c:?}"
        );
    }
}
