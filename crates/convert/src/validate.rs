//! Checks across the items of one record.

use std::str::FromStr;

use kenshin_profile::{CheckupRecord, HeaderField, Profile, Value};
use rust_decimal::Decimal;

use crate::finding::{Rule, Severity};

const HEIGHT: &str = "9N001000000000001";
const WEIGHT: &str = "9N006000000000001";
const BMI: &str = "9N011000000000001";
/// (systolic, diastolic) of the same measurement.
const BLOOD_PRESSURE: [(&str, &str); 3] = [
    ("9A751000000000001", "9A761000000000001"),
    ("9A752000000000001", "9A762000000000001"),
    ("9A755000000000001", "9A765000000000001"),
];
/// JLAC10 analyte prefixes (the first five characters of the 17-digit code).
const TOTAL_CHOLESTEROL: &str = "3F050";
const HDL: &str = "3F070";
const LDL: &str = "3F077";
const TRIGLYCERIDES: &str = "3F015";

/// Words in item names that mark items for one sex only.
const FEMALE_ONLY: [&str; 3] = ["子宮", "乳房", "妊娠"];
const MALE_ONLY: [&str; 1] = ["前立腺"];

fn number(record: &CheckupRecord, code: &str) -> Option<Decimal> {
    match &record.value(code)?.value {
        Value::Number(text) => Decimal::from_str(text).ok(),
        _ => None,
    }
}

fn number_by_prefix(record: &CheckupRecord, prefix: &str) -> Option<(String, Decimal)> {
    record.values.iter().find_map(|v| match &v.value {
        Value::Number(text) if v.code.starts_with(prefix) => {
            Decimal::from_str(text).ok().map(|n| (v.code.clone(), n))
        }
        _ => None,
    })
}

/// One inconsistency between items.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrossFinding {
    /// The item the finding is reported on.
    pub item: String,
    pub rule: Rule,
    pub severity: Severity,
    pub message: String,
    /// The values involved, as the report shows them.
    pub value: Option<String>,
    /// For an error: the items whose standard values cannot be trusted and are left empty
    /// (their originals stay in the record).
    pub left_empty: Vec<String>,
}

/// Each inconsistency between the items of `record`.
pub fn cross_check(profile: &Profile, record: &CheckupRecord) -> Vec<CrossFinding> {
    let mut out = Vec::new();
    let warning = |item: String, rule: Rule, message: String, value: Option<String>| CrossFinding {
        item,
        rule,
        severity: Severity::Warning,
        message,
        value,
        left_empty: Vec::new(),
    };
    if let (Some(height), Some(weight), Some(bmi)) = (
        number(record, HEIGHT),
        number(record, WEIGHT),
        number(record, BMI),
    ) {
        if height > Decimal::ZERO {
            let metres = height / Decimal::from(100);
            let computed = (weight / (metres * metres)).round_dp(1);
            // Institutions round height and weight before or after computing BMI; 0.2 covers
            // both, a larger gap is a transcription error.
            if (computed - bmi).abs() > Decimal::new(2, 1) {
                out.push(warning(
                    BMI.to_owned(),
                    Rule::Bmi,
                    format!("身長・体重から計算したBMIは {computed} です"),
                    Some(format!("身長 {height} / 体重 {weight} / BMI {bmi}")),
                ));
            }
        }
    }
    for (systolic, diastolic) in BLOOD_PRESSURE {
        if let (Some(s), Some(d)) = (number(record, systolic), number(record, diastolic)) {
            if s <= d {
                out.push(CrossFinding {
                    item: systolic.to_owned(),
                    rule: Rule::BloodPressure,
                    severity: Severity::Error,
                    message: "収縮期血圧が拡張期血圧以下です（列の取り違え？）。両方の値を空欄にし、元の値を残しました"
                        .into(),
                    value: Some(format!("収縮期 {s} / 拡張期 {d}")),
                    left_empty: vec![systolic.to_owned(), diastolic.to_owned()],
                });
            }
        }
    }
    if let (Some((ldl_code, ldl)), Some((_, tc)), Some((_, hdl)), Some((_, tg))) = (
        number_by_prefix(record, LDL),
        number_by_prefix(record, TOTAL_CHOLESTEROL),
        number_by_prefix(record, HDL),
        number_by_prefix(record, TRIGLYCERIDES),
    ) {
        // Friedewald's estimate is only valid below TG 400 mg/dL.
        if tg < Decimal::from(400) {
            let estimate = tc - hdl - tg / Decimal::from(5);
            let tolerance = (estimate.abs() * Decimal::new(2, 1)).max(Decimal::from(20));
            if (ldl - estimate).abs() > tolerance {
                out.push(warning(
                    ldl_code,
                    Rule::Ldl,
                    format!(
                        "LDLが TC − HDL − TG/5 = {} と {} 以上離れています",
                        estimate.round_dp(0),
                        tolerance.round_dp(0)
                    ),
                    Some(format!("LDL {ldl} / TC {tc} / HDL {hdl} / TG {tg}")),
                ));
            }
        }
    }
    if let Some(sex) = record.header.get(HeaderField::Sex) {
        for value in &record.values {
            if matches!(value.value, Value::NotPerformed) {
                continue;
            }
            let Some(item) = profile.item(&value.code) else {
                continue;
            };
            let wrong = (sex == "1" && FEMALE_ONLY.iter().any(|w| item.name.contains(w)))
                || (sex == "2" && MALE_ONLY.iter().any(|w| item.name.contains(w)));
            if wrong {
                out.push(warning(
                    item.code.clone(),
                    Rule::SexSpecific,
                    "性別に合わない項目です".into(),
                    Some(format!(
                        "性別 {} / {}",
                        if sex == "1" { "男" } else { "女" },
                        value.original
                    )),
                ));
            }
        }
    }
    out
}
