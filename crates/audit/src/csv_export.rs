//! CSV for spreadsheets: UTF-8 with BOM (so Excel in a Japanese locale does not guess
//! Shift_JIS), bilingual header, CRLF line ends and RFC 4180 quoting by the `csv` crate.

use std::borrow::{Borrow, Cow};
use std::io::Write;

use crate::model::{AccessRecord, ObjectKind, ObjectRef};
use crate::timestamp::format_timestamp;
use crate::Error;

/// Header row: Japanese label, `/`, stable English column key.
pub const CSV_HEADER: [&str; 17] = [
    "連番/seq",
    "日時(UTC)/time",
    "組織コード/org",
    "主体種別/actor_type",
    "主体ID/actor_id",
    "端末名/device",
    "セッションID/session",
    "接続元/source",
    "操作/action",
    "操作名/action_label",
    "結果/outcome",
    "結果名/outcome_label",
    "HTTPステータス/status",
    "転送バイト数/bytes",
    "対象種別/object_kinds",
    "対象ID/object_ids",
    "備考/detail",
];

const BOM: &[u8] = "\u{feff}".as_bytes();

/// Options of [`write_csv_with`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvOptions {
    /// Neutralise cells that a spreadsheet would evaluate as a formula (CSV injection, see
    /// [`guard_cell`]). On by default because the file is meant to be opened in Excel and
    /// logins, ids and remarks are not under the exporting customer's control.
    pub formula_guard: bool,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            formula_guard: true,
        }
    }
}

/// Writes `records` as CSV with the default [`CsvOptions`]; returns the number of rows.
///
/// One row per record; see the crate documentation for the columns. Rows are streamed, so
/// memory use does not depend on the number of records.
pub fn write_csv<I, W>(records: I, out: W) -> Result<u64, Error>
where
    I: IntoIterator,
    I::Item: Borrow<AccessRecord>,
    W: Write,
{
    write_csv_with(records, out, &CsvOptions::default())
}

/// Writes `records` as CSV; returns the number of rows (excluding the header).
pub fn write_csv_with<I, W>(records: I, mut out: W, options: &CsvOptions) -> Result<u64, Error>
where
    I: IntoIterator,
    I::Item: Borrow<AccessRecord>,
    W: Write,
{
    out.write_all(BOM)?;
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(out);
    writer.write_record(CSV_HEADER)?;
    let mut rows = 0u64;
    for record in records {
        let cells = csv_cells(record.borrow());
        if options.formula_guard {
            writer.write_record(cells.iter().map(|c| guard_cell(c).into_owned()))?;
        } else {
            writer.write_record(&cells)?;
        }
        rows += 1;
    }
    writer.flush()?;
    Ok(rows)
}

/// The unguarded cell values of one record, in [`CSV_HEADER`] order.
pub fn csv_cells(record: &AccessRecord) -> [String; 17] {
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    let num = |v: Option<u64>| v.map(|n| n.to_string()).unwrap_or_default();
    [
        record.seq.to_string(),
        format_timestamp(record.at),
        opt(&record.org),
        record.actor.kind().to_owned(),
        record.actor.id().unwrap_or_default().to_owned(),
        record.actor.device().unwrap_or_default().to_owned(),
        opt(&record.session),
        opt(&record.source),
        record.action.code().into_owned(),
        record.action.label_ja().to_owned(),
        record.outcome.code().to_owned(),
        record.outcome.label_ja().to_owned(),
        num(record.status.map(u64::from)),
        num(record.bytes),
        join_list(record.objects.iter().map(|o| o.kind.code())),
        join_list(record.objects.iter().map(|o| o.id.as_str())),
        opt(&record.detail),
    ]
}

/// Characters that make Excel, LibreOffice or Google Sheets treat a cell as a formula when
/// they start it (OWASP "CSV injection"), plus their full-width forms, which Japanese input
/// methods produce and Excel also accepts.
const FORMULA_TRIGGERS: [char; 10] = ['=', '+', '-', '@', '\t', '\r', '＝', '＋', '－', '＠'];

/// Prefixes `cell` with `'` when a spreadsheet would otherwise evaluate it.
///
/// The apostrophe is also added when the cell already starts with `'`, which makes the
/// transformation reversible: [`unguard_cell`] removes exactly one leading apostrophe.
pub fn guard_cell(cell: &str) -> Cow<'_, str> {
    match cell.chars().next() {
        Some(c) if c == '\'' || FORMULA_TRIGGERS.contains(&c) => Cow::Owned(format!("'{cell}")),
        _ => Cow::Borrowed(cell),
    }
}

/// Inverse of [`guard_cell`], for programs that read the CSV back.
pub fn unguard_cell(cell: &str) -> &str {
    cell.strip_prefix('\'').unwrap_or(cell)
}

/// Joins list items one per line inside a single cell. Backslash, LF and CR in an item are
/// written as `\\`, `\n` and `\r` so that the line structure stays unambiguous.
fn join_list<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let mut cell = String::new();
    for (i, item) in items.enumerate() {
        if i > 0 {
            cell.push('\n');
        }
        for c in item.chars() {
            match c {
                '\\' => cell.push_str("\\\\"),
                '\n' => cell.push_str("\\n"),
                '\r' => cell.push_str("\\r"),
                _ => cell.push(c),
            }
        }
    }
    cell
}

fn split_list(cell: &str) -> Vec<String> {
    cell.split('\n')
        .map(|item| {
            let mut out = String::with_capacity(item.len());
            let mut chars = item.chars();
            while let Some(c) = chars.next() {
                if c != '\\' {
                    out.push(c);
                    continue;
                }
                match chars.next() {
                    Some('n') => out.push('\n'),
                    Some('r') => out.push('\r'),
                    Some(other) => out.push(other),
                    None => out.push('\\'),
                }
            }
            out
        })
        .collect()
}

/// Decodes the `object_kinds` and `object_ids` cells (unguarded) back into object
/// references; `None` if they do not describe the same number of valid objects.
pub fn decode_objects(kinds_cell: &str, ids_cell: &str) -> Option<Vec<ObjectRef>> {
    // The kinds cell decides the count: a single object with an empty id has an empty ids
    // cell, exactly like no object at all.
    if kinds_cell.is_empty() {
        return ids_cell.is_empty().then(Vec::new);
    }
    let kinds = kinds_cell
        .split('\n')
        .map(ObjectKind::from_code)
        .collect::<Option<Vec<_>>>()?;
    let ids = split_list(ids_cell);
    if kinds.len() != ids.len() {
        return None;
    }
    Some(
        kinds
            .into_iter()
            .zip(ids)
            .map(|(kind, id)| ObjectRef { kind, id })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Action, Actor, Outcome};
    use time::macros::datetime;

    fn record() -> AccessRecord {
        AccessRecord {
            seq: 7,
            at: datetime!(2025-04-01 09:30:00.25 UTC),
            org: Some("1310000001".into()),
            actor: Actor::User {
                login: "=cmd|' /C calc'!A0".into(),
            },
            session: Some("s-1".into()),
            source: Some("203.0.113.9:51234".into()),
            action: Action::DeliveryDownload,
            objects: vec![
                ObjectRef::new(ObjectKind::Delivery, "d-1"),
                ObjectRef::new(ObjectKind::Submission, "a\\b\nc"),
            ],
            outcome: Outcome::Success,
            status: Some(200),
            bytes: Some(1024),
            detail: Some("複数行\r\nの \"備考\", カンマ".into()),
        }
    }

    #[test]
    fn starts_with_bom_and_bilingual_header_and_uses_crlf() {
        let mut out = Vec::new();
        assert_eq!(write_csv([record()], &mut out).unwrap(), 1);
        assert!(out.starts_with(BOM));
        let text = std::str::from_utf8(&out[BOM.len()..]).unwrap();
        assert!(text.starts_with("連番/seq,日時(UTC)/time,"));
        assert!(text.contains("\r\n7,2025-04-01T09:30:00.250Z,1310000001,user,"));
        assert!(text.ends_with("\r\n"));
    }

    #[test]
    fn guards_formulas_and_reads_back() {
        let mut out = Vec::new();
        write_csv([record()], &mut out).unwrap();
        let mut reader = csv::Reader::from_reader(&out[..]);
        assert_eq!(reader.headers().unwrap(), CSV_HEADER.as_slice());
        let row = reader.records().next().unwrap().unwrap();
        assert_eq!(&row[4], "'=cmd|' /C calc'!A0");
        assert_eq!(unguard_cell(&row[4]), "=cmd|' /C calc'!A0");
        assert_eq!(&row[16], "複数行\r\nの \"備考\", カンマ");
        assert_eq!(
            decode_objects(&row[14], &row[15]).unwrap(),
            record().objects
        );
    }

    #[test]
    fn guard_is_reversible() {
        for cell in ["", "'", "''x", "=1", "-", "＝SUM()", "plain", "@x", "\tx"] {
            assert_eq!(unguard_cell(&guard_cell(cell)), cell);
        }
        assert_eq!(guard_cell("plain"), "plain");
        assert_eq!(
            guard_cell("2025-04-01T00:00:00.000Z"),
            "2025-04-01T00:00:00.000Z"
        );
    }

    #[test]
    fn object_lists_distinguish_empty_id_from_no_object() {
        let one_empty = vec![ObjectRef::new(ObjectKind::Map, "")];
        let kinds = join_list(one_empty.iter().map(|o| o.kind.code()));
        let ids = join_list(one_empty.iter().map(|o| o.id.as_str()));
        assert_eq!(decode_objects(&kinds, &ids).unwrap(), one_empty);
        assert_eq!(decode_objects("", "").unwrap(), vec![]);
        assert_eq!(decode_objects("", "x"), None);
        assert_eq!(decode_objects("map", "a\nb"), None);
        assert_eq!(decode_objects("bogus", "a"), None);
    }
}
