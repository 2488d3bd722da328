//! FHIR R4 `AuditEvent` resources, streamed as a `collection` Bundle.

use std::borrow::Borrow;
use std::io::{BufWriter, Write};

use serde_json::{json, Map, Value};

use crate::codes::{
    actor_id_system, dcm, object_type_and_role, outcome_indicator, systems, DicomCode, Flow,
    AUDIT_LOG_URI, DCM_SYSTEM,
};
use crate::context::{network_access_point, outcome_description, qualified_actor_id, AuditSource};
use crate::model::{AccessRecord, Action, Actor};
use crate::sanitize::xml_safe;
use crate::timestamp::format_timestamp;
use crate::Error;

const ENTITY_TYPE_SYSTEM: &str = "http://terminology.hl7.org/CodeSystem/audit-entity-type";
const OBJECT_ROLE_SYSTEM: &str = "http://terminology.hl7.org/CodeSystem/object-role";
const LIFECYCLE_SYSTEM: &str = "http://terminology.hl7.org/CodeSystem/dicom-audit-lifecycle";
const SOURCE_TYPE_SYSTEM: &str = "http://terminology.hl7.org/CodeSystem/security-source-type";
const ROLE_TYPE_SYSTEM: &str = "http://terminology.hl7.org/CodeSystem/extra-security-role-type";
const URI_SYSTEM: &str = "urn:ietf:rfc:3986";

/// The FHIR R4 `AuditEvent` for one record, with the default [`AuditSource`].
pub fn fhir_audit_event(record: &AccessRecord) -> Value {
    fhir_audit_event_with(record, &AuditSource::default())
}

/// The FHIR R4 `AuditEvent` for one record; see the crate documentation for the mapping.
///
/// Text from the record goes through [`xml_safe`] (FHIR strings should not carry C0
/// controls), and elements whose text would be empty are left out because FHIR forbids
/// empty strings.
pub fn fhir_audit_event_with(record: &AccessRecord, source: &AuditSource) -> Value {
    let coding = record.action.coding();
    let mut event = Map::new();
    event.insert("resourceType".into(), "AuditEvent".into());
    // The log position is unique, stable and matches FHIR's id syntax ([0-9]{1,20}).
    event.insert("id".into(), record.seq.to_string().into());
    event.insert(
        "type".into(),
        match coding.event_id {
            Some(id) => dicom_coding(id),
            None => action_coding(&record.action),
        },
    );
    let mut subtypes = Vec::with_capacity(2);
    if let Some(event_type) = coding.event_type {
        subtypes.push(dicom_coding(event_type));
    }
    // Always present, so that consumers can filter on the relay's exact action.
    subtypes.push(action_coding(&record.action));
    event.insert("subtype".into(), subtypes.into());
    event.insert("action".into(), coding.action.code().into());
    event.insert("recorded".into(), format_timestamp(record.at).into());
    event.insert(
        "outcome".into(),
        outcome_indicator(&record.action, record.outcome).into(),
    );
    if let Some(desc) = outcome_description(record).as_deref().and_then(text) {
        event.insert("outcomeDesc".into(), desc);
    }
    event.insert(
        "agent".into(),
        json!([
            actor_agent(record, coding.flow),
            relay_agent(source, coding.flow)
        ]),
    );
    event.insert("source".into(), audit_source(source));

    let mut entities: Vec<Value> = record
        .objects
        .iter()
        .map(|object| {
            let ((type_code, type_display), (role_code, role_display)) =
                object_type_and_role(object.kind);
            let mut entity = Map::new();
            entity.insert(
                "what".into(),
                json!({ "identifier": identifier(
                    &format!("{}{}", systems::OBJECT_PREFIX, object.kind.code()),
                    &object.id,
                ) }),
            );
            entity.insert(
                "type".into(),
                coding_value(ENTITY_TYPE_SYSTEM, type_code, type_display),
            );
            entity.insert(
                "role".into(),
                coding_value(OBJECT_ROLE_SYSTEM, role_code, role_display),
            );
            if let Some(lifecycle) = coding.lifecycle {
                entity.insert(
                    "lifecycle".into(),
                    coding_value(LIFECYCLE_SYSTEM, lifecycle.code(), lifecycle.display()),
                );
            }
            Value::Object(entity)
        })
        .collect();
    if record.action == Action::AuditExport {
        let mut entity = json!({
            "what": { "identifier": { "system": URI_SYSTEM, "value": AUDIT_LOG_URI } },
            "type": coding_value(ENTITY_TYPE_SYSTEM, "2", "System Object"),
            "role": coding_value(OBJECT_ROLE_SYSTEM, "13", "Security Resource"),
            "name": "Security Audit Log",
        });
        if let Some(lifecycle) = coding.lifecycle {
            entity["lifecycle"] =
                coding_value(LIFECYCLE_SYSTEM, lifecycle.code(), lifecycle.display());
        }
        entities.push(entity);
    }
    if let Some(session) = &record.session {
        // R4 has no element for the session of an agent; it is recorded as the security
        // resource the actor used.
        entities.push(json!({
            "what": { "identifier": identifier(systems::SESSION, session) },
            "type": coding_value(ENTITY_TYPE_SYSTEM, "2", "System Object"),
            "role": coding_value(OBJECT_ROLE_SYSTEM, "13", "Security Resource"),
            "description": "authenticated session",
        }));
    }
    if !entities.is_empty() {
        event.insert("entity".into(), entities.into());
    }
    Value::Object(event)
}

/// Writes `records` as one FHIR R4 `Bundle` of type `collection` (JSON) with the default
/// [`AuditSource`]; returns the number of entries.
pub fn write_fhir_bundle<I, W>(records: I, out: W) -> Result<u64, Error>
where
    I: IntoIterator,
    I::Item: Borrow<AccessRecord>,
    W: Write,
{
    write_fhir_bundle_with(records, out, &AuditSource::default())
}

/// Writes `records` as one FHIR R4 `Bundle` of type `collection`; returns the number of
/// entries.
///
/// The bundle is written incrementally, one resource at a time, so memory use does not
/// depend on the number of records. With no records the `entry` array is left out, since
/// FHIR JSON does not allow empty arrays. Entries carry no `fullUrl`: a collection does not
/// require one, and the resources have no resolvable address outside the relay.
pub fn write_fhir_bundle_with<I, W>(records: I, out: W, source: &AuditSource) -> Result<u64, Error>
where
    I: IntoIterator,
    I::Item: Borrow<AccessRecord>,
    W: Write,
{
    let mut out = BufWriter::new(out);
    out.write_all(br#"{"resourceType":"Bundle","type":"collection""#)?;
    let mut entries = 0u64;
    for record in records {
        out.write_all(if entries == 0 {
            br#","entry":[{"resource":"#
        } else {
            br#",{"resource":"#
        })?;
        serde_json::to_writer(&mut out, &fhir_audit_event_with(record.borrow(), source))?;
        out.write_all(b"}")?;
        entries += 1;
    }
    if entries > 0 {
        out.write_all(b"]")?;
    }
    out.write_all(b"}\n")?;
    out.flush()?;
    Ok(entries)
}

/// Sanitised, non-empty FHIR string.
fn text(s: &str) -> Option<Value> {
    let safe = xml_safe(s);
    (!safe.is_empty()).then(|| Value::String(safe.into_owned()))
}

/// A FHIR `code` must be non-empty with no leading, trailing or repeated whitespace; the
/// relay's own codes only break that for [`Action::Other`] names, whose whitespace becomes
/// `_` (the display keeps the original).
fn code_text(s: &str) -> String {
    let code: String = xml_safe(s)
        .chars()
        .map(|c| if c.is_whitespace() { '_' } else { c })
        .collect();
    if code.is_empty() {
        "_".to_owned()
    } else {
        code
    }
}

fn coding_value(system: &str, code: &str, display: &str) -> Value {
    json!({ "system": system, "code": code, "display": display })
}

fn dicom_coding(code: DicomCode) -> Value {
    coding_value(DCM_SYSTEM, code.code, code.meaning)
}

fn action_coding(action: &Action) -> Value {
    let mut coding = Map::new();
    coding.insert("system".into(), systems::ACTION.into());
    coding.insert("code".into(), code_text(&action.code()).into());
    let display = match action {
        Action::Other(name) => text(name),
        known => Some(known.label_ja().into()),
    };
    if let Some(display) = display {
        coding.insert("display".into(), display);
    }
    Value::Object(coding)
}

fn identifier(system: &str, value: &str) -> Value {
    let mut id = Map::new();
    id.insert("system".into(), system.into());
    if let Some(value) = text(value) {
        id.insert("value".into(), value);
    }
    Value::Object(id)
}

fn concept(coding: Value) -> Value {
    json!({ "coding": [coding] })
}

fn actor_agent(record: &AccessRecord, flow: Flow) -> Value {
    let mut agent = Map::new();
    let agent_type = match (flow, &record.actor) {
        (Flow::Import, _) => Some(dicom_coding(dcm::SOURCE_ROLE)),
        (Flow::Export, _) => Some(dicom_coding(dcm::DESTINATION_ROLE)),
        (Flow::None, Actor::User { .. }) => {
            Some(coding_value(ROLE_TYPE_SYSTEM, "humanuser", "human user"))
        }
        (Flow::None, Actor::Certificate { .. } | Actor::System { .. }) => {
            Some(dicom_coding(dcm::APPLICATION))
        }
        (Flow::None, Actor::Anonymous) => None,
    };
    if let Some(agent_type) = agent_type {
        agent.insert("type".into(), concept(agent_type));
    }
    agent.insert(
        "role".into(),
        json!([concept(json!({
            "system": systems::ACTOR_TYPE,
            "code": record.actor.kind(),
        }))]),
    );
    let mut who = Map::new();
    if let (Some(system), Some(id)) = (actor_id_system(&record.actor), record.actor.id()) {
        let mut ident = identifier(system, id);
        if let Some(org) = &record.org {
            // The organisation the account or certificate belongs to assigned the id.
            ident["assigner"] = json!({ "identifier": identifier(systems::ORG, org) });
        }
        who.insert("identifier".into(), ident);
    }
    if let Some(display) = text(&qualified_actor_id(record)) {
        who.insert("display".into(), display);
    }
    agent.insert("who".into(), Value::Object(who));
    if let Some(name) = record.actor.device().and_then(text) {
        agent.insert("name".into(), name);
    }
    agent.insert("requestor".into(), true.into());
    if let Some(src) = &record.source {
        let nap = network_access_point(src);
        let mut network = Map::new();
        if let Some(address) = text(&nap.address) {
            network.insert("address".into(), address);
        }
        if let Some(type_code) = nap.type_code {
            network.insert("type".into(), type_code.into());
        }
        if !network.is_empty() {
            agent.insert("network".into(), Value::Object(network));
        }
    }
    Value::Object(agent)
}

fn source_reference(source: &AuditSource) -> Value {
    let mut reference = Map::new();
    reference.insert(
        "identifier".into(),
        identifier(systems::AUDIT_SOURCE, &source.id),
    );
    if let Some(display) = text(&source.id) {
        reference.insert("display".into(), display);
    }
    Value::Object(reference)
}

fn relay_agent(source: &AuditSource, flow: Flow) -> Value {
    let role = match flow {
        Flow::Import => dcm::DESTINATION_ROLE,
        Flow::Export => dcm::SOURCE_ROLE,
        Flow::None => dcm::APPLICATION,
    };
    json!({
        "type": concept(dicom_coding(role)),
        "who": source_reference(source),
        "requestor": false,
    })
}

fn audit_source(source: &AuditSource) -> Value {
    let mut value = Map::new();
    if let Some(site) = source.site.as_deref().and_then(text) {
        value.insert("site".into(), site);
    }
    value.insert("observer".into(), source_reference(source));
    value.insert(
        "type".into(),
        json!([coding_value(SOURCE_TYPE_SYSTEM, "4", "Application Server")]),
    );
    Value::Object(value)
}
