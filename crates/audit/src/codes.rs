//! How each [`Action`] is classified in the DICOM/IHE audit vocabulary. ATNA and FHIR use
//! the same table so that both views of one record tell the same story; the table is
//! reproduced in the crate documentation.

use crate::model::{Action, Actor, ObjectKind, Outcome};

/// A code from the DICOM Controlled Terminology (PS3.16, coding scheme `DCM`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DicomCode {
    /// Code value, e.g. `110106`.
    pub code: &'static str,
    /// Code meaning, e.g. `Export`.
    pub meaning: &'static str,
}

impl DicomCode {
    const fn new(code: &'static str, meaning: &'static str) -> Self {
        DicomCode { code, meaning }
    }
}

/// DICOM coding scheme designator, used as ATNA `codeSystemName`.
pub const DCM: &str = "DCM";
/// FHIR system URI of the DICOM Controlled Terminology.
pub const DCM_SYSTEM: &str = "http://dicom.nema.org/resources/ontology/DCM";

/// Audit event IDs (DICOM CID 400) and types (CID 401, 403) used by this crate.
pub mod dcm {
    use super::DicomCode;

    /// The access log itself (or the ledger) was read.
    pub const AUDIT_LOG_USED: DicomCode = DicomCode::new("110101", "Audit Log Used");
    /// Data left the relay's control.
    pub const EXPORT: DicomCode = DicomCode::new("110106", "Export");
    /// Data entered the relay's control.
    pub const IMPORT: DicomCode = DicomCode::new("110107", "Import");
    /// A patient record (here: a checkup file) was created, read, updated or deleted.
    pub const PATIENT_RECORD: DicomCode = DicomCode::new("110110", "Patient Record");
    /// A query / listing.
    pub const QUERY: DicomCode = DicomCode::new("110112", "Query");
    /// Security-relevant event.
    pub const SECURITY_ALERT: DicomCode = DicomCode::new("110113", "Security Alert");
    /// Sign-in or sign-out.
    pub const USER_AUTHENTICATION: DicomCode = DicomCode::new("110114", "User Authentication");
    /// Event type: login attempt.
    pub const LOGIN: DicomCode = DicomCode::new("110122", "Login");
    /// Event type: logout.
    pub const LOGOUT: DicomCode = DicomCode::new("110123", "Logout");
    /// Security alert type: software configuration changed.
    pub const SOFTWARE_CONFIGURATION: DicomCode =
        DicomCode::new("110131", "Software Configuration");
    /// Security alert type: a user's security attributes changed.
    pub const USER_SECURITY_ATTRIBUTES_CHANGED: DicomCode =
        DicomCode::new("110137", "User security Attributes Changed");
    /// Participant role: an application / process.
    pub const APPLICATION: DicomCode = DicomCode::new("110150", "Application");
    /// Participant role: where data went.
    pub const DESTINATION_ROLE: DicomCode = DicomCode::new("110152", "Destination Role ID");
    /// Participant role: where data came from.
    pub const SOURCE_ROLE: DicomCode = DicomCode::new("110153", "Source Role ID");
}

/// Private code systems of the relay. They are URNs so that the same string serves as ATNA
/// `codeSystemName` and FHIR `Coding.system`, and they never change once published.
pub mod systems {
    /// Action codes ([`Action::code`](crate::Action::code)).
    pub const ACTION: &str = "urn:kenshin-relay:audit-action";
    /// Actor kinds ([`Actor::kind`](crate::Actor::kind)).
    pub const ACTOR_TYPE: &str = "urn:kenshin-relay:actor-type";
    /// Object kinds ([`ObjectKind::code`](crate::ObjectKind::code)), used as the type of an
    /// object identifier.
    pub const OBJECT_KIND: &str = "urn:kenshin-relay:object-kind";
    /// Identifier system prefix for objects: `urn:kenshin-relay:object:<kind>`.
    pub const OBJECT_PREFIX: &str = "urn:kenshin-relay:object:";
    /// Login names.
    pub const LOGIN: &str = "urn:kenshin-relay:login";
    /// Client certificate serial numbers.
    pub const CERTIFICATE_SERIAL: &str = "urn:kenshin-relay:certificate-serial";
    /// Background task names.
    pub const TASK: &str = "urn:kenshin-relay:task";
    /// Organisation codes.
    pub const ORG: &str = "urn:kenshin-relay:org";
    /// Session ids.
    pub const SESSION: &str = "urn:kenshin-relay:session";
    /// Audit source (relay instance) ids.
    pub const AUDIT_SOURCE: &str = "urn:kenshin-relay:audit-source";
}

/// DICOM `EventActionCode` / FHIR `AuditEvent.action`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventAction {
    /// `C`
    Create,
    /// `R`
    Read,
    /// `U`
    Update,
    /// `D`
    Delete,
    /// `E`
    Execute,
}

impl EventAction {
    /// The one-letter code.
    pub fn code(self) -> &'static str {
        match self {
            EventAction::Create => "C",
            EventAction::Read => "R",
            EventAction::Update => "U",
            EventAction::Delete => "D",
            EventAction::Execute => "E",
        }
    }
}

/// Which way data moved relative to the relay, deciding the DICOM source/destination roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Flow {
    /// No data transfer in or out.
    None,
    /// The actor sent data to the relay (actor = source, relay = destination).
    Import,
    /// The relay sent data to the actor (relay = source, actor = destination).
    Export,
}

/// `ParticipantObjectDataLifeCycle` (RFC 3881 / DICOM) = FHIR `dicom-audit-lifecycle`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lifecycle {
    /// 1
    Origination,
    /// 2
    ImportCopy,
    /// 3
    Amendment,
    /// 5
    Translation,
    /// 6
    AccessUse,
    /// 10
    Export,
    /// 12
    ReceiptOfDisclosure,
    /// 14
    LogicalDeletion,
    /// 15
    PermanentErasure,
}

impl Lifecycle {
    /// Numeric code.
    pub fn code(self) -> &'static str {
        match self {
            Lifecycle::Origination => "1",
            Lifecycle::ImportCopy => "2",
            Lifecycle::Amendment => "3",
            Lifecycle::Translation => "5",
            Lifecycle::AccessUse => "6",
            Lifecycle::Export => "10",
            Lifecycle::ReceiptOfDisclosure => "12",
            Lifecycle::LogicalDeletion => "14",
            Lifecycle::PermanentErasure => "15",
        }
    }

    /// Display text as in the FHIR R4 `dicom-audit-lifecycle` code system.
    pub fn display(self) -> &'static str {
        match self {
            Lifecycle::Origination => "Origination / Creation",
            Lifecycle::ImportCopy => "Import / Copy",
            Lifecycle::Amendment => "Amendment",
            Lifecycle::Translation => "Translation",
            Lifecycle::AccessUse => "Access / Use",
            Lifecycle::Export => "Export",
            Lifecycle::ReceiptOfDisclosure => "Receipt of disclosure",
            Lifecycle::LogicalDeletion => "Logical deletion",
            Lifecycle::PermanentErasure => "Permanent erasure / Physical destruction",
        }
    }
}

/// The audit classification of one action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EventCoding {
    /// DICOM event ID; `None` for [`Action::Other`], whose event ID is its own action code.
    pub event_id: Option<DicomCode>,
    /// DICOM event type, where the standard defines one for the action.
    pub event_type: Option<DicomCode>,
    /// C/R/U/D/E.
    pub action: EventAction,
    /// Lifecycle stage of the objects, where meaningful.
    pub lifecycle: Option<Lifecycle>,
    /// Direction of data transfer.
    pub flow: Flow,
}

impl Action {
    /// The audit classification used by the ATNA and FHIR exports.
    pub fn coding(&self) -> EventCoding {
        use dcm::*;
        use EventAction::*;
        let (event_id, event_type, action, lifecycle, flow) = match self {
            Action::Login | Action::LoginFailed => {
                (USER_AUTHENTICATION, Some(LOGIN), Execute, None, Flow::None)
            }
            Action::Logout => (USER_AUTHENTICATION, Some(LOGOUT), Execute, None, Flow::None),
            Action::SubmissionCreate | Action::MapUpload => (
                IMPORT,
                None,
                Create,
                Some(Lifecycle::ImportCopy),
                Flow::Import,
            ),
            Action::SubmissionView | Action::DeliveryView | Action::ReportView => (
                PATIENT_RECORD,
                None,
                Read,
                Some(Lifecycle::AccessUse),
                Flow::None,
            ),
            Action::SubmissionWithdraw => (
                PATIENT_RECORD,
                None,
                Delete,
                Some(Lifecycle::LogicalDeletion),
                Flow::None,
            ),
            Action::DeliveryList => (QUERY, None, Execute, None, Flow::None),
            Action::DeliveryDownload => (EXPORT, None, Read, Some(Lifecycle::Export), Flow::Export),
            Action::DeliveryConfirm => (
                PATIENT_RECORD,
                None,
                Update,
                Some(Lifecycle::ReceiptOfDisclosure),
                Flow::None,
            ),
            Action::MapActivate | Action::OrgUpdate => (
                SECURITY_ALERT,
                Some(SOFTWARE_CONFIGURATION),
                Execute,
                None,
                Flow::None,
            ),
            Action::LedgerRead => (
                AUDIT_LOG_USED,
                None,
                Read,
                Some(Lifecycle::AccessUse),
                Flow::None,
            ),
            Action::CertificateIssue | Action::UserCreate => (
                SECURITY_ALERT,
                Some(USER_SECURITY_ATTRIBUTES_CHANGED),
                Execute,
                Some(Lifecycle::Origination),
                Flow::None,
            ),
            Action::CertificateRevoke => (
                SECURITY_ALERT,
                Some(USER_SECURITY_ATTRIBUTES_CHANGED),
                Execute,
                None,
                Flow::None,
            ),
            Action::UserDisable | Action::UserEnable | Action::TotpReset => (
                SECURITY_ALERT,
                Some(USER_SECURITY_ATTRIBUTES_CHANGED),
                Execute,
                Some(Lifecycle::Amendment),
                Flow::None,
            ),
            Action::RetentionExpire | Action::Shred => (
                PATIENT_RECORD,
                None,
                Delete,
                Some(Lifecycle::PermanentErasure),
                Flow::None,
            ),
            Action::Conversion => (
                PATIENT_RECORD,
                None,
                Create,
                Some(Lifecycle::Translation),
                Flow::None,
            ),
            Action::SecurityAlert => (SECURITY_ALERT, None, Execute, None, Flow::None),
            Action::AuditExport => (
                AUDIT_LOG_USED,
                None,
                Read,
                Some(Lifecycle::Export),
                Flow::None,
            ),
            // Audit Log Used is fixed to R (PS3.15 A.5.3.1), so removing the log's own
            // expired entries is reported as a Security Alert with the erasure lifecycle.
            Action::AccessLogExpire => (
                SECURITY_ALERT,
                None,
                Execute,
                Some(Lifecycle::PermanentErasure),
                Flow::None,
            ),
            Action::Other(_) => {
                return EventCoding {
                    event_id: None,
                    event_type: None,
                    action: Execute,
                    lifecycle: None,
                    flow: Flow::None,
                }
            }
        };
        EventCoding {
            event_id: Some(event_id),
            event_type,
            action,
            lifecycle,
            flow,
        }
    }
}

/// `EventOutcomeIndicator` / FHIR `AuditEvent.outcome`.
///
/// Denied and not-found requests are minor failures (the relay worked as designed and
/// refused), errors are serious failures; 12 (major failure, application unavailable) is
/// never claimed because a record that could be written proves the relay was running. A
/// [`Action::LoginFailed`] record is a failure by definition, so it reports at least 4 even if
/// the service stored it with [`Outcome::Success`].
pub fn outcome_indicator(action: &Action, outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Success if *action == Action::LoginFailed => "4",
        Outcome::Success => "0",
        Outcome::Denied | Outcome::NotFound => "4",
        Outcome::Failed => "8",
    }
}

/// `ParticipantObjectTypeCode` and `ParticipantObjectTypeCodeRole` (with display) for an
/// object kind, shared by ATNA and FHIR (`audit-entity-type` / `object-role`).
pub(crate) fn object_type_and_role(
    kind: ObjectKind,
) -> ((&'static str, &'static str), (&'static str, &'static str)) {
    const PERSON: (&str, &str) = ("1", "Person");
    const SYSTEM_OBJECT: (&str, &str) = ("2", "System Object");
    match kind {
        // Checkup files are reports about a person; DICOM uses 3 = Report for studies too.
        ObjectKind::Submission | ObjectKind::Delivery | ObjectKind::Report => {
            (SYSTEM_OBJECT, ("3", "Report"))
        }
        ObjectKind::Map => (SYSTEM_OBJECT, ("5", "Master file")),
        ObjectKind::Certificate | ObjectKind::Ledger => {
            (SYSTEM_OBJECT, ("13", "Security Resource"))
        }
        ObjectKind::User => (PERSON, ("11", "Security User Entity")),
    }
}

/// Identifier system of an actor's primary id.
pub(crate) fn actor_id_system(actor: &Actor) -> Option<&'static str> {
    match actor {
        Actor::User { .. } => Some(systems::LOGIN),
        Actor::Certificate { .. } => Some(systems::CERTIFICATE_SERIAL),
        Actor::System { .. } => Some(systems::TASK),
        Actor::Anonymous => None,
    }
}

/// Id of the audit log as a participant object of [`Action::AuditExport`]; DICOM's Audit
/// Log Used message wants the log identified by URI.
pub const AUDIT_LOG_URI: &str = "urn:kenshin-relay:audit-log";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_has_a_coding_consistent_with_dicom_rules() {
        for action in Action::KNOWN {
            let c = action.coding();
            let id = c.event_id.expect("known actions have a DICOM event id");
            // PS3.15 A.5.3: fixed EventActionCodes per message type.
            let required = match id.code {
                "110114" | "110113" | "110112" => Some(EventAction::Execute),
                "110106" | "110101" => Some(EventAction::Read),
                "110107" => Some(EventAction::Create),
                _ => None,
            };
            if let Some(required) = required {
                assert_eq!(c.action, required, "{action}");
            }
            // User Authentication requires a Login/Logout type.
            if id.code == "110114" {
                assert!(c.event_type.is_some(), "{action}");
            }
        }
    }

    #[test]
    fn erasure_is_a_delete_with_permanent_erasure_lifecycle() {
        for action in [Action::Shred, Action::RetentionExpire] {
            let c = action.coding();
            assert_eq!(c.action, EventAction::Delete);
            assert_eq!(c.lifecycle, Some(Lifecycle::PermanentErasure));
        }
    }

    #[test]
    fn failed_login_is_never_reported_as_success() {
        assert_eq!(
            outcome_indicator(&Action::LoginFailed, Outcome::Success),
            "4"
        );
        assert_eq!(outcome_indicator(&Action::Login, Outcome::Success), "0");
        assert_eq!(outcome_indicator(&Action::Login, Outcome::Failed), "8");
    }
}
