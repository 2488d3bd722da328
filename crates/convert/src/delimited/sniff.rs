//! Guessing the encoding, delimiter and header row from the first bytes of an export.
//!
//! All guesses look only at the sample (the first [`SAMPLE_LEN`](super::SAMPLE_LEN) bytes)
//! and the rules are documented on the [module](super) so that an operator can predict them
//! and override them per institution when they guess wrong.

use super::decode::decode_field;
use super::scan::{Limits, RawRecord, Scan, Scanner};
use super::SourceEncoding;

/// UTF-8 byte order mark, as written by Excel's "CSV UTF-8" and many Windows tools.
pub(super) const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// How many records of the sample the delimiter and header guesses look at. Enough to see
/// past a few odd rows, few enough to keep opening a file instant.
const SAMPLE_RECORDS: usize = 100;

/// Guesses the encoding: a UTF-8 byte order mark, else UTF-8 if the whole sample is valid
/// UTF-8, else Shift_JIS.
///
/// `complete` says whether the sample is the whole input; if not, a UTF-8 sequence cut off
/// by the end of the sample does not count against UTF-8.
pub(super) fn guess_encoding(sample: &[u8], complete: bool) -> SourceEncoding {
    if sample.starts_with(UTF8_BOM) {
        return SourceEncoding::Utf8;
    }
    match std::str::from_utf8(sample) {
        Ok(_) => SourceEncoding::Utf8,
        Err(e) if !complete && e.error_len().is_none() => SourceEncoding::Utf8,
        Err(_) => SourceEncoding::ShiftJis,
    }
}

/// Guesses comma or tab.
///
/// The sample is split into records with each candidate (so quoted commas and tabs do not
/// count). A candidate that splits the first record into several fields while the other
/// does not wins; if both do, the one under which more records have the same field count as
/// the first wins, then the one giving the first record more fields; a remaining tie, or a
/// single-column file, is comma.
pub(super) fn guess_delimiter(
    sample: &[u8],
    complete: bool,
    encoding: SourceEncoding,
    limits: Limits,
) -> u8 {
    let shape = |delimiter: u8| {
        let mut counts = Vec::new();
        for_each_record(sample, complete, delimiter, encoding, limits, |record| {
            counts.push(record.field_count());
            true
        });
        let first = counts.first().copied().unwrap_or(0);
        let consistent = counts.iter().filter(|&&c| c == first).count();
        (first, consistent)
    };
    let (comma_fields, comma_consistent) = shape(b',');
    let (tab_fields, tab_consistent) = shape(b'\t');
    let tab_wins = match (comma_fields > 1, tab_fields > 1) {
        (false, true) => true,
        (true, true) => (tab_consistent, tab_fields) > (comma_consistent, comma_fields),
        _ => false,
    };
    if tab_wins {
        b'\t'
    } else {
        b','
    }
}

/// Guesses whether the first record is a header row.
///
/// Cells are classified as numeric (numbers, dates, times, lab values like `<0.5`), text
/// (containing a letter, kana or kanji) or blank (empty, or only symbols such as `-` or
/// `＊`, which exports use for "not measured"). The first record is a header when:
///
/// 1. more of its cells are text than numeric, and
/// 2. if it is the only record: none of its cells is numeric;
///    otherwise: the columns where the first cell is text while most later cells are
///    numeric outnumber the columns where both are numeric.
///
/// Rule 2 compares column by column because a checkup row is itself partly text (names,
/// addresses, judgement codes); what marks a header is text standing above numbers. When
/// in doubt it answers "no header", because the caller then sees the extra row instead of
/// silently losing an examinee's record.
pub(super) fn guess_header(
    sample: &[u8],
    complete: bool,
    encoding: SourceEncoding,
    delimiter: u8,
    limits: Limits,
) -> bool {
    let mut rows: Vec<Vec<Cell>> = Vec::new();
    for_each_record(sample, complete, delimiter, encoding, limits, |record| {
        let mut cells = Vec::with_capacity(record.field_count());
        for (_, bytes) in record.fields() {
            match decode_field(encoding, bytes) {
                Ok(text) => cells.push(classify(&text)),
                // Undecodable rows are left for the reader to report; guess from the rest.
                Err(_) => return false,
            }
        }
        rows.push(cells);
        true
    });
    let Some((first, rest)) = rows.split_first() else {
        return false;
    };
    let text = first.iter().filter(|&&c| c == Cell::Text).count();
    let numeric = first.iter().filter(|&&c| c == Cell::Numeric).count();
    if text <= numeric {
        return false;
    }
    if rest.is_empty() {
        return numeric == 0;
    }
    let mut text_over_numbers = 0usize;
    let mut numbers_over_numbers = 0usize;
    for (column, &top) in first.iter().enumerate() {
        let below = rest.iter().filter_map(|row| row.get(column).copied());
        let (mut filled, mut numbers) = (0usize, 0usize);
        for cell in below {
            if cell != Cell::Blank {
                filled += 1;
                numbers += usize::from(cell == Cell::Numeric);
            }
        }
        if filled == 0 || numbers * 2 <= filled {
            continue;
        }
        match top {
            Cell::Text => text_over_numbers += 1,
            Cell::Numeric => numbers_over_numbers += 1,
            Cell::Blank => {}
        }
    }
    text_over_numbers > numbers_over_numbers
}

/// Calls `visit` on each complete record of the sample (at most [`SAMPLE_RECORDS`]) until
/// it returns false. A record cut off by the end of an incomplete sample is not visited,
/// and scanning stops quietly at the first error: the reader reports it in its place.
fn for_each_record(
    sample: &[u8],
    complete: bool,
    delimiter: u8,
    encoding: SourceEncoding,
    limits: Limits,
    mut visit: impl FnMut(&RawRecord) -> bool,
) {
    let mut scanner = Scanner::new(delimiter, encoding, limits, 0);
    let mut pos = 0;
    for _ in 0..SAMPLE_RECORDS {
        let (consumed, result) = scanner.scan(&sample[pos..]);
        pos += consumed;
        match result {
            Ok(Scan::Record) => {
                if !visit(scanner.record()) {
                    return;
                }
            }
            Ok(Scan::NeedInput) => {
                if complete && matches!(scanner.finish(), Ok(true)) {
                    visit(scanner.record());
                }
                return;
            }
            Err(_) => return,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cell {
    Blank,
    Numeric,
    Text,
}

/// Era prefixes of Japanese dates (`R6.5.10`, `令和6年5月10日`), longest first.
const ERA_PREFIXES: [&str; 15] = [
    "明治", "大正", "昭和", "平成", "令和", "M", "T", "S", "H", "R", "m", "t", "s", "h", "r",
];

/// Comparators in front of lab values below or above a measurable range.
const COMPARATORS: [&str; 10] = ["<=", ">=", "<", ">", "≦", "≧", "≤", "≥", "＜", "＞"];

const SIGNS: [char; 5] = ['+', '-', '＋', '－', '\u{2212}'];

fn classify(cell: &str) -> Cell {
    let trimmed = cell.trim();
    if is_numeric_like(trimmed) {
        Cell::Numeric
    } else if trimmed.chars().any(char::is_alphabetic) {
        Cell::Text
    } else {
        Cell::Blank
    }
}

/// Numbers, dates and times, in ASCII or full-width digits: after an optional comparator,
/// sign and era prefix, only digits and the separators `. , / - :` (and full-width forms),
/// spaces and 年月日時分秒, with at least one digit.
fn is_numeric_like(cell: &str) -> bool {
    let mut rest = cell;
    if let Some(r) = COMPARATORS.iter().find_map(|p| rest.strip_prefix(p)) {
        rest = r;
    }
    if let Some(r) = rest.strip_prefix(SIGNS) {
        rest = r;
    }
    if let Some(r) = ERA_PREFIXES.iter().find_map(|p| rest.strip_prefix(p)) {
        if r.starts_with(|c: char| c.is_ascii_digit() || ('０'..='９').contains(&c)) {
            rest = r;
        }
    }
    let mut digits = false;
    for c in rest.chars() {
        match c {
            '0'..='9' | '０'..='９' => digits = true,
            '.' | ',' | '/' | '-' | ':' | ' ' | '．' | '，' | '／' | '－' | '：' | '\u{3000}' =>
                {}
            '年' | '月' | '日' | '時' | '分' | '秒' => {}
            _ => return false,
        }
    }
    digits
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_field_bytes: 1024,
        max_fields: 64,
    };

    fn header(text: &str) -> bool {
        guess_header(text.as_bytes(), true, SourceEncoding::Utf8, b',', LIMITS)
    }

    #[test]
    fn cells() {
        for numeric in [
            "120",
            "-0.5",
            "<0.3",
            "2024/05/10",
            "令和6年5月10日",
            "R06.05.10",
            "１２０",
            "09:30",
        ] {
            assert_eq!(classify(numeric), Cell::Numeric, "{numeric}");
        }
        for text in ["氏名", "ヤマダ", "BMI", "A", "令和", "1+ (陽性)"] {
            assert_eq!(classify(text), Cell::Text, "{text}");
        }
        for blank in ["", "  ", "-", "＊", "―", "(+)"] {
            assert_eq!(classify(blank), Cell::Blank, "{blank:?}");
        }
    }

    #[test]
    fn header_over_numbers() {
        assert!(header(
            "受診者番号,氏名,受診日,身長\n0001,山田 太郎,2024/05/10,170.2\n0002,佐藤 花子,2024/05/11,158.0\n"
        ));
    }

    #[test]
    fn data_only() {
        assert!(!header(
            "0001,山田 太郎,2024/05/10,170.2\n0002,佐藤 花子,2024/05/11,158.0\n"
        ));
    }

    #[test]
    fn first_row_with_placeholders_is_data() {
        assert!(!header(
            "0001,山田 太郎,2024/05/10,-,-,未実施\n0002,佐藤 花子,2024/05/11,158.0,50.1,120\n"
        ));
    }

    #[test]
    fn single_record() {
        assert!(header("氏名,カナ氏名,生年月日\n"));
        assert!(!header("山田 太郎,ヤマダ タロウ,1970/01/01\n"));
    }

    #[test]
    fn delimiters() {
        let guess =
            |text: &str| guess_delimiter(text.as_bytes(), true, SourceEncoding::Utf8, LIMITS);
        assert_eq!(guess("a,b,c\n1,2,3\n"), b',');
        assert_eq!(guess("a\tb\tc\n1\t2\t3\n"), b'\t');
        assert_eq!(guess("住所\t金額\n東京都,千代田区\t1,000\n"), b'\t');
        assert_eq!(guess("\"a\tb\",c\n\"1\t2\",3\n"), b',');
        assert_eq!(guess("single\ncolumn\n"), b',');
    }

    #[test]
    fn encodings() {
        assert_eq!(guess_encoding(b"\xEF\xBB\xBFa", true), SourceEncoding::Utf8);
        assert_eq!(guess_encoding("あ".as_bytes(), true), SourceEncoding::Utf8);
        assert_eq!(guess_encoding(b"\x82\xA0", true), SourceEncoding::ShiftJis);
        // "あ" cut after two of its three bytes by the end of the sample.
        assert_eq!(guess_encoding(b"a\xE3\x81", false), SourceEncoding::Utf8);
        assert_eq!(guess_encoding(b"a\xE3\x81", true), SourceEncoding::ShiftJis);
    }
}
