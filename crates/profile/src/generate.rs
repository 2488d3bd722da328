//! Builds the default profile from the public MHLW 第4期 item tables.
//!
//! The inputs are the tables in the layout of the CC2X converter: three header rows (column
//! numbers; column ids such as `XMLITEM_17CODE`; Japanese column names) and one row per item.
//! Columns are found by their id, never by position, because the tables do not agree on
//! positions (ITEMBasicInfo.csv numbers its columns 0–7, 9, 10).
//!
//! The rules that turn a table row into an item are documented in docs/PROFILE_FORMAT.md
//! (section "既定プロファイルの生成 / How the default profile is generated").

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::Path;

use crate::file::{is_decimal, split_cells, spreadsheet_letter, DEFAULT_MAX_BYTES};
use crate::model::{
    CodeTerm, Item, ItemKind, NumberFormat, Profile, ProfileError, Range, ReferenceRanges,
    XmlDataType, XmlInfo,
};

/// `id` of the generated profile.
pub const PROFILE_ID: &str = "mhlw-tokutei-4ki";
/// `version` of the generated profile.
pub const PROFILE_VERSION: &str = "2024.1";
/// `name` of the generated profile.
pub const PROFILE_NAME: &str = "特定健診 第4期 標準項目 (MHLW 公開項目表より)";

/// The programme-flag columns, in order.
const CASE_COLUMNS: [&str; 12] = [
    "XMLITEM_CASE01",
    "XMLITEM_CASE02",
    "XMLITEM_CASE03",
    "XMLITEM_CASE04",
    "XMLITEM_CASE05",
    "XMLITEM_CASE06",
    "XMLITEM_CASE07",
    "XMLITEM_CASE08",
    "XMLITEM_CASE09",
    "XMLITEM_CASE10",
    "XMLITEM_CASE11",
    "XMLITEM_CASE12",
];

const CODE: &str = "XMLITEM_17CODE";
const NAME: &str = "XMLITEM_NAME";
const CATEGORY: &str = "XMLITEM_CATNAME";
const SEQNO: &str = "XMLITEM_SEQNO";
const FORMAT: &str = "XMLITEM_FORMAT";
const TYPE: &str = "XMLITEM_TYPE";
const UNIT_NAME: &str = "XMLITEM_UNITNAME";
const UNIT: &str = "XMLITEM_UNIT";
const BAT: &str = "XMLITEM_BAT";
const BATREL: &str = "XMLITEM_BATREL";
const METHOD: &str = "XMLITEM_METHOD";
const NOTE: &str = "XMLITEM_NOTE";
const CODE_OID: &str = "XMLITEM_CODEOID";

const ITEM_COLUMNS: [&str; 13] = [
    CODE, NAME, CATEGORY, SEQNO, FORMAT, TYPE, UNIT_NAME, UNIT, BAT, BATREL, METHOD, NOTE, CODE_OID,
];

/// ITEMBasicInfo.csv columns: code, male/female reference range, input range.
const BASIC_CODE: &str = "JLAC10";
const BASIC_BOUNDS: [&str; 6] = ["MLOW", "MHIGH", "FLOW", "FHIGH", "INPUTLOW", "INPUTHIGH"];

/// What the generator did besides building items, for the person regenerating the profile.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GenerateReport {
    /// Data rows read from each item table: (file name, rows).
    pub table_rows: Vec<(String, usize)>,
    /// Item rows skipped because an earlier row (in either table) had the same code.
    pub duplicates: Vec<SkippedRow>,
    /// Items that received input or reference ranges from the basic-info table.
    pub ranges_merged: usize,
    /// Basic-info rows skipped as placeholders (a code of all `X`, e.g. 健診機関番号).
    pub placeholders: Vec<SkippedRow>,
}

/// A source row that did not become (part of) an item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedRow {
    pub file: String,
    /// 1-based line of the row in its file.
    pub line: u64,
    pub code: String,
}

/// Builds the `mhlw-tokutei-4ki` profile from XMLhc24tab.csv, XMLhc24ext.csv and
/// ITEMBasicInfo.csv (see [`from_mhlw_tables_with_report`]).
pub fn from_mhlw_tables(
    tab: &Path,
    ext: &Path,
    basic_info: &Path,
) -> Result<Profile, ProfileError> {
    from_mhlw_tables_with_report(tab, ext, basic_info).map(|(profile, _)| profile)
}

/// Builds the profile and reports skipped rows.
///
/// Items come from `tab`, then `ext`, each table in 出力順 (`XMLITEM_SEQNO`) order. A code seen
/// before is skipped (the first row wins) and reported. Ranges from `basic_info` are merged by
/// code; a basic-info code that is not in either table is an error, except placeholders.
/// Errors name the file in the message, and the line and column id.
pub fn from_mhlw_tables_with_report(
    tab: &Path,
    ext: &Path,
    basic_info: &Path,
) -> Result<(Profile, GenerateReport), ProfileError> {
    let tab = Table::read(tab, &item_columns())?;
    let ext = Table::read(ext, &item_columns())?;
    // The extension table labels its flag columns 条件コード１…; the main table names the
    // programmes. The columns mean the same in both (one CC2X layout), so the names come
    // from the main table.
    let programmes = programme_names(&tab);

    let mut report = GenerateReport::default();
    let mut items: Vec<Item> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    for table in [&tab, &ext] {
        report
            .table_rows
            .push((table.file.clone(), table.rows.len()));
        let mut rows = Vec::with_capacity(table.rows.len());
        for row in &table.rows {
            let code = table.get(row, CODE).trim();
            if !seen.insert(code.to_owned()) {
                report.duplicates.push(SkippedRow {
                    file: table.file.clone(),
                    line: row.line,
                    code: code.to_owned(),
                });
                continue;
            }
            let order = seq_key(table.get(row, SEQNO).trim())
                .ok_or_else(|| table.error(row, SEQNO, "is not letters followed by digits"))?;
            rows.push((order, item_from_row(table, row, &programmes)?));
        }
        // Stable: rows with equal 出力順 keep their file order.
        rows.sort_by(|(a, _), (b, _)| a.cmp(b));
        items.extend(rows.into_iter().map(|(_, item)| item));
    }
    let index: HashMap<String, usize> = items
        .iter()
        .enumerate()
        .map(|(i, item)| (item.code.clone(), i))
        .collect();

    let basic = Table::read(basic_info, &basic_columns())?;
    let mut merged: HashMap<String, u64> = HashMap::new();
    for row in &basic.rows {
        let code = basic.get(row, BASIC_CODE).trim();
        if !code.is_empty() && code.bytes().all(|b| b == b'X') {
            report.placeholders.push(SkippedRow {
                file: basic.file.clone(),
                line: row.line,
                code: code.to_owned(),
            });
            continue;
        }
        let Some(&position) = index.get(code) else {
            return Err(basic.error(
                row,
                BASIC_CODE,
                &format!("{code:?} is not an item of the item tables"),
            ));
        };
        if let Some(first) = merged.insert(code.to_owned(), row.line) {
            return Err(basic.error(
                row,
                BASIC_CODE,
                &format!("{code} already has ranges from line {first}"),
            ));
        }
        let mut bounds = Vec::with_capacity(BASIC_BOUNDS.len());
        for column in BASIC_BOUNDS {
            let text = basic.get(row, column).trim();
            if !text.is_empty() && !is_decimal(text) {
                return Err(basic.error(row, column, &format!("{text:?} is not a decimal number")));
            }
            bounds.push(Some(text).filter(|t| !t.is_empty()).map(str::to_owned));
        }
        let mut bounds = bounds.into_iter();
        let mut range = || {
            let (low, high) = (bounds.next().flatten(), bounds.next().flatten());
            (low.is_some() || high.is_some()).then_some(Range { low, high })
        };
        let (male, female, input) = (range(), range(), range());
        let item = &mut items[position];
        item.reference =
            (male.is_some() || female.is_some()).then_some(ReferenceRanges { male, female });
        item.input_range = input;
        report.ranges_merged += 1;
    }

    let profile = Profile::new(
        PROFILE_ID.to_owned(),
        PROFILE_VERSION.to_owned(),
        PROFILE_NAME.to_owned(),
        items,
    )?;
    Ok((profile, report))
}

fn item_columns() -> Vec<&'static str> {
    ITEM_COLUMNS.iter().chain(&CASE_COLUMNS).copied().collect()
}

fn basic_columns() -> Vec<&'static str> {
    std::iter::once(BASIC_CODE).chain(BASIC_BOUNDS).collect()
}

/// Programme names from the main table's third header row: `特定健診（１：必須、…）` → `特定健診`.
fn programme_names(table: &Table) -> Vec<String> {
    CASE_COLUMNS
        .iter()
        .map(|id| {
            let label = table.label(id);
            let name = label.split(['（', '(']).next().unwrap_or_default().trim();
            if name.is_empty() { *id } else { name }.to_owned()
        })
        .collect()
}

/// Sort key of 出力順: `A0000010` → ("A", 10), `5100` → ("", 5100).
fn seq_key(seq: &str) -> Option<(String, u64)> {
    let split = seq.find(|c: char| c.is_ascii_digit())?;
    let (prefix, digits) = seq.split_at(split);
    if !prefix.bytes().all(|b| b.is_ascii_alphabetic())
        || !digits.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    Some((prefix.to_owned(), digits.parse().ok()?))
}

fn item_from_row(table: &Table, row: &Row, programmes: &[String]) -> Result<Item, ProfileError> {
    let get = |column: &str| table.get(row, column).trim();
    let fail = |column: &str, message: &str| table.error(row, column, message);

    let code = get(CODE);
    if code.len() != 17 || !code.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(fail(
            CODE,
            &format!("{code:?} is not a 17-character item code"),
        ));
    }
    // Several names carry stray leading or trailing spaces in the source; they are not part
    // of the name (the ideographic space inside 保険者再確認　服薬1 is, and stays).
    let name = get(NAME);
    if name.is_empty() {
        return Err(fail(NAME, "the item has no name"));
    }
    let format = get(FORMAT);
    let note = get(NOTE);
    let type_text = get(TYPE);
    let data_type = XmlDataType::parse(type_text)
        .ok_or_else(|| fail(TYPE, &format!("{type_text:?} is not PQ, CD, CO or ST")))?;

    let (kind, max_bytes) = match data_type {
        XmlDataType::PQ => {
            let number = NumberFormat::parse(format)
                .ok_or_else(|| fail(FORMAT, &format!("{format:?} is not a number format")))?;
            // `NumberFormat::parse` caps digits well below u16::MAX.
            let width = u16::try_from(number.width()).unwrap_or(u16::MAX);
            (ItemKind::Numeric { format: number }, width)
        }
        XmlDataType::CD | XmlDataType::CO => {
            if format.is_empty() || !format.bytes().all(|b| b == b'N') {
                return Err(fail(
                    FORMAT,
                    &format!("{format:?} is not a code width like N"),
                ));
            }
            let terms = parse_note(note)
                .map_err(|m| fail(NOTE, &m))?
                .unwrap_or_default();
            if let Some(t) = terms.iter().find(|t| t.code.len() > format.len()) {
                return Err(fail(
                    NOTE,
                    &format!("code {} is wider than the format {format}", t.code),
                ));
            }
            let width = u16::try_from(format.len()).unwrap_or(u16::MAX);
            (ItemKind::Code { terms }, width)
        }
        XmlDataType::ST => {
            let length = Some(format)
                .filter(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|f| f.parse::<u16>().ok())
                .filter(|&n| n > 0)
                .ok_or_else(|| fail(FORMAT, &format!("{format:?} is not a text length")))?;
            // The tables type dates as ST of length 8 (撮影年月日, note YYYYMMDD).
            if length == 8 && (name.contains("年月日") || note.contains("YYYYMMDD")) {
                (ItemKind::Date, 8)
            } else {
                (ItemKind::Text, length.min(DEFAULT_MAX_BYTES))
            }
        }
    };

    let programs = CASE_COLUMNS
        .iter()
        .zip(programmes)
        .filter_map(|(column, programme)| {
            let flag = get(column);
            (!flag.is_empty() && flag != "0").then(|| format!("{programme}:{flag}"))
        })
        .collect();

    let optional = |column: &str| {
        Some(get(column))
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let series_group = match (get(BAT), get(BATREL)) {
        ("", "") => None,
        (group, relation) if !group.is_empty() && !relation.is_empty() => {
            Some(format!("{group}:{relation}"))
        }
        _ => {
            return Err(fail(
                BATREL,
                "XMLITEM_BAT and XMLITEM_BATREL must be given together",
            ))
        }
    };

    Ok(Item {
        code: code.to_owned(),
        name: name.to_owned(),
        category: get(CATEGORY).to_owned(),
        kind,
        unit: optional(UNIT_NAME),
        ucum: optional(UNIT),
        max_bytes,
        input_range: None,
        reference: None,
        programs,
        xml: Some(XmlInfo {
            data_type,
            code_system: optional(CODE_OID),
            method_code: optional(METHOD),
            series_group,
        }),
    })
}

// ---------------------------------------------------------------------------------------------
// Code lists in XMLITEM_NOTE

/// Separators between entries of a note's code list. The tables use 、 and the half-width ､,
/// and once 。 (心電図（対象者）).
const NOTE_SEPARATORS: [char; 3] = ['、', '､', '。'];

/// Reads a code list such as `1:特記すべきことあり、2:特記すべきことなし` or `１：Ａ、２：Ｂ`.
///
/// `Ok(None)` when the note is not a code list (it does not start with a code and a colon,
/// e.g. `数字１桁（分類設定は自由）`). A separator not followed by a code belongs to the term
/// (`１：現在、Ｃ型肝炎ウイルスに…`). An entry without its colon is accepted only when its
/// number continues the numbering (`…、４：口腔機能の向上、５その他`).
fn parse_note(note: &str) -> Result<Option<Vec<CodeTerm>>, String> {
    let mut segments: Vec<(Option<char>, &str)> = Vec::new();
    let mut start = 0;
    let mut separator = None;
    for (i, c) in note.char_indices() {
        if NOTE_SEPARATORS.contains(&c) {
            segments.push((separator, &note[start..i]));
            separator = Some(c);
            start = i + c.len_utf8();
        }
    }
    segments.push((separator, &note[start..]));

    let mut entries: Vec<(String, String)> = Vec::new();
    for (separator, segment) in segments {
        let segment = segment.trim();
        if segment.is_empty() {
            continue;
        }
        let next = entries
            .last()
            .and_then(|(code, _)| code.parse::<u64>().ok())
            .and_then(|n| n.checked_add(1));
        match leading_code(segment, next) {
            Some((code, term)) => {
                if entries.iter().any(|(c, _)| *c == code) {
                    return Err(format!("code {code} appears twice in the note"));
                }
                entries.push((code, term.to_owned()));
            }
            None => match entries.last_mut() {
                None => return Ok(None),
                Some((_, term)) => {
                    term.extend(separator);
                    term.push_str(segment);
                }
            },
        }
    }

    if entries.is_empty() {
        return Ok(None);
    }
    let mut terms = Vec::with_capacity(entries.len());
    for (code, term) in entries {
        let term = normalise_term(term.trim());
        if term.is_empty() {
            return Err(format!("code {code} has no term in the note"));
        }
        terms.push(CodeTerm { code, term });
    }
    Ok(Some(terms))
}

/// `2:±` → ("2", "±"); full-width digits and colon are accepted, the code is returned in ASCII.
fn leading_code(segment: &str, next: Option<u64>) -> Option<(String, &str)> {
    let end = segment
        .char_indices()
        .find(|&(_, c)| ascii_digit(c).is_none())
        .map_or(segment.len(), |(i, _)| i);
    if end == 0 {
        return None;
    }
    let code: String = segment[..end].chars().filter_map(ascii_digit).collect();
    let after = segment[end..].trim_start();
    if let Some(term) = after.strip_prefix([':', '：']) {
        return Some((code, term));
    }
    // Without a colon, only the next number in sequence is a code; otherwise a term that
    // starts with a digit would be split off as an entry.
    let continues = matches!((next, code.parse::<u64>()), (Some(n), Ok(c)) if n == c);
    continues.then_some((code, after))
}

fn ascii_digit(c: char) -> Option<char> {
    match c {
        '0'..='9' => Some(c),
        '０'..='９' => char::from_u32(u32::from(c) - u32::from('０') + u32::from('0')),
        _ => None,
    }
}

/// Terms made only of signs are written with full-width signs, as the main table writes them
/// (`－ ± ＋ ＋＋ ＋＋＋`); the extension table writes the same value set (OID …6.2102) with
/// ASCII `-` and `+`. Other terms are kept as the table writes them.
fn normalise_term(term: &str) -> String {
    let is_sign = |c: char| matches!(c, '-' | '+' | '−' | '－' | '＋' | '±');
    if term.is_empty() || !term.chars().all(is_sign) {
        return term.to_owned();
    }
    term.chars()
        .map(|c| match c {
            '-' | '−' => '－',
            '+' => '＋',
            other => other,
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// CC2X tables

struct Row {
    /// 1-based line where the row starts.
    line: u64,
    cells: Vec<String>,
}

struct Table {
    /// File name (without directories) for messages.
    file: String,
    columns: HashMap<String, usize>,
    /// Third header row: Japanese column names.
    labels: Vec<String>,
    rows: Vec<Row>,
}

impl Table {
    /// Reads a CC2X table; `required` column ids must be in its second header row.
    ///
    /// Lines are counted here rather than taken from a CSV library's record positions, which
    /// drift on CRLF files with blank lines; a quoted cell may span lines, and its row then
    /// reports the line where it starts.
    fn read(path: &Path, required: &[&str]) -> Result<Table, ProfileError> {
        let file = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let invalid = |line: u64, column: &str, message: &str| ProfileError::Invalid {
            line,
            column: column.to_owned(),
            message: format!("{file}: {message}"),
        };
        let bytes = fs::read(path)
            .map_err(|e| ProfileError::Io(format!("cannot read {}: {e}", path.display())))?;
        let text = std::str::from_utf8(&bytes).map_err(|e| {
            let line = bytes[..e.valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count() as u64;
            invalid(
                line + 1,
                "*",
                "not UTF-8 (the MHLW originals are CP932; convert them to UTF-8 first)",
            )
        })?;
        let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);

        let mut records = Vec::new();
        let mut pending: Option<(u64, String)> = None;
        for (number, line) in (1u64..).zip(text.split('\n')) {
            let line = line.strip_suffix('\r').unwrap_or(line);
            let (start, record) = match pending.take() {
                Some((start, mut record)) => {
                    record.push('\n');
                    record.push_str(line);
                    (start, record)
                }
                None => (number, line.to_owned()),
            };
            // An odd number of quotes means a quoted cell continues on the next line.
            if record.bytes().filter(|&b| b == b'"').count() % 2 == 1 {
                pending = Some((start, record));
                continue;
            }
            let cells = split_cells(record.as_bytes(), true)
                .map_err(|e| invalid(start, &spreadsheet_letter(e.cell), &e.message))?;
            if cells.iter().any(|c| !c.trim().is_empty()) {
                records.push(Row { line: start, cells });
            }
        }
        if let Some((start, _)) = pending {
            return Err(invalid(start, "*", "a quoted cell is never closed"));
        }

        let mut records = records.into_iter();
        let (Some(_numbers), Some(ids), Some(labels)) =
            (records.next(), records.next(), records.next())
        else {
            return Err(invalid(
                1,
                "*",
                "expected three header rows (numbers, column ids, names)",
            ));
        };
        let mut columns = HashMap::new();
        for (i, id) in ids.cells.iter().enumerate() {
            let id = id.trim();
            if !id.is_empty() && columns.insert(id.to_owned(), i).is_some() {
                return Err(invalid(ids.line, id, "column id appears twice"));
            }
        }
        if let Some(missing) = required.iter().find(|id| !columns.contains_key(**id)) {
            return Err(invalid(
                ids.line,
                missing,
                "column id missing from the second header row",
            ));
        }
        // `#` rows are not data (ITEMBasicInfo.csv ends with `#,,,…`).
        let rows = records
            .filter(|r| !r.cells[0].trim_start().starts_with('#'))
            .collect();
        Ok(Table {
            file,
            columns,
            labels: labels.cells,
            rows,
        })
    }

    /// The cell of `row` in the column with this id ("" when the row is short).
    fn get<'r>(&self, row: &'r Row, id: &str) -> &'r str {
        self.columns
            .get(id)
            .and_then(|&i| row.cells.get(i))
            .map_or("", String::as_str)
    }

    fn label(&self, id: &str) -> &str {
        self.columns
            .get(id)
            .and_then(|&i| self.labels.get(i))
            .map_or("", String::as_str)
    }

    fn error(&self, row: &Row, column: &str, message: &str) -> ProfileError {
        ProfileError::Invalid {
            line: row.line,
            column: column.to_owned(),
            message: format!("{}: {message}", self.file),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(note: &str) -> Vec<(String, String)> {
        parse_note(note)
            .unwrap()
            .unwrap()
            .into_iter()
            .map(|t| (t.code, t.term))
            .collect()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(c, t)| ((*c).to_owned(), (*t).to_owned()))
            .collect()
    }

    #[test]
    fn notes_with_either_comma_and_full_width_digits() {
        assert_eq!(
            terms("1:特記すべきことあり、2:特記すべきことなし"),
            pairs(&[("1", "特記すべきことあり"), ("2", "特記すべきことなし")])
        );
        assert_eq!(
            terms("１：Ａ、２：Ｂ､３：Ｃ"),
            pairs(&[("1", "Ａ"), ("2", "Ｂ"), ("3", "Ｃ")])
        );
        assert_eq!(
            terms("1:0、2:１、3:２"),
            pairs(&[("1", "0"), ("2", "１"), ("3", "２")])
        );
    }

    #[test]
    fn sign_terms_are_full_width_whichever_table() {
        let full = terms("1:－、2:±、3:＋、4:＋＋、5:＋＋＋");
        let half = terms("1:-､2:±､3:+､4:++､5:+++");
        assert_eq!(full, half);
        assert_eq!(full[4].1, "＋＋＋");
        // Only sign-only terms change.
        assert_eq!(terms("1:ASC-US、2:C+")[0].1, "ASC-US");
        assert_eq!(terms("1:ASC-US、2:C+")[1].1, "C+");
    }

    #[test]
    fn separators_inside_terms_and_odd_entries() {
        assert_eq!(
            terms("１：現在、Ｃ型に感染していない、２：現在、Ｃ型に感染している"),
            pairs(&[
                ("1", "現在、Ｃ型に感染していない"),
                ("2", "現在、Ｃ型に感染している")
            ])
        );
        // 。 between entries, and an entry without its colon that continues the numbering.
        assert_eq!(
            terms("0：以外、1：対象者。2：不整脈"),
            pairs(&[("0", "以外"), ("1", "対象者"), ("2", "不整脈")])
        );
        assert_eq!(
            terms("１：すべて、４：口腔、５その他（注）"),
            pairs(&[("1", "すべて"), ("4", "口腔"), ("5", "その他（注）")])
        );
        // A digit that does not continue the numbering stays in the term.
        assert_eq!(
            terms("1:1回目、3回目以降"),
            pairs(&[("1", "1回目、3回目以降")])
        );
        assert_eq!(terms("1:0号、10:9号、11:10号").last().unwrap().0, "11");
    }

    #[test]
    fn notes_that_are_not_code_lists() {
        assert_eq!(parse_note("数字１桁（分類設定は自由）").unwrap(), None);
        assert_eq!(parse_note("").unwrap(), None);
        assert_eq!(parse_note("小数点以下1桁").unwrap(), None);
        assert!(parse_note("1:a、1:b").is_err());
        assert!(parse_note("1:、2:b").is_err());
    }

    #[test]
    fn table_rows_know_their_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        let text = "\u{FEFF}0,1,2\r\nJLAC10,MLOW,X\r\nコード,下限,x\r\n\r\nA,\"1\r\n2\",\r\nB,3\r\n#,,\r\n";
        std::fs::write(&path, text).unwrap();
        let table = Table::read(&path, &["JLAC10", "MLOW"]).unwrap();
        let lines: Vec<(u64, &str, &str)> = table
            .rows
            .iter()
            .map(|r| (r.line, table.get(r, "JLAC10"), table.get(r, "X")))
            .collect();
        assert_eq!(lines, [(5, "A", ""), (7, "B", "")]);
        assert_eq!(table.rows[0].cells[1], "1\n2");
        assert_eq!(table.label("MLOW"), "下限");
        let err = Table::read(&path, &["JLAC10", "NOPE"]).err().unwrap();
        assert!(
            matches!(&err, ProfileError::Invalid { line: 2, column, .. } if column == "NOPE"),
            "{err}"
        );
    }

    #[test]
    fn sequence_keys() {
        assert_eq!(seq_key("A0000010"), Some(("A".to_owned(), 10)));
        assert_eq!(seq_key("5100"), Some((String::new(), 5100)));
        assert!(seq_key("A").is_none());
        assert!(seq_key("10A").is_none());
        assert!(seq_key("").is_none());
    }
}
