//! Profile files: reading, writing, hostile and malformed input, consistency checks.

use std::collections::BTreeSet;
use std::io::{self, Read};

use kenshin_profile::{
    profile_columns, CodeTerm, Item, ItemKind, NumberFormat, Profile, ProfileError, Range,
    ReferenceRanges, WarningKind, XmlDataType, XmlInfo, MAX_FILE_BYTES, MAX_LINE_BYTES,
};
use proptest::prelude::*;

const HEADER: &str = "code,name,category,type,format,codes,unit,ucum,max_bytes,input_low,\
                      input_high,male_low,male_high,female_low,female_high,programs,xml_type,\
                      code_system,method_code,series_group";
const HEIGHT: &str =
    "9N001000000000001,身長,身体計測,numeric,NNN.N,,cm,cm,5,100,250,,,,,特定健診:1,PQ,,,";
const URINE: &str = "1A020000000190111,尿糖,尿検査,code,,1=－;2=±;3=＋;4=＋＋;5=＋＋＋,,,1,,,,,,,\
                     特定健診:K,CO,1.2.392.200119.6.2102,1A02020000,";

/// A profile file: metadata on lines 1–3, the header on line 4, `rows` from line 5.
fn file(rows: &[&str]) -> String {
    let mut text = format!("# id: test\n# version: 1\n# name: テスト\n{HEADER}\n");
    for row in rows {
        text.push_str(row);
        text.push('\n');
    }
    text
}

fn read(text: &str) -> Result<Profile, ProfileError> {
    Profile::from_csv_reader(text.as_bytes())
}

/// The error's line and column, after checking that its message contains `needle`.
fn error_at(text: impl AsRef<[u8]>, needle: &str) -> (u64, String) {
    match Profile::from_csv_reader(text.as_ref()) {
        Err(ProfileError::Invalid {
            line,
            column,
            message,
        }) => {
            assert!(
                message.contains(needle),
                "message {message:?} does not contain {needle:?}"
            );
            (line, column)
        }
        other => panic!("expected an Invalid error, got {other:?}"),
    }
}

fn at(line: u64, column: &str) -> (u64, String) {
    (line, column.to_owned())
}

#[test]
fn a_small_profile_reads() {
    let profile = read(&file(&[HEIGHT, URINE])).unwrap();
    assert_eq!(
        (
            profile.id.as_str(),
            profile.version.as_str(),
            profile.name.as_str()
        ),
        ("test", "1", "テスト")
    );
    let height = profile.item("9N001000000000001").unwrap();
    assert_eq!(
        height.kind,
        ItemKind::Numeric {
            format: NumberFormat::parse("NNN.N").unwrap()
        }
    );
    assert_eq!(
        height.input_range.as_ref().unwrap().high.as_deref(),
        Some("250")
    );
    assert_eq!(height.reference, None);
    assert_eq!(height.programs, ["特定健診:1"]);
    let urine = profile.item("1A020000000190111").unwrap();
    let ItemKind::Code { terms } = &urine.kind else {
        panic!()
    };
    assert_eq!(terms.len(), 5);
    assert_eq!(terms[4].term, "＋＋＋");
    assert_eq!(
        urine.xml.as_ref().unwrap().method_code.as_deref(),
        Some("1A02020000")
    );
}

#[test]
fn columns_may_come_in_any_order() {
    let reversed = |line: &str| {
        let mut cells: Vec<&str> = line.split(',').collect();
        cells.reverse();
        cells.join(",")
    };
    let text = format!(
        "# version: 1\n# name: テスト\n# id: test\n{}\n{}\n",
        reversed(HEADER),
        reversed(HEIGHT)
    );
    assert_eq!(read(&text).unwrap(), read(&file(&[HEIGHT])).unwrap());
}

#[test]
fn bom_crlf_comments_blank_and_padded_rows_are_accepted() {
    let plain = read(&file(&[HEIGHT, URINE])).unwrap();
    let with_bom = format!("\u{FEFF}{}", file(&[HEIGHT, URINE]));
    assert_eq!(read(&with_bom).unwrap(), plain);
    assert_eq!(read(&with_bom.replace('\n', "\r\n")).unwrap(), plain);
    // What a spreadsheet makes of the file: padded `#` lines, rows of empty cells, a comment.
    let padding = ",".repeat(19);
    let text = format!(
        "# id: test{padding}\n# 項目表の写し{padding}\n\n# version: 1{padding}\n\"# name: テスト\"{padding}\n\
         {HEADER},,\n{padding}\n{HEIGHT},,\n\n{URINE}\n{padding}\n"
    );
    assert_eq!(read(&text).unwrap(), plain);
}

#[test]
fn metadata_values_with_commas_must_be_quoted() {
    let quoted = "\"# name: 特定健診, 第4期\"\n# id: a\n# version: 1\n".to_owned() + HEADER + "\n";
    assert_eq!(read(&quoted).unwrap().name, "特定健診, 第4期");
    let unquoted = "# name: 特定健診, 第4期\n# id: a\n# version: 1\n".to_owned() + HEADER + "\n";
    assert_eq!(error_at(unquoted, "quoted"), at(1, "# name"));
}

#[test]
fn missing_or_repeated_metadata() {
    let without_version = format!("# id: test\n# name: x\n{HEADER}\n{HEIGHT}\n");
    assert_eq!(error_at(without_version, "missing"), at(3, "# version"));
    let twice = format!("# id: a\n# id: b\n# version: 1\n# name: x\n{HEADER}\n");
    assert_eq!(error_at(twice, "twice"), at(2, "# id"));
    let empty_id = format!("# id:\n# version: 1\n# name: x\n{HEADER}\n");
    assert_eq!(error_at(empty_id, "empty"), at(1, "# id"));
    // An empty name is allowed; comments may look like anything else.
    let text = format!("# id: a\n# version: 1\n# name:\n# 注意: 手で編集\n{HEADER}\n");
    assert_eq!(read(&text).unwrap().name, "");
}

#[test]
fn empty_files() {
    assert_eq!(error_at("", "empty"), at(1, "*"));
    assert_eq!(error_at("\u{FEFF}", "no header"), at(1, "*"));
    assert_eq!(error_at("\n\n", "no header"), at(2, "*"));
    assert_eq!(
        error_at("# id: a\n# version: 1\n# name: b\n", "no header"),
        at(3, "*")
    );
    // A header and no items is an empty profile, not an error.
    assert!(read(&file(&[])).unwrap().items.is_empty());
}

#[test]
fn header_errors_name_the_column() {
    let missing = file(&[HEIGHT]).replace(",ucum,", ",");
    assert_eq!(error_at(missing, "missing column"), at(4, "ucum"));
    let unknown = file(&[]).replace("series_group", "series_group,colour");
    assert_eq!(error_at(unknown, "unknown column"), at(4, "colour"));
    let twice = file(&[]).replace("series_group", "series_group,unit");
    assert_eq!(error_at(twice, "twice"), at(4, "unit"));
    let empty = file(&[]).replace("code,name", "code,,name");
    assert_eq!(error_at(empty, "empty column name"), at(4, "B"));
    let case = file(&[]).replace("code,", "Code,");
    assert_eq!(error_at(case, "unknown column"), at(4, "Code"));
}

#[test]
fn row_errors_name_line_and_column() {
    let cases: [(&str, &str, &str, &str); 17] = [
        ("max_bytes", ",5,100,", ",abc,100,", "not a whole number"),
        ("max_bytes", ",5,100,", ",70000,100,", "not a whole number"),
        ("max_bytes", ",5,100,", ",-1,100,", "not a whole number"),
        ("input_low", ",100,250,", ",1O0,250,", "not a decimal"),
        ("input_high", ",100,250,", ",100,２５０,", "not a decimal"),
        ("input_low", ",100,250,", ",1e2,250,", "not a decimal"),
        ("format", ",NNN.N,", ",999.9,", "not a number format"),
        ("type", ",numeric,", ",number,", "not a type"),
        ("xml_type", ",PQ,", ",pq,", "not an XML type"),
        ("code_system", ",PQ,,,", ",,1.2.3,,", "without xml_type"),
        ("codes", ",NNN.N,,", ",NNN.N,1=a,", "only code items"),
        (
            "format",
            ",numeric,NNN.N,",
            ",text,NNN.N,",
            "only numeric items",
        ),
        ("code", "9N001000000000001,", ",", "no code"),
        ("code", "9N001000000000001,", "9N001 000000000001,", "space"),
        (
            "code",
            "9N001000000000001,",
            "#9N001000000000001,",
            "must not start with `#`",
        ),
        ("name", ",身長,", ",,", "no name"),
        ("programs", ",特定健診:1,", ",特定健診:1;,", "empty"),
    ];
    for (column, from, to, needle) in cases {
        assert!(HEIGHT.contains(from), "{from}");
        let row = HEIGHT.replacen(from, to, 1);
        assert_eq!(
            error_at(file(&[URINE, &row]), needle),
            at(6, column),
            "{row}"
        );
    }
    let code_cases: [(&str, &str); 5] = [
        ("1=－;2=±;3=＋;4=＋＋;5=＋＋＋", "1=a;1=b"),
        ("1=－;2=±;3=＋;4=＋＋;5=＋＋＋", "1=a;2"),
        ("1=－;2=±;3=＋;4=＋＋;5=＋＋＋", "1=a\\b"),
        ("1=－;2=±;3=＋;4=＋＋;5=＋＋＋", "1=a;;2=b"),
        ("1=－;2=±;3=＋;4=＋＋;5=＋＋＋", "１=a"),
    ];
    for (from, to) in code_cases {
        let row = URINE.replacen(from, to, 1);
        assert_eq!(error_at(file(&[&row]), ""), at(5, "codes"), "{row}");
    }
}

#[test]
fn duplicate_codes_name_both_lines() {
    let (line, column) = error_at(file(&[HEIGHT, URINE, HEIGHT]), "already defined on line 5");
    assert_eq!((line, column.as_str()), (7, "code"));
}

#[test]
fn malformed_csv() {
    // Unclosed quote: the cell would run into the next line, which profiles do not allow.
    let open = HEIGHT.replacen(",身長,", ",\"身長,", 1);
    assert_eq!(error_at(file(&[&open]), "closing quote"), at(5, "name"));
    let newline = HEIGHT.replacen(",身長,", ",\"身\n長\",", 1);
    assert_eq!(error_at(file(&[&newline]), "closing quote"), at(5, "name"));
    let bare_quote = HEIGHT.replacen(",身長,", ",身\"長,", 1);
    assert_eq!(error_at(file(&[&bare_quote]), "quote"), at(5, "name"));
    let after_quote = HEIGHT.replacen(",身長,", ",\"身\"長,", 1);
    assert_eq!(
        error_at(file(&[&after_quote]), "after the closing"),
        at(5, "name")
    );
    let tab = HEIGHT.replacen(",身長,", ",身\t長,", 1);
    assert_eq!(error_at(file(&[&tab]), "U+0009"), at(5, "name"));
    let short = HEIGHT.rsplitn(3, ',').last().unwrap().to_owned();
    assert_eq!(error_at(file(&[&short]), "18 cells"), at(5, "method_code"));
    let long = format!("{HEIGHT},extra");
    assert_eq!(
        error_at(file(&[&long]), "after the last column"),
        at(5, "U")
    );
    // Empty extra cells (spreadsheet padding) are fine.
    assert!(read(&file(&[&format!("{HEIGHT},,")])).is_ok());
}

#[test]
fn shift_jis_is_refused_with_a_hint() {
    let mut bytes = file(&[]).into_bytes();
    // 9N001000000000001,身長,… with 身長 in Shift_JIS.
    bytes.extend_from_slice(b"9N001000000000001,\x90\x67\x92\xb7,x,text,,,,,1,,,,,,,,,,,\n");
    assert_eq!(error_at(&bytes, "UTF-8"), at(5, "name"));
}

/// Counts the bytes a reader hands out.
struct Counting<R> {
    inner: R,
    bytes: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
}

#[test]
fn a_10_mib_line_is_refused_without_reading_it() {
    let start = file(&[HEIGHT]) + "1A020000000190111,尿糖,";
    let mut reader = Counting {
        inner: start
            .as_bytes()
            .chain(io::repeat(b'A').take(10 * 1024 * 1024)),
        bytes: 0,
    };
    let err = Profile::from_csv_reader(&mut reader).unwrap_err();
    assert_eq!(
        err,
        ProfileError::Invalid {
            line: 6,
            column: "category".into(),
            message: format!("line is longer than {MAX_LINE_BYTES} bytes"),
        }
    );
    // The reader stopped near the limit instead of buffering 10 MiB.
    assert!(reader.bytes < 256 * 1024, "read {} bytes", reader.bytes);

    // Also before the header, and inside a quoted cell.
    let mut reader = Counting {
        inner: b"# id: a\n\"# name: ".chain(io::repeat(b',').take(10 * 1024 * 1024)),
        bytes: 0,
    };
    assert_eq!(
        Profile::from_csv_reader(&mut reader).unwrap_err(),
        ProfileError::Invalid {
            line: 2,
            column: "A".into(),
            message: format!("line is longer than {MAX_LINE_BYTES} bytes"),
        }
    );
    assert!(reader.bytes < 256 * 1024, "read {} bytes", reader.bytes);
}

/// The same line, over and over, for ever.
struct RepeatLine {
    line: Vec<u8>,
    pos: usize,
}

impl Read for RepeatLine {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let rest = &self.line[self.pos..];
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.pos = (self.pos + n) % self.line.len();
        Ok(n)
    }
}

#[test]
fn an_oversized_file_is_refused_at_the_limit() {
    // An endless run of long comment lines: never a header, never an end.
    let mut reader = Counting {
        inner: RepeatLine {
            line: format!("# {}\n", "x".repeat(60 * 1024)).into_bytes(),
            pos: 0,
        },
        bytes: 0,
    };
    let err = Profile::from_csv_reader(&mut reader).unwrap_err();
    let ProfileError::Invalid {
        column, message, ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(column, "*");
    assert!(message.contains("larger than 16 MiB"), "{message}");
    // At most one line and one read buffer beyond the limit.
    assert!(reader.bytes <= MAX_FILE_BYTES + MAX_LINE_BYTES as u64 + 2 + 8192);
}

#[test]
fn from_path_reads_files_and_names_missing_ones() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.csv");
    std::fs::write(&path, file(&[HEIGHT])).unwrap();
    assert_eq!(Profile::from_path(&path).unwrap().items.len(), 1);
    let missing = dir.path().join("missing.csv");
    match Profile::from_path(&missing).unwrap_err() {
        ProfileError::Io(message) => assert!(message.contains("missing.csv"), "{message}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn written_files_are_spreadsheet_friendly_and_read_back() {
    let profile = read(&file(&[HEIGHT, URINE])).unwrap();
    let mut out = Vec::new();
    profile.write_csv(&mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.starts_with("\u{FEFF}# id: test\n# version: 1\n# name: テスト\n"));
    assert!(text.contains(&format!("\n{}\n", profile_columns().join(","))));
    assert!(text.ends_with(&format!("{HEIGHT}\n{}\n", URINE)));
    assert_eq!(read(&text).unwrap(), profile);
}

fn item(code: &str) -> Item {
    Item {
        code: code.into(),
        name: "項目".into(),
        category: String::new(),
        kind: ItemKind::Text,
        unit: None,
        ucum: None,
        max_bytes: 64,
        input_range: None,
        reference: None,
        programs: Vec::new(),
        xml: None,
    }
}

fn profile_of(items: Vec<Item>) -> Profile {
    Profile::new("p".into(), "1".into(), "n".into(), items).unwrap()
}

fn write_error(profile: &Profile) -> String {
    let mut out = Vec::new();
    let err = profile.write_csv(&mut out).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    assert!(
        out.is_empty(),
        "a refused profile must not be partly written"
    );
    err.to_string()
}

#[test]
fn write_refuses_what_would_not_read_back_equal() {
    let with = |f: fn(&mut Item)| {
        let mut it = item("A1");
        f(&mut it);
        profile_of(vec![it])
    };
    let cases: Vec<(Profile, &str)> = vec![
        (with(|i| i.unit = Some(String::new())), "unit"),
        (with(|i| i.name = "a\nb".into()), "control character"),
        (with(|i| i.name = String::new()), "no name"),
        (with(|i| i.code = "A 1".into()), "space"),
        (
            with(|i| {
                i.input_range = Some(Range {
                    low: None,
                    high: None,
                })
            }),
            "input range",
        ),
        (
            with(|i| {
                i.reference = Some(ReferenceRanges {
                    male: None,
                    female: None,
                })
            }),
            "reference",
        ),
        (
            with(|i| {
                i.input_range = Some(Range {
                    low: Some("abc".into()),
                    high: None,
                })
            }),
            "not a decimal",
        ),
        (
            with(|i| {
                i.kind = ItemKind::Numeric {
                    format: NumberFormat {
                        integer_digits: 0,
                        fraction_digits: 2,
                    },
                }
            }),
            "format",
        ),
        (
            with(|i| {
                i.kind = ItemKind::Code {
                    terms: vec![CodeTerm {
                        code: "1;2".into(),
                        term: "x".into(),
                    }],
                }
            }),
            "codes",
        ),
        (with(|i| i.programs = vec![String::new()]), "programs"),
    ];
    for (profile, needle) in cases {
        let message = write_error(&profile);
        assert!(message.starts_with("item A"), "{message}");
        assert!(message.contains(needle), "{message} lacks {needle}");
    }

    let mut spaced = profile_of(vec![item("A1")]);
    spaced.name = " 名前".into();
    assert!(write_error(&spaced).contains("name"));
    let mut no_id = profile_of(vec![]);
    no_id.id = String::new();
    assert!(write_error(&no_id).contains("id"));
    // `items` is public: two items with one code can be pushed past `Profile::new`.
    let mut doubled = profile_of(vec![item("A1")]);
    doubled.items.push(item("A1"));
    assert!(write_error(&doubled).contains("already defined"));
}

#[test]
fn check_reports_inconsistencies() {
    let numeric = |format: NumberFormat| ItemKind::Numeric { format };
    let nnn_n = NumberFormat::parse("NNN.N").unwrap();
    let range = |low: &str, high: &str| Range {
        low: Some(low.into()),
        high: Some(high.into()),
    };
    let xml = |data_type: XmlDataType| XmlInfo {
        data_type,
        code_system: None,
        method_code: None,
        series_group: None,
    };
    let mut items = Vec::new();
    let mut add = |code: &str, f: &dyn Fn(&mut Item)| {
        let mut it = item(code);
        f(&mut it);
        items.push(it);
    };
    add("clean", &|i| {
        i.kind = numeric(nnn_n);
        i.max_bytes = 5;
        i.ucum = Some("cm".into());
        i.xml = Some(xml(XmlDataType::PQ));
        i.input_range = Some(range("100", "250"));
    });
    add("no-format", &|i| {
        i.kind = numeric(NumberFormat::UNSPECIFIED)
    });
    add("narrow", &|i| {
        i.kind = numeric(nnn_n);
        i.max_bytes = 3;
    });
    add("no-ucum", &|i| {
        i.kind = numeric(nnn_n);
        i.xml = Some(xml(XmlDataType::PQ));
    });
    add("inverted", &|i| {
        i.kind = numeric(nnn_n);
        i.input_range = Some(range("250", "100"));
    });
    add("inverted-ref", &|i| {
        i.kind = numeric(nnn_n);
        i.reference = Some(ReferenceRanges {
            male: None,
            female: Some(range("9.5", "10")),
        });
        i.reference.as_mut().unwrap().male = Some(range("10", "9.5"));
    });
    add("empty-codes", &|i| {
        i.kind = ItemKind::Code { terms: vec![] };
        i.max_bytes = 1;
    });
    add("zero", &|i| i.max_bytes = 0);
    add("huge", &|i| i.max_bytes = 513);
    add("word", &|i| {
        i.kind = numeric(nnn_n);
        i.input_range = Some(range("low", "1e3"));
    });
    add("text-range", &|i| i.input_range = Some(range("1", "2")));
    add("pq-text", &|i| {
        i.xml = Some(xml(XmlDataType::PQ));
        i.ucum = Some("cm".into());
    });
    add("cd-no-oid", &|i| {
        i.kind = ItemKind::Code {
            terms: vec![CodeTerm {
                code: "1".into(),
                term: "あり".into(),
            }],
        };
        i.xml = Some(xml(XmlDataType::CD));
    });
    let mut profile = profile_of(items);
    profile.items.push(item("zero"));

    let found: BTreeSet<(String, WarningKind)> = profile
        .check()
        .into_iter()
        .map(|w| (w.code, w.kind))
        .collect();
    let expected: BTreeSet<(String, WarningKind)> = [
        ("no-format", WarningKind::NumericWithoutFormat),
        ("narrow", WarningKind::FormatWiderThanMaxBytes),
        ("no-ucum", WarningKind::PqWithoutUcum),
        ("inverted", WarningKind::RangeInverted),
        ("inverted-ref", WarningKind::RangeInverted),
        ("empty-codes", WarningKind::EmptyCodeList),
        ("zero", WarningKind::MaxBytesOutOfRange),
        ("zero", WarningKind::DuplicateCode),
        ("huge", WarningKind::MaxBytesOutOfRange),
        ("word", WarningKind::NonNumericBound),
        ("text-range", WarningKind::RangeOnNonNumeric),
        ("pq-text", WarningKind::XmlTypeMismatch),
        ("cd-no-oid", WarningKind::CodeSystemMissing),
    ]
    .into_iter()
    .map(|(c, k)| (c.to_owned(), k))
    .collect();
    assert_eq!(found, expected);

    let warnings = profile.check();
    let word: Vec<String> = warnings
        .iter()
        .filter(|w| w.code == "word")
        .map(|w| w.to_string())
        .collect();
    assert_eq!(word.len(), 2, "{word:?}");
    assert!(word[0].starts_with("word: input range: low bound \"low\""));
}

#[test]
fn a_numeric_item_without_format_loads_and_is_reported() {
    let row = HEIGHT.replacen(",NNN.N,", ",,", 1);
    let profile = read(&file(&[&row])).unwrap();
    let ItemKind::Numeric { format } = &profile.items[0].kind else {
        panic!()
    };
    assert!(!format.is_specified());
    let kinds: Vec<WarningKind> = profile.check().into_iter().map(|w| w.kind).collect();
    assert_eq!(kinds, [WarningKind::NumericWithoutFormat]);
}

// ---------------------------------------------------------------------------------------------
// Round trip of random small profiles

/// Text with the characters that need care: CSV quoting, list escaping, `#`, Japanese.
fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 ,;=\"\\\\#:.()身長尿糖－±＋、､　]{1,12}"
}

fn optional_text() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(text())
}

/// Metadata values: no surrounding spaces (the reader trims them).
fn meta() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9,#\"=.][a-zA-Z0-9 ,:#\"=.特定健診]{0,10}[a-zA-Z0-9,:#\"=.]"
}

fn decimal() -> impl Strategy<Value = String> {
    "-?[0-9]{1,4}(\\.[0-9]{1,3})?"
}

fn range() -> impl Strategy<Value = Option<Range>> {
    (
        proptest::option::of(decimal()),
        proptest::option::of(decimal()),
    )
        .prop_map(|(low, high)| (low.is_some() || high.is_some()).then_some(Range { low, high }))
}

fn kind() -> impl Strategy<Value = ItemKind> {
    prop_oneof![
        (0u8..8, 0u8..5).prop_map(|(i, f)| ItemKind::Numeric {
            format: if i == 0 {
                NumberFormat::UNSPECIFIED
            } else {
                NumberFormat {
                    integer_digits: i,
                    fraction_digits: f,
                }
            }
        }),
        proptest::collection::btree_map("[0-9A-Za-z._-]{1,4}", text(), 0..6).prop_map(|terms| {
            ItemKind::Code {
                terms: terms
                    .into_iter()
                    .map(|(code, term)| CodeTerm { code, term })
                    .collect(),
            }
        }),
        Just(ItemKind::Text),
        Just(ItemKind::Date),
    ]
}

fn xml() -> impl Strategy<Value = Option<XmlInfo>> {
    let data_type = prop_oneof![
        Just(XmlDataType::PQ),
        Just(XmlDataType::CD),
        Just(XmlDataType::CO),
        Just(XmlDataType::ST),
    ];
    proptest::option::of(
        (data_type, optional_text(), optional_text(), optional_text()).prop_map(
            |(data_type, code_system, method_code, series_group)| XmlInfo {
                data_type,
                code_system,
                method_code,
                series_group,
            },
        ),
    )
}

fn item_strategy() -> impl Strategy<Value = Item> {
    (
        (
            "[0-9A-Z]{1,17}",
            text(),
            "[a-zA-Z 身体計測（）,\"]{0,8}",
            kind(),
            optional_text(),
            optional_text(),
            any::<u16>(),
        ),
        (
            range(),
            range(),
            range(),
            proptest::collection::vec(text(), 0..3),
            xml(),
        ),
    )
        .prop_map(
            |(
                (code, name, category, kind, unit, ucum, max_bytes),
                (input, male, female, programs, xml),
            )| {
                Item {
                    code,
                    name,
                    category,
                    kind,
                    unit,
                    ucum,
                    max_bytes,
                    input_range: input,
                    reference: (male.is_some() || female.is_some())
                        .then_some(ReferenceRanges { male, female }),
                    programs,
                    xml,
                }
            },
        )
}

fn profile_strategy() -> impl Strategy<Value = Profile> {
    (
        meta(),
        meta(),
        prop_oneof![Just(String::new()), meta()],
        proptest::collection::vec(item_strategy(), 0..8),
    )
        .prop_map(|(id, version, name, items)| {
            // Make codes unique without losing the generated shapes.
            let items = items
                .into_iter()
                .enumerate()
                .map(|(i, mut item)| {
                    item.code = format!("{}{i}", item.code);
                    item
                })
                .collect();
            Profile::new(id, version, name, items).unwrap()
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_profiles_round_trip(profile in profile_strategy()) {
        let mut first = Vec::new();
        profile.write_csv(&mut first).unwrap();
        let back = Profile::from_csv_reader(first.as_slice()).unwrap();
        prop_assert_eq!(&back, &profile);
        let mut second = Vec::new();
        back.write_csv(&mut second).unwrap();
        prop_assert_eq!(first, second);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = Profile::from_csv_reader(bytes.as_slice());
    }

    #[test]
    fn mangled_profiles_never_panic(
        profile in profile_strategy(),
        cut in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let mut bytes = Vec::new();
        profile.write_csv(&mut bytes).unwrap();
        if !bytes.is_empty() {
            let i = cut.index(bytes.len());
            bytes[i] = byte;
        }
        if let Ok(read) = Profile::from_csv_reader(bytes.as_slice()) {
            // Whatever still reads must also write.
            let mut out = Vec::new();
            prop_assert!(read.write_csv(&mut out).is_ok());
        }
    }
}
