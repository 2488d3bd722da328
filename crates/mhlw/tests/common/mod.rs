//! Shared helpers of the integration tests: profiles, metadata, schema location, xmllint.

#![allow(dead_code)]

use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use kenshin_mhlw::{
    read_archive, write_archive, ArchiveMeta, ArchiveSummary, ArchiveWriter, Limits, Party,
};
use kenshin_profile::{
    CheckupRecord, CodeTerm, HeaderField, Item, ItemKind, NumberFormat, Profile, Range, RangeFlag,
    Value, XmlDataType, XmlInfo,
};
use time::{Date, Month};

/// Where the official schemas and item tables are: `KENSHIN_REFERENCE_DIR`, or the shared
/// reference folder next to the repository.
pub fn reference_dir() -> PathBuf {
    std::env::var_os("KENSHIN_REFERENCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference"))
}

pub fn xsd_dir() -> Option<PathBuf> {
    let dir = reference_dir().join("mhlw/xsd-2024");
    dir.join("hc08_V08.xsd").is_file().then_some(dir)
}

/// Whether xmllint can be run; prints the skip notice when it cannot.
pub fn xmllint_available() -> bool {
    let found = Command::new("xmllint")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("skipping: xmllint not found (apt-get install libxml2-utils)");
    }
    found
}

/// `xmllint --noout --schema xsd file...`; returns the combined output on failure.
pub fn xmllint(xsd: &Path, files: &[PathBuf]) -> Result<(), String> {
    for chunk in files.chunks(200) {
        let output = Command::new("xmllint")
            .arg("--noout")
            .arg("--schema")
            .arg(xsd)
            .args(chunk)
            .output()
            .map_err(|e| e.to_string())?;
        if !output.status.success() {
            return Err(format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ));
        }
    }
    Ok(())
}

pub fn date(y: i32, m: u8, d: u8) -> Date {
    Date::from_calendar_date(y, Month::try_from(m).unwrap(), d).unwrap()
}

/// Metadata for archives sent by the synthetic institution to a fake agency (so that records
/// of several insurers can share an archive).
pub fn agency_meta() -> ArchiveMeta {
    ArchiveMeta::new(
        kenshin_mhlw::SYNTHETIC_INSTITUTION,
        "架空健診センター",
        Party::agency("99999999"),
        date(2025, 4, 1),
    )
}

pub fn write_to_vec(
    records: Vec<CheckupRecord>,
    profile: &Profile,
    meta: &ArchiveMeta,
) -> (Vec<u8>, ArchiveSummary) {
    let mut out = Cursor::new(Vec::new());
    let summary = write_archive(&mut out, records, profile, meta).expect("archive written");
    (out.into_inner(), summary)
}

/// An output that can only be written to, like the server's encrypting sink: no `Seek`.
pub struct WriteOnly<W: Write>(pub W);

impl<W: Write> Write for WriteOnly<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// Writes `records` with [`ArchiveWriter`] to a write-only output; every record must be valid.
pub fn stream_to_vec(
    records: &[CheckupRecord],
    profile: &Profile,
    meta: &ArchiveMeta,
) -> (Vec<u8>, ArchiveSummary) {
    let mut writer =
        ArchiveWriter::new(WriteOnly(Vec::new()), profile, meta.clone()).expect("archive started");
    for record in records {
        writer.write(record).expect("record written");
    }
    assert_eq!(writer.records_written(), records.len() as u64);
    let (out, summary) = writer.finish().expect("archive finished");
    (out.0, summary)
}

/// What survives a round trip: everything but `original` (the reader reports the XML's own
/// lexical form there) and the kanji name (the MHLW document has one name, the kana one).
pub type Comparable = (
    Vec<(HeaderField, String)>,
    Vec<(String, Value, Option<RangeFlag>)>,
);

pub fn comparable(record: &CheckupRecord, profile: &Profile) -> Comparable {
    let header = record
        .header
        .fields
        .iter()
        .filter(|(field, value)| **field != HeaderField::Name && !value.is_empty())
        .map(|(f, v)| (*f, v.clone()))
        .collect();
    let mut values: Vec<_> = record
        .values
        .iter()
        .filter(|v| profile.item(&v.code).is_some_and(|i| i.xml.is_some()))
        .map(|v| (v.code.clone(), v.value.clone(), v.flag))
        .collect();
    let position = |code: &str| profile.items.iter().position(|i| i.code == code);
    values.sort_by_key(|(code, _, _)| position(code));
    (header, values)
}

pub fn read_all(bytes: &[u8], profile: &Profile) -> Vec<CheckupRecord> {
    let reader =
        read_archive(Cursor::new(bytes), profile, &Limits::default()).expect("archive opens");
    reader.map(|r| r.expect("record reads")).collect()
}

/// Extracts an archive and validates its DATA files, index and summary with `xmllint` against
/// the official schemas, or, with `shipped_schemas`, against the copies in the archive's `XSD/`
/// folder (which also proves that folder complete). Returns `false`, after saying why, when
/// the schemas or xmllint are missing.
pub fn xmllint_archive(bytes: &[u8], summary: &ArchiveSummary, shipped_schemas: bool) -> bool {
    let Some(xsd) = xsd_dir() else {
        eprintln!(
            "skipping: MHLW schemas not found under {:?}",
            reference_dir()
        );
        return false;
    };
    if !xmllint_available() {
        return false;
    }
    let dir = tempfile::tempdir().unwrap();
    extract(bytes, dir.path());
    let root = dir.path().join(&summary.root_folder);
    let data: Vec<PathBuf> = (1..=summary.records)
        .map(|n| dir.path().join(summary.data_file_name(n).unwrap()))
        .collect();
    assert!(data.iter().all(|p| p.is_file()));
    let schemas = if shipped_schemas {
        root.join("XSD")
    } else {
        xsd
    };
    xmllint(&schemas.join("hc08_V08.xsd"), &data).unwrap_or_else(|e| panic!("hc08: {e}"));
    xmllint(&schemas.join("ix08_V08.xsd"), &[root.join("ix08_V08.xml")])
        .unwrap_or_else(|e| panic!("ix08: {e}"));
    xmllint(&schemas.join("su08_V08.xsd"), &[root.join("su08_V08.xml")])
        .unwrap_or_else(|e| panic!("su08: {e}"));
    eprintln!(
        "xmllint: {} DATA files ({} observations), index and summary valid against {}",
        summary.records,
        summary.observations,
        schemas.display()
    );
    true
}

fn terms(pairs: &[(&str, &str)]) -> ItemKind {
    ItemKind::Code {
        terms: pairs
            .iter()
            .map(|(code, term)| CodeTerm {
                code: code.to_string(),
                term: term.to_string(),
            })
            .collect(),
    }
}

fn numeric(format: &str) -> ItemKind {
    ItemKind::Numeric {
        format: NumberFormat::parse(format).unwrap(),
    }
}

#[allow(clippy::too_many_arguments)]
fn item(
    code: &str,
    name: &str,
    category: &str,
    kind: ItemKind,
    data_type: XmlDataType,
    ucum: Option<&str>,
    code_system: Option<&str>,
    method: Option<&str>,
    series: Option<&str>,
    range: Option<(&str, &str)>,
) -> Item {
    Item {
        code: code.into(),
        name: name.into(),
        category: category.into(),
        kind,
        unit: ucum.map(str::to_string),
        ucum: ucum.map(str::to_string),
        max_bytes: 512,
        input_range: range.map(|(low, high)| Range {
            low: Some(low.into()),
            high: Some(high.into()),
        }),
        reference: None,
        programs: vec!["特定健診".into()],
        xml: Some(XmlInfo {
            data_type,
            code_system: code_system.map(str::to_string),
            method_code: method.map(str::to_string),
            series_group: series.map(str::to_string),
        }),
    }
}

const YES_NO: &[(&str, &str)] = &[("1", "はい"), ("2", "いいえ")];
const FINDING: &[(&str, &str)] = &[("1", "特記すべきことあり"), ("2", "特記すべきことなし")];
const URINE: &[(&str, &str)] = &[
    ("1", "－"),
    ("2", "±"),
    ("3", "＋"),
    ("4", "＋＋"),
    ("5", "＋＋＋"),
];

/// A profile built in code from the public 第4期 items: every XML type, code lists, input
/// ranges, method codes, series groups (COMP, RSON, RSON1), a date item and an item without
/// XML form.
pub fn test_profile() -> Profile {
    use XmlDataType::*;
    let q = "質問票";
    let items = vec![
        item(
            "9N001000000000001",
            "身長",
            "身体計測",
            numeric("NNN.N"),
            PQ,
            Some("cm"),
            None,
            None,
            None,
            Some(("100", "250")),
        ),
        item(
            "9N006000000000001",
            "体重",
            "身体計測",
            numeric("NNN.N"),
            PQ,
            Some("kg"),
            None,
            None,
            None,
            Some(("20", "250")),
        ),
        item(
            "9N011000000000001",
            "BMI",
            "身体計測",
            numeric("NN.N"),
            PQ,
            Some("kg/m2"),
            None,
            None,
            None,
            Some(("10", "100")),
        ),
        item(
            "9N016160100000001",
            "腹囲(実測)",
            "身体計測",
            numeric("NNN.N"),
            PQ,
            Some("cm"),
            None,
            Some("9N01610000"),
            None,
            Some(("40", "250")),
        ),
        item(
            "9N056000000000011",
            "既往歴",
            "診察",
            terms(FINDING),
            CD,
            None,
            Some("1.2.392.200119.6.2001"),
            None,
            None,
            None,
        ),
        item(
            "9N056160400000049",
            "具体的な既往歴",
            "診察",
            ItemKind::Text,
            ST,
            None,
            None,
            None,
            None,
            None,
        ),
        item(
            "9N061000000000011",
            "自覚症状",
            "診察",
            terms(FINDING),
            CD,
            None,
            Some("1.2.392.200119.6.2001"),
            None,
            None,
            None,
        ),
        item(
            "9N066000000000011",
            "他覚症状",
            "診察",
            terms(FINDING),
            CD,
            None,
            Some("1.2.392.200119.6.2001"),
            None,
            None,
            None,
        ),
        item(
            "9A752000000000001",
            "収縮期血圧(2回目)",
            "血圧等",
            numeric("NNN"),
            PQ,
            Some("mm[Hg]"),
            None,
            Some("9A75200000"),
            None,
            Some(("60", "300")),
        ),
        item(
            "9A751000000000001",
            "収縮期血圧(1回目)",
            "血圧等",
            numeric("NNN"),
            PQ,
            Some("mm[Hg]"),
            None,
            Some("9A75100000"),
            None,
            Some(("60", "300")),
        ),
        item(
            "9A762000000000001",
            "拡張期血圧(2回目)",
            "血圧等",
            numeric("NNN"),
            PQ,
            Some("mm[Hg]"),
            None,
            Some("9A76200000"),
            None,
            Some(("30", "150")),
        ),
        item(
            "9A761000000000001",
            "拡張期血圧(1回目)",
            "血圧等",
            numeric("NNN"),
            PQ,
            Some("mm[Hg]"),
            None,
            Some("9A76100000"),
            None,
            Some(("30", "150")),
        ),
        item(
            "9N141000000000011",
            "採血時間(食後)",
            "採血条件",
            terms(&[
                ("2", "食後10時間以上"),
                ("3", "食後3.5時間以上10時間未満"),
                ("4", "食後3.5時間未満"),
            ]),
            CD,
            None,
            Some("1.2.392.200119.6.2202"),
            None,
            None,
            None,
        ),
        item(
            "3F015000002327101",
            "空腹時中性脂肪(トリグリセリド)",
            "生化学検査",
            numeric("NNNNN"),
            PQ,
            Some("mg/dL"),
            None,
            Some("3F01510000"),
            None,
            Some(("10", "2000")),
        ),
        item(
            "3F015129902327101",
            "随時中性脂肪(トリグリセリド)",
            "生化学検査",
            numeric("NNNNN"),
            PQ,
            Some("mg/dL"),
            None,
            Some("3F01510000"),
            None,
            Some(("10", "2000")),
        ),
        item(
            "3F070000002327101",
            "HDLコレステロール",
            "生化学検査",
            numeric("NNNNN"),
            PQ,
            Some("mg/dL"),
            None,
            Some("3F07010000"),
            None,
            Some(("10", "500")),
        ),
        item(
            "3F077000002327101",
            "LDLコレステロール",
            "生化学検査",
            numeric("NNNNN"),
            PQ,
            Some("mg/dL"),
            None,
            Some("3F07710000"),
            None,
            Some(("20", "1000")),
        ),
        item(
            "3B035000002327201",
            "AST(GOT)",
            "生化学検査",
            numeric("NNNNN"),
            PQ,
            Some("U/L"),
            None,
            Some("3B03510000"),
            None,
            Some(("0", "1000")),
        ),
        item(
            "3B045000002327201",
            "ALT(GPT)",
            "生化学検査",
            numeric("NNNNN"),
            PQ,
            Some("U/L"),
            None,
            Some("3B04510000"),
            None,
            Some(("0", "1000")),
        ),
        item(
            "3B090000002327101",
            "γ-GT(γ-GTP)",
            "生化学検査",
            numeric("NNNNN"),
            PQ,
            Some("U/L"),
            None,
            Some("3B09010000"),
            None,
            Some(("0", "1000")),
        ),
        item(
            "3C015000002327101",
            "血清クレアチニン",
            "生化学検査",
            numeric("NN.NN"),
            PQ,
            Some("mg/dL"),
            None,
            Some("3C01510000"),
            Some("3C015161002399949:COMP"),
            None,
        ),
        item(
            "3C015161602399911",
            "血清クレアチニン（対象者）",
            "生化学検査",
            terms(&[("0", "詳細健診以外で実施"), ("1", "検査結果による対象者")]),
            CD,
            None,
            Some("1.2.392.200119.6.18110"),
            None,
            Some("3C015161002399949:RSON1"),
            None,
        ),
        item(
            "3C015161002399949",
            "血清クレアチニン（実施理由）",
            "生化学検査",
            ItemKind::Text,
            ST,
            None,
            None,
            None,
            Some("3C015161002399949:RSON"),
            None,
        ),
        item(
            "8A065000002391901",
            "eGFR",
            "生化学検査",
            numeric("NNN.N"),
            PQ,
            Some("ml/min/1.73m2"),
            None,
            Some("8A06510000"),
            Some("3C015161002399949:COMP"),
            None,
        ),
        item(
            "3D010000001926101",
            "空腹時血糖",
            "血糖検査",
            numeric("NNNN"),
            PQ,
            Some("mg/dL"),
            None,
            Some("3D01010000"),
            None,
            Some(("20", "600")),
        ),
        item(
            "3D010129901926101",
            "随時血糖",
            "血糖検査",
            numeric("NNNN"),
            PQ,
            Some("mg/dL"),
            None,
            Some("3D01010000"),
            None,
            Some(("20", "600")),
        ),
        item(
            "3D046000001906202",
            "HbA1c(NGSP値)",
            "血糖検査",
            numeric("NN.N"),
            PQ,
            Some("%"),
            None,
            Some("3D04610000"),
            None,
            Some(("3", "20")),
        ),
        item(
            "1A020000000191111",
            "尿糖",
            "尿検査",
            terms(URINE),
            CO,
            None,
            Some("1.2.392.200119.6.2102"),
            Some("1A02010000"),
            None,
            None,
        ),
        item(
            "1A010000000191111",
            "尿蛋白",
            "尿検査",
            terms(URINE),
            CO,
            None,
            Some("1.2.392.200119.6.2102"),
            Some("1A01010000"),
            None,
            None,
        ),
        item(
            "2A040000001930102",
            "ヘマトクリット値",
            "血液像検査",
            numeric("NN.N"),
            PQ,
            Some("%"),
            None,
            None,
            Some("2A020161001930149 COMP"),
            None,
        ),
        item(
            "2A030000001930101",
            "血色素量(ヘモグロビン値)",
            "血液像検査",
            numeric("NN.N"),
            PQ,
            Some("g/dL"),
            None,
            None,
            Some("COMP/2A020161001930149"),
            None,
        ),
        item(
            "2A020000001930101",
            "赤血球数",
            "血液像検査",
            numeric("NNNN"),
            PQ,
            Some("10*4/mm3"),
            None,
            None,
            Some("2A020161001930149:COMP"),
            None,
        ),
        item(
            "2A020161001930149",
            "貧血検査(実施理由)",
            "血液像検査",
            ItemKind::Text,
            ST,
            None,
            None,
            None,
            Some("2A020161001930149:RSON"),
            None,
        ),
        item(
            "9N206160700000011",
            "胸部Ｘ線検査(一般:直接撮影)(所見の有無)",
            "がん検診・生体検査等",
            terms(FINDING),
            CD,
            None,
            Some("1.2.392.200119.6.2002"),
            Some("9N20610000"),
            Some("9N211161100000049:COMP"),
            None,
        ),
        item(
            "9N206160800000049",
            "胸部Ｘ線検査(一般:直接撮影)(所見)",
            "がん検診・生体検査等",
            ItemKind::Text,
            ST,
            None,
            None,
            Some("9N20610000"),
            Some("9N211161100000049:COMP"),
            None,
        ),
        item(
            "9N211161100000049",
            "胸部Ｘ線検査(直接撮影)(撮影年月日)",
            "がん検診・生体検査等",
            ItemKind::Date,
            ST,
            None,
            None,
            Some("9N21110000"),
            Some("9N211161100000049:COMP"),
            None,
        ),
        item(
            "9N501000000000011",
            "メタボリックシンドローム判定",
            "医師の判断",
            terms(&[
                ("1", "基準該当"),
                ("2", "予備群該当"),
                ("3", "非該当"),
                ("4", "判定不能"),
            ]),
            CD,
            None,
            Some("1.2.392.200119.6.1008"),
            None,
            None,
            None,
        ),
        item(
            "9N506000000000011",
            "保健指導レベル",
            "医師の判断",
            terms(&[
                ("1", "積極的支援"),
                ("2", "動機付け支援"),
                ("3", "なし"),
                ("4", "判定不能"),
            ]),
            CD,
            None,
            Some("1.2.392.200119.6.3001"),
            None,
            None,
            None,
        ),
        item(
            "9N511000000000049",
            "医師の診断(判定)",
            "医師の判断",
            ItemKind::Text,
            ST,
            None,
            None,
            None,
            None,
            None,
        ),
        item(
            "9N512000000000011",
            "測定不可能・検査未実施の理由",
            "医師の判断",
            terms(&[
                ("1", "生理中"),
                ("2", "腎疾患等の基礎疾患があるため排尿障害を有する"),
                ("3", "その他"),
            ]),
            CD,
            None,
            Some("1.2.392.200119.6.24080"),
            Some("9N512"),
            None,
            None,
        ),
        item(
            "9N516000000000049",
            "健康診断を実施した医師の氏名",
            "医師の判断",
            ItemKind::Text,
            ST,
            None,
            None,
            None,
            None,
            None,
        ),
        item(
            "9N701000000000011",
            "服薬1(血圧)",
            q,
            terms(YES_NO),
            CD,
            None,
            Some("1.2.392.200119.6.2003"),
            None,
            None,
            None,
        ),
        item(
            "9N706000000000011",
            "服薬2(血糖)",
            q,
            terms(YES_NO),
            CD,
            None,
            Some("1.2.392.200119.6.2003"),
            None,
            None,
            None,
        ),
        item(
            "9N711000000000011",
            "服薬3(脂質)",
            q,
            terms(YES_NO),
            CD,
            None,
            Some("1.2.392.200119.6.2003"),
            None,
            None,
            None,
        ),
        item(
            "9N736000000000011",
            "喫煙",
            q,
            terms(&[
                ("1", "はい"),
                ("2", "以前は吸っていたが最近1ヶ月間は吸っていない"),
                ("3", "いいえ"),
            ]),
            CD,
            None,
            Some("1.2.392.200119.6.24060"),
            None,
            None,
            None,
        ),
    ];
    let mut items = items;
    // An item of the standard CSV that has no MHLW XML form.
    items.push(Item {
        xml: None,
        ..item(
            "LOCAL000000000001",
            "施設独自メモ",
            "その他",
            ItemKind::Text,
            XmlDataType::ST,
            None,
            None,
            None,
            None,
            None,
        )
    });
    Profile::new(
        "mhlw-test".into(),
        "2024.test".into(),
        "特定健診 第4期 (test subset)".into(),
        items,
    )
    .expect("test profile")
}

/// The built-in profile of the profile crate: the MHLW 第4期 public items (with the additional
/// items, input ranges and code lists).
pub fn default_profile() -> &'static Profile {
    Profile::default_profile()
}

/// Extracts an archive into `dir` with the ZIP library (the archives are this crate's own).
pub fn extract(archive: &[u8], dir: &Path) {
    let mut zip = zip::ZipArchive::new(Cursor::new(archive)).unwrap();
    for i in 0..zip.len() {
        let mut file = zip.by_index(i).unwrap();
        let path = dir.join(file.enclosed_name().unwrap());
        if file.is_dir() {
            std::fs::create_dir_all(&path).unwrap();
        } else {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            let mut out = std::fs::File::create(&path).unwrap();
            std::io::copy(&mut file, &mut out).unwrap();
        }
    }
}
