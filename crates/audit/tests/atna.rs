//! ATNA messages against the DICOM audit message schema (xmllint) and their content.

mod common;

use common::{matrix, parse_xml, record, sample, xmllint_validate};
use kenshin_audit::{atna_message, atna_message_with, write_atna, Action, AuditSource, Outcome};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

#[test]
fn every_action_and_outcome_is_schema_valid() {
    let records = matrix();
    assert_eq!(records.len(), (Action::KNOWN.len() + 1) * 4);
    let mut documents: Vec<String> = records.iter().map(atna_message).collect();
    // A configured source with a site, and hostile text in it.
    let source = AuditSource {
        id: "relay-01.kenshin.example".into(),
        site: Some("東京DC <primary> & \"A\"".into()),
    };
    documents.extend(records.iter().map(|r| atna_message_with(r, &source)));
    for doc in &documents {
        parse_xml(doc).unwrap_or_else(|err| panic!("{err}:\n{doc}"));
    }
    if let Some(count) = xmllint_validate(&documents) {
        assert_eq!(count, documents.len());
        eprintln!("xmllint: {count} Action x Outcome messages validate against the DICOM schema");
    }
}

#[test]
fn generated_records_are_schema_valid() {
    // Deterministic, so a failure reproduces; hostile text in every field.
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::deterministic_rng(RngAlgorithm::ChaCha),
    );
    let strategy = record();
    let documents: Vec<String> = (0..400)
        .map(|_| atna_message(&strategy.new_tree(&mut runner).unwrap().current()))
        .collect();
    if let Some(count) = xmllint_validate(&documents) {
        assert_eq!(count, documents.len());
        eprintln!("xmllint: {count} generated messages validate against the DICOM schema");
    }
}

#[test]
fn structure_follows_the_mapping() {
    let record = sample(Action::DeliveryDownload, Outcome::Denied, 2);
    let elements = parse_xml(&atna_message(&record)).unwrap();
    let names: Vec<&str> = elements.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names[0], "AuditMessage");
    assert_eq!(names[1], "EventIdentification");

    let event = &elements[1];
    assert_eq!(event.attr("EventActionCode"), Some("R"));
    assert_eq!(event.attr("EventOutcomeIndicator"), Some("4"));
    assert_eq!(
        event.attr("EventDateTime"),
        Some("2025-04-01T09:33:22.123Z")
    );
    let event_id = elements.iter().find(|e| e.name == "EventID").unwrap();
    assert_eq!(event_id.attr("csd-code"), Some("110106"));
    assert_eq!(event_id.attr("codeSystemName"), Some("DCM"));

    let participants: Vec<_> = elements
        .iter()
        .filter(|e| e.name == "ActiveParticipant")
        .collect();
    assert_eq!(participants.len(), 2);
    // Variant 2: system task, organisation known, non-IP source.
    assert_eq!(
        participants[0].attr("UserID"),
        Some("retention-sweeper@1310000001")
    );
    assert_eq!(participants[0].attr("UserIsRequestor"), Some("true"));
    assert_eq!(
        participants[0].attr("NetworkAccessPointID"),
        Some("gateway.internal")
    );
    assert_eq!(participants[0].attr("NetworkAccessPointTypeCode"), None);
    assert_eq!(participants[1].attr("UserID"), Some("kenshin-relay"));
    assert_eq!(participants[1].attr("UserIsRequestor"), Some("false"));
    // Download: the actor is the destination, the relay the source.
    let roles: Vec<_> = elements
        .iter()
        .filter(|e| e.name == "RoleIDCode")
        .map(|e| e.attr("csd-code").unwrap())
        .collect();
    assert_eq!(
        roles,
        ["110152", "110150", "system", "110153", "110150"],
        "actor roles then relay roles"
    );

    let description = elements
        .iter()
        .find(|e| e.name == "EventOutcomeDescription")
        .unwrap();
    assert_eq!(
        description.text,
        "HTTP 400; E_DENIED; 理由=\"権限なし\" <&>\t␀"
    );

    let objects: Vec<_> = elements
        .iter()
        .filter(|e| e.name == "ParticipantObjectIdentification")
        .collect();
    assert_eq!(objects.len(), 7);
    assert!(objects
        .iter()
        .all(|o| o.attr("ParticipantObjectDataLifeCycle") == Some("10")));
    let user = objects
        .iter()
        .find(|o| o.attr("ParticipantObjectID") == Some("user-2"))
        .unwrap();
    assert_eq!(user.attr("ParticipantObjectTypeCode"), Some("1"));
    assert_eq!(user.attr("ParticipantObjectTypeCodeRole"), Some("11"));
}

#[test]
fn login_and_erasure_codes() {
    let check = |action: Action, event_id: &str, event_type: Option<&str>, code: &str| {
        let record = sample(action.clone(), Outcome::Success, 0);
        let elements = parse_xml(&atna_message(&record)).unwrap();
        let find = |name: &'static str| elements.iter().filter(move |e| e.name == name);
        assert_eq!(
            find("EventID").next().unwrap().attr("csd-code"),
            Some(event_id),
            "{action}"
        );
        let types: Vec<_> = find("EventTypeCode")
            .filter(|e| e.attr("codeSystemName") == Some("DCM"))
            .map(|e| e.attr("csd-code").unwrap())
            .collect();
        assert_eq!(types.first().copied(), event_type, "{action}");
        assert_eq!(
            find("EventIdentification")
                .next()
                .unwrap()
                .attr("EventActionCode"),
            Some(code),
            "{action}"
        );
    };
    check(Action::Login, "110114", Some("110122"), "E");
    check(Action::LoginFailed, "110114", Some("110122"), "E");
    check(Action::Logout, "110114", Some("110123"), "E");
    check(Action::SubmissionCreate, "110107", None, "C");
    check(Action::DeliveryDownload, "110106", None, "R");
    check(Action::SecurityAlert, "110113", None, "E");
    check(Action::Shred, "110110", None, "D");
    check(Action::RetentionExpire, "110110", None, "D");
    check(Action::AuditExport, "110101", None, "R");

    let failed = parse_xml(&atna_message(&sample(
        Action::LoginFailed,
        Outcome::Success,
        0,
    )))
    .unwrap();
    assert_eq!(failed[1].attr("EventOutcomeIndicator"), Some("4"));

    let shred = parse_xml(&atna_message(&sample(Action::Shred, Outcome::Success, 1))).unwrap();
    let object = shred
        .iter()
        .find(|e| e.name == "ParticipantObjectIdentification")
        .unwrap();
    assert_eq!(object.attr("ParticipantObjectDataLifeCycle"), Some("15"));

    let export = parse_xml(&atna_message(&sample(
        Action::AuditExport,
        Outcome::Success,
        0,
    )))
    .unwrap();
    let log = export
        .iter()
        .find(|e| e.name == "ParticipantObjectIdentification")
        .unwrap();
    assert_eq!(
        log.attr("ParticipantObjectID"),
        Some("urn:kenshin-relay:audit-log")
    );
    assert_eq!(log.attr("ParticipantObjectTypeCodeRole"), Some("13"));
}

#[test]
fn write_atna_frames_one_document_per_line() {
    let records = matrix();
    let mut out = Vec::new();
    assert_eq!(
        write_atna(&records, &mut out).unwrap(),
        records.len() as u64
    );
    let text = String::from_utf8(out).unwrap();
    assert!(text.ends_with('\n'));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), records.len());
    for (line, record) in lines.iter().zip(&records) {
        assert_eq!(*line, atna_message(record));
        parse_xml(line).unwrap();
    }
    let mut empty = Vec::new();
    assert_eq!(
        write_atna(
            std::iter::empty::<kenshin_audit::AccessRecord>(),
            &mut empty
        )
        .unwrap(),
        0
    );
    assert!(empty.is_empty());
}
