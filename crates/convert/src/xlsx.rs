//! Excel workbooks (`.xlsx`) as exports: the first worksheet (or the one the map names with
//! `setting,sheet,NAME`) read with `calamine` and handed to the delimited reader as UTF-8 CSV,
//! so a workbook goes through exactly the same map, normalisers and checks as a CSV export.
//!
//! Cells become the text a clerk sees: numbers without a trailing `.0`, dates as
//! `YYYY/MM/DD` (with the time when there is one), errors (`#N/A`, …) as written, which the
//! checks then report.

use std::io::Cursor;

use calamine::{Data, Reader, Xlsx};

/// Why a workbook could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum XlsxError {
    #[error("the workbook cannot be read: {0}")]
    Unreadable(String),
    #[error("the workbook has no worksheet named {0:?}")]
    NoSuchSheet(String),
    #[error("the workbook has no worksheet")]
    NoSheet,
    /// Larger once unpacked than a workbook export can be, or packed tighter than any real
    /// workbook (a ZIP bomb): refused before it is unpacked.
    #[error(
        "the workbook unpacks to more than {limit} bytes, or is compressed more than {ratio}:1"
    )]
    TooLarge { limit: u64, ratio: u64 },
}

/// The most a workbook may unpack to.
pub const MAX_UNPACKED_BYTES: u64 = 512 * 1024 * 1024;
/// The tightest compression a real workbook has (XML of a sparse sheet packs ~20–50:1).
pub const MAX_RATIO: u64 = 200;

/// Refuses a workbook whose parts declare more than [`MAX_UNPACKED_BYTES`] in all, or one part
/// packed tighter than [`MAX_RATIO`]:1.
fn check_size(bytes: &[u8]) -> Result<(), XlsxError> {
    let too_large = XlsxError::TooLarge {
        limit: MAX_UNPACKED_BYTES,
        ratio: MAX_RATIO,
    };
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| XlsxError::Unreadable(e.to_string()))?;
    let mut total = 0u64;
    for i in 0..archive.len() {
        let entry = archive
            .by_index_raw(i)
            .map_err(|e| XlsxError::Unreadable(e.to_string()))?;
        total = total.saturating_add(entry.size());
        if total > MAX_UNPACKED_BYTES
            || entry.size() > entry.compressed_size().max(1).saturating_mul(MAX_RATIO)
        {
            return Err(too_large);
        }
    }
    Ok(())
}

/// What a file that is neither a text export, a workbook nor an MHLW archive is, judged by
/// its first bytes, with what the sender should do instead (Japanese first); `None` for text.
pub fn other_binary(head: &[u8]) -> Option<String> {
    let kind = if head.starts_with(b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1") {
        "Excel 97-2003 ブック（.xls）/ an Excel 97-2003 workbook (.xls)"
    } else if head.starts_with(b"%PDF") {
        "PDF"
    } else if head.starts_with(b"\x1F\x8B") {
        "gzip"
    } else if head.starts_with(b"7z\xBC\xAF\x27\x1C") || head.starts_with(b"Rar!") {
        "7z / RAR"
    } else if head.iter().take(4096).any(|&b| b == 0) {
        "バイナリファイル / a binary file"
    } else {
        return None;
    };
    Some(format!(
        "このファイル（{kind}）は変換できません。健診システムから CSV で出力するか、Excel で \
         「CSV UTF-8」または「Excel ブック (.xlsx)」として保存して送ってください / this file \
         ({kind}) cannot be converted: export CSV from the checkup system, or save it from Excel \
         as CSV UTF-8 or as an .xlsx workbook, and send that"
    ))
}

/// Whether `bytes` are an Excel workbook (`.xlsx`: a ZIP with a workbook part).
pub fn is_xlsx(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PK\x03\x04") && Xlsx::new(Cursor::new(bytes)).is_ok()
}

/// The worksheet `sheet` (the first when `None`) as UTF-8 CSV, one line per row.
pub fn to_csv(bytes: &[u8], sheet: Option<&str>) -> Result<Vec<u8>, XlsxError> {
    check_size(bytes)?;
    let mut workbook =
        Xlsx::new(Cursor::new(bytes)).map_err(|e| XlsxError::Unreadable(e.to_string()))?;
    let range = match sheet {
        Some(name) => workbook
            .worksheet_range(name)
            .map_err(|_| XlsxError::NoSuchSheet(name.to_owned()))?,
        None => workbook
            .worksheet_range_at(0)
            .ok_or(XlsxError::NoSheet)?
            .map_err(|e| XlsxError::Unreadable(e.to_string()))?,
    };
    let mut out = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    for row in range.rows() {
        let cells: Vec<String> = row.iter().map(cell_text).collect();
        // Rows Excel keeps but that hold nothing (formatting only) are not records.
        if cells.iter().all(String::is_empty) {
            continue;
        }
        out.write_record(&cells)
            .map_err(|e| XlsxError::Unreadable(e.to_string()))?;
    }
    out.into_inner()
        .map_err(|e| XlsxError::Unreadable(e.to_string()))
}

/// A cell as the text a clerk sees in Excel.
fn cell_text(cell: &Data) -> String {
    match cell {
        Data::Empty => String::new(),
        Data::String(text) => text.clone(),
        Data::Int(n) => n.to_string(),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{f:.0}"),
        Data::Float(f) => f.to_string(),
        Data::Bool(b) => if *b { "TRUE" } else { "FALSE" }.to_owned(),
        Data::DateTime(when) if when.is_datetime() => {
            let (y, m, d, hh, mm, ss, _) = when.to_ymd_hms_milli();
            if (hh, mm, ss) == (0, 0, 0) {
                format!("{y:04}/{m:02}/{d:02}")
            } else {
                format!("{y:04}/{m:02}/{d:02} {hh:02}:{mm:02}:{ss:02}")
            }
        }
        other => other.to_string(),
    }
}

/// A minimal workbook of one worksheet of text cells (inline strings): for tests and for
/// samples, so that an `.xlsx` export can be made without Excel.
pub fn write_simple(rows: &[Vec<String>]) -> Vec<u8> {
    use std::io::Write as _;
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    let mut add = |name: &str, body: &str| {
        zip.start_file(name, options).expect("in-memory zip");
        zip.write_all(body.as_bytes()).expect("in-memory zip");
    };
    add(
        "[Content_Types].xml",
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>"#,
    );
    add(
        "_rels/.rels",
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#,
    );
    add(
        "xl/workbook.xml",
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="健診結果" sheetId="1" r:id="rId1"/></sheets></workbook>"#,
    );
    add(
        "xl/_rels/workbook.xml.rels",
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>"#,
    );
    let mut sheet = String::from(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>"#,
    );
    for (r, row) in rows.iter().enumerate() {
        sheet.push_str(&format!("<row r=\"{}\">", r + 1));
        for (c, value) in row.iter().enumerate() {
            let escaped = value
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;");
            sheet.push_str(&format!(
                "<c r=\"{}{}\" t=\"inlineStr\"><is><t>{escaped}</t></is></c>",
                column_name(c),
                r + 1
            ));
        }
        sheet.push_str("</row>");
    }
    sheet.push_str("</sheetData></worksheet>");
    add("xl/worksheets/sheet1.xml", &sheet);
    zip.finish().expect("in-memory zip").into_inner()
}

/// `A`, `B`, …, `Z`, `AA`, … for a 0-based column.
fn column_name(mut column: usize) -> String {
    let mut name = Vec::new();
    loop {
        name.push(b'A' + (column % 26) as u8);
        if column < 26 {
            break;
        }
        column = column / 26 - 1;
    }
    name.reverse();
    String::from_utf8(name).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_workbook_reads_as_the_csv_of_its_first_sheet() {
        let rows = vec![
            vec![
                "保険者番号".to_owned(),
                "生年月日".to_owned(),
                "備考".to_owned(),
            ],
            vec![
                "06999901".to_owned(),
                "S45.1.1".to_owned(),
                "a,b \"c\"".to_owned(),
            ],
        ];
        let book = write_simple(&rows);
        assert!(is_xlsx(&book));
        let csv = String::from_utf8(to_csv(&book, None).unwrap()).unwrap();
        assert_eq!(
            csv,
            "保険者番号,生年月日,備考\r\n06999901,S45.1.1,\"a,b \"\"c\"\"\"\r\n"
        );
        assert_eq!(to_csv(&book, Some("健診結果")).unwrap(), csv.into_bytes());
        assert!(matches!(
            to_csv(&book, Some("Sheet9")),
            Err(XlsxError::NoSuchSheet(_))
        ));
    }

    #[test]
    fn other_files_are_not_workbooks() {
        assert!(!is_xlsx(b"PK\x03\x04 not really a zip"));
        assert!(!is_xlsx("保険者番号,生年月日\r\n".as_bytes()));
        let mut other = zip::ZipWriter::new(Cursor::new(Vec::new()));
        other
            .start_file("ix08_V08.xml", zip::write::SimpleFileOptions::default())
            .unwrap();
        let archive = other.finish().unwrap().into_inner();
        assert!(!is_xlsx(&archive), "an MHLW archive is not a workbook");
    }

    #[test]
    fn a_workbook_packed_like_a_zip_bomb_is_refused_before_it_is_unpacked() {
        // 50 MB of one repeated cell packs to a few tens of kilobytes: no workbook does that.
        let row = vec!["0".repeat(100_000); 10];
        let rows: Vec<Vec<String>> = std::iter::repeat_n(row, 50).collect();
        let bomb = write_simple(&rows);
        assert!(bomb.len() < 2_000_000, "{} bytes", bomb.len());
        assert!(matches!(
            to_csv(&bomb, None),
            Err(XlsxError::TooLarge { .. })
        ));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(tail in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let mut bytes = b"PK\x03\x04".to_vec();
            bytes.extend(tail);
            if is_xlsx(&bytes) {
                let _ = to_csv(&bytes, None);
            }
            let _ = to_csv(&bytes, Some("x"));
        }
    }

    #[test]
    fn other_binary_files_are_named_with_what_to_do() {
        let xls = b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1rest";
        let message = other_binary(xls).unwrap();
        assert!(
            message.contains(".xls") && message.contains("CSV UTF-8"),
            "{message}"
        );
        assert!(other_binary(b"%PDF-1.7").unwrap().contains("PDF"));
        assert!(other_binary(b"abc\0def").is_some());
        assert_eq!(other_binary("保険者番号,生年月日\r\n".as_bytes()), None);
        assert_eq!(other_binary(b""), None);
    }

    #[test]
    fn cells_read_as_a_clerk_sees_them() {
        assert_eq!(cell_text(&Data::Float(165.0)), "165");
        assert_eq!(cell_text(&Data::Float(60.5)), "60.5");
        assert_eq!(cell_text(&Data::Int(7)), "7");
        assert_eq!(cell_text(&Data::Empty), "");
        let day =
            calamine::ExcelDateTime::new(46113.0, calamine::ExcelDateTimeType::DateTime, false);
        assert_eq!(cell_text(&Data::DateTime(day)), "2026/04/01");
        assert_eq!(column_name(0), "A");
        assert_eq!(column_name(25), "Z");
        assert_eq!(column_name(26), "AA");
    }
}
