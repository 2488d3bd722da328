//! The standardised checkup record: one examinee, one visit.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The fields that identify the examinee, the insurer and the visit (the header of the
/// 健診標準フォーマット and of the MHLW XML document).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HeaderField {
    /// 保険者番号 (8 digits).
    InsurerNumber,
    /// 被保険者証等記号.
    Symbol,
    /// 被保険者証等番号.
    Number,
    /// 枝番 (2 digits).
    Branch,
    /// カナ氏名.
    KanaName,
    /// 氏名 (漢字), when the export has it.
    Name,
    /// 生年月日, `YYYYMMDD`.
    BirthDate,
    /// 性別: `1` male, `2` female.
    Sex,
    /// 郵便番号.
    PostalCode,
    /// 住所.
    Address,
    /// 健診実施日, `YYYYMMDD`.
    ExamDate,
    /// 健診機関番号 (10 digits).
    InstitutionNumber,
    /// 受診券整理番号 (11 digits).
    TicketNumber,
}

impl HeaderField {
    pub const ALL: [HeaderField; 13] = [
        HeaderField::InsurerNumber,
        HeaderField::Symbol,
        HeaderField::Number,
        HeaderField::Branch,
        HeaderField::KanaName,
        HeaderField::Name,
        HeaderField::BirthDate,
        HeaderField::Sex,
        HeaderField::PostalCode,
        HeaderField::Address,
        HeaderField::ExamDate,
        HeaderField::InstitutionNumber,
        HeaderField::TicketNumber,
    ];

    /// The key used in map files and profiles (`header.insurer_number`'s second part).
    pub fn key(self) -> &'static str {
        match self {
            HeaderField::InsurerNumber => "insurer_number",
            HeaderField::Symbol => "symbol",
            HeaderField::Number => "number",
            HeaderField::Branch => "branch",
            HeaderField::KanaName => "kana_name",
            HeaderField::Name => "name",
            HeaderField::BirthDate => "birth_date",
            HeaderField::Sex => "sex",
            HeaderField::PostalCode => "postal_code",
            HeaderField::Address => "address",
            HeaderField::ExamDate => "exam_date",
            HeaderField::InstitutionNumber => "institution_number",
            HeaderField::TicketNumber => "ticket_number",
        }
    }

    /// The name staff know it by.
    pub fn label_ja(self) -> &'static str {
        match self {
            HeaderField::InsurerNumber => "保険者番号",
            HeaderField::Symbol => "被保険者証等記号",
            HeaderField::Number => "被保険者証等番号",
            HeaderField::Branch => "枝番",
            HeaderField::KanaName => "カナ氏名",
            HeaderField::Name => "氏名",
            HeaderField::BirthDate => "生年月日",
            HeaderField::Sex => "性別",
            HeaderField::PostalCode => "郵便番号",
            HeaderField::Address => "住所",
            HeaderField::ExamDate => "健診実施日",
            HeaderField::InstitutionNumber => "健診機関番号",
            HeaderField::TicketNumber => "受診券整理番号",
        }
    }

    /// Fields without which a record cannot be routed or identified.
    pub fn is_required(self) -> bool {
        matches!(
            self,
            HeaderField::InsurerNumber
                | HeaderField::BirthDate
                | HeaderField::Sex
                | HeaderField::ExamDate
        )
    }
}

impl fmt::Display for HeaderField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

impl FromStr for HeaderField {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        HeaderField::ALL
            .into_iter()
            .find(|f| f.key() == s || f.label_ja() == s)
            .ok_or_else(|| format!("unknown header field {s:?}"))
    }
}

/// Header values, normalised (dates `YYYYMMDD`, sex `1`/`2`, digits half-width).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    pub fields: BTreeMap<HeaderField, String>,
}

impl Header {
    pub fn get(&self, field: HeaderField) -> Option<&str> {
        self.fields.get(&field).map(String::as_str)
    }

    pub fn set(&mut self, field: HeaderField, value: String) {
        self.fields.insert(field, value);
    }
}

/// A standardised value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Value {
    /// A decimal number as text, formatted per the item (`172.5`).
    Number(String),
    /// One or more codes of the item's code list (several are joined with 「、」 in CSV).
    Code(Vec<String>),
    /// Free text (several values joined with 「、」).
    Text(String),
    /// A date, `YYYYMMDD`.
    Date(String),
    /// 未実施: the item was not performed.
    NotPerformed,
    /// 測定不能: performed but could not be measured.
    Unmeasurable,
    /// The source gave a value that could not be taken (not in the code list or the map's
    /// dictionary, not a number, too long, contradicting another item): the standard value
    /// is left empty, the institution's original is carried beside it, and the report says
    /// why. The examinee's other values are delivered.
    Invalid,
}

/// Outside the item's input range (入力範囲): the value is kept and flagged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RangeFlag {
    /// Above the range (H).
    High,
    /// Below the range (L).
    Low,
}

/// One item of a record: the standard value and the institution's original text beside it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemValue {
    pub code: String,
    pub value: Value,
    /// Exactly what the source said, before any normalisation.
    pub original: String,
    pub flag: Option<RangeFlag>,
}

/// One examinee's visit.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckupRecord {
    pub header: Header,
    pub values: Vec<ItemValue>,
    /// Where the record came from: 1-based record number in the input (for reports).
    pub source_record: u64,
}

impl CheckupRecord {
    pub fn value(&self, code: &str) -> Option<&ItemValue> {
        self.values.iter().find(|v| v.code == code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_fields_parse_by_key_and_japanese_label() {
        for field in HeaderField::ALL {
            assert_eq!(field.key().parse::<HeaderField>().unwrap(), field);
            assert_eq!(field.label_ja().parse::<HeaderField>().unwrap(), field);
        }
        assert!("保険者".parse::<HeaderField>().is_err());
    }
}
