//! Helpers shared by the integration tests: a profile, a context, records, and ways to read
//! a Bundle back.
#![allow(dead_code)]

use std::collections::HashSet;

use kenshin_fhir::ReportingContext;
use kenshin_mhlw::{synthetic_records, SYNTHETIC_INSTITUTION};
use kenshin_profile::{
    CheckupRecord, Header, HeaderField, ItemValue, Profile, RangeFlag, Value as RecordValue,
};
use serde_json::Value;
use time::macros::datetime;

pub const HEIGHT: &str = "9N001000000000001";
pub const WEIGHT: &str = "9N006000000000001";
pub const TG_FASTING: &str = "3F015000002327101";
pub const HDL: &str = "3F070000002327101";
pub const LDL: &str = "3F077000002327101";
pub const AST: &str = "3B035000002327201";
pub const HBA1C: &str = "3D046000001906202";
pub const URINE_GLUCOSE: &str = "1A020000000191111";
pub const MEAL_TIME: &str = "9N141000000000011";
pub const MED_BP: &str = "9N701000000000011";
pub const DIAGNOSIS: &str = "9N511000000000049";
pub const DOCTOR: &str = "9N516000000000049";
pub const XRAY_FINDING: &str = "9N206160700000011";
pub const XRAY_DATE: &str = "9N211161100000049";

pub fn value(code: &str, value: RecordValue, flag: Option<RangeFlag>) -> ItemValue {
    ItemValue {
        code: code.into(),
        value,
        original: "原文".into(),
        flag,
    }
}

/// One record with every kind of value, including the rare ones.
pub fn every_kind_record() -> CheckupRecord {
    let mut header = Header::default();
    for (field, text) in [
        (HeaderField::InsurerNumber, "06999901"),
        (HeaderField::Symbol, "あ い"),
        (HeaderField::Number, "１２３"),
        (HeaderField::Branch, "1"),
        (HeaderField::KanaName, "カクウ　ハナコ"),
        (HeaderField::Name, "架空　花子"),
        (HeaderField::BirthDate, "19600229"),
        (HeaderField::Sex, "2"),
        (HeaderField::PostalCode, "123-4567"),
        (HeaderField::Address, "架空県架空市1-1"),
        (HeaderField::ExamDate, "20240615"),
        (HeaderField::InstitutionNumber, "1399999901"),
        (HeaderField::TicketNumber, "24100000123"),
    ] {
        header.set(field, text.into());
    }
    let number = |s: &str| RecordValue::Number(s.into());
    let code = |c: &[&str]| RecordValue::Code(c.iter().map(|s| s.to_string()).collect());
    CheckupRecord {
        header,
        values: vec![
            value(HEIGHT, number("170.5"), None),
            value(WEIGHT, number("065.0"), None),
            value(TG_FASTING, number("2500"), Some(RangeFlag::High)),
            value(HDL, number("5"), Some(RangeFlag::Low)),
            value(LDL, RecordValue::NotPerformed, None),
            value(AST, RecordValue::Invalid, None),
            value(HBA1C, RecordValue::Unmeasurable, None),
            value(URINE_GLUCOSE, code(&["3"]), None),
            value(MEAL_TIME, code(&["2"]), None),
            value(MED_BP, code(&["1"]), None),
            value(
                DIAGNOSIS,
                RecordValue::Text("要経過観察 <再検>".into()),
                None,
            ),
            value(DOCTOR, RecordValue::Text("カクウ　イチロウ".into()), None),
            value(XRAY_FINDING, code(&["1", "3"]), None),
            value(XRAY_DATE, RecordValue::Date("20240601".into()), None),
        ],
        source_record: 1,
    }
}

pub fn profile() -> &'static Profile {
    Profile::default_profile()
}

pub fn context() -> ReportingContext {
    ReportingContext::new(
        SYNTHETIC_INSTITUTION,
        "架空健診センター",
        datetime!(2025-04-01 09:30:15.123 +09:00),
    )
    .unwrap()
    .with_institution_address("100-0001", "架空県架空市架空町1-2-3")
    .with_reporter_name("架空 一郎")
}

pub fn records(count: usize, seed: u64) -> Vec<CheckupRecord> {
    synthetic_records(count, seed, profile())
}

pub fn entries(bundle: &Value) -> &Vec<Value> {
    bundle["entry"].as_array().expect("entry is an array")
}

pub fn resources<'b>(bundle: &'b Value, kind: &'b str) -> impl Iterator<Item = &'b Value> + 'b {
    entries(bundle)
        .iter()
        .map(|e| &e["resource"])
        .filter(move |r| r["resourceType"] == kind)
}

pub fn full_urls(bundle: &Value) -> Vec<String> {
    entries(bundle)
        .iter()
        .map(|e| e["fullUrl"].as_str().expect("fullUrl").to_string())
        .collect()
}

/// Every `reference` string anywhere below `value`.
pub fn references(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                if key == "reference" {
                    if let Some(s) = v.as_str() {
                        out.push(s.to_string());
                    }
                } else {
                    references(v, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| references(v, out)),
        _ => {}
    }
}

/// The Observation coded with this 特定健診項目コード.
pub fn observation<'b>(bundle: &'b Value, item_code: &str) -> Option<&'b Value> {
    resources(bundle, "Observation").find(|o| {
        o["code"]["coding"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["system"] == "urn:oid:1.2.392.200119.6.1005" && c["code"] == item_code)
    })
}

pub fn is_uuid_urn(text: &str) -> bool {
    let Some(uuid) = text.strip_prefix("urn:uuid:") else {
        return false;
    };
    let groups: Vec<&str> = uuid.split('-').collect();
    groups.iter().map(|g| g.len()).collect::<Vec<_>>() == [8, 4, 4, 4, 12]
        && uuid
            .chars()
            .all(|c| c == '-' || c.is_ascii_digit() || ('a'..='f').contains(&c))
}

pub fn unique(items: &[String]) -> bool {
    items.iter().collect::<HashSet<_>>().len() == items.len()
}
