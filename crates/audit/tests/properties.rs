//! Property tests: arbitrary text in every field (markup and CSV metacharacters, control
//! characters, non-characters, emoji, Japanese) survives every export.

mod common;

use common::fhir::check_audit_event;
use common::{parse_xml, record};
use kenshin_audit::{
    atna_message, csv_cells, decode_objects, fhir_audit_event, read_jsonl, unguard_cell,
    write_atna, write_csv, write_csv_with, write_fhir_bundle, write_jsonl, xml_safe, AccessRecord,
    CsvOptions, CSV_HEADER,
};
use proptest::prelude::*;

fn read_csv(bytes: &[u8]) -> Vec<Vec<String>> {
    assert!(bytes.starts_with("\u{feff}".as_bytes()), "UTF-8 BOM");
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(bytes);
    reader
        .records()
        .map(|row| row.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn csv_reads_back_identically(records in prop::collection::vec(record(), 0..6)) {
        // Unguarded: every cell byte-identical.
        let mut raw = Vec::new();
        let options = CsvOptions { formula_guard: false };
        prop_assert_eq!(write_csv_with(&records, &mut raw, &options).unwrap(), records.len() as u64);
        let rows = read_csv(&raw);
        prop_assert_eq!(rows.len(), records.len() + 1);
        prop_assert_eq!(&rows[0], &CSV_HEADER.map(str::to_owned).to_vec());
        for (row, record) in rows[1..].iter().zip(&records) {
            prop_assert_eq!(row, &csv_cells(record).to_vec());
            prop_assert_eq!(decode_objects(&row[14], &row[15]), Some(record.objects.clone()));
        }

        // Guarded (default): identical after removing the guard, and no cell can be taken
        // for a formula.
        let mut guarded = Vec::new();
        write_csv(&records, &mut guarded).unwrap();
        let rows = read_csv(&guarded);
        for (row, record) in rows[1..].iter().zip(&records) {
            let unguarded: Vec<String> = row.iter().map(|c| unguard_cell(c).to_owned()).collect();
            prop_assert_eq!(&unguarded, &csv_cells(record).to_vec());
            for cell in row {
                let first = cell.chars().next();
                prop_assert!(
                    !matches!(first, Some('=' | '+' | '-' | '@' | '\t' | '\r' | '＝' | '＋' | '－' | '＠')),
                    "unguarded formula cell {:?}", cell
                );
            }
        }
    }

    #[test]
    fn jsonl_parses_back(records in prop::collection::vec(record(), 0..6)) {
        let mut out = Vec::new();
        prop_assert_eq!(write_jsonl(&records, &mut out).unwrap(), records.len() as u64);
        let text = String::from_utf8(out.clone()).unwrap();
        prop_assert_eq!(text.matches('\n').count(), records.len());
        for line in text.lines() {
            prop_assert!(serde_json::from_str::<serde_json::Value>(line).unwrap().is_object());
        }
        let back: Vec<AccessRecord> = read_jsonl(&out[..]).collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(back, records);
    }

    #[test]
    fn atna_is_well_formed_xml(records in prop::collection::vec(record(), 0..6)) {
        let mut out = Vec::new();
        prop_assert_eq!(write_atna(&records, &mut out).unwrap(), records.len() as u64);
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.split_terminator('\n').collect();
        prop_assert_eq!(lines.len(), records.len());
        for (line, record) in lines.iter().zip(&records) {
            prop_assert!(!line.contains('\r'));
            prop_assert_eq!(line.to_string(), atna_message(record));
            let elements = parse_xml(line).map_err(|e| TestCaseError::fail(format!("{e}\n{line}")))?;
            prop_assert_eq!(elements[0].name.as_str(), "AuditMessage");

            // Values come back exactly, after the documented replacement.
            let objects: Vec<&str> = elements
                .iter()
                .filter(|e| e.name == "ParticipantObjectIdentification")
                .filter_map(|e| e.attr("ParticipantObjectID"))
                .collect();
            let expected: Vec<String> = record.objects.iter().map(|o| xml_safe(&o.id).into_owned()).collect();
            prop_assert_eq!(&objects[..record.objects.len()], &expected[..]);
            let actor = elements.iter().find(|e| e.name == "ActiveParticipant").unwrap();
            prop_assert_eq!(
                actor.attr("AlternativeUserID").map(str::to_owned),
                record.session.as_deref().map(|s| xml_safe(s).into_owned())
            );
            if let Some(detail) = &record.detail {
                let description = elements.iter().find(|e| e.name == "EventOutcomeDescription").unwrap();
                prop_assert!(description.text.ends_with(xml_safe(detail).as_ref()));
            }
        }
    }

    #[test]
    fn fhir_events_are_valid(records in prop::collection::vec(record(), 0..4)) {
        for record in &records {
            let event = fhir_audit_event(record);
            check_audit_event(&event).map_err(|e| TestCaseError::fail(format!("{e}\n{event:#}")))?;
        }
        let mut out = Vec::new();
        write_fhir_bundle(&records, &mut out).unwrap();
        let bundle: serde_json::Value = serde_json::from_slice(&out).unwrap();
        prop_assert_eq!(
            bundle.get("entry").and_then(|e| e.as_array()).map_or(0, Vec::len),
            records.len()
        );
    }
}
