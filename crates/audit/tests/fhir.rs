//! FHIR R4 AuditEvent resources and Bundle: cardinalities, codes and JSON validity.

mod common;

use common::fhir::{check_audit_event, is_instant_millis_z};
use common::{matrix, sample};
use kenshin_audit::{
    fhir_audit_event, fhir_audit_event_with, write_fhir_bundle, AccessRecord, Action, AuditSource,
    Outcome,
};
use serde_json::Value;

#[test]
fn every_action_and_outcome_has_the_required_elements() {
    let source = AuditSource {
        id: "relay-01".into(),
        site: Some("東京".into()),
    };
    for record in matrix() {
        for event in [
            fhir_audit_event(&record),
            fhir_audit_event_with(&record, &source),
        ] {
            check_audit_event(&event)
                .unwrap_or_else(|err| panic!("{}: {err}\n{event:#}", record.action));
            // Valid JSON text that parses back to the same value.
            let text = serde_json::to_string(&event).unwrap();
            assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), event);
        }
    }
}

#[test]
fn codes_follow_the_mapping() {
    let event = fhir_audit_event(&sample(Action::Shred, Outcome::Failed, 2));
    assert_eq!(
        event["type"]["system"],
        "http://dicom.nema.org/resources/ontology/DCM"
    );
    assert_eq!(event["type"]["code"], "110110");
    assert_eq!(event["action"], "D");
    assert_eq!(event["outcome"], "8");
    assert_eq!(event["id"], "1002");
    let entities = event["entity"].as_array().unwrap();
    assert_eq!(entities.len(), 7);
    for entity in entities {
        assert_eq!(
            entity["lifecycle"]["system"],
            "http://terminology.hl7.org/CodeSystem/dicom-audit-lifecycle"
        );
        assert_eq!(entity["lifecycle"]["code"], "15");
    }

    let login = fhir_audit_event(&sample(Action::Logout, Outcome::Success, 0));
    assert_eq!(login["type"]["code"], "110114");
    assert_eq!(login["subtype"][0]["code"], "110123");
    assert_eq!(
        login["subtype"][1]["system"],
        "urn:kenshin-relay:audit-action"
    );
    assert_eq!(login["subtype"][1]["code"], "logout");
    let agent = &login["agent"][0];
    assert_eq!(agent["requestor"], true);
    assert_eq!(
        agent["who"]["identifier"]["system"],
        "urn:kenshin-relay:login"
    );
    assert_eq!(agent["who"]["identifier"]["value"], "sato.hanako");
    assert_eq!(
        agent["who"]["identifier"]["assigner"]["identifier"]["value"],
        "1310000001"
    );
    assert_eq!(agent["network"]["address"], "203.0.113.9");
    assert_eq!(agent["network"]["type"], "2");
    assert_eq!(login["agent"][1]["requestor"], false);
    assert_eq!(login["source"]["observer"]["display"], "kenshin-relay");
}

#[test]
fn recorded_is_an_instant_with_milliseconds_and_z() {
    for record in matrix() {
        let event = fhir_audit_event(&record);
        let recorded = event["recorded"].as_str().unwrap();
        assert!(is_instant_millis_z(recorded), "{recorded}");
        assert_eq!(
            kenshin_audit::parse_timestamp(recorded).unwrap(),
            record
                .at
                .replace_nanosecond(record.at.millisecond() as u32 * 1_000_000)
                .unwrap()
        );
    }
}

#[test]
fn other_action_names_become_valid_codes() {
    let record = AccessRecord {
        action: Action::Other("  two  spaces\n".into()),
        ..sample(Action::Login, Outcome::Success, 3)
    };
    let event = fhir_audit_event(&record);
    check_audit_event(&event).unwrap();
    assert_eq!(event["type"]["code"], "other:__two__spaces_");
    assert_eq!(event["type"]["display"], "  two  spaces\n");
}

#[test]
fn bundle_is_a_collection_of_valid_events() {
    let records = matrix();
    let mut out = Vec::new();
    assert_eq!(
        write_fhir_bundle(&records, &mut out).unwrap(),
        records.len() as u64
    );
    let bundle: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(bundle["resourceType"], "Bundle");
    assert_eq!(bundle["type"], "collection");
    let entries = bundle["entry"].as_array().unwrap();
    assert_eq!(entries.len(), records.len());
    for (entry, record) in entries.iter().zip(&records) {
        assert_eq!(
            entry.as_object().unwrap().len(),
            1,
            "only `resource` per entry"
        );
        check_audit_event(&entry["resource"]).unwrap();
        assert_eq!(entry["resource"], fhir_audit_event(record));
    }
    common::fhir::json_rules(&bundle, "Bundle").unwrap();

    let mut empty = Vec::new();
    assert_eq!(
        write_fhir_bundle(Vec::<AccessRecord>::new(), &mut empty).unwrap(),
        0
    );
    let empty: Value = serde_json::from_slice(&empty).unwrap();
    assert_eq!(
        empty,
        serde_json::json!({"resourceType": "Bundle", "type": "collection"})
    );
}
