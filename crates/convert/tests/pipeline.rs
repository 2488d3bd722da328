//! Map files, record building, validation, accounting and the standard CSV, on a small
//! hand-written profile (the default profile has its own tests).

use kenshin_convert::delimited::SourceRow;
use kenshin_convert::map::MapFile;
use kenshin_convert::record::RecordBuilder;
use kenshin_convert::{convert_delimited, OutputEncoding, Rule, Severity, StdCsvWriter};
use kenshin_profile::{
    CodeTerm, HeaderField, Item, ItemKind, NumberFormat, Profile, Range, RangeFlag, Value,
};

fn numeric(code: &str, name: &str, format: &str, low: &str, high: &str) -> Item {
    Item {
        code: code.into(),
        name: name.into(),
        category: "test".into(),
        kind: ItemKind::Numeric {
            format: NumberFormat::parse(format).unwrap(),
        },
        unit: None,
        ucum: None,
        max_bytes: 512,
        input_range: Some(Range {
            low: Some(low.into()),
            high: Some(high.into()),
        }),
        reference: None,
        programs: vec![],
        xml: None,
    }
}

fn coded(code: &str, name: &str, terms: &[(&str, &str)]) -> Item {
    Item {
        kind: ItemKind::Code {
            terms: terms
                .iter()
                .map(|(c, t)| CodeTerm {
                    code: (*c).into(),
                    term: (*t).into(),
                })
                .collect(),
        },
        input_range: None,
        ..numeric(code, name, "N", "0", "0")
    }
}

fn text(code: &str, name: &str) -> Item {
    Item {
        kind: ItemKind::Text,
        input_range: None,
        ..numeric(code, name, "N", "0", "0")
    }
}

fn profile() -> Profile {
    Profile::new(
        "test-profile".into(),
        "1".into(),
        "test".into(),
        vec![
            numeric("9N001000000000001", "身長", "NNN.N", "100", "250"),
            numeric("9N006000000000001", "体重", "NNN.N", "20", "250"),
            numeric("9N011000000000001", "BMI", "NN.N", "10", "100"),
            numeric("9A751000000000001", "収縮期血圧(1回目)", "NNN", "60", "300"),
            numeric("9A761000000000001", "拡張期血圧(1回目)", "NNN", "30", "150"),
            numeric("3D046000001999902", "HbA1c(NGSP値)", "NN.N", "3", "20"),
            numeric("3D010000001999901", "空腹時血糖", "NNN", "20", "600"),
            coded(
                "1A020000000190111",
                "尿糖",
                &[
                    ("1", "−"),
                    ("2", "±"),
                    ("3", "＋"),
                    ("4", "＋＋"),
                    ("5", "＋＋＋"),
                ],
            ),
            coded(
                "9N056000000000011",
                "既往歴",
                &[("1", "特記すべきことあり"), ("2", "特記すべきことなし")],
            ),
            text("9N056160400000049", "具体的な既往歴"),
            numeric(
                "9N091000000000001",
                "総コレステロール",
                "NNNNN",
                "0",
                "1000",
            ),
            numeric(
                "9N091000000000002",
                "総コレステロール",
                "NNNNN",
                "0",
                "1000",
            ),
        ],
    )
    .unwrap()
}

const MAP: &str = "\u{FEFF}種別,元の列,項目,元の値,標準値,オプション,備考
setting,,,id,inst-test,,
setting,,,version,2,,
setting,,,profile,test-profile,,
setting,,,institution_number,1310000001,,
column,保険者番号,header.保険者番号,,,,
column,生年月日,header.birth_date,,,,
column,性別,header.性別,,,,
column,受診日,header.exam_date,,,,
column,身長,身長,,,,
column,体重,9N006000000000001,,,,
column,BMI,BMI,,,,
column,最高血圧,9A751000000000001,,,,
column,最低血圧,9A761000000000001,,,,
column,HbA1c,3D046000001999902,,,,
column,血糖(mmol/L),3D010000001999901,,,multiply=18.016,
column,尿糖,尿糖,,,,
column,既往歴,既往歴,,,,
column,既往歴詳細,具体的な既往歴,,,split=/,
value,尿糖,,陰性,1,,
value,既往歴,,あり,1,,
value,既往歴,,なし,特記すべきことなし,,
missing,HbA1c,,ND,測定不能,,
";

const HEADER: [&str; 14] = [
    "保険者番号",
    "生年月日",
    "性別",
    "受診日",
    "身長",
    "体重",
    "BMI",
    "最高血圧",
    "最低血圧",
    "HbA1c",
    "血糖(mmol/L)",
    "尿糖",
    "既往歴",
    "既往歴詳細",
];

fn row(record: u64, fields: [&str; 14]) -> SourceRow {
    SourceRow {
        record,
        line: record + 1,
        fields: fields.iter().map(|f| (*f).to_owned()).collect(),
    }
}

fn header() -> Vec<String> {
    HEADER.iter().map(|h| (*h).to_owned()).collect()
}

#[test]
fn a_map_reads_with_japanese_columns_and_resolves_names() {
    let profile = profile();
    let map = MapFile::from_reader(MAP.as_bytes(), &profile).unwrap();
    assert_eq!(map.label(), "inst-test@2");
    assert_eq!(map.columns.len(), 14);
}

#[test]
fn map_errors_name_the_line_and_the_problem() {
    let profile = profile();
    let cases = [
        (
            "kind,source,item,from,to\ncolumn,x,9N999,,\n",
            2,
            "neither an item code nor",
        ),
        (
            "kind,source,item,from,to\ncolumn,x,総コレステロール,,\n",
            2,
            "names 2 items",
        ),
        (
            "kind,source,item,from,to\ncolumn,尿糖,尿糖,,\nvalue,尿糖,,陰性,7\n",
            3,
            "not in the code list",
        ),
        (
            "kind,source,item,from,to\nrule,x,身長,,\n",
            2,
            "unknown kind",
        ),
        ("kind,source,item,from,to,colour\n", 1, "unknown column"),
        ("kind,source,item,from\n", 1, "\"to\" is missing"),
        (
            "kind,source,item,from,to,options\ncolumn,x,身長,,,multiply=abc\n",
            2,
            "multiply",
        ),
        (
            "kind,source,item,from,to\nsetting,,,profile,other\ncolumn,x,身長,,\n",
            0,
            "written for profile",
        ),
        (
            "kind,source,item,from,to\nvalue,nowhere,,a,1\ncolumn,x,身長,,\n",
            2,
            "no column rule reads",
        ),
    ];
    for (text, line, needle) in cases {
        let err = MapFile::from_reader(text.as_bytes(), &profile).unwrap_err();
        assert_eq!(err.line, line, "{text}: {err}");
        assert!(err.to_string().contains(needle), "{text}: {err}");
    }
    // Neither UTF-8 nor Shift_JIS: says how to save it.
    let err = MapFile::from_reader(&b"\x82\xff\xfe,\x80\n"[..], &profile).unwrap_err();
    assert!(err.to_string().contains("CSV UTF-8"), "{err}");
}

/// Japanese Excel saves 「CSV (コンマ区切り)」 in Shift_JIS: the same map as in UTF-8.
#[test]
fn a_map_saved_by_japanese_excel_in_shift_jis_reads_the_same() {
    let profile = profile();
    let utf8 = MapFile::from_reader(MAP.as_bytes(), &profile).unwrap();
    let sjis = encoding_rs::SHIFT_JIS
        .encode(MAP.trim_start_matches('\u{FEFF}'))
        .0;
    assert!(std::str::from_utf8(&sjis).is_err(), "really Shift_JIS");
    let from_sjis = MapFile::from_reader(&sjis[..], &profile).unwrap();
    assert_eq!(from_sjis.label(), utf8.label());
    assert_eq!(from_sjis.columns.len(), utf8.columns.len());
    assert_eq!(
        format!("{:?}", from_sjis.columns),
        format!("{:?}", utf8.columns)
    );
}

#[test]
fn a_clean_row_becomes_a_standard_record() {
    let profile = profile();
    let map = MapFile::from_reader(MAP.as_bytes(), &profile).unwrap();
    let header = header();
    let builder = RecordBuilder::bind(&profile, &map, Some(&header)).unwrap();
    let outcome = builder.build(&row(
        1,
        [
            "069999",
            "S45.1.1",
            "男",
            "令和6年4月1日",
            "１７２．４５",
            "70",
            "23.6",
            "128",
            "82",
            "ND",
            "5.5",
            "（＋）",
            "あり",
            "高血圧/糖尿病",
        ],
    ));
    assert!(outcome.findings.is_empty(), "{:#?}", outcome.findings);
    let record = outcome.record.unwrap();
    let h = |f| record.header.get(f).unwrap();
    assert_eq!(h(HeaderField::InsurerNumber), "00069999");
    assert_eq!(h(HeaderField::BirthDate), "19700101");
    assert_eq!(h(HeaderField::Sex), "1");
    assert_eq!(h(HeaderField::ExamDate), "20240401");
    assert_eq!(h(HeaderField::InstitutionNumber), "1310000001");
    let v = |code: &str| record.value(code).unwrap();
    assert_eq!(v("9N001000000000001").value, Value::Number("172.5".into()));
    assert_eq!(v("9N001000000000001").original, "１７２．４５");
    assert_eq!(v("3D046000001999902").value, Value::Unmeasurable);
    assert_eq!(v("3D010000001999901").value, Value::Number("99".into()));
    assert_eq!(v("1A020000000190111").value, Value::Code(vec!["3".into()]));
    assert_eq!(v("9N056000000000011").value, Value::Code(vec!["1".into()]));
    assert_eq!(
        v("9N056160400000049").value,
        Value::Text("高血圧、糖尿病".into())
    );
}

#[test]
fn only_record_errors_reject_and_item_errors_leave_the_item_empty() {
    let profile = profile();
    let map = MapFile::from_reader(MAP.as_bytes(), &profile).unwrap();
    let header = header();
    let builder = RecordBuilder::bind(&profile, &map, Some(&header)).unwrap();
    let base = [
        "06999901", "1970/1/1", "2", "2024/4/1", "160", "55", "21.5", "120", "80", "5.6", "5.0",
        "-", "なし", "",
    ];
    let rules = |fields: [&str; 14]| {
        let outcome = builder.build(&row(7, fields));
        let found: Vec<(Rule, Severity)> = outcome
            .findings
            .iter()
            .map(|f| (f.rule, f.severity))
            .collect();
        (outcome.record, found, outcome.findings)
    };
    let (record, found, _) = rules(base);
    assert!(record.is_some() && found.is_empty(), "{found:?}");

    let mut swapped = base;
    swapped[7] = "80";
    swapped[8] = "120";
    let (record, found, findings) = rules(swapped);
    let record = record.expect("the examinee is kept");
    assert_eq!(found, [(Rule::BloodPressure, Severity::Error)]);
    assert_eq!(findings[0].record, 7);
    assert_eq!(findings[0].line, 8);
    assert_eq!(findings[0].value.as_deref(), Some("収縮期 80 / 拡張期 120"));
    for (code, original) in [("9A751000000000001", "80"), ("9A761000000000001", "120")] {
        let value = record.value(code).unwrap();
        assert_eq!(
            (&value.value, value.original.as_str()),
            (&Value::Invalid, original)
        );
    }
    assert_eq!(
        record.value("9N001000000000001").unwrap().value,
        Value::Number("160.0".into()),
        "the other values are delivered"
    );

    let mut no_sex = base;
    no_sex[2] = "";
    let (record, found, _) = rules(no_sex);
    assert!(record.is_none());
    assert_eq!(found, [(Rule::Required, Severity::Error)]);

    let mut tall = base;
    tall[4] = "260";
    tall[6] = "8.1";
    let (record, found, _) = rules(tall);
    let record = record.expect("out of range is kept");
    assert_eq!(
        record.value("9N001000000000001").unwrap().flag,
        Some(RangeFlag::High)
    );
    assert_eq!(
        record.value("9N011000000000001").unwrap().flag,
        Some(RangeFlag::Low)
    );
    assert!(found.contains(&(Rule::InputRange, Severity::Warning)));

    let mut bad_bmi = base;
    bad_bmi[6] = "25.0";
    let (record, found, _) = rules(bad_bmi);
    assert!(record.is_some());
    assert_eq!(found, [(Rule::Bmi, Severity::Warning)]);

    let mut bad_code = base;
    bad_code[11] = "強陽性";
    let (record, found, findings) = rules(bad_code);
    let record = record.expect("one unknown answer keeps the examinee");
    let urine = record.value("1A020000000190111").unwrap();
    assert_eq!(
        (&urine.value, urine.original.as_str()),
        (&Value::Invalid, "強陽性")
    );
    assert_eq!(found, [(Rule::CodeList, Severity::Error)]);
    assert_eq!(findings[0].column.as_deref(), Some("尿糖"));
    assert_eq!(findings[0].item.as_deref(), Some("1A020000000190111"));
    assert_eq!(findings[0].value.as_deref(), Some("強陽性"));
    assert!(
        !findings[0].message.contains("強陽性"),
        "messages carry no values"
    );

    let mut heisei = base;
    heisei[3] = "H31.5.1";
    let (record, found, findings) = rules(heisei);
    assert!(
        record.is_none(),
        "a 受診日 that does not exist cannot identify the visit"
    );
    assert_eq!(found, [(Rule::Format, Severity::Error)]);
    assert!(
        findings[0].message.contains("受診"),
        "{}",
        findings[0].message
    );

    let long = "あ".repeat(171); // 513 bytes
    let mut wide = base;
    wide[13] = &long;
    let (record, found, _) = rules(wide);
    assert!(record.is_some());
    assert_eq!(found, [(Rule::ByteLimit, Severity::Error)]);
}

#[test]
fn a_whole_export_reconciles_and_writes_standard_csv() {
    let profile = profile();
    let map = MapFile::from_reader(MAP.as_bytes(), &profile).unwrap();
    let mut export = HEADER.join(",") + "\r\n";
    for i in 0..50 {
        let insurer = if i % 3 == 0 { "06999902" } else { "06999901" };
        let systolic = if i == 10 { "70" } else { "125" }; // record 11: below diastolic
        export.push_str(&format!(
            "{insurer},1980/2/{},{},2024/5/10,165.0,60.0,22.0,{systolic},80,5.4,5.1,−,なし,\"メモ\r\n改行あり\"\r\n",
            i % 28 + 1,
            i % 2 + 1
        ));
    }
    let mut out = Vec::new();
    let mut writer = StdCsvWriter::new(&profile, &mut out, OutputEncoding::Utf8Bom).unwrap();
    let report = convert_delimited(
        export.as_bytes(),
        &profile,
        &map,
        |record: &kenshin_profile::CheckupRecord| {
            writer.write(record).map_err(|e| e.to_string())?;
            Ok(kenshin_convert::Routed::Delivered)
        },
        |_| {},
    )
    .unwrap();
    writer.finish().unwrap();
    assert!(report.reconciles(), "{report:#?}");
    assert_eq!(report.records_in, 50);
    assert_eq!(
        report.records_out, 50,
        "record 11's blood pressure is left empty, the record delivered"
    );
    assert!(report.rejected_records.is_empty());
    assert_eq!(report.values_left_empty, 2);
    assert_eq!(report.records_by_insurer["06999902"], 17);
    assert_eq!(report.map.as_deref(), Some("inst-test@2"));
    assert_eq!(report.exit_code(), 1);

    let text = String::from_utf8(out).unwrap();
    let mut csv = csv::Reader::from_reader(text.trim_start_matches('\u{FEFF}').as_bytes());
    let columns = csv.headers().unwrap().clone();
    let height = columns
        .iter()
        .position(|c| c == "身長[9N001000000000001]")
        .unwrap();
    let urine = columns
        .iter()
        .position(|c| c == "尿糖[1A020000000190111]")
        .unwrap();
    let rows: Vec<csv::StringRecord> = csv.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 50);
    let systolic = columns
        .iter()
        .position(|c| c.ends_with("[9A751000000000001]"))
        .unwrap();
    assert_eq!(
        (&rows[10][systolic], &rows[10][systolic + 1]),
        ("", "70"),
        "left empty, the original carried"
    );
    assert_eq!(&rows[0][height], "165.0");
    assert_eq!(&rows[0][height + 1], "165.0");
    assert_eq!(&rows[0][urine], "−", "standard term");
    assert_eq!(&rows[0][urine + 1], "−", "original beside it");
}

#[test]
fn shift_jis_output_refuses_characters_it_cannot_hold() {
    let profile = profile();
    let record = kenshin_profile::CheckupRecord {
        source_record: 4,
        values: vec![kenshin_profile::ItemValue {
            code: "9N056160400000049".into(),
            value: Value::Text("😀".into()),
            original: "😀".into(),
            flag: None,
        }],
        ..Default::default()
    };
    let mut out = Vec::new();
    let mut writer = StdCsvWriter::new(&profile, &mut out, OutputEncoding::ShiftJis).unwrap();
    let err = writer.write(&record).unwrap_err().to_string();
    assert!(
        err.contains("record 4") && err.contains("具体的な既往歴"),
        "{err}"
    );
    let mut fine = kenshin_profile::CheckupRecord::default();
    fine.header
        .set(HeaderField::KanaName, "ヤマダ タロウ".into());
    writer.write(&fine).unwrap();
}
