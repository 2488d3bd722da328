//! The embedded default profile: it parses, round-trips, says what the MHLW tables say, and is
//! exactly what the generator makes of the shared reference tables (when they are present).

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};

use kenshin_profile::generate::{self, GenerateReport};
use kenshin_profile::{ItemKind, Profile, Range, WarningKind, XmlDataType};

/// The shared reference data, beside the repository (not part of it).
const REFERENCE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/reference");
const COMMITTED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/profiles/mhlw-tokutei-4ki.csv");

struct Tables {
    tab: PathBuf,
    ext: PathBuf,
    basic: PathBuf,
}

/// The MHLW tables, or `None` (with a line on stderr) where the reference data is absent.
fn tables() -> Option<Tables> {
    let items = Path::new(REFERENCE).join("mhlw").join("items");
    if !items.is_dir() {
        eprintln!(
            "skipping: shared reference data not found at {}",
            items.display()
        );
        return None;
    }
    Some(Tables {
        tab: items.join("XMLhc24tab.csv"),
        ext: items.join("XMLhc24ext.csv"),
        basic: items.join("ITEMBasicInfo.csv"),
    })
}

fn generate(tables: &Tables) -> (Profile, GenerateReport, Vec<u8>) {
    let (profile, report) =
        generate::from_mhlw_tables_with_report(&tables.tab, &tables.ext, &tables.basic)
            .expect("the reference tables generate a profile");
    let mut csv = Vec::new();
    profile
        .write_csv(&mut csv)
        .expect("the generated profile is writable");
    (profile, report, csv)
}

fn default() -> &'static Profile {
    Profile::default_profile()
}

#[test]
fn committed_default_profile_is_what_the_reference_tables_generate() {
    let Some(tables) = tables() else { return };
    let (profile, _, csv) = generate(&tables);
    let committed = fs::read(COMMITTED).expect("committed profile");
    assert!(
        csv == committed,
        "profiles/mhlw-tokutei-4ki.csv is out of date; regenerate it with \
         `cargo test -p kenshin-profile --test default_profile -- --ignored regenerate`"
    );
    assert_eq!(&profile, default());
}

/// Rewrites the committed default profile from the reference tables.
#[test]
#[ignore = "writes profiles/mhlw-tokutei-4ki.csv; run after changing the generator or the tables"]
fn regenerate_default_profile() {
    let tables = tables().expect("the reference tables are needed to regenerate");
    let (profile, report, csv) = generate(&tables);
    fs::write(COMMITTED, &csv).expect("write the profile");
    eprintln!("wrote {} items to {COMMITTED}", profile.items.len());
    eprintln!("{report:#?}");
    for warning in profile.check() {
        eprintln!("warning: {warning}");
    }
}

#[test]
fn items_are_the_unique_codes_of_both_tables() {
    let Some(tables) = tables() else { return };
    // Counted here straight from the tables, independently of the generator.
    let mut rows = 0;
    let mut codes = HashSet::new();
    for path in [&tables.tab, &tables.ext] {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_path(path)
            .unwrap();
        let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        let code_column = records[1]
            .iter()
            .position(|id| id == "XMLITEM_17CODE")
            .unwrap();
        for record in &records[3..] {
            rows += 1;
            codes.insert(record[code_column].trim().to_owned());
        }
    }
    let duplicates = rows - codes.len();
    let (profile, report, _) = generate(&tables);
    assert_eq!((rows, codes.len()), (523, 523));
    // The 第4期 tables as shipped repeat no code; the generator would keep the first row.
    assert_eq!(duplicates, 0);
    assert_eq!(report.duplicates.len(), duplicates);
    assert_eq!(profile.items.len(), codes.len());
    assert_eq!(
        report.table_rows,
        [
            ("XMLhc24tab.csv".to_owned(), 322),
            ("XMLhc24ext.csv".to_owned(), 201)
        ]
    );
    assert_eq!(report.ranges_merged, 96);
    assert_eq!(report.placeholders.len(), 1);
    assert_eq!(report.placeholders[0].code, "XXXXXXXXXXXXXXXXX");
}

#[test]
fn embedded_default_profile_parses_and_round_trips() {
    let profile = default();
    assert_eq!(profile.id, "mhlw-tokutei-4ki");
    assert_eq!(profile.version, "2024.1");
    assert_eq!(
        profile.name,
        "特定健診 第4期 標準項目 (MHLW 公開項目表より)"
    );
    assert_eq!(profile.label(), "mhlw-tokutei-4ki@2024.1");

    let mut written = Vec::new();
    profile.write_csv(&mut written).unwrap();
    assert_eq!(
        written,
        fs::read(COMMITTED).unwrap(),
        "write_csv is not exact"
    );
    let back = Profile::from_csv_reader(written.as_slice()).unwrap();
    assert_eq!(&back, profile);
}

#[test]
fn item_counts_by_type() {
    let mut counts = BTreeMap::new();
    for item in &default().items {
        *counts.entry(item.kind.type_name()).or_insert(0) += 1;
    }
    assert_eq!(default().items.len(), 523);
    assert_eq!(
        counts,
        BTreeMap::from([("code", 192), ("date", 10), ("numeric", 216), ("text", 105)])
    );
}

#[test]
fn height() {
    let item = default().item("9N001000000000001").unwrap();
    assert_eq!(item.name, "身長");
    assert_eq!(item.category, "身体計測");
    match &item.kind {
        ItemKind::Numeric { format } => assert_eq!(format.to_string(), "NNN.N"),
        other => panic!("身長 is {other:?}"),
    }
    assert_eq!(item.unit.as_deref(), Some("cm"));
    assert_eq!(item.ucum.as_deref(), Some("cm"));
    assert_eq!(item.max_bytes, 5);
    assert_eq!(
        item.input_range,
        Some(Range {
            low: Some("100".into()),
            high: Some("250".into())
        })
    );
    assert_eq!(item.reference, None);
    assert!(item.programs.contains(&"特定健診:1".to_owned()));
    assert_eq!(item.xml.as_ref().unwrap().data_type, XmlDataType::PQ);
    // Output order is 出力順: 身長 is the first item.
    assert_eq!(default().items[0].code, "9N001000000000001");
}

#[test]
fn bmi_reference_range() {
    let item = default().item("9N011000000000001").unwrap();
    assert_eq!(item.name, "BMI");
    let reference = item.reference.as_ref().unwrap();
    let expected = Range {
        low: Some("18.5".into()),
        high: Some("24.9".into()),
    };
    assert_eq!(reference.male.as_ref(), Some(&expected));
    assert_eq!(reference.female.as_ref(), Some(&expected));
    assert_eq!(
        item.input_range,
        Some(Range {
            low: Some("10".into()),
            high: Some("100".into())
        })
    );
}

#[test]
fn urine_glucose_is_a_five_term_code_item() {
    // 尿糖 has two codes in XMLhc24tab.csv (two methods); both carry the same value set.
    for code in ["1A020000000191111", "1A020000000190111"] {
        let item = default().item(code).unwrap();
        assert_eq!(item.name, "尿糖");
        let ItemKind::Code { terms } = &item.kind else {
            panic!("尿糖 is {:?}", item.kind)
        };
        let pairs: Vec<(&str, &str)> = terms
            .iter()
            .map(|t| (t.code.as_str(), t.term.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("1", "－"),
                ("2", "±"),
                ("3", "＋"),
                ("4", "＋＋"),
                ("5", "＋＋＋")
            ]
        );
        let xml = item.xml.as_ref().unwrap();
        assert_eq!(xml.data_type, XmlDataType::CO);
        assert_eq!(xml.code_system.as_deref(), Some("1.2.392.200119.6.2102"));
        assert_eq!(item.max_bytes, 1);
    }
    // The extension table writes the same value set with ASCII signs; the profile does not.
    let ItemKind::Code { terms } = &default().item("1A040000000190111").unwrap().kind else {
        panic!("尿ウロビリノーゲン定性 is not a code item")
    };
    assert_eq!(terms[0].term, "－");
    assert_eq!(terms[4].term, "＋＋＋");
}

#[test]
fn dates_text_and_series_groups() {
    let date = default().item("9N211161100000049").unwrap();
    assert_eq!(date.kind, ItemKind::Date);
    assert_eq!(date.max_bytes, 8);
    let xml = date.xml.as_ref().unwrap();
    assert_eq!(xml.data_type, XmlDataType::ST);
    assert_eq!(xml.series_group.as_deref(), Some("9N211161100000049:COMP"));

    let text = default().item("9N051000000000049").unwrap();
    assert_eq!(
        (text.name.as_str(), &text.kind),
        ("業務歴", &ItemKind::Text)
    );
    assert_eq!(text.max_bytes, 256);

    let reason = default().item("3C015161002399949").unwrap();
    assert_eq!(
        reason.xml.as_ref().unwrap().series_group.as_deref(),
        Some("3C015161002399949:RSON")
    );
    let creatinine = default().item("3C015000002327101").unwrap();
    assert_eq!(
        creatinine.xml.as_ref().unwrap().method_code.as_deref(),
        Some("3C01510000")
    );
}

#[test]
fn odd_source_rows_are_tidied() {
    // Leading or trailing spaces in the table's names are dropped.
    assert_eq!(
        default().item("9N512000000000011").unwrap().name,
        "測定不可能・検査未実施の理由"
    );
    assert_eq!(
        default().item("6A205165606171711").unwrap().name,
        "喀痰検査(ガフキー号数)"
    );
    // 心電図（対象者）: entries 1 and 2 are separated by 。 in the table.
    let ItemKind::Code { terms } = &default().item("9A110161600000011").unwrap().kind else {
        panic!()
    };
    assert_eq!(terms.len(), 3);
    assert_eq!(terms[2].term, "不整脈による心電図検査対象者");
    // 生活機能評価の結果2: entry 5 lacks its colon in the table.
    let ItemKind::Code { terms } = &default().item("9N561000000000011").unwrap().kind else {
        panic!()
    };
    assert_eq!(terms.len(), 5);
    assert_eq!(terms[4].code, "5");
}

#[test]
fn extension_items_follow_in_output_order() {
    let items = &default().items;
    let position = |code: &str| items.iter().position(|i| i.code == code).unwrap();
    // The last item of the main table comes before the first of the extension table.
    assert!(position("9N946000000000011") < position("1A035000000190101"));
    // In XMLhc24ext.csv 負荷前血糖値 (出力順 5680) is listed after ＣＡ１９－９定量 (6160);
    // the profile follows 出力順.
    assert!(position("3D010100001926101") < position("5D130000002399801"));
}

#[test]
fn default_profile_warnings_are_the_known_gaps_of_the_tables() {
    let warnings = default().check();
    let mut by_kind = BTreeMap::new();
    for w in &warnings {
        *by_kind.entry(w.kind).or_insert(0) += 1;
    }
    // PQ items without a UCUM unit (尿比重, A/G, 視力, …) and the 指導区分 items whose code list
    // is free (数字１桁（分類設定は自由）).
    assert_eq!(
        by_kind,
        BTreeMap::from([
            (WarningKind::EmptyCodeList, 14),
            (WarningKind::PqWithoutUcum, 11)
        ])
    );
    assert!(warnings
        .iter()
        .any(|w| w.code == "1A030000000190301" && w.kind == WarningKind::PqWithoutUcum));
    assert!(warnings
        .iter()
        .any(|w| w.code == "ZG001000000000011" && w.kind == WarningKind::EmptyCodeList));
}
