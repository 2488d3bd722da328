//! One export row → one standard record, by the rules of a map.

use kenshin_profile::{
    CheckupRecord, HeaderField, Item, ItemKind, ItemValue, Profile, RangeFlag, Value,
};
use rust_decimal::Decimal;
use std::str::FromStr;

use crate::delimited::SourceRow;
use crate::finding::{Finding, Rule, Severity};
use crate::map::{ColumnRule, MapFile, Missing, SourceRef, Target};
use crate::normalize::{
    fold_width, format_date, format_number, lookup_key, parse_date, parse_number, parse_sex, Bound,
};
use crate::validate;

use crate::stdcsv::{JOIN, MAX_VALUE_BYTES};

/// A map bound to an export's columns.
pub struct RecordBuilder<'a> {
    profile: &'a Profile,
    map: &'a MapFile,
    /// For each column rule, the 0-based field index it reads.
    positions: Vec<(usize, &'a ColumnRule)>,
    header_len: Option<usize>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("変換表（{line} 行目）が読む列「{column}」がファイルにありません / the map reads column {column} (map line {line}), which the export does not have")]
pub struct BindError {
    pub column: String,
    pub line: u64,
}

/// What became of one row.
pub struct RowOutcome {
    /// The standard record, unless an error keeps it from delivery.
    pub record: Option<CheckupRecord>,
    pub findings: Vec<Finding>,
}

impl<'a> RecordBuilder<'a> {
    /// Resolves every column rule against the export's header (or positions).
    pub fn bind(
        profile: &'a Profile,
        map: &'a MapFile,
        header: Option<&[String]>,
    ) -> Result<RecordBuilder<'a>, BindError> {
        Self::bind_rows(profile, map, header, &[])
    }

    /// [`bind`](Self::bind) for an export with several header rows: a column is found by its
    /// name on the first header row, else on the next ones.
    pub fn bind_rows(
        profile: &'a Profile,
        map: &'a MapFile,
        header: Option<&[String]>,
        more: &[Vec<String>],
    ) -> Result<RecordBuilder<'a>, BindError> {
        let mut positions = Vec::with_capacity(map.columns.len());
        for rule in &map.columns {
            let position = match &rule.source {
                SourceRef::Position(n) => Some(n - 1),
                SourceRef::Name(name) => header.and_then(|h| {
                    let wanted = lookup_key(name);
                    std::iter::once(h)
                        .chain(more.iter().map(Vec::as_slice))
                        .find_map(|row| row.iter().position(|c| lookup_key(c) == wanted))
                }),
            };
            let position = position.ok_or_else(|| BindError {
                column: rule.source.to_string(),
                line: rule.line,
            })?;
            positions.push((position, rule));
        }
        Ok(RecordBuilder {
            profile,
            map,
            positions,
            header_len: header.map(<[String]>::len),
        })
    }

    pub fn build(&self, row: &SourceRow) -> RowOutcome {
        let mut findings = Vec::new();
        let mut record = CheckupRecord {
            source_record: row.record,
            ..CheckupRecord::default()
        };
        let finding = |column: Option<&ColumnRule>,
                       item: Option<&Item>,
                       rule: Rule,
                       severity: Severity,
                       message: String,
                       value: Option<&str>| Finding {
            record: row.record,
            line: row.line,
            column: column.map(|c| c.source.to_string()),
            item: item.map(|i| i.code.clone()),
            item_name: item.map(|i| i.name.clone()),
            rule,
            severity,
            message,
            value: value.map(str::to_owned),
        };
        if let Some(expected) = self.header_len {
            if row.fields.len() != expected {
                findings.push(finding(
                    None,
                    None,
                    Rule::RaggedRow,
                    Severity::Warning,
                    format!(
                        "the row has {} fields, the header {expected}",
                        row.fields.len()
                    ),
                    None,
                ));
            }
        }
        if let Some(number) = self.map.settings.get("institution_number") {
            record
                .header
                .set(HeaderField::InstitutionNumber, number.clone());
        }
        // A field whose value was wrong is reported once, as wrong, not again as missing.
        let mut failed_fields = Vec::new();
        for &(position, rule) in &self.positions {
            let raw = row.fields.get(position).map(String::as_str).unwrap_or("");
            let parts: Vec<&str> = match &rule.split {
                Some(separator) => raw.split(separator.as_str()).collect(),
                None => vec![raw],
            };
            for part in parts {
                let part = part.trim();
                match &rule.target {
                    Target::Header(field) => {
                        if let Err(message) = self.header_value(&mut record, *field, rule, part) {
                            failed_fields.push(*field);
                            // Without a readable 保険者番号, 受診日, 生年月日 or 性別 the record
                            // cannot be routed or identified: it is rejected. Any other header
                            // field is left empty and the record goes on.
                            let (severity, message) = if field.is_required() {
                                (
                                    Severity::Error,
                                    format!("{}: {message}（受診者を特定できないため、この行は変換しませんでした）", field.label_ja()),
                                )
                            } else {
                                (
                                    Severity::Warning,
                                    format!("{}: {message}（空欄にしました）", field.label_ja()),
                                )
                            };
                            findings.push(finding(
                                Some(rule),
                                None,
                                Rule::Format,
                                severity,
                                message,
                                Some(part),
                            ));
                        }
                    }
                    Target::Item(code) => {
                        let Some(item) = self.profile.item(code) else {
                            continue; // checked when the map was loaded
                        };
                        match self.item_value(item, rule, part) {
                            Ok(None) => {}
                            Ok(Some((value, flag, note))) => {
                                if let Some((rule_id, message)) = note {
                                    findings.push(finding(
                                        Some(rule),
                                        Some(item),
                                        rule_id,
                                        Severity::Warning,
                                        message,
                                        Some(part),
                                    ));
                                }
                                if let Err(message) =
                                    merge(&mut record, item, value, part.to_owned(), flag)
                                {
                                    findings.push(finding(
                                        Some(rule),
                                        Some(item),
                                        Rule::Duplicate,
                                        Severity::Error,
                                        message,
                                        Some(part),
                                    ));
                                }
                            }
                            // The value cannot be taken: the item is left empty, the original
                            // carried, and the examinee's other values go on (issue: one bad
                            // answer must not drop a whole examinee).
                            Err((rule_id, message)) => {
                                left_empty(&mut record, item, part);
                                findings.push(finding(
                                    Some(rule),
                                    Some(item),
                                    rule_id,
                                    Severity::Error,
                                    format!("{message}。空欄にし、元の値を残しました"),
                                    Some(part),
                                ))
                            }
                        }
                    }
                }
            }
        }
        findings.extend(check_record(
            self.profile,
            &mut record,
            row.line,
            &failed_fields,
        ));
        let rejected = findings.iter().any(Finding::rejects_record);
        RowOutcome {
            record: (!rejected).then_some(record),
            findings,
        }
    }

    fn header_value(
        &self,
        record: &mut CheckupRecord,
        field: HeaderField,
        rule: &ColumnRule,
        raw: &str,
    ) -> Result<(), String> {
        if raw.is_empty()
            || matches!(
                self.map.missing(&rule.source_key, raw),
                Some(Missing::Blank)
            )
        {
            return Ok(());
        }
        let text = self
            .map
            .translate(&rule.source_key, raw)
            .map(str::to_owned)
            .unwrap_or_else(|| fold_width(raw));
        let digits = |len: &[usize], what: &str| -> Result<String, String> {
            let d: String = text.chars().filter(|c| !matches!(c, '-' | ' ')).collect();
            if d.bytes().all(|b| b.is_ascii_digit()) && len.contains(&d.len()) {
                Ok(d)
            } else {
                Err(format!("{what}の数字ではありません"))
            }
        };
        let value = match field {
            HeaderField::InsurerNumber => {
                let d = digits(&[6, 7, 8], "6桁または8桁")?;
                match d.len() {
                    // 国民健康保険 numbers have 6 digits; the standard writes 8.
                    6 => format!("00{d}"),
                    // An 8-digit number whose leading 0 a spreadsheet dropped (法別番号 01–09).
                    7 => format!("0{d}"),
                    _ => d,
                }
            }
            HeaderField::InstitutionNumber => digits(&[10], "10桁")?,
            HeaderField::TicketNumber => digits(&[11], "11桁")?,
            HeaderField::Branch => {
                let d = digits(&[1, 2], "1桁または2桁")?;
                format!("{d:0>2}")
            }
            HeaderField::BirthDate | HeaderField::ExamDate => {
                parse_date(&text).map(format_date).map_err(str::to_owned)?
            }
            HeaderField::Sex => parse_sex(&text).map(str::to_owned).map_err(str::to_owned)?,
            HeaderField::PostalCode => digits(&[7], "7桁")?,
            HeaderField::Symbol
            | HeaderField::Number
            | HeaderField::KanaName
            | HeaderField::Name
            | HeaderField::Address => raw.trim().to_owned(),
        };
        record.header.set(field, value);
        Ok(())
    }

    /// The standard value of one source value for `item`; `None` for a blank.
    #[allow(clippy::type_complexity)]
    fn item_value(
        &self,
        item: &Item,
        rule: &ColumnRule,
        raw: &str,
    ) -> Result<Option<(Value, Option<RangeFlag>, Option<(Rule, String)>)>, (Rule, String)> {
        match self.map.missing(&rule.source_key, raw) {
            Some(Missing::Blank) => return Ok(None),
            Some(Missing::NotPerformed) => return Ok(Some((Value::NotPerformed, None, None))),
            Some(Missing::Unmeasurable) => return Ok(Some((Value::Unmeasurable, None, None))),
            None => {}
        }
        let translated = self.map.translate(&rule.source_key, raw);
        let text = translated.unwrap_or(raw);
        match &item.kind {
            ItemKind::Numeric { format } => {
                // A lone dash means "no value" in number columns (in code columns it is 陰性).
                if matches!(fold_width(text).as_str(), "-" | "--" | "ー" | "*") {
                    return Ok(None);
                }
                let number = parse_number(text)
                    .map_err(|m| (Rule::Format, format!("{m}（数値 {format} の項目です）")))?;
                let value = match rule.multiply {
                    Some(factor) => number.value * factor,
                    None => number.value,
                };
                let formatted = format_number(value, format.integer_digits, format.fraction_digits)
                    .map_err(|m| (Rule::Format, format!("{m}（{format}）")))?;
                let rounded = Decimal::from_str(&formatted).unwrap_or(value);
                let flag = range_flag(item, rounded);
                let note = match (number.bound, flag) {
                    (Some(bound), _) => Some((
                        Rule::Bound,
                        format!(
                            "{}の値として書かれていたため、境界の値で記録しました",
                            if bound == Bound::Below {
                                "未満（<）"
                            } else {
                                "超（>）"
                            }
                        ),
                    )),
                    (None, Some(flag)) => Some((
                        Rule::InputRange,
                        format!(
                            "入力範囲 {}〜{} の外です。値はそのまま記録し、{} の印を付けました",
                            item.input_range
                                .as_ref()
                                .and_then(|r| r.low.clone())
                                .unwrap_or_default(),
                            item.input_range
                                .as_ref()
                                .and_then(|r| r.high.clone())
                                .unwrap_or_default(),
                            if flag == RangeFlag::High { "H" } else { "L" }
                        ),
                    )),
                    (None, None) => None,
                };
                Ok(Some((Value::Number(formatted), flag, note)))
            }
            ItemKind::Code { terms } => {
                let key = lookup_key(text);
                let code = terms
                    .iter()
                    .find(|t| lookup_key(&t.code) == key || lookup_key(&t.term) == key)
                    .map(|t| t.code.clone())
                    .or_else(|| qualitative_code_for(terms, &key));
                match code {
                    Some(code) => Ok(Some((Value::Code(vec![code]), None, None))),
                    None => Err((
                        Rule::CodeList,
                        format!(
                            "コード表（{}）にも変換表の辞書にもない値です",
                            terms
                                .iter()
                                .map(|t| format!("{}={}", t.code, t.term))
                                .collect::<Vec<_>>()
                                .join("、")
                        ),
                    )),
                }
            }
            ItemKind::Date => parse_date(text)
                .map(|d| Some((Value::Date(format_date(d)), None, None)))
                .map_err(|m| (Rule::Format, m.to_owned())),
            ItemKind::Text => Ok(Some((Value::Text(text.to_owned()), None, None))),
        }
    }
}

/// Several source values for one item: codes and texts are joined, numbers may not repeat.
fn merge(
    record: &mut CheckupRecord,
    item: &Item,
    value: Value,
    original: String,
    flag: Option<RangeFlag>,
) -> Result<(), String> {
    let Some(existing) = record.values.iter_mut().find(|v| v.code == item.code) else {
        record.values.push(ItemValue {
            code: item.code.clone(),
            value,
            original,
            flag,
        });
        return Ok(());
    };
    match (&mut existing.value, value) {
        // An item already left empty stays so; its originals are all kept.
        (Value::Invalid, _) => {}
        (Value::Code(codes), Value::Code(more)) => {
            for code in more {
                if !codes.contains(&code) {
                    codes.push(code);
                }
            }
        }
        (Value::Text(text), Value::Text(more)) => {
            text.push_str(JOIN);
            text.push_str(&more);
        }
        _ => {
            // Two numbers (or dates) for one item: neither can be chosen. The item is left
            // empty with both originals.
            existing.value = Value::Invalid;
            existing.flag = None;
            existing.original.push_str(JOIN);
            existing.original.push_str(&original);
            return Err(
                "1つの値しか取らない項目に2つの値があります。空欄にし、両方の元の値を残しました"
                    .into(),
            );
        }
    }
    existing.original.push_str(JOIN);
    existing.original.push_str(&original);
    Ok(())
}

fn range_flag(item: &Item, value: Decimal) -> Option<RangeFlag> {
    let range = item.input_range.as_ref()?;
    let bound = |b: &Option<String>| b.as_deref().and_then(|t| Decimal::from_str(t).ok());
    if bound(&range.low).is_some_and(|low| value < low) {
        Some(RangeFlag::Low)
    } else if bound(&range.high).is_some_and(|high| value > high) {
        Some(RangeFlag::High)
    } else {
        None
    }
}

/// The usual spellings of qualitative urine results (−, ±, +, ++, +++), for items whose code
/// list is that five-step scale.
pub(crate) fn qualitative_code_for(
    terms: &[kenshin_profile::CodeTerm],
    key: &str,
) -> Option<String> {
    if terms.len() != 5 || lookup_key(&terms[0].term) != "-" || lookup_key(&terms[4].term) != "+++"
    {
        return None;
    }
    // 「陽性(2+)」「陽性（＋）」: the grade in brackets says it.
    if let Some(grade) = key
        .strip_prefix("陽性(")
        .and_then(|rest| rest.strip_suffix(')'))
    {
        return qualitative_code_for(terms, grade);
    }
    let step = match key {
        "-" | "(-)" | "陰性" | "ー" | "(ー)" | "neg" | "negative" => 0,
        "+-" | "±" | "(±)" | "(+-)" | "疑陽性" | "偽陽性" | "弱陽性" => 1,
        "+" | "(+)" | "1+" | "(1+)" | "陽性" => 2,
        "++" | "(++)" | "2+" | "(2+)" => 3,
        "+++" | "(+++)" | "3+" | "(3+)" | "4+" | "(4+)" => 4,
        _ => return None,
    };
    Some(terms[step].code.clone())
}

/// Whether `key` is a usual spelling of a step of the item's qualitative scale.
pub(crate) fn is_qualitative_spelling(terms: &[kenshin_profile::CodeTerm], key: &str) -> bool {
    qualitative_code_for(terms, key).is_some()
}

/// Checks that do not depend on where a record came from (an export by a map, or an MHLW
/// archive): required header fields, the byte limit, and the checks across items. Fields in
/// `already_reported` had a wrong value, reported as such, and are not reported again as missing.
pub fn check_record(
    profile: &Profile,
    record: &mut CheckupRecord,
    line: u64,
    already_reported: &[HeaderField],
) -> Vec<Finding> {
    let finding = |item: Option<&Item>, rule: Rule, severity: Severity, message: String| Finding {
        record: record.source_record,
        line,
        column: None,
        item: item.map(|i| i.code.clone()),
        item_name: item.map(|i| i.name.clone()),
        rule,
        severity,
        message,
        value: None,
    };
    let mut findings = Vec::new();
    for field in HeaderField::ALL {
        if field.is_required()
            && record.header.get(field).is_none()
            && !already_reported.contains(&field)
        {
            findings.push(finding(
                None,
                Rule::Required,
                Severity::Error,
                format!(
                    "{}がありません（受診者を特定できないため、この行は変換しませんでした）",
                    field.label_ja()
                ),
            ));
        }
    }
    for value in &mut record.values {
        let item = profile.item(&value.code);
        let bytes = crate::stdcsv::value_text(item, &value.value).len();
        if bytes > MAX_VALUE_BYTES {
            let shown = cut_at(&value.original, 60).to_owned();
            // Too long for the standard: left empty; the original is cut to the limit.
            value.value = Value::Invalid;
            value.flag = None;
            value.original = cut_at(&value.original, MAX_VALUE_BYTES).to_owned();
            let mut f = finding(
                item,
                Rule::ByteLimit,
                Severity::Error,
                format!(
                    "{bytes}バイトあり、上限の{MAX_VALUE_BYTES}バイトを超えています。空欄にし、元の値を上限まで残しました"
                ),
            );
            f.value = Some(shown);
            findings.push(f);
        }
    }
    for cross in validate::cross_check(profile, record) {
        for code in &cross.left_empty {
            if let Some(value) = record.values.iter_mut().find(|v| &v.code == code) {
                value.value = Value::Invalid;
                value.flag = None;
            }
        }
        let mut f = finding(
            profile.item(&cross.item),
            cross.rule,
            cross.severity,
            cross.message,
        );
        f.value = cross.value;
        findings.push(f);
    }
    findings
}

/// `text` cut at a character boundary to at most `max` bytes.
fn cut_at(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The item's value could not be taken: it is recorded as left empty with its original.
fn left_empty(record: &mut CheckupRecord, item: &Item, original: &str) {
    match record.values.iter_mut().find(|v| v.code == item.code) {
        Some(existing) => {
            existing.value = Value::Invalid;
            existing.flag = None;
            existing.original.push_str(JOIN);
            existing.original.push_str(original);
        }
        None => record.values.push(ItemValue {
            code: item.code.clone(),
            value: Value::Invalid,
            original: original.to_owned(),
            flag: None,
        }),
    }
}
