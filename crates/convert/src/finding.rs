//! Findings: what the conversion noticed about a record, for the sender's report.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// The record cannot be delivered; it goes to the sender's error report.
    Error,
    /// The record is delivered; the sender should look.
    Warning,
}

/// The rule a finding is about. Stable names: reports and statistics group by them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// A required header field (保険者番号, 生年月日, 性別, 健診実施日) is missing.
    Required,
    /// The value does not have the item's form (number, date, code).
    Format,
    /// A number outside the item's input range (kept, flagged H/L).
    InputRange,
    /// A value that is not in the item's code list and has no dictionary entry.
    CodeList,
    /// A value longer than the item's byte limit (512 bytes in the standard CSV).
    ByteLimit,
    /// A value given as a bound (`<5`): recorded as the bound's number.
    Bound,
    /// BMI does not match height and weight.
    Bmi,
    /// Systolic blood pressure not above diastolic.
    BloodPressure,
    /// LDL far from TC − HDL − TG/5 (Friedewald) when all are present.
    Ldl,
    /// An item for one sex on a record of the other.
    SexSpecific,
    /// The row has a different number of fields than the header.
    RaggedRow,
    /// The same item twice in one record where it takes one value.
    Duplicate,
    /// No receiving organisation takes the record's 保険者番号.
    UnknownInsurer,
    /// A format its receiver chose cannot hold the record (an MHLW archive or a FHIR
    /// document needs what the standard CSV does not): returned to the sender.
    OutputFormat,
}

impl Rule {
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::Required => "required",
            Rule::Format => "format",
            Rule::InputRange => "input_range",
            Rule::CodeList => "code_list",
            Rule::ByteLimit => "byte_limit",
            Rule::Bound => "bound",
            Rule::Bmi => "bmi",
            Rule::BloodPressure => "blood_pressure",
            Rule::Ldl => "ldl",
            Rule::SexSpecific => "sex_specific",
            Rule::RaggedRow => "ragged_row",
            Rule::Duplicate => "duplicate",
            Rule::UnknownInsurer => "unknown_insurer",
            Rule::OutputFormat => "output_format",
        }
    }

    /// A Japanese description for reports.
    pub fn label_ja(self) -> &'static str {
        match self {
            Rule::Required => "必須項目の欠落",
            Rule::Format => "形式の誤り",
            Rule::InputRange => "入力範囲外",
            Rule::CodeList => "コード表にない値",
            Rule::ByteLimit => "バイト数超過",
            Rule::Bound => "不等号付きの値",
            Rule::Bmi => "BMIと身長・体重の不一致",
            Rule::BloodPressure => "収縮期血圧が拡張期血圧以下",
            Rule::Ldl => "LDLとTC・HDL・TGの不整合",
            Rule::SexSpecific => "性別に合わない項目",
            Rule::RaggedRow => "列数の不一致",
            Rule::Duplicate => "項目の重複",
            Rule::UnknownInsurer => "配信先のない保険者番号",
            Rule::OutputFormat => "受信者の出力形式にできない記録",
        }
    }
}

/// One finding. It names where (record, line, column, item) and what (rule, message); the
/// message never contains the value — `value` carries it separately, because the report goes
/// to the sender, who owns the data, while logs and statistics must not hold it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub record: u64,
    pub line: u64,
    pub column: Option<String>,
    pub item: Option<String>,
    pub item_name: Option<String>,
    pub rule: Rule,
    pub severity: Severity,
    pub message: String,
    pub value: Option<String>,
}

impl Finding {
    /// Whether the finding keeps its record from delivery. Only what makes a record
    /// impossible to identify or route does (an error about the record itself: no
    /// 保険者番号, 受診日, 生年月日 or 性別, an unreadable record). An error about one item leaves
    /// that item empty with its original, and the examinee's other values are delivered.
    pub fn rejects_record(&self) -> bool {
        self.severity == Severity::Error && self.item.is_none()
    }
}
