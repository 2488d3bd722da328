//! Write → read round trips, writer validation, naming and the index/summary contents.

mod common;

use std::io::Cursor;

use common::*;
use kenshin_mhlw::{
    read_archive, synthetic_records, write_archive, InteractionType, Limits, MhlwError, Party,
    SchemaFile,
};
use kenshin_profile::{CheckupRecord, Header, HeaderField, ItemValue, RangeFlag, Value};

#[test]
fn synthetic_archive_round_trips_exactly() {
    let profile = test_profile();
    let records = synthetic_records(300, 42, &profile);
    let (bytes, summary) = write_to_vec(records.clone(), &profile, &agency_meta());
    assert_eq!(summary.records, 300);

    let read = read_all(&bytes, &profile);
    assert_eq!(read.len(), records.len());
    for (i, (written, back)) in records.iter().zip(&read).enumerate() {
        assert_eq!(back.source_record, i as u64 + 1);
        assert_eq!(
            comparable(written, &profile),
            comparable(back, &profile),
            "record {}",
            i + 1
        );
        // Values come back in profile order, which is how the generator orders them.
        let codes: Vec<&str> = back.values.iter().map(|v| v.code.as_str()).collect();
        let written_codes: Vec<&str> = written.values.iter().map(|v| v.code.as_str()).collect();
        assert_eq!(codes, written_codes);
    }

    // The data set exercises every representation.
    let all: Vec<&ItemValue> = records.iter().flat_map(|r| &r.values).collect();
    let count = |f: &dyn Fn(&ItemValue) -> bool| all.iter().filter(|v| f(v)).count() as u64;
    assert_eq!(
        count(&|v| v.value == Value::NotPerformed),
        summary.not_performed
    );
    assert_eq!(
        count(&|v| v.value == Value::Unmeasurable),
        summary.unmeasurable
    );
    assert_eq!(count(&|v| v.flag.is_some()), summary.flagged);
    assert!(summary.not_performed > 0 && summary.unmeasurable > 0 && summary.flagged > 0);
    assert!(count(&|v| matches!(v.value, Value::Date(_))) > 0);
    assert!(
        count(&|v| v.code == "2A020161001930149") > 0,
        "anemia series group"
    );
    assert!(
        count(&|v| v.code == "3C015161602399911") > 0,
        "RSON1 member"
    );
    assert_eq!(summary.observations, all.len() as u64);
}

fn hand_record() -> CheckupRecord {
    let mut header = Header::default();
    for (field, value) in [
        (HeaderField::InsurerNumber, "06999901"),
        (HeaderField::Symbol, "あいう１２"),
        (HeaderField::Number, "12 34\t<&>\"'"),
        (HeaderField::Branch, "01"),
        (HeaderField::KanaName, " ヤマダ　タロウ "),
        (HeaderField::Name, "山田 太郎"),
        (HeaderField::BirthDate, "19650412"),
        (HeaderField::Sex, "1"),
        (HeaderField::PostalCode, "100-0001"),
        (HeaderField::Address, "架空県架空市\r\n架空町1-2-3 <&> "),
        (HeaderField::ExamDate, "20250115"),
        (HeaderField::InstitutionNumber, "1399999902"),
        (HeaderField::TicketNumber, "24000000001"),
    ] {
        header.set(field, value.into());
    }
    let value = |code: &str, value: Value, flag: Option<RangeFlag>| ItemValue {
        code: code.into(),
        value,
        original: "as written by the institution".into(),
        flag,
    };
    CheckupRecord {
        header,
        values: vec![
            value(
                "9N001000000000001",
                Value::Number("099.5".into()),
                Some(RangeFlag::Low),
            ),
            value(
                "3F015000002327101",
                Value::Number("2500".into()),
                Some(RangeFlag::High),
            ),
            value("9N006000000000001", Value::Unmeasurable, None),
            value("9N016160100000001", Value::NotPerformed, None),
            value(
                "1A020000000191111",
                Value::Code(vec!["1".into(), "3".into()]),
                None,
            ),
            value("1A010000000191111", Value::Unmeasurable, None),
            value("9N056000000000011", Value::Code(vec!["1".into()]), None),
            value(
                "9N056160400000049",
                Value::Text("  高血圧症\r\n\t「内服中」 <&> ]]> ".into()),
                None,
            ),
            value("9N511000000000049", Value::NotPerformed, None),
            value("9N211161100000049", Value::Date("20250110".into()), None),
            value("3C015161002399949", Value::Text("理由".into()), None),
            value("8A065000002391901", Value::Number("75.2".into()), None),
            value("LOCAL000000000001", Value::Text("no XML form".into()), None),
        ],
        source_record: 17,
    }
}

#[test]
fn every_representation_round_trips_exactly() {
    let profile = test_profile();
    let record = hand_record();
    let mut meta = agency_meta();
    meta.institution_names
        .insert("1399999902".into(), "架空第二クリニック".into());
    let (bytes, summary) = write_to_vec(vec![record.clone()], &profile, &meta);
    assert_eq!(summary.values_without_xml, 1);
    assert_eq!(summary.observations, 12);
    assert_eq!(summary.not_performed, 2);
    assert_eq!(summary.unmeasurable, 2);
    assert_eq!(summary.flagged, 2);

    let back = read_all(&bytes, &profile);
    assert_eq!(back.len(), 1);
    assert_eq!(
        comparable(&record, &profile),
        comparable(&back[0], &profile)
    );
    assert_eq!(back[0].header.get(HeaderField::Name), None);
    assert_eq!(back[0].source_record, 1);
    let flagged: Vec<_> = back[0]
        .values
        .iter()
        .filter_map(|v| v.flag.map(|f| (v.code.as_str(), f)))
        .collect();
    assert_eq!(
        flagged,
        vec![
            ("9N001000000000001", RangeFlag::Low),
            ("3F015000002327101", RangeFlag::High)
        ]
    );
    // `original` holds the XML's lexical value.
    let urine = back[0].value("1A020000000191111").unwrap();
    assert_eq!(urine.original, "1、3");
    assert_eq!(back[0].value("9N006000000000001").unwrap().original, "NI");
}

#[test]
fn documents_use_the_mhlw_conventions() {
    let profile = test_profile();
    let (bytes, summary) = write_to_vec(vec![hand_record()], &profile, &agency_meta());
    let dir = tempfile::tempdir().unwrap();
    extract(&bytes, dir.path());
    let data = dir.path().join(summary.data_file_name(1).unwrap());
    let xml = std::fs::read_to_string(data).unwrap();
    // 未実施: negated observation, no value, no method.
    assert!(xml.contains("<observation classCode=\"OBS\" moodCode=\"EVN\" negationInd=\"true\">\n"));
    assert!(
        !xml.contains("9N01610000"),
        "no methodCode for a test not performed"
    );
    // 測定不能: a typed null value.
    assert!(xml.contains("<value xsi:type=\"PQ\" nullFlavor=\"NI\"/>"));
    assert!(xml.contains("<value xsi:type=\"CO\" nullFlavor=\"NI\"/>"));
    // Input range: measured value, then H/L in HL7 ObservationInterpretation.
    assert!(xml.contains(
        "<value xsi:type=\"PQ\" value=\"2500\" unit=\"mg/dL\"/>\n              <value xsi:type=\"CD\" code=\"H\" codeSystem=\"2.16.840.1.113883.5.83\" displayName=\"以上\"/>"
    ));
    // Series group with COMP and RSON (RSON1 is written RSON).
    assert!(xml.contains("<code nullFlavor=\"NA\"/>"));
    assert!(xml.contains("<entryRelationship typeCode=\"COMP\">"));
    assert!(xml.contains("<entryRelationship typeCode=\"RSON\">"));
    assert!(!xml.contains("RSON1"));
    // Coded values carry their code system and term.
    assert!(xml.contains(
        "<value xsi:type=\"CO\" code=\"3\" codeSystem=\"1.2.392.200119.6.2102\" displayName=\"＋\"/>"
    ));
    // Header.
    assert!(xml.contains("<id root=\"1.2.392.200119.6.101\" extension=\"06999901\"/>"));
    assert!(xml.contains("<id root=\"1.2.392.200119.6.209.106999901\" extension=\"24000000001\"/>"));
    assert!(
        !xml.contains("<name>架空第二クリニック</name>"),
        "other institutions need meta names"
    );
    assert!(!xml.contains("山田"), "the kanji name is not written");
}

#[test]
fn archive_names_index_and_summary() {
    let profile = test_profile();
    let mut meta = agency_meta();
    meta.daily_sequence = 2;
    meta.amounts.total_cost = 123_456;
    meta.amounts.total_payment_by_other_program = Some(7);
    let records = synthetic_records(3, 1, &profile);
    let (bytes, summary) = write_to_vec(records, &profile, &meta);
    assert_eq!(
        summary.archive_file_name,
        "1399999901_99999999_202504012_1.zip"
    );
    assert_eq!(summary.root_folder, "1399999901_99999999_202504012_1");
    assert_eq!(
        summary.data_file_name(3).unwrap(),
        "1399999901_99999999_202504012_1/DATA/h13999999012025040121000003.xml"
    );
    assert_eq!(summary.data_file_name(4), None);
    assert_eq!(
        summary.index_entry,
        "1399999901_99999999_202504012_1/ix08_V08.xml"
    );

    let reader = read_archive(Cursor::new(&bytes), &profile, &Limits::default()).unwrap();
    assert_eq!(reader.root_folder(), summary.root_folder);
    assert_eq!(reader.record_count(), 3);
    let index = reader.index();
    assert_eq!(index.interaction_type, InteractionType::InstitutionToAgency);
    assert_eq!(index.creation_date, "20250401");
    assert_eq!(index.sender, Party::institution("1399999901"));
    assert_eq!(index.receiver, Some(Party::agency("99999999")));
    assert_eq!(index.total_record_count, 3);
    let s = reader.summary().expect("the writer writes a summary");
    assert_eq!(s.total_subject_count, 3);
    assert_eq!(s.total_cost, 123_456);
    assert_eq!(s.total_payment_by_other_program, Some(7));
    let names: Vec<String> = reader.data_files().map(str::to_string).collect();
    assert_eq!(names.len(), 3);
    assert!(names[0].ends_with("000001.xml"));

    // Reproducible: same input, same bytes.
    let (again, _) = write_to_vec(synthetic_records(3, 1, &profile), &profile, &meta);
    assert_eq!(bytes, again);
}

#[test]
fn schema_files_are_shipped_in_xsd_folder() {
    let profile = test_profile();
    let mut meta = agency_meta();
    meta.schema_files = vec![
        SchemaFile {
            path: "hc08_V08.xsd".into(),
            contents: b"<schema/>".to_vec(),
        },
        SchemaFile {
            path: "coreschemas/voc_hcgv08.xsd".into(),
            contents: b"<schema/>".to_vec(),
        },
    ];
    let (bytes, summary) = write_to_vec(synthetic_records(1, 1, &profile), &profile, &meta);
    let zip = zip::ZipArchive::new(Cursor::new(&bytes)).unwrap();
    let names: Vec<&str> = zip.file_names().collect();
    let root = &summary.root_folder;
    assert!(names.contains(&format!("{root}/XSD/coreschemas/voc_hcgv08.xsd").as_str()));
    assert!(names.contains(&format!("{root}/XSD/coreschemas/").as_str()));
    // The reader ignores the schema folder.
    assert_eq!(read_all(&bytes, &profile).len(), 1);

    meta.schema_files[0].path = "../escape.xsd".into();
    let err = write_archive(Cursor::new(Vec::new()), vec![], &profile, &meta).unwrap_err();
    assert!(matches!(err, MhlwError::InvalidMeta(_)), "{err}");
}

fn expect_invalid(record: CheckupRecord, field: &str) {
    let profile = test_profile();
    let err = write_archive(
        Cursor::new(Vec::new()),
        vec![record],
        &profile,
        &agency_meta(),
    )
    .expect_err("invalid record refused");
    match err {
        MhlwError::InvalidRecord {
            field: ref f,
            record,
            ..
        } => {
            assert_eq!(f, field, "{err}");
            assert_eq!(record, 17);
        }
        other => panic!("expected InvalidRecord for {field}, got {other}"),
    }
}

#[test]
fn writer_refuses_what_it_cannot_write_faithfully() {
    let with_header = |field: HeaderField, value: &str| {
        let mut r = hand_record();
        r.header.set(field, value.into());
        r
    };
    let without = |field: HeaderField| {
        let mut r = hand_record();
        r.header.fields.remove(&field);
        r
    };
    let with_value = |code: &str, value: Value, flag: Option<RangeFlag>| {
        let mut r = hand_record();
        r.values.push(ItemValue {
            code: code.into(),
            value,
            original: String::new(),
            flag,
        });
        r
    };
    expect_invalid(
        with_header(HeaderField::InsurerNumber, "6999901"),
        "insurer_number",
    );
    expect_invalid(without(HeaderField::Sex), "sex");
    expect_invalid(with_header(HeaderField::Sex, "3"), "sex");
    expect_invalid(
        with_header(HeaderField::BirthDate, "19650231"),
        "birth_date",
    );
    expect_invalid(without(HeaderField::ExamDate), "exam_date");
    expect_invalid(with_header(HeaderField::Branch, "1"), "branch");
    expect_invalid(
        with_header(HeaderField::TicketNumber, "123"),
        "ticket_number",
    );
    expect_invalid(with_header(HeaderField::Symbol, &"記".repeat(21)), "symbol");
    expect_invalid(
        with_header(HeaderField::KanaName, "ヤマダ\u{1}"),
        "kana_name",
    );
    expect_invalid(
        with_value("9Z999999999999999", Value::Text("x".into()), None),
        "9Z999999999999999",
    );
    expect_invalid(
        with_value("9N121000000000001", Value::Text("x".into()), None),
        "9N121000000000001",
    );
    expect_invalid(
        with_value("9N011000000000001", Value::Text("22.1".into()), None),
        "9N011000000000001",
    );
    expect_invalid(
        with_value("9N011000000000001", Value::Number("1e3".into()), None),
        "9N011000000000001",
    );
    expect_invalid(
        with_value("9N061000000000011", Value::Code(vec![]), None),
        "9N061000000000011",
    );
    expect_invalid(
        with_value("9N061000000000011", Value::Code(vec!["1 2".into()]), None),
        "9N061000000000011",
    );
    expect_invalid(
        with_value(
            "9N061000000000011",
            Value::Code(vec!["1".into()]),
            Some(RangeFlag::High),
        ),
        "9N061000000000011",
    );
    expect_invalid(
        with_value("9N516000000000049", Value::Date("20250101".into()), None),
        "9N516000000000049",
    );
    expect_invalid(
        with_value("9N001000000000001", Value::Number("1".into()), None),
        "9N001000000000001",
    );

    // An archive for one insurer holds only that insurer's members.
    let profile = test_profile();
    let mut meta = agency_meta();
    meta.receiver = Party::insurer("06999902");
    let err = write_archive(
        Cursor::new(Vec::new()),
        vec![hand_record()],
        &profile,
        &meta,
    )
    .unwrap_err();
    assert!(
        matches!(err, MhlwError::InvalidRecord { ref field, .. } if field == "insurer_number"),
        "{err}"
    );

    let mut meta = agency_meta();
    meta.daily_sequence = 0;
    let err = write_archive(Cursor::new(Vec::new()), vec![], &profile, &meta).unwrap_err();
    assert!(matches!(err, MhlwError::InvalidMeta(_)));
    let mut meta = agency_meta();
    meta.sender = Party::institution("123");
    let err = write_archive(Cursor::new(Vec::new()), vec![], &profile, &meta).unwrap_err();
    assert!(matches!(err, MhlwError::InvalidMeta(_)));
}

#[test]
fn empty_archive_is_valid_and_reads_as_no_records() {
    let profile = test_profile();
    let (bytes, summary) = write_to_vec(vec![], &profile, &agency_meta());
    assert_eq!(summary.records, 0);
    assert!(read_all(&bytes, &profile).is_empty());
}

#[test]
fn default_profile_round_trips_exactly() {
    let profile = default_profile();
    let records = synthetic_records(200, 9, profile);
    let (bytes, summary) = write_to_vec(records.clone(), profile, &agency_meta());
    assert_eq!(summary.values_without_xml, 0);
    assert!(summary.flagged > 0 && summary.not_performed > 0);
    let read = read_all(&bytes, profile);
    assert_eq!(read.len(), records.len());
    for (written, back) in records.iter().zip(&read) {
        assert_eq!(comparable(written, profile), comparable(back, profile));
    }
}
