//! Property: any record the writer accepts reads back with the same header and values.

mod common;

use std::io::Cursor;

use common::*;
use kenshin_mhlw::{read_archive, write_archive, Limits};
use kenshin_profile::{
    CheckupRecord, Header, HeaderField, ItemKind, ItemValue, Profile, RangeFlag, Value, XmlDataType,
};
use proptest::prelude::*;

/// Text as institutions send it: any printable character, markup characters, full-width
/// spaces, and TAB/LF/CR.
fn text(max: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("[\\PC\t\n\r <>&\"'　]{{0,{max}}}")).unwrap()
}

fn non_empty_text(max: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("[\\PC\t\n\r <>&\"'　]{{1,{max}}}")).unwrap()
}

fn digits(n: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("[0-9]{{{n}}}")).unwrap()
}

fn date() -> impl Strategy<Value = String> {
    (1930i32..2030, 1u8..=12, 1u8..=28).prop_map(|(y, m, d)| format!("{y:04}{m:02}{d:02}"))
}

fn header() -> impl Strategy<Value = Header> {
    (
        (
            digits(8),
            proptest::option::of(non_empty_text(20)),
            proptest::option::of(non_empty_text(20)),
        ),
        (
            proptest::option::of(digits(2)),
            proptest::option::of(non_empty_text(30)),
        ),
        (prop_oneof![Just("1"), Just("2")], date(), date()),
        (
            proptest::option::of(non_empty_text(10)),
            proptest::option::of(non_empty_text(60)),
        ),
        (
            proptest::option::of(digits(10)),
            proptest::option::of(digits(11)),
        ),
    )
        .prop_map(
            |(
                (insurer, symbol, number),
                (branch, kana),
                (sex, birth, exam),
                (postal, address),
                (institution, ticket),
            )| {
                let mut h = Header::default();
                h.set(HeaderField::InsurerNumber, insurer);
                h.set(HeaderField::Sex, sex.into());
                h.set(HeaderField::BirthDate, birth);
                h.set(HeaderField::ExamDate, exam);
                for (field, value) in [
                    (HeaderField::Symbol, symbol),
                    (HeaderField::Number, number),
                    (HeaderField::Branch, branch),
                    (HeaderField::KanaName, kana),
                    (HeaderField::PostalCode, postal),
                    (HeaderField::Address, address),
                    (HeaderField::InstitutionNumber, institution),
                    (HeaderField::TicketNumber, ticket),
                ] {
                    if let Some(value) = value {
                        h.set(field, value);
                    }
                }
                h
            },
        )
}

/// A value for item `index` of the profile, in a form its XML type allows.
fn value_for(profile: &Profile, index: usize) -> BoxedStrategy<ItemValue> {
    let item = &profile.items[index];
    let code = item.code.clone();
    let xml = item.xml.as_ref().expect("items with XML form only");
    let present: BoxedStrategy<(Value, Option<RangeFlag>)> = match (xml.data_type, &item.kind) {
        (XmlDataType::PQ, _) => (
            proptest::string::string_regex("[+-]?[0-9]{1,5}(\\.[0-9]{0,3})?").unwrap(),
            proptest::option::of(prop_oneof![Just(RangeFlag::High), Just(RangeFlag::Low)]),
        )
            .prop_map(|(n, flag)| (Value::Number(n), flag))
            .boxed(),
        (XmlDataType::CD | XmlDataType::CO, _) => proptest::collection::vec(
            proptest::string::string_regex("[0-9A-Za-z.+\\-]{1,4}").unwrap(),
            1..4,
        )
        .prop_map(|codes| (Value::Code(codes), None))
        .boxed(),
        (XmlDataType::ST, ItemKind::Date) => date().prop_map(|d| (Value::Date(d), None)).boxed(),
        (XmlDataType::ST, _) => text(40).prop_map(|t| (Value::Text(t), None)).boxed(),
    };
    prop_oneof![
        8 => present,
        1 => Just((Value::NotPerformed, None)),
        1 => Just((Value::Unmeasurable, None)),
    ]
    .prop_map(move |(value, flag)| ItemValue {
        code: code.clone(),
        value,
        original: String::new(),
        flag,
    })
    .boxed()
}

fn record(profile: &'static Profile) -> impl Strategy<Value = CheckupRecord> {
    let with_xml: Vec<usize> = profile
        .items
        .iter()
        .enumerate()
        .filter(|(_, i)| i.xml.is_some())
        .map(|(i, _)| i)
        .collect();
    let count = with_xml.len();
    (header(), proptest::sample::subsequence(with_xml, 0..=count)).prop_flat_map(
        move |(header, chosen)| {
            let values: Vec<BoxedStrategy<ItemValue>> =
                chosen.iter().map(|&i| value_for(profile, i)).collect();
            (Just(header), values).prop_map(|(header, values)| CheckupRecord {
                header,
                values,
                source_record: 0,
            })
        },
    )
}

fn profile() -> &'static Profile {
    static PROFILE: std::sync::OnceLock<Profile> = std::sync::OnceLock::new();
    PROFILE.get_or_init(test_profile)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn write_then_read_preserves_records(records in proptest::collection::vec(record(profile()), 1..4)) {
        let profile = profile();
        let mut out = Cursor::new(Vec::new());
        write_archive(&mut out, records.clone(), profile, &agency_meta()).expect("written");
        let bytes = out.into_inner();
        let reader = read_archive(Cursor::new(&bytes), profile, &Limits::default()).expect("opens");
        let back: Vec<CheckupRecord> = reader.map(|r| r.expect("reads")).collect();
        prop_assert_eq!(back.len(), records.len());
        for (i, (written, read)) in records.iter().zip(&back).enumerate() {
            prop_assert_eq!(read.source_record, i as u64 + 1);
            prop_assert_eq!(&read.header, &written.header);
            let strip = |r: &CheckupRecord| -> Vec<(String, Value, Option<RangeFlag>)> {
                r.values.iter().map(|v| (v.code.clone(), v.value.clone(), v.flag)).collect()
            };
            // Subsequences keep profile order, which is also the order of reading.
            prop_assert_eq!(strip(read), strip(written));
        }
    }
}
