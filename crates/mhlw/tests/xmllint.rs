//! Every file written validates against the official MHLW schemas (xmllint --schema).

mod common;

use common::*;
use kenshin_mhlw::{synthetic_records, SchemaFile};
use kenshin_profile::{CheckupRecord, ItemKind, ItemValue, Profile, RangeFlag, Value, XmlDataType};

/// Records that together give every item of the profile each form it can take: a value (with
/// an H flag on numbers of every third item), 未実施 and 測定不能.
fn kitchen_sink(profile: &Profile, template: &CheckupRecord) -> Vec<CheckupRecord> {
    (0..3)
        .map(|round| {
            let mut record = template.clone();
            record.values = profile
                .items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| {
                    let xml = item.xml.as_ref()?;
                    let value = match (round + i) % 3 {
                        1 => Value::NotPerformed,
                        2 => Value::Unmeasurable,
                        _ => match (xml.data_type, &item.kind) {
                            (XmlDataType::PQ, _) => Value::Number("1".into()),
                            (XmlDataType::CD | XmlDataType::CO, _) => Value::Code(vec!["1".into()]),
                            (XmlDataType::ST, ItemKind::Date) => Value::Date("20250101".into()),
                            (XmlDataType::ST, _) => Value::Text("所見 <&> テキスト".into()),
                        },
                    };
                    let flag = (matches!(value, Value::Number(_)) && i % 3 == 0)
                        .then_some(RangeFlag::High);
                    Some(ItemValue {
                        code: item.code.clone(),
                        value,
                        original: String::new(),
                        flag,
                    })
                })
                .collect();
            record
        })
        .collect()
}

/// How an archive is written: with `write_archive` or streamed with `ArchiveWriter`.
#[derive(Clone, Copy)]
enum Writer {
    Seekable,
    Streamed,
}

fn validate(profile: &Profile, ship_schemas: bool, writer: Writer) {
    let mut records = synthetic_records(60, 2024, profile);
    let sink = kitchen_sink(profile, &records[0]);
    records.extend(sink);
    let count = records.len() as u64;
    let mut meta = agency_meta();
    if let (true, Some(xsd)) = (ship_schemas, xsd_dir()) {
        meta.schema_files = SchemaFile::load_dir(&xsd).unwrap();
    }
    let (bytes, summary) = match writer {
        Writer::Seekable => write_to_vec(records, profile, &meta),
        Writer::Streamed => stream_to_vec(&records, profile, &meta),
    };
    assert_eq!(summary.records, count);
    // Skipped (with a notice) without the schemas or xmllint.
    xmllint_archive(&bytes, &summary, ship_schemas);
}

#[test]
fn test_profile_archives_validate() {
    validate(&test_profile(), false, Writer::Seekable);
}

#[test]
fn default_profile_archives_validate() {
    let profile = default_profile();
    assert!(profile.items.len() > 300, "{} items", profile.items.len());
    validate(profile, true, Writer::Seekable);
}

#[test]
fn streamed_archives_validate() {
    validate(&test_profile(), false, Writer::Streamed);
    validate(default_profile(), true, Writer::Streamed);
}

/// The validator is not vacuous: a document that breaks a hc08 restriction is refused.
#[test]
fn xmllint_rejects_a_broken_document() {
    let Some(xsd) = xsd_dir() else { return };
    if !xmllint_available() {
        return;
    }
    let profile = test_profile();
    let (bytes, summary) =
        write_to_vec(synthetic_records(1, 5, &profile), &profile, &agency_meta());
    let dir = tempfile::tempdir().unwrap();
    extract(&bytes, dir.path());
    let file = dir.path().join(summary.data_file_name(1).unwrap());
    let xml = std::fs::read_to_string(&file).unwrap();
    // typeId's root is fixed by hc08.
    let broken = xml.replace("2.16.840.1.113883.1.3", "2.16.840.1.113883.1.4");
    assert_ne!(xml, broken);
    std::fs::write(&file, broken).unwrap();
    assert!(xmllint(&xsd.join("hc08_V08.xsd"), &[file]).is_err());
}
