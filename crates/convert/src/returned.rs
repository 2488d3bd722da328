//! Rows returned to the sender: the rows of an export that could not become records (no
//! 保険者番号, 受診日, 生年月日 or 性別 that can be read), written back as the sender sent them —
//! its own columns, UTF-8 with a BOM so Excel opens it — with two columns in front saying which
//! row it was and why. The sender fixes them and sends them again; nothing is dropped.

use std::io::Write;

use crate::delimited::SourceRow;
use crate::finding::Finding;

/// Writes rejected rows, one at a time (memory does not grow with their number).
pub struct ReturnedRows<W: Write> {
    out: csv::Writer<W>,
    columns: Option<usize>,
    rows: u64,
}

impl<W: Write> ReturnedRows<W> {
    pub fn new(mut sink: W) -> std::io::Result<ReturnedRows<W>> {
        sink.write_all("\u{FEFF}".as_bytes())?;
        Ok(ReturnedRows {
            out: csv::WriterBuilder::new()
                .terminator(csv::Terminator::CRLF)
                .flexible(true)
                .from_writer(sink),
            columns: None,
            rows: 0,
        })
    }

    /// Writes one row; the first one writes the header (the export's, or 列1, 列2, …).
    pub fn write(
        &mut self,
        header: Option<&[String]>,
        row: &SourceRow,
        reasons: &[Finding],
    ) -> std::io::Result<()> {
        if self.columns.is_none() {
            let names: Vec<String> = match header {
                Some(header) => header.to_vec(),
                None => (1..=row.fields.len()).map(|i| format!("列{i}")).collect(),
            };
            let mut first = vec!["行番号".to_owned(), "変換できなかった理由".to_owned()];
            first.extend(names.iter().map(|n| guard(n)));
            self.out
                .write_record(&first)
                .map_err(std::io::Error::other)?;
            self.columns = Some(names.len());
        }
        let why = reasons
            .iter()
            .map(|f| f.message.as_str())
            .collect::<Vec<_>>()
            .join(" / ");
        let mut fields = vec![row.line.to_string(), why];
        fields.extend(row.fields.iter().map(|f| guard(f)));
        self.out
            .write_record(&fields)
            .map_err(std::io::Error::other)?;
        self.rows += 1;
        Ok(())
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    pub fn finish(self) -> std::io::Result<W> {
        self.out.into_inner().map_err(|e| e.into_error())
    }
}

/// A cell a spreadsheet would run as a formula is written with a leading apostrophe (the
/// values come from the sender's own export; the file is opened in Excel).
fn guard(cell: &str) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) && !is_number(cell) {
        format!("'{cell}")
    } else {
        cell.to_owned()
    }
}

fn is_number(cell: &str) -> bool {
    cell.parse::<f64>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::{Rule, Severity};

    #[test]
    fn rows_come_back_as_sent_with_the_reason_in_front() {
        let mut returned = ReturnedRows::new(Vec::new()).unwrap();
        let header = vec![
            "保険者番号".to_owned(),
            "氏名".to_owned(),
            "メモ".to_owned(),
        ];
        let row = SourceRow {
            record: 3,
            line: 4,
            fields: vec![String::new(), "健診 花子".into(), "=1+1".into()],
        };
        let reason = Finding {
            record: 3,
            line: 4,
            column: Some("保険者番号".into()),
            item: None,
            item_name: None,
            rule: Rule::Required,
            severity: Severity::Error,
            message: "保険者番号がありません".into(),
            value: None,
        };
        returned.write(Some(&header), &row, &[reason]).unwrap();
        assert_eq!(returned.rows(), 1);
        let text = String::from_utf8(returned.finish().unwrap()).unwrap();
        assert_eq!(
            text,
            "\u{FEFF}行番号,変換できなかった理由,保険者番号,氏名,メモ\r\n4,保険者番号がありません,,健診 花子,'=1+1\r\n"
        );
    }
}
