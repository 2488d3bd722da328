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

/// `(item code, rule, severity, message)` for each inconsistency between items.
pub fn cross_check(
    profile: &Profile,
    record: &CheckupRecord,
) -> Vec<(String, Rule, Severity, String)> {
    let mut out = Vec::new();
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
                out.push((
                    BMI.to_owned(),
                    Rule::Bmi,
                    Severity::Warning,
                    format!("BMI from height and weight is {computed}"),
                ));
            }
        }
    }
    for (systolic, diastolic) in BLOOD_PRESSURE {
        if let (Some(s), Some(d)) = (number(record, systolic), number(record, diastolic)) {
            if s <= d {
                out.push((
                    systolic.to_owned(),
                    Rule::BloodPressure,
                    Severity::Error,
                    "systolic pressure is not above diastolic pressure (columns swapped?)".into(),
                ));
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
                out.push((
                    ldl_code,
                    Rule::Ldl,
                    Severity::Warning,
                    format!(
                        "LDL differs from TC − HDL − TG/5 = {} by more than {}",
                        estimate.round_dp(0),
                        tolerance.round_dp(0)
                    ),
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
                out.push((
                    item.code.clone(),
                    Rule::SexSpecific,
                    Severity::Warning,
                    "an item for the other sex".into(),
                ));
            }
        }
    }
    out
}
