//! Four institutions' export styles, converted with the default MHLW profile: UTF-8 and
//! CP932 (with NEC/IBM extension characters), CSV and TSV, header or none, 西暦 and 和暦,
//! codes written "(+)", "陽性", "1", quoted newlines, full-width digits, units to convert,
//! missing-value tokens. Every person is fictional.

use kenshin_convert::delimited::DelimitedOptions;
use kenshin_convert::{convert_delimited, MapFile, Report, Routed};
use kenshin_profile::{CheckupRecord, HeaderField, Profile, RangeFlag, Value};

const HEIGHT: &str = "9N001000000000001";
const WEIGHT: &str = "9N006000000000001";
const SBP: &str = "9A751000000000001";
const DBP: &str = "9A761000000000001";
const GLUCOSE: &str = "3D010000001999901";
const HBA1C: &str = "3D046000001999902";
const URINE_SUGAR: &str = "1A020000000190111";
const HISTORY: &str = "9N056000000000011";

fn run(export: &[u8], map: &str) -> (Report, Vec<CheckupRecord>) {
    let profile = Profile::default_profile();
    let map = MapFile::from_reader(map.as_bytes(), profile).unwrap_or_else(|e| panic!("{e}"));
    let mut records = Vec::new();
    let report = convert_delimited(
        export,
        profile,
        &map,
        |record: &kenshin_profile::CheckupRecord| {
            records.push(record.clone());
            Ok(Routed::Delivered)
        },
        |_| {},
    )
    .unwrap();
    assert!(report.reconciles(), "{report:#?}");
    (report, records)
}

fn value<'r>(record: &'r CheckupRecord, code: &str) -> &'r Value {
    &record
        .value(code)
        .unwrap_or_else(|| panic!("{code} missing in {record:#?}"))
        .value
}

fn number(text: &str) -> Value {
    Value::Number(text.into())
}

fn code(text: &str) -> Value {
    Value::Code(vec![text.into()])
}

fn sjis(text: &str) -> Vec<u8> {
    let (bytes, _, unmappable) = encoding_rs::SHIFT_JIS.encode(text);
    assert!(!unmappable, "test text must be CP932-encodable");
    bytes.into_owned()
}

/// Style A: a 健診センター's UTF-8 (BOM) CSV with Japanese headers, 西暦 with slashes,
/// qualitative results in parentheses. The map is drafted by `map suggest`.
#[test]
fn style_a_utf8_with_header_drafted_by_suggest() {
    let export = "\u{FEFF}受診券番号,保険者番号,カナ氏名,生年月日,性別,受診日,身長,体重,最高血圧,最低血圧,HbA1c,尿糖,尿蛋白\r\n\
        90000000001,06999901,ヤマダ タロウ,1968/5/14,男,2026/4/6,170.2,68.5,128,82,5.6,(-),(-)\r\n\
        90000000002,06999901,スズキ ハナコ,1975/11/2,女,2026/4/7,158.0,52.1,112,70,5.2,(±),(+)\r\n\
        90000000003,06999902,タナカ ケンジ,1959/3/27,男,2026/4/8,165.0,80.0,150,95,6.8,(2+),(-)\r\n";
    let profile = Profile::default_profile();
    let suggestion =
        kenshin_convert::suggest::suggest(export.as_bytes(), profile, DelimitedOptions::default())
            .unwrap();
    assert!(
        suggestion.placements.iter().all(|p| p.target.is_some()),
        "{:#?}",
        suggestion.placements
    );
    let chosen = |column: &str| {
        suggestion
            .placements
            .iter()
            .find(|p| p.column == column)
            .and_then(|p| p.target.clone())
            .unwrap()
    };
    let (sugar, protein) = (chosen("尿糖"), chosen("尿蛋白"));
    assert!(sugar.starts_with("1A020") && protein.starts_with("1A010"));
    let (report, records) = run(export.as_bytes(), &suggestion.map_csv);
    assert_eq!((report.records_in, report.records_out), (3, 3));
    let r = &records[1];
    assert_eq!(r.header.get(HeaderField::TicketNumber), Some("90000000002"));
    assert_eq!(r.header.get(HeaderField::BirthDate), Some("19751102"));
    assert_eq!(r.header.get(HeaderField::Sex), Some("2"));
    assert_eq!(value(r, HEIGHT), &number("158.0"));
    // For HbA1c suggest prefers the general method code (…999…).
    assert_eq!(value(r, HBA1C), &number("5.2"));
    assert_eq!(value(r, &sugar), &code("2"));
    assert_eq!(value(r, &protein), &code("3"));
    assert_eq!(value(&records[2], &sugar), &code("4"));
}

/// Style B: an older system's Shift_JIS TSV without a header row, 和暦 dates, 陽性/陰性,
/// names with IBM/NEC extension characters, a memo with a quoted line break.
#[test]
fn style_b_cp932_tsv_without_header() {
    let text = "06999901\t髙橋 﨑子\tタカハシ サキコ\tS45.1.1\t2\tR8.4.6\t155.5\t49.0\t陰性\t陰性\t\"既往歴あり\r\n①高血圧\"\r\n\
                06999901\t渡邉 ㈱太郎\tワタナベ タロウ\t平成2年3月4日\t1\t令和8年4月7日\t172.0\t70.5\t陽性\t陰性\t\r\n";
    let map = "種別,元の列,項目,元の値,標準値,オプション,備考\n\
        setting,,,id,clinic-b,,\nsetting,,,version,7,,\n\
        setting,,,encoding,shift_jis,,\nsetting,,,delimiter,tab,,\nsetting,,,header,absent,,\n\
        column,#1,header.保険者番号,,,,\ncolumn,#2,header.氏名,,,,\ncolumn,#3,header.カナ氏名,,,,\n\
        column,#4,header.生年月日,,,,\ncolumn,#5,header.性別,,,,\ncolumn,#6,header.健診実施日,,,,\n\
        column,#7,9N001000000000001,,,,\ncolumn,#8,9N006000000000001,,,,\n\
        column,#9,1A020000000190111,,,,\ncolumn,#10,1A010000000190111,,,,\n\
        column,#11,9N056160400000049,,,,\n\
        value,#9,,陰性,1,,\nvalue,#9,,陽性,3,,\nvalue,#10,,陰性,1,,\n";
    let (report, records) = run(&sjis(text), map);
    assert_eq!(
        (report.records_in, report.records_out),
        (2, 2),
        "{report:#?}"
    );
    assert_eq!(report.input_encoding, "Shift_JIS");
    let first = &records[0];
    assert_eq!(first.header.get(HeaderField::Name), Some("髙橋 﨑子"));
    assert_eq!(first.header.get(HeaderField::BirthDate), Some("19700101"));
    assert_eq!(first.header.get(HeaderField::ExamDate), Some("20260406"));
    assert_eq!(
        value(first, "9N056160400000049"),
        &Value::Text("既往歴あり\r\n①高血圧".into())
    );
    let second = &records[1];
    assert_eq!(second.header.get(HeaderField::Name), Some("渡邉 ㈱太郎"));
    assert_eq!(second.header.get(HeaderField::BirthDate), Some("19900304"));
    assert_eq!(value(second, URINE_SUGAR), &code("3"));
    assert_eq!(second.source_record, 2);
}

/// Style C: a CP932 CSV with abbreviations in its header, full-width digits, 国保 6-digit
/// insurer numbers, codes written as numbers, 令和 dates in kanji.
#[test]
fn style_c_cp932_abbreviations_and_full_width_digits() {
    let text = "保険者番号,生年月日,性別,受診日,身長,体重,SBP,DBP,HbA1c,既往歴\r\n\
                １３９９９９,昭和50年1月2日,１,令和8年4月1日,１６８．４,６２．０,１２０,７８,５．４,1\r\n\
                139999,昭和60年12月31日,2,令和8年4月2日,１５２．０,４８．２,１０８,６６,５．１,2\r\n";
    let map = "kind,source,item,from,to\n\
        setting,,,id,clinic-c\nsetting,,,version,2\nsetting,,,encoding,shift_jis\n\
        column,保険者番号,header.insurer_number,,\ncolumn,生年月日,header.birth_date,,\n\
        column,性別,header.sex,,\ncolumn,受診日,header.exam_date,,\n\
        column,身長,9N001000000000001,,\ncolumn,体重,9N006000000000001,,\n\
        column,SBP,9A751000000000001,,\ncolumn,DBP,9A761000000000001,,\n\
        column,HbA1c,3D046000001999902,,\ncolumn,既往歴,9N056000000000011,,\n";
    let (report, records) = run(&sjis(text), map);
    assert_eq!(
        (report.records_in, report.records_out),
        (2, 2),
        "{report:#?}"
    );
    let first = &records[0];
    assert_eq!(
        first.header.get(HeaderField::InsurerNumber),
        Some("00139999")
    );
    assert_eq!(first.header.get(HeaderField::BirthDate), Some("19750102"));
    assert_eq!(value(first, HEIGHT), &number("168.4"));
    assert_eq!(first.value(HEIGHT).unwrap().original, "１６８．４");
    assert_eq!(value(first, SBP), &number("120"));
    assert_eq!(value(first, HISTORY), &code("1"));
    assert_eq!(value(&records[1], HISTORY), &code("2"));
    assert_eq!(value(&records[1], DBP), &number("66"));
}

/// Style D: a UTF-8 export with English headers, compact dates, M/F, glucose in mmol/L,
/// missing-value tokens of its own, an out-of-range height kept and flagged.
#[test]
fn style_d_english_headers_units_and_missing_tokens() {
    let text = "insurer,birth,sex,exam,HT,WT,FBS_mmol,HbA1c\n\
                06999901,19700101,M,20260401,171.0,66.0,5.5,5.7\n\
                06999902,19820615,F,20260402,262.0,55.0,未実施,ND\n\
                06999902,19820615,F,20260402,160.0,55.0,,測定不能\n";
    let map = "kind,source,item,from,to,options\n\
        setting,,,id,vendor-d,\nsetting,,,version,1,\n\
        column,insurer,header.insurer_number,,,\ncolumn,birth,header.birth_date,,,\n\
        column,sex,header.sex,,,\ncolumn,exam,header.exam_date,,,\n\
        column,HT,9N001000000000001,,,\ncolumn,WT,9N006000000000001,,,\n\
        column,FBS_mmol,3D010000001999901,,,multiply=18.016\n\
        column,HbA1c,3D046000001999902,,,\n\
        missing,HbA1c,,ND,測定不能,\n";
    let (report, records) = run(text.as_bytes(), map);
    assert_eq!(
        (report.records_in, report.records_out),
        (3, 3),
        "{report:#?}"
    );
    assert_eq!(value(&records[0], GLUCOSE), &number("99"));
    assert_eq!(records[0].header.get(HeaderField::Sex), Some("1"));
    assert_eq!(value(&records[1], GLUCOSE), &Value::NotPerformed);
    assert_eq!(value(&records[1], HBA1C), &Value::Unmeasurable);
    assert_eq!(
        records[1].value(HEIGHT).unwrap().flag,
        Some(RangeFlag::High)
    );
    assert!(
        records[2].value(GLUCOSE).is_none(),
        "a blank cell is no value"
    );
    assert_eq!(value(&records[2], HBA1C), &Value::Unmeasurable);
    assert_eq!(report.warnings, 1, "the flagged height: {report:#?}");
    let _ = WEIGHT;
}
