//! Consistency checks of a loaded profile.
//!
//! Loading refuses only what cannot be represented (a malformed number, an unknown type); what
//! is representable but probably wrong — a numeric item with no format, an inverted range — is
//! reported here, so that an operator can load an official list first and then see everything
//! that needs attention at once instead of one error at a time.

use std::collections::HashSet;
use std::fmt;

use serde::Serialize;

use crate::file::{is_decimal, DEFAULT_MAX_BYTES};
use crate::model::{Item, ItemKind, Profile, Range, XmlDataType};

/// Something in a profile that is probably wrong; the profile is still usable.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProfileWarning {
    /// The item concerned.
    pub code: String,
    pub kind: WarningKind,
    /// What is wrong, for people.
    pub message: String,
}

impl fmt::Display for ProfileWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

/// What a [`ProfileWarning`] is about, for programs that filter or count them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WarningKind {
    /// The item code occurs more than once (only possible when `items` was edited directly).
    DuplicateCode,
    /// A numeric item without a format such as `NNN.N`.
    NumericWithoutFormat,
    /// A numeric format whose longest value does not fit in `max_bytes`.
    FormatWiderThanMaxBytes,
    /// A code item with no codes, so no value can be checked.
    EmptyCodeList,
    /// `max_bytes` is 0 or above the standard CSV's 512.
    MaxBytesOutOfRange,
    /// A PQ (physical quantity) item without a UCUM unit.
    PqWithoutUcum,
    /// The XML data type does not fit the item's kind (e.g. PQ on a code item).
    XmlTypeMismatch,
    /// A CD/CO item without the OID of its code system.
    CodeSystemMissing,
    /// A range bound that is not a decimal number.
    NonNumericBound,
    /// A range whose low bound is above its high bound.
    RangeInverted,
    /// An input or reference range on an item that is not numeric.
    RangeOnNonNumeric,
}

impl Profile {
    /// Consistency warnings, in item order (see [`WarningKind`]). An empty list means none.
    pub fn check(&self) -> Vec<ProfileWarning> {
        let mut warnings = Vec::new();
        let mut seen = HashSet::new();
        for item in &self.items {
            let mut warn = |kind: WarningKind, message: String| {
                warnings.push(ProfileWarning {
                    code: item.code.clone(),
                    kind,
                    message,
                })
            };
            if !seen.insert(item.code.as_str()) {
                warn(
                    WarningKind::DuplicateCode,
                    "the item code occurs more than once".to_owned(),
                );
            }
            check_kind(item, &mut warn);
            check_xml(item, &mut warn);
            check_ranges(item, &mut warn);
        }
        warnings
    }
}

fn check_kind(item: &Item, warn: &mut impl FnMut(WarningKind, String)) {
    if item.max_bytes == 0 || item.max_bytes > DEFAULT_MAX_BYTES {
        warn(
            WarningKind::MaxBytesOutOfRange,
            format!(
                "max_bytes is {}; it should be from 1 to {DEFAULT_MAX_BYTES}",
                item.max_bytes
            ),
        );
    }
    match &item.kind {
        ItemKind::Numeric { format } if !format.is_specified() => warn(
            WarningKind::NumericWithoutFormat,
            "numeric item without a format such as NNN.N".to_owned(),
        ),
        ItemKind::Numeric { format } if format.width() > usize::from(item.max_bytes) => warn(
            WarningKind::FormatWiderThanMaxBytes,
            format!(
                "format {format} needs {} bytes but max_bytes is {}",
                format.width(),
                item.max_bytes
            ),
        ),
        ItemKind::Code { terms } if terms.is_empty() => warn(
            WarningKind::EmptyCodeList,
            "code item without a code list; its values cannot be checked".to_owned(),
        ),
        _ => {}
    }
}

fn check_xml(item: &Item, warn: &mut impl FnMut(WarningKind, String)) {
    let Some(xml) = &item.xml else { return };
    let fits = match xml.data_type {
        XmlDataType::PQ => matches!(item.kind, ItemKind::Numeric { .. }),
        XmlDataType::CD | XmlDataType::CO => matches!(item.kind, ItemKind::Code { .. }),
        // Dates are strings (YYYYMMDD) in MHLW XML.
        XmlDataType::ST => matches!(item.kind, ItemKind::Text | ItemKind::Date),
    };
    if !fits {
        warn(
            WarningKind::XmlTypeMismatch,
            format!(
                "XML type {} does not fit a {} item",
                xml.data_type,
                item.kind.type_name()
            ),
        );
    }
    if xml.data_type == XmlDataType::PQ && item.ucum.is_none() {
        warn(
            WarningKind::PqWithoutUcum,
            "PQ item without a UCUM unit".to_owned(),
        );
    }
    if matches!(xml.data_type, XmlDataType::CD | XmlDataType::CO) && xml.code_system.is_none() {
        warn(
            WarningKind::CodeSystemMissing,
            format!("{} item without a code system OID", xml.data_type),
        );
    }
}

fn check_ranges(item: &Item, warn: &mut impl FnMut(WarningKind, String)) {
    let reference = item.reference.as_ref();
    let ranges = [
        ("input range", item.input_range.as_ref()),
        (
            "male reference range",
            reference.and_then(|r| r.male.as_ref()),
        ),
        (
            "female reference range",
            reference.and_then(|r| r.female.as_ref()),
        ),
    ];
    let numeric = matches!(item.kind, ItemKind::Numeric { .. });
    for (label, range) in ranges {
        let Some(range) = range else { continue };
        if !numeric {
            warn(
                WarningKind::RangeOnNonNumeric,
                format!("{label} on a {} item", item.kind.type_name()),
            );
        }
        check_range(label, range, warn);
    }
}

fn check_range(label: &str, range: &Range, warn: &mut impl FnMut(WarningKind, String)) {
    let mut value = |side: &str, bound: &Option<String>| -> Option<f64> {
        let text = bound.as_deref()?;
        // `is_decimal` first: f64 parsing would also accept `inf`, `1e3` and `+1`.
        match text.parse::<f64>() {
            Ok(v) if is_decimal(text) => Some(v),
            _ => {
                warn(
                    WarningKind::NonNumericBound,
                    format!("{label}: {side} bound {text:?} is not a decimal number"),
                );
                None
            }
        }
    };
    let low = value("low", &range.low);
    let high = value("high", &range.high);
    if let (Some(l), Some(h)) = (low, high) {
        if l > h {
            warn(
                WarningKind::RangeInverted,
                format!(
                    "{label}: low {} is above high {}",
                    range.low.as_deref().unwrap_or_default(),
                    range.high.as_deref().unwrap_or_default()
                ),
            );
        }
    }
}
