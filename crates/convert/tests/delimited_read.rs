//! Behaviour of the delimited reader on synthetic exports (all people here are made up).

use std::io::{self, Read};
use std::time::{Duration, Instant};

use encoding_rs::SHIFT_JIS;
use kenshin_convert::delimited::{
    DelimitedOptions, DelimitedReader, HeaderMode, ReadError, ReadErrorKind, SourceEncoding,
    SourceRow,
};

// ---------------------------------------------------------------------------------------
// Synthetic data

const HEADER: &str = "受診者番号,氏名,カナ氏名,性別,生年月日,受診日,身長,体重,収縮期血圧,所見";

/// Fake examinees: names in kanji and kana, including the IBM extension kanji 髙 and 﨑.
const PEOPLE: [(&str, &str); 6] = [
    ("山田 太郎", "ヤマダ タロウ"),
    ("髙橋 花子", "タカハシ ハナコ"),
    ("山﨑 一郎", "ヤマサキ イチロウ"),
    ("佐藤 美咲", "サトウ ミサキ"),
    ("鈴木 健", "ｽｽﾞｷ ｹﾝ"),
    ("渡邉 恵子", "ワタナベ ケイコ"),
];

/// Remarks using NEC special characters (①, ㈱, Ⅰ) and the 0x8160 tilde.
const REMARKS: [&str; 4] = [
    "①要経過観察",
    "勤務先：㈱テスト商事",
    "判定Ⅰ 9時～17時勤務",
    "",
];

fn data_row(i: usize) -> Vec<String> {
    let (name, kana) = PEOPLE[i % PEOPLE.len()];
    vec![
        format!("{:06}", 1000 + i),
        name.to_owned(),
        kana.to_owned(),
        (1 + i % 2).to_string(),
        format!("19{:02}/{:02}/{:02}", 50 + i % 40, 1 + i % 12, 1 + i % 28),
        format!("2024/{:02}/{:02}", 1 + i % 12, 1 + i % 28),
        format!("{}.{}", 150 + i % 35, i % 10),
        format!("{}.{}", 45 + i % 40, (i * 7) % 10),
        (100 + i % 60).to_string(),
        REMARKS[i % REMARKS.len()].to_owned(),
    ]
}

fn header_fields() -> Vec<String> {
    HEADER.split(',').map(str::to_owned).collect()
}

/// An export as text: optional header, `rows` rows, `sep` between fields, `eol` after each.
fn export(rows: usize, header: bool, sep: &str, eol: &str) -> String {
    let mut text = String::new();
    if header {
        text.push_str(&header_fields().join(sep));
        text.push_str(eol);
    }
    for i in 0..rows {
        text.push_str(&data_row(i).join(sep));
        text.push_str(eol);
    }
    text
}

fn sjis(text: &str) -> Vec<u8> {
    let (bytes, _, unmappable) = SHIFT_JIS.encode(text);
    assert!(!unmappable, "test text must be encodable in CP932");
    bytes.into_owned()
}

fn read_all(input: &[u8], options: DelimitedOptions) -> (DelimitedReader<&[u8]>, Vec<SourceRow>) {
    let mut reader = DelimitedReader::new(input, options).expect("reader opens");
    let rows = reader
        .by_ref()
        .collect::<Result<Vec<_>, _>>()
        .expect("rows read");
    (reader, rows)
}

fn fields(rows: &[SourceRow]) -> Vec<Vec<String>> {
    rows.iter().map(|r| r.fields.clone()).collect()
}

fn owned(row: &[&str]) -> Vec<String> {
    row.iter().map(|s| (*s).to_owned()).collect()
}

/// Reads `input` expecting rows and then an error; returns both.
fn read_until_error(
    input: &[u8],
    options: DelimitedOptions,
    buffer_size: usize,
) -> (Vec<SourceRow>, ReadError) {
    let mut reader =
        DelimitedReader::with_buffer_size(input, options, buffer_size).expect("reader opens");
    let mut rows = Vec::new();
    for item in reader.by_ref() {
        match item {
            Ok(row) => rows.push(row),
            Err(e) => {
                assert!(reader.next().is_none(), "iteration ends after an error");
                return (rows, e);
            }
        }
    }
    panic!("expected an error after {} rows", rows.len());
}

/// Asserts that an error message mentions no field text of the synthetic data.
fn assert_no_field_text(message: &str) {
    for (name, kana) in PEOPLE {
        for part in name.split(' ').chain(kana.split(' ')) {
            assert!(!message.contains(part), "{message:?} leaks {part:?}");
        }
    }
    for word in ["テスト", "要経過観察", "1970"] {
        assert!(!message.contains(word), "{message:?} leaks {word:?}");
    }
}

fn options() -> DelimitedOptions {
    DelimitedOptions::default()
}

// ---------------------------------------------------------------------------------------
// Encodings

#[test]
fn cp932_export_with_nec_and_ibm_extensions() {
    let text = export(12, true, ",", "\r\n");
    let input = sjis(&text);
    let (reader, rows) = read_all(&input, options());
    assert_eq!(reader.encoding(), SourceEncoding::ShiftJis);
    assert_eq!(reader.delimiter(), b',');
    assert_eq!(reader.header(), Some(header_fields().as_slice()));
    assert_eq!(fields(&rows), (0..12).map(data_row).collect::<Vec<_>>());
    assert_eq!(rows[1].fields[1], "髙橋 花子");
    assert_eq!(rows[2].fields[1], "山﨑 一郎");
    assert_eq!(rows[0].fields[9], "①要経過観察");
    assert_eq!(rows[1].fields[9], "勤務先：㈱テスト商事");
    assert_eq!(rows[4].fields[2], "ｽｽﾞｷ ｹﾝ");
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row.record, i as u64 + 1);
        assert_eq!(row.line, i as u64 + 2);
    }
    assert_eq!(reader.bytes_read(), input.len() as u64);
}

#[test]
fn cp932_0x8160_decodes_to_fullwidth_tilde() {
    let mut input = sjis("受診日,備考\n2024/05/10,9時");
    input.extend_from_slice(&[0x81, 0x60]);
    input.extend_from_slice(&sjis("17時\n"));
    let (_, rows) = read_all(&input, options());
    assert_eq!(rows[0].fields[1], "9時\u{FF5E}17時");
}

#[test]
fn utf8_wave_dash_is_normalised_to_fullwidth_tilde() {
    let input = "受診日,備考\n2024/05/10,9時\u{301C}17時\n";
    let (reader, rows) = read_all(input.as_bytes(), options());
    assert_eq!(reader.encoding(), SourceEncoding::Utf8);
    assert_eq!(rows[0].fields[1], "9時\u{FF5E}17時");
}

#[test]
fn utf8_with_and_without_bom() {
    let text = export(5, true, ",", "\n");
    let mut with_bom = b"\xEF\xBB\xBF".to_vec();
    with_bom.extend_from_slice(text.as_bytes());
    for (input, len) in [
        (with_bom.as_slice(), text.len() + 3),
        (text.as_bytes(), text.len()),
    ] {
        let (reader, rows) = read_all(input, options());
        assert_eq!(reader.encoding(), SourceEncoding::Utf8);
        assert_eq!(
            reader.header().unwrap()[0],
            "受診者番号",
            "BOM is not part of the header"
        );
        assert_eq!(fields(&rows), (0..5).map(data_row).collect::<Vec<_>>());
        assert_eq!(reader.bytes_read(), len as u64);
    }
}

#[test]
fn bom_counts_in_byte_offsets() {
    let input = b"\xEF\xBB\xBFa,b\n1,\xFF\n";
    let (rows, err) = read_until_error(input, options(), 64);
    assert_eq!(rows.len(), 0);
    assert_eq!((err.line, err.byte_offset), (2, 9));
}

#[test]
fn forced_encoding_overrides_detection() {
    // Pure ASCII is valid UTF-8 and Shift_JIS alike; forcing Shift_JIS is respected.
    let options = DelimitedOptions {
        encoding: Some(SourceEncoding::ShiftJis),
        ..options()
    };
    let (reader, rows) = read_all(b"id,value\n1,2\n", options);
    assert_eq!(reader.encoding(), SourceEncoding::ShiftJis);
    assert_eq!(fields(&rows), vec![owned(&["1", "2"])]);
}

#[test]
fn shift_jis_after_an_ascii_sample_needs_the_encoding_set() {
    // The first 64 KiB are ASCII, so the guess is UTF-8 and the later Shift_JIS name is
    // reported precisely; with the encoding set, the same file reads.
    let mut text = String::from("id,value\n");
    while text.len() < 70_000 {
        text.push_str("000123,170.2\n");
    }
    let ascii_len = text.len() as u64;
    let lines = text.matches('\n').count() as u64;
    text.push_str("000124,山田\n");
    let input = sjis(&text);

    let (rows, err) = read_until_error(&input, options(), 4096);
    assert_eq!(rows.len() as u64, lines - 1);
    assert!(matches!(
        err.kind,
        ReadErrorKind::InvalidEncoding {
            encoding: SourceEncoding::Utf8,
            ..
        }
    ));
    assert_eq!((err.line, err.byte_offset), (lines + 1, ascii_len + 7));

    let forced = DelimitedOptions {
        encoding: Some(SourceEncoding::ShiftJis),
        ..options()
    };
    let (_, rows) = read_all(&input, forced);
    assert_eq!(rows.last().unwrap().fields, owned(&["000124", "山田"]));
}

// ---------------------------------------------------------------------------------------
// Delimiters, quoting and line ends

#[test]
fn tsv_is_detected() {
    let text = export(6, true, "\t", "\n");
    let (reader, rows) = read_all(text.as_bytes(), options());
    assert_eq!(reader.delimiter(), b'\t');
    assert_eq!(fields(&rows), (0..6).map(data_row).collect::<Vec<_>>());
}

#[test]
fn tsv_with_commas_in_values_is_still_tsv() {
    let input =
        "氏名\t住所\t金額\n山田 太郎\t東京都千代田区1-1,2F\t1,000\n髙橋 花子\t大阪市\t2,500\n";
    let (reader, rows) = read_all(input.as_bytes(), options());
    assert_eq!(reader.delimiter(), b'\t');
    assert_eq!(
        rows[0].fields,
        owned(&["山田 太郎", "東京都千代田区1-1,2F", "1,000"])
    );
}

#[test]
fn quoted_crlf_and_doubled_quotes_keep_line_numbers_right() {
    let text = "番号,氏名,所見\r\n\
                1,山田 太郎,\"胸部X線:\r\n\"\"要精検\"\"\r\n(再検査)\"\r\n\
                2,\"髙橋, 花子\",\"\"\r\n\
                3,山﨑 一郎,異常なし\r\n";
    for input in [text.as_bytes().to_vec(), sjis(text)] {
        let (_, rows) = read_all(&input, options());
        assert_eq!(
            fields(&rows),
            vec![
                owned(&["1", "山田 太郎", "胸部X線:\r\n\"要精検\"\r\n(再検査)"]),
                owned(&["2", "髙橋, 花子", ""]),
                owned(&["3", "山﨑 一郎", "異常なし"]),
            ]
        );
        let lines: Vec<u64> = rows.iter().map(|r| r.line).collect();
        assert_eq!(lines, vec![2, 5, 6]);
    }
}

#[test]
fn lf_cr_and_crlf_line_ends() {
    for eol in ["\n", "\r", "\r\n"] {
        let text = export(4, true, ",", eol);
        let (_, rows) = read_all(&sjis(&text), options());
        assert_eq!(
            fields(&rows),
            (0..4).map(data_row).collect::<Vec<_>>(),
            "{eol:?}"
        );
        let lines: Vec<u64> = rows.iter().map(|r| r.line).collect();
        assert_eq!(lines, vec![2, 3, 4, 5], "{eol:?}");
    }
}

#[test]
fn blank_lines_are_skipped_but_counted_and_last_line_needs_no_break() {
    let input = "番号,氏名\n\n1,山田 太郎\r\n\r\n\r\n2,髙橋 花子";
    let (reader, rows) = read_all(input.as_bytes(), options());
    assert_eq!(
        fields(&rows),
        vec![owned(&["1", "山田 太郎"]), owned(&["2", "髙橋 花子"])]
    );
    assert_eq!((rows[0].line, rows[1].line), (3, 6));
    assert_eq!((rows[0].record, rows[1].record), (1, 2));
    assert_eq!(reader.bytes_read(), input.len() as u64);
}

#[test]
fn trailing_delimiter_and_eof_mark() {
    let input = "番号,氏名,備考\n1,山田 太郎,\n2,髙橋 花子,\x1A";
    let (_, rows) = read_all(input.as_bytes(), options());
    assert_eq!(
        fields(&rows),
        vec![
            owned(&["1", "山田 太郎", ""]),
            owned(&["2", "髙橋 花子", "\u{1A}"])
        ]
    );
    let input = "番号,氏名\n1,山田 太郎\n\x1A";
    let (_, rows) = read_all(input.as_bytes(), options());
    assert_eq!(fields(&rows), vec![owned(&["1", "山田 太郎"])]);
}

#[test]
fn ragged_rows_are_returned_as_they_are() {
    let input = "番号,氏名,身長\n1,山田 太郎\n2,髙橋 花子,158.0,余分\n3,山﨑 一郎,170.1\n";
    let (reader, rows) = read_all(input.as_bytes(), options());
    assert_eq!(reader.header().unwrap().len(), 3);
    assert_eq!(
        fields(&rows),
        vec![
            owned(&["1", "山田 太郎"]),
            owned(&["2", "髙橋 花子", "158.0", "余分"]),
            owned(&["3", "山﨑 一郎", "170.1"]),
        ]
    );
}

#[test]
fn pipe_delimited_shift_jis_keeps_trail_bytes() {
    // "－" (U+FF0D) is 0x81 0x7C in CP932, and 0x7C is `|`.
    let input = sjis("番号|検査値\n1|－\n2|－－|３\n");
    let options = DelimitedOptions {
        delimiter: Some(b'|'),
        ..options()
    };
    let (_, rows) = read_all(&input, options);
    assert_eq!(
        fields(&rows),
        vec![owned(&["1", "－"]), owned(&["2", "－－", "３"])]
    );
}

#[test]
fn unusable_delimiters_are_refused() {
    for delimiter in [b'"', b'\r', b'\n', 0x82] {
        let options = DelimitedOptions {
            delimiter: Some(delimiter),
            ..options()
        };
        let err = DelimitedReader::new(&b"a,b\n"[..], options).unwrap_err();
        assert!(matches!(
            err.kind,
            ReadErrorKind::InvalidDelimiter { delimiter: d } if d == delimiter
        ));
    }
}

// ---------------------------------------------------------------------------------------
// Header detection

#[test]
fn header_is_detected_both_ways() {
    let with = export(8, true, ",", "\n");
    let (reader, rows) = read_all(with.as_bytes(), options());
    assert_eq!(reader.header(), Some(header_fields().as_slice()));
    assert_eq!(rows.len(), 8);

    let without = export(8, false, ",", "\n");
    let (reader, rows) = read_all(without.as_bytes(), options());
    assert_eq!(reader.header(), None);
    assert_eq!(fields(&rows), (0..8).map(data_row).collect::<Vec<_>>());
    assert_eq!(rows[0].line, 1);
}

#[test]
fn header_can_be_forced() {
    let without = export(3, false, ",", "\n");
    let present = DelimitedOptions {
        header: HeaderMode::Present,
        ..options()
    };
    let (reader, rows) = read_all(without.as_bytes(), present);
    assert_eq!(reader.header(), Some(data_row(0).as_slice()));
    assert_eq!(fields(&rows), vec![data_row(1), data_row(2)]);
    assert_eq!((rows[0].record, rows[0].line), (1, 2));

    let with = export(3, true, ",", "\n");
    let absent = DelimitedOptions {
        header: HeaderMode::Absent,
        ..options()
    };
    let (reader, rows) = read_all(with.as_bytes(), absent);
    assert_eq!(reader.header(), None);
    assert_eq!(rows[0].fields, header_fields());
    assert_eq!(rows.len(), 4);
}

#[test]
fn header_only_input_has_no_rows() {
    for header in [HeaderMode::Auto, HeaderMode::Present] {
        let input = sjis(&format!("{HEADER}\r\n"));
        let options = DelimitedOptions {
            header,
            ..options()
        };
        let (reader, rows) = read_all(&input, options);
        assert_eq!(reader.header(), Some(header_fields().as_slice()));
        assert!(rows.is_empty());
    }
}

// ---------------------------------------------------------------------------------------
// Errors

#[test]
fn invalid_shift_jis_pair_is_located() {
    let mut input = sjis("番号,氏名\r\n1,山田 太郎\r\n2,髙橋 ");
    let offset = input.len() as u64;
    input.extend_from_slice(&[0x85, 0x40]);
    input.extend_from_slice(&sjis("花子\r\n3,山﨑 一郎\r\n"));
    for buffer_size in [1, 2, 3, 7, 64 * 1024] {
        let (rows, err) = read_until_error(&input, options(), buffer_size);
        assert_eq!(fields(&rows), vec![owned(&["1", "山田 太郎"])]);
        match &err.kind {
            ReadErrorKind::InvalidEncoding {
                bytes_hex,
                encoding,
            } => {
                assert_eq!(bytes_hex, "0x85 0x40");
                assert_eq!(*encoding, SourceEncoding::ShiftJis);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!((err.line, err.byte_offset), (3, offset));
        let message = err.to_string();
        assert_eq!(
            message,
            format!("3 行目（{offset} バイト目）/ line 3 (byte {offset}): 文字コード不正：Shift_JIS として読めないバイト列 0x85 0x40。文字コードを確かめて保存し直してください / invalid Shift_JIS byte sequence")
        );
        assert_no_field_text(&message);
        assert_no_field_text(&format!("{err:?}"));
    }
}

#[test]
fn lone_lead_byte_at_end_of_input() {
    let mut input = sjis("番号,氏名\n1,山田 太郎\n2,髙橋");
    let offset = input.len() as u64;
    input.push(0x81);
    let (rows, err) = read_until_error(&input, options(), 5);
    assert_eq!(rows.len(), 1);
    assert!(matches!(
        &err.kind,
        ReadErrorKind::InvalidEncoding { bytes_hex, .. } if bytes_hex == "0x81"
    ));
    assert_eq!((err.line, err.byte_offset), (3, offset));
    assert_no_field_text(&err.to_string());
}

#[test]
fn lead_byte_before_a_delimiter() {
    let mut input = sjis("番号,氏名,備考\n1,山田");
    let offset = input.len() as u64;
    input.push(0x81);
    input.extend_from_slice(&sjis(",備考\n"));
    let (_, err) = read_until_error(&input, options(), 1);
    assert!(matches!(
        &err.kind,
        ReadErrorKind::InvalidEncoding { bytes_hex, .. } if bytes_hex == "0x81"
    ));
    assert_eq!((err.line, err.byte_offset), (2, offset));
}

#[test]
fn invalid_byte_inside_a_multi_line_quoted_field_names_its_own_line() {
    let mut input = sjis("番号,所見\n1,\"一行目\r\n二行目\"\"\"\"");
    let offset = input.len() as u64;
    input.push(0xFD);
    input.extend_from_slice(&sjis("\r\n三行目\"\n"));
    let (rows, err) = read_until_error(&input, options(), 3);
    assert!(rows.is_empty());
    assert!(matches!(
        &err.kind,
        ReadErrorKind::InvalidEncoding { bytes_hex, .. } if bytes_hex == "0xFD"
    ));
    assert_eq!((err.line, err.byte_offset), (3, offset));
}

#[test]
fn invalid_utf8_is_located() {
    let mut input = "番号,氏名\n1,山田 太郎\n2,".as_bytes().to_vec();
    let offset = input.len() as u64;
    input.extend_from_slice(b"\xE9\xAB");
    input.extend_from_slice("橋\n".as_bytes());
    let options = DelimitedOptions {
        encoding: Some(SourceEncoding::Utf8),
        ..options()
    };
    let (rows, err) = read_until_error(&input, options, 2);
    assert_eq!(rows.len(), 1);
    assert!(matches!(
        &err.kind,
        ReadErrorKind::InvalidEncoding { bytes_hex, encoding: SourceEncoding::Utf8 }
            if bytes_hex == "0xE9 0xAB"
    ));
    assert_eq!((err.line, err.byte_offset), (3, offset));
}

#[test]
fn error_in_first_data_row_comes_from_the_iterator() {
    let mut input = sjis("1,山田 太郎,2024/05/10\n");
    input.insert(2, 0xA0);
    let options = DelimitedOptions {
        header: HeaderMode::Absent,
        ..options()
    };
    let (rows, err) = read_until_error(&input, options, 1024);
    assert!(rows.is_empty());
    assert_eq!((err.line, err.byte_offset), (1, 2));
}

#[test]
fn undecodable_header_fails_at_open() {
    let input = b"\x85\x40,b\n1,2\n";
    let options = DelimitedOptions {
        encoding: Some(SourceEncoding::ShiftJis),
        header: HeaderMode::Present,
        ..options()
    };
    let err = DelimitedReader::new(&input[..], options).unwrap_err();
    assert!(matches!(err.kind, ReadErrorKind::InvalidEncoding { .. }));
    assert_eq!((err.line, err.byte_offset), (1, 0));
}

#[test]
fn unterminated_quote_points_at_the_opening_quote() {
    let input = "番号,所見\n1,正常\n2,\"閉じない\n所見\n";
    let (rows, err) = read_until_error(input.as_bytes(), options(), 16);
    assert_eq!(rows.len(), 1);
    assert!(matches!(err.kind, ReadErrorKind::UnterminatedQuote));
    let quote = input.find('"').unwrap() as u64;
    assert_eq!((err.line, err.byte_offset), (3, quote));
    assert_no_field_text(&err.to_string());
}

#[test]
fn empty_inputs() {
    for input in [&b""[..], b"\xEF\xBB\xBF", b"\r\n\n\r", b"\x1A"] {
        for header in [HeaderMode::Auto, HeaderMode::Present, HeaderMode::Absent] {
            let options = DelimitedOptions {
                header,
                ..options()
            };
            let err = DelimitedReader::new(input, options).unwrap_err();
            assert!(
                matches!(err.kind, ReadErrorKind::Empty),
                "{input:?} {header:?}"
            );
            assert_eq!(err.byte_offset, input.len() as u64);
        }
    }
}

#[test]
fn blank_lines_beyond_the_sample_are_still_empty() {
    let input = vec![b'\n'; 100_000];
    let err = DelimitedReader::new(input.as_slice(), options()).unwrap_err();
    assert!(matches!(err.kind, ReadErrorKind::Empty));
    assert_eq!((err.line, err.byte_offset), (100_001, 100_000));
}

// ---------------------------------------------------------------------------------------
// Buffer boundaries

/// Hands out at most `step` bytes per read, and sometimes reports `Interrupted`.
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
    calls: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.calls += 1;
        if self.calls % 5 == 0 {
            return Err(io::Error::new(io::ErrorKind::Interrupted, "try again"));
        }
        let n = self.step.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

#[test]
fn characters_split_across_buffers_decode_correctly() {
    let text = "番号,氏名,カナ,所見\r\n\
                1,髙橋 花子,ﾀｶﾊｼ ﾊﾅｺ,\"①～\r\n㈱Ⅰ\"\r\n\
                2,山﨑 一郎,ヤマサキ,\"\"\"引用\"\"\"\r\n";
    for input in [sjis(text), text.as_bytes().to_vec()] {
        let (expected_reader, expected) = read_all(&input, options());
        let expected_header = expected_reader.header().map(<[String]>::to_vec);
        assert_eq!(expected[0].fields[3], "①～\r\n㈱Ⅰ");
        assert_eq!(expected[1].fields[3], "\"引用\"");
        for buffer_size in 1..=24 {
            let mut reader =
                DelimitedReader::with_buffer_size(input.as_slice(), options(), buffer_size)
                    .unwrap();
            let rows: Vec<_> = reader.by_ref().collect::<Result<_, _>>().unwrap();
            assert_eq!(rows, expected, "buffer size {buffer_size}");
            assert_eq!(reader.header().map(<[String]>::to_vec), expected_header);

            let trickle = Trickle {
                data: &input,
                step: buffer_size,
                calls: 0,
            };
            let rows: Vec<_> = DelimitedReader::new(trickle, options())
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            assert_eq!(rows, expected, "read step {buffer_size}");
        }
    }
}

#[test]
fn character_split_at_the_end_of_the_sample() {
    // Shift_JIS file whose 65,536th and 65,537th bytes are one kanji, so the sample ends in
    // the middle of it; the reader continues from the sample into fresh reads.
    let mut text = String::from("番号,氏名\n");
    let mut prefix = sjis(&text).len();
    let mut i = 0;
    while prefix < 65_536 - 40 {
        let row = format!("{i:06},山田 太郎\n");
        prefix += sjis(&row).len();
        text.push_str(&row);
        i += 1;
    }
    let pad = 65_535 - prefix - 7;
    text.push_str(&format!("{i:06},{}髙橋\n", "a".repeat(pad)));
    let input = sjis(&text);
    assert_eq!(
        &input[65_535..65_537],
        &[0xFB, 0xFC],
        "髙 straddles the sample end"
    );
    for buffer_size in [1, 3, 4096, 64 * 1024] {
        let trickle = Trickle {
            data: &input,
            step: 1000,
            calls: 0,
        };
        let options = DelimitedOptions {
            encoding: Some(SourceEncoding::ShiftJis),
            ..options()
        };
        let mut reader = DelimitedReader::with_buffer_size(trickle, options, buffer_size).unwrap();
        let rows: Vec<_> = reader.by_ref().collect::<Result<_, _>>().unwrap();
        assert_eq!(rows.len(), i + 1);
        assert_eq!(rows[i].fields[1], format!("{}髙橋", "a".repeat(pad)));
        assert_eq!(rows[i].line, i as u64 + 2);
        assert_eq!(reader.bytes_read(), input.len() as u64);
    }
}

// ---------------------------------------------------------------------------------------
// Limits

/// A 100 MB input made of one field, produced on demand; counts the bytes handed out.
struct HugeField {
    prefix: &'static [u8],
    remaining: u64,
    handed_out: u64,
}

impl Read for HugeField {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut n = 0;
        while n < buf.len() && !self.prefix.is_empty() {
            buf[n] = self.prefix[0];
            self.prefix = &self.prefix[1..];
            n += 1;
        }
        let fill = ((buf.len() - n) as u64).min(self.remaining) as usize;
        buf[n..n + fill].fill(b'7');
        self.remaining -= fill as u64;
        n += fill;
        self.handed_out += n as u64;
        Ok(n)
    }
}

#[test]
fn hundred_megabyte_field_fails_fast_at_the_limit() {
    for prefix in [&b"id,value\n1,"[..], b"id,value\n1,\""] {
        let mut source = HugeField {
            prefix,
            remaining: 100 * 1024 * 1024,
            handed_out: 0,
        };
        let started = Instant::now();
        let (rows, err) = {
            let mut reader = DelimitedReader::new(&mut source, options()).unwrap();
            let mut rows = Vec::new();
            let mut error = None;
            for item in reader.by_ref() {
                match item {
                    Ok(row) => rows.push(row),
                    Err(e) => error = Some(e),
                }
            }
            (rows, error.expect("field limit error"))
        };
        assert!(rows.is_empty());
        assert!(matches!(
            err.kind,
            ReadErrorKind::FieldTooLarge { limit: 65_536 }
        ));
        assert_eq!((err.line, err.byte_offset), (2, 11));
        assert!(
            source.handed_out <= 3 * 64 * 1024,
            "read {} bytes before failing",
            source.handed_out
        );
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(
            err.to_string(),
            "2 行目（11 バイト目）/ line 2 (byte 11): 項目長超過：1 つの項目が 65536 バイトを超えています（引用符の閉じ忘れの可能性があります）/ field exceeds the limit of 65536 bytes"
        );
    }
}

#[test]
fn field_limit_is_configurable_and_exact() {
    let options = DelimitedOptions {
        max_field_bytes: 6,
        header: HeaderMode::Absent,
        ..options()
    };
    // 6 bytes in Shift_JIS: three kanji.
    let (_, rows) = read_all(&sjis("山田太,\"a\"\"bcd\"\n"), options.clone());
    assert_eq!(rows[0].fields, owned(&["山田太", "a\"bcd"]));
    let (rows, err) = read_until_error(&sjis("1\n山田太郎\n"), options, 2);
    assert_eq!(rows.len(), 1);
    assert!(matches!(
        err.kind,
        ReadErrorKind::FieldTooLarge { limit: 6 }
    ));
    assert_eq!((err.line, err.byte_offset), (2, 2));
}

#[test]
fn too_many_fields() {
    let mut input = String::from("番号,氏名\n1,山田 太郎\n2");
    let offset = input.len() as u64 + 1 + 4095 * 2;
    input.push_str(&",x".repeat(5000));
    input.push('\n');
    let (rows, err) = read_until_error(input.as_bytes(), options(), 100);
    assert_eq!(rows.len(), 1);
    assert!(matches!(
        err.kind,
        ReadErrorKind::TooManyFields { limit: 4096 }
    ));
    assert_eq!((err.line, err.byte_offset), (3, offset));

    let options = DelimitedOptions {
        max_fields: 3,
        ..options()
    };
    let (_, rows) = read_all(b"a,b,c\n1,2,3\n", options.clone());
    assert_eq!(rows.len(), 1);
    // Without a readable first record there is no header to guess, so the error comes from
    // the first data row.
    let (_, err) = read_until_error(b"a,b,c,d\n", options, 1024);
    assert!(matches!(
        err.kind,
        ReadErrorKind::TooManyFields { limit: 3 }
    ));
    assert_eq!((err.line, err.byte_offset), (1, 6));
}

// ---------------------------------------------------------------------------------------
// I/O and small API

struct FailAfter<'a> {
    data: &'a [u8],
}

impl Read for FailAfter<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.data.is_empty() {
            return Err(io::Error::other("disk on fire"));
        }
        let n = buf.len().min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

#[test]
fn io_errors_are_reported_with_position() {
    let err = DelimitedReader::new(FailAfter { data: b"" }, options()).unwrap_err();
    assert!(matches!(err.kind, ReadErrorKind::Io(_)));
    assert_eq!((err.line, err.byte_offset), (1, 0));
    let err = DelimitedReader::new(
        FailAfter {
            data: b"a\r\nb\n\"c\rd",
        },
        options(),
    )
    .unwrap_err();
    assert!(matches!(err.kind, ReadErrorKind::Io(_)));
    assert_eq!((err.line, err.byte_offset), (4, 9));

    let mut text = String::from("番号,氏名\n");
    while text.len() < 70_000 {
        text.push_str("000123,山田 太郎\n");
    }
    let mut reader = DelimitedReader::new(
        FailAfter {
            data: text.as_bytes(),
        },
        options(),
    )
    .unwrap();
    let mut count = 0;
    let err = loop {
        match reader.next() {
            Some(Ok(_)) => count += 1,
            Some(Err(e)) => break e,
            None => panic!("expected an I/O error"),
        }
    };
    assert!(reader.next().is_none());
    assert_eq!(count, text.matches('\n').count() - 1);
    assert!(matches!(err.kind, ReadErrorKind::Io(_)));
    assert_eq!(err.byte_offset, text.len() as u64);
    assert!(err.to_string().contains("disk on fire"));
}

#[test]
fn encoding_names() {
    for name in ["utf-8", "UTF8", " Utf-8 "] {
        assert_eq!(name.parse::<SourceEncoding>(), Ok(SourceEncoding::Utf8));
    }
    for name in [
        "sjis",
        "Shift_JIS",
        "shift-jis",
        "CP932",
        "MS932",
        "Windows-31J",
    ] {
        assert_eq!(name.parse::<SourceEncoding>(), Ok(SourceEncoding::ShiftJis));
    }
    assert!("euc-jp".parse::<SourceEncoding>().is_err());
    assert_eq!(SourceEncoding::Utf8.to_string(), "UTF-8");
    assert_eq!(SourceEncoding::ShiftJis.to_string(), "Shift_JIS");
}

#[test]
fn defaults() {
    let options = DelimitedOptions::default();
    assert_eq!(options.encoding, None);
    assert_eq!(options.delimiter, None);
    assert_eq!(options.header, HeaderMode::Auto);
    assert_eq!(options.max_field_bytes, 64 * 1024);
    assert_eq!(options.max_fields, 4096);
}

#[test]
fn debug_output_shows_no_data() {
    let text = export(2, true, ",", "\n");
    let (reader, _) = read_all(text.as_bytes(), options());
    let debug = format!("{reader:?}");
    assert!(debug.contains("Utf8"));
    assert_no_field_text(&debug);
}
