//! IHE ATNA audit messages: DICOM PS3.15 Annex A.5 `AuditMessage` XML.

use std::borrow::Borrow;
use std::io::{BufWriter, Write};

use crate::codes::{
    dcm, object_type_and_role, outcome_indicator, systems, DicomCode, Flow, AUDIT_LOG_URI, DCM,
};
use crate::context::{network_access_point, outcome_description, qualified_actor_id, AuditSource};
use crate::model::{AccessRecord, Action, Actor};
use crate::sanitize::xml_safe;
use crate::timestamp::format_timestamp;
use crate::Error;

/// SNOMED CT "Person" (125676002), which DICOM uses as a RoleIDCode for human participants.
const SCT_PERSON: (&str, &str, &str) = ("125676002", "SCT", "Person");

/// One complete, schema-valid ATNA `AuditMessage` document for `record`, with the default
/// [`AuditSource`].
pub fn atna_message(record: &AccessRecord) -> String {
    atna_message_with(record, &AuditSource::default())
}

/// One complete ATNA `AuditMessage` document for `record`, valid against the DICOM audit
/// message schema; see the crate documentation for the mapping.
///
/// The document is a single line: it starts with an XML declaration, has no indentation,
/// and tab, LF and CR inside values are written as character references (which also keeps
/// them from being normalised to spaces by XML parsers). Code points XML 1.0 cannot carry
/// at all are replaced as described in [`xml_safe`].
pub fn atna_message_with(record: &AccessRecord, source: &AuditSource) -> String {
    let coding = record.action.coding();
    let action_code = record.action.code();
    let mut xml = Xml::with_capacity(1024 + 64 * record.objects.len());
    xml.buf
        .push_str(r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    xml.start("AuditMessage", &[]);

    xml.start(
        "EventIdentification",
        &[
            ("EventActionCode", Some(coding.action.code())),
            ("EventDateTime", Some(format_timestamp(record.at).as_str())),
            (
                "EventOutcomeIndicator",
                Some(outcome_indicator(&record.action, record.outcome)),
            ),
        ],
    );
    match coding.event_id {
        Some(id) => xml.dicom_code("EventID", id),
        // Unknown actions get an event ID from the relay's own code system: inventing a
        // DICOM classification for them would be wrong more often than right.
        None => xml.coded("EventID", &action_code, systems::ACTION, &action_code),
    }
    if let Some(event_type) = coding.event_type {
        xml.dicom_code("EventTypeCode", event_type);
    }
    if coding.event_id.is_some() {
        // The relay's exact action, so that a repository can tell e.g. a view of a
        // submission from a view of a delivery.
        xml.coded(
            "EventTypeCode",
            &action_code,
            systems::ACTION,
            record.action.label_ja(),
        );
    }
    if let Some(description) = outcome_description(record) {
        xml.text_element("EventOutcomeDescription", &description);
    }
    xml.end("EventIdentification");

    actor_participant(&mut xml, record, coding.flow);
    relay_participant(&mut xml, source, coding.flow);

    xml.start(
        "AuditSourceIdentification",
        &[
            ("AuditEnterpriseSiteID", source.site.as_deref()),
            ("AuditSourceID", Some(source.id.as_str())),
        ],
    );
    xml.empty(
        "AuditSourceTypeCode",
        &[
            ("csd-code", Some("4")),
            ("originalText", Some("Application Server process or thread")),
        ],
    );
    xml.end("AuditSourceIdentification");

    let lifecycle = coding.lifecycle.map(|l| l.code());
    for object in &record.objects {
        let ((type_code, _), (role_code, _)) = object_type_and_role(object.kind);
        xml.start(
            "ParticipantObjectIdentification",
            &[
                ("ParticipantObjectID", Some(object.id.as_str())),
                ("ParticipantObjectTypeCode", Some(type_code)),
                ("ParticipantObjectTypeCodeRole", Some(role_code)),
                ("ParticipantObjectDataLifeCycle", lifecycle),
            ],
        );
        xml.coded(
            "ParticipantObjectIDTypeCode",
            object.kind.code(),
            systems::OBJECT_KIND,
            object.kind.id_display(),
        );
        xml.text_element(
            "ParticipantObjectName",
            &format!("{}/{}", object.kind.code(), object.id),
        );
        xml.end("ParticipantObjectIdentification");
    }
    if record.action == Action::AuditExport {
        // PS3.15 A.5.3.2 (Audit Log Used) identifies the log by URI with this fixed name.
        xml.start(
            "ParticipantObjectIdentification",
            &[
                ("ParticipantObjectID", Some(AUDIT_LOG_URI)),
                ("ParticipantObjectTypeCode", Some("2")),
                ("ParticipantObjectTypeCodeRole", Some("13")),
                ("ParticipantObjectDataLifeCycle", lifecycle),
            ],
        );
        xml.coded("ParticipantObjectIDTypeCode", "12", "RFC-3881", "URI");
        xml.text_element("ParticipantObjectName", "Security Audit Log");
        xml.end("ParticipantObjectIdentification");
    }

    xml.end("AuditMessage");
    xml.buf
}

/// Writes one [`atna_message`] per record, each on its own line terminated by `\n`, with
/// the default [`AuditSource`]; returns the number of messages.
pub fn write_atna<I, W>(records: I, out: W) -> Result<u64, Error>
where
    I: IntoIterator,
    I::Item: Borrow<AccessRecord>,
    W: Write,
{
    write_atna_with(records, out, &AuditSource::default())
}

/// Writes one [`atna_message_with`] document per line; returns the number of messages.
///
/// Concatenated XML documents are not an XML document, so this is a framing, not one file
/// of XML: split the input at `\n` and parse each line as its own document. The documents
/// never contain a raw line break, so the split is exact, and each line is what an ATNA
/// syslog transport (RFC 5424/5425) carries as the MSG of one event.
pub fn write_atna_with<I, W>(records: I, out: W, source: &AuditSource) -> Result<u64, Error>
where
    I: IntoIterator,
    I::Item: Borrow<AccessRecord>,
    W: Write,
{
    let mut out = BufWriter::new(out);
    let mut messages = 0u64;
    for record in records {
        out.write_all(atna_message_with(record.borrow(), source).as_bytes())?;
        out.write_all(b"\n")?;
        messages += 1;
    }
    out.flush()?;
    Ok(messages)
}

fn actor_participant(xml: &mut Xml, record: &AccessRecord, flow: Flow) {
    let user_name = match &record.actor {
        Actor::Certificate { device, .. } => Some(device.as_str()),
        _ => None,
    };
    let nap = record.source.as_deref().map(network_access_point);
    xml.start(
        "ActiveParticipant",
        &[
            ("UserID", Some(qualified_actor_id(record).as_str())),
            // PS3.15 leaves AlternativeUserID to an identifier of the user's
            // authentication context; for the relay that is the session.
            ("AlternativeUserID", record.session.as_deref()),
            ("UserName", user_name),
            ("UserIsRequestor", Some("true")),
            (
                "NetworkAccessPointID",
                nap.as_ref().map(|n| n.address.as_str()),
            ),
            (
                "NetworkAccessPointTypeCode",
                nap.as_ref().and_then(|n| n.type_code),
            ),
        ],
    );
    match flow {
        Flow::Import => xml.dicom_code("RoleIDCode", dcm::SOURCE_ROLE),
        Flow::Export => xml.dicom_code("RoleIDCode", dcm::DESTINATION_ROLE),
        Flow::None => {}
    }
    match record.actor {
        Actor::User { .. } => {
            let (code, system, text) = SCT_PERSON;
            xml.coded("RoleIDCode", code, system, text);
        }
        Actor::Certificate { .. } | Actor::System { .. } => {
            xml.dicom_code("RoleIDCode", dcm::APPLICATION)
        }
        Actor::Anonymous => {}
    }
    let kind = record.actor.kind();
    xml.coded("RoleIDCode", kind, systems::ACTOR_TYPE, kind);
    xml.end("ActiveParticipant");
}

fn relay_participant(xml: &mut Xml, source: &AuditSource, flow: Flow) {
    xml.start(
        "ActiveParticipant",
        &[
            ("UserID", Some(source.id.as_str())),
            ("UserIsRequestor", Some("false")),
        ],
    );
    match flow {
        Flow::Import => xml.dicom_code("RoleIDCode", dcm::DESTINATION_ROLE),
        Flow::Export => xml.dicom_code("RoleIDCode", dcm::SOURCE_ROLE),
        Flow::None => {}
    }
    xml.dicom_code("RoleIDCode", dcm::APPLICATION);
    xml.end("ActiveParticipant");
}

/// Minimal XML writer for the fixed ATNA structure. Element and attribute names are
/// constants of this module; only values pass through [`push_escaped`].
struct Xml {
    buf: String,
}

impl Xml {
    fn with_capacity(capacity: usize) -> Self {
        Xml {
            buf: String::with_capacity(capacity),
        }
    }

    fn open(&mut self, name: &str, attrs: &[(&str, Option<&str>)]) {
        self.buf.push('<');
        self.buf.push_str(name);
        for (key, value) in attrs {
            if let Some(value) = value {
                self.buf.push(' ');
                self.buf.push_str(key);
                self.buf.push_str("=\"");
                push_escaped(&mut self.buf, value);
                self.buf.push('"');
            }
        }
    }

    fn start(&mut self, name: &str, attrs: &[(&str, Option<&str>)]) {
        self.open(name, attrs);
        self.buf.push('>');
    }

    fn empty(&mut self, name: &str, attrs: &[(&str, Option<&str>)]) {
        self.open(name, attrs);
        self.buf.push_str("/>");
    }

    fn end(&mut self, name: &str) {
        self.buf.push_str("</");
        self.buf.push_str(name);
        self.buf.push('>');
    }

    fn text_element(&mut self, name: &str, text: &str) {
        self.start(name, &[]);
        push_escaped(&mut self.buf, text);
        self.end(name);
    }

    fn coded(&mut self, name: &str, code: &str, system: &str, text: &str) {
        self.empty(
            name,
            &[
                ("csd-code", Some(code)),
                ("codeSystemName", Some(system)),
                ("originalText", Some(text)),
            ],
        );
    }

    fn dicom_code(&mut self, name: &str, code: DicomCode) {
        self.coded(name, code.code, DCM, code.meaning);
    }
}

/// Escapes a value for both attribute (always double-quoted) and text content.
fn push_escaped(buf: &mut String, value: &str) {
    for c in xml_safe(value).chars() {
        match c {
            '&' => buf.push_str("&amp;"),
            '<' => buf.push_str("&lt;"),
            // `>` is only special in `]]>`, but escaping it always is simpler to verify.
            '>' => buf.push_str("&gt;"),
            '"' => buf.push_str("&quot;"),
            '\'' => buf.push_str("&apos;"),
            // Literal whitespace in attributes is normalised to spaces by every XML parser
            // and CR is dropped from text; references survive, and keep the line single.
            '\t' => buf.push_str("&#9;"),
            '\n' => buf.push_str("&#10;"),
            '\r' => buf.push_str("&#13;"),
            _ => buf.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ObjectKind, ObjectRef, Outcome};
    use time::macros::datetime;

    #[test]
    fn escapes_hostile_values_on_one_line() {
        let mut buf = String::new();
        push_escaped(&mut buf, "<a href=\"x\">&'\t\n\r\0</a>");
        assert_eq!(
            buf,
            "&lt;a href=&quot;x&quot;&gt;&amp;&apos;&#9;&#10;&#13;␀&lt;/a&gt;"
        );
    }

    #[test]
    fn login_message_structure() {
        let record = AccessRecord {
            seq: 3,
            at: datetime!(2025-04-01 00:00:00.001 UTC),
            org: Some("1310000001".into()),
            actor: Actor::User {
                login: "sato".into(),
            },
            session: Some("sess-9".into()),
            source: Some("198.51.100.7:40000".into()),
            action: Action::Login,
            objects: vec![ObjectRef::new(ObjectKind::User, "sato")],
            outcome: Outcome::Success,
            status: Some(200),
            bytes: None,
            detail: None,
        };
        let xml = atna_message(&record);
        assert!(!xml.contains('\n'));
        assert!(xml.starts_with(r#"<?xml version="1.0" encoding="UTF-8"?><AuditMessage>"#));
        assert!(xml.contains(
            r#"<EventIdentification EventActionCode="E" EventDateTime="2025-04-01T00:00:00.001Z" EventOutcomeIndicator="0">"#
        ));
        assert!(xml.contains(
            r#"<EventID csd-code="110114" codeSystemName="DCM" originalText="User Authentication"/>"#
        ));
        assert!(xml.contains(
            r#"<EventTypeCode csd-code="110122" codeSystemName="DCM" originalText="Login"/>"#
        ));
        assert!(xml.contains(
            r#"<ActiveParticipant UserID="sato@1310000001" AlternativeUserID="sess-9" UserIsRequestor="true" NetworkAccessPointID="198.51.100.7" NetworkAccessPointTypeCode="2">"#
        ));
        assert!(xml.contains("<EventOutcomeDescription>HTTP 200</EventOutcomeDescription>"));
        assert!(xml.ends_with("</AuditMessage>"));
    }
}
