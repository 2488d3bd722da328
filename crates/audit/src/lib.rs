//! Access-log records of Kenshin Relay and the exports customers use to search and keep them.
//!
//! The MHLW 医療情報システムの安全管理に関するガイドライン requires access logs that the
//! data owner can inspect. The service appends an [`AccessRecord`] for every access and
//! administrative act; this crate defines that record, a search [`Filter`], and four export
//! formats, each streaming from any iterator of records (owned or borrowed) into any
//! [`std::io::Write`] with memory use independent of the number of records:
//!
//! | Writer | Format | Use |
//! |---|---|---|
//! | [`write_csv`] | CSV, UTF-8 with BOM, CRLF, RFC 4180 quoting | opening in Excel |
//! | [`write_jsonl`] | JSON Lines, lossless ([`read_jsonl`] reads it back) | archiving, SIEM |
//! | [`write_fhir_bundle`] | FHIR R4 `Bundle` (`collection`) of `AuditEvent` | FHIR audit repositories |
//! | [`write_atna`] | one DICOM/IHE ATNA `AuditMessage` XML document per line | ATNA audit record repositories |
//!
//! Single records: [`fhir_audit_event`] and [`atna_message`]. The `_with` variants take the
//! [`AuditSource`] identity of the reporting relay instance.
//!
//! Records never contain examinee personal data (the service guarantees that), but every
//! text field is still treated as hostile input by every exporter.
//!
//! # Timestamps
//!
//! All formats write [`format_timestamp`]: UTC, milliseconds, `Z`, e.g.
//! `2025-04-01T09:30:00.250Z` — at once a FHIR `instant` and an `xs:dateTime`.
//!
//! # CSV
//!
//! Columns ([`CSV_HEADER`], header `日本語/english_key`):
//! `連番/seq`, `日時(UTC)/time`, `組織コード/org`, `主体種別/actor_type`
//! (`user`/`certificate`/`system`/`anonymous`), `主体ID/actor_id` (login, certificate serial
//! or task), `端末名/device`, `セッションID/session`, `接続元/source`, `操作/action` (code),
//! `操作名/action_label` (Japanese), `結果/outcome` (code), `結果名/outcome_label`
//! (Japanese), `HTTPステータス/status`, `転送バイト数/bytes`, `対象種別/object_kinds`,
//! `対象ID/object_ids`, `備考/detail`. Absent values are empty cells.
//!
//! * A record's objects are listed one per line inside the two object cells, in the same
//!   order; inside an id, `\`, LF and CR are written `\\`, `\n`, `\r`
//!   ([`decode_objects`] reverses it).
//! * Formula guard (on by default, [`CsvOptions`]): a cell starting with `= + - @`, tab,
//!   CR, their full-width forms or `'` gets a leading `'`, so a spreadsheet shows it as
//!   text instead of evaluating it; [`unguard_cell`] removes exactly that apostrophe. With
//!   the guard off, cells read back byte-identical.
//!
//! # JSON Lines
//!
//! One object per line, keys always present and in this order (absent values are `null`,
//! no objects is `[]`); later versions may add keys but never rename or retype these:
//!
//! ```json
//! {"seq":42,"at":"2025-04-01T09:30:00.250Z","org":"1310000001",
//!  "actor":{"type":"user","login":"sato"},
//!  "session":"…","source":"203.0.113.9:51234","action":"delivery_download",
//!  "objects":[{"kind":"delivery","id":"D1"}],"outcome":"success",
//!  "status":200,"bytes":1048576,"detail":null}
//! ```
//!
//! (shown wrapped; each record is one physical line). `actor` is one of
//! `{"type":"user","login"}`, `{"type":"certificate","serial","device"}`,
//! `{"type":"system","task"}`, `{"type":"anonymous"}`. `action` is an [`Action::code`]:
//! a snake_case name or `other:<name>`. `outcome` is `success`, `denied`, `not_found` or
//! `failed`; object kinds are `submission`, `delivery`, `certificate`, `user`, `map`,
//! `report`, `ledger`.
//!
//! # Mapping to DICOM / IHE ATNA and FHIR
//!
//! Both standard views use the same classification ([`Action::coding`]). Event IDs and
//! types are DICOM codes (scheme `DCM`, FHIR system
//! `http://dicom.nema.org/resources/ontology/DCM`); the action letter is ATNA
//! `EventActionCode` and FHIR `AuditEvent.action`; the lifecycle is ATNA
//! `ParticipantObjectDataLifeCycle` and FHIR `entity.lifecycle` (`dicom-audit-lifecycle`) on
//! every object of the record.
//!
//! | Action | EventID / `type` | EventTypeCode / `subtype` | C/R/U/D/E | Lifecycle | Data flow |
//! |---|---|---|---|---|---|
//! | `login` | 110114 User Authentication | 110122 Login | E | – | – |
//! | `login_failed` | 110114 User Authentication | 110122 Login (outcome ≥ 4) | E | – | – |
//! | `logout` | 110114 User Authentication | 110123 Logout | E | – | – |
//! | `submission_create` | 110107 Import | – | C | 2 Import / Copy | actor → relay |
//! | `submission_view` | 110110 Patient Record | – | R | 6 Access / Use | – |
//! | `submission_withdraw` | 110110 Patient Record | – | D | 14 Logical deletion | – |
//! | `delivery_list` | 110112 Query | – | E | – | – |
//! | `delivery_view` | 110110 Patient Record | – | R | 6 Access / Use | – |
//! | `delivery_download` | 110106 Export | – | R | 10 Export | relay → actor |
//! | `delivery_confirm` | 110110 Patient Record | – | U | 12 Receipt of disclosure | – |
//! | `report_view` | 110110 Patient Record | – | R | 6 Access / Use | – |
//! | `map_upload` | 110107 Import | – | C | 2 Import / Copy | actor → relay |
//! | `map_activate` | 110113 Security Alert | 110131 Software Configuration | E | – | – |
//! | `org_update` | 110113 Security Alert | 110131 Software Configuration | E | – | – |
//! | `ledger_read` | 110101 Audit Log Used | – | R | 6 Access / Use | – |
//! | `certificate_issue` | 110113 Security Alert | 110137 User security Attributes Changed | E | 1 Origination / Creation | – |
//! | `certificate_revoke` | 110113 Security Alert | 110137 User security Attributes Changed | E | – | – |
//! | `user_create` | 110113 Security Alert | 110137 User security Attributes Changed | E | 1 Origination / Creation | – |
//! | `user_disable` | 110113 Security Alert | 110137 User security Attributes Changed | E | 3 Amendment | – |
//! | `user_enable` | 110113 Security Alert | 110137 User security Attributes Changed | E | 3 Amendment | – |
//! | `totp_reset` | 110113 Security Alert | 110137 User security Attributes Changed | E | 3 Amendment | – |
//! | `retention_expire` | 110110 Patient Record | – | D | 15 Permanent erasure | – |
//! | `shred` | 110110 Patient Record | – | D | 15 Permanent erasure | – |
//! | `conversion` | 110110 Patient Record | – | C | 5 Translation | – |
//! | `security_alert` | 110113 Security Alert | – | E | – | – |
//! | `audit_export` | 110101 Audit Log Used | – | R | 10 Export | – |
//! | `access_log_expire` | 110113 Security Alert | – | E | 15 Permanent erasure | – |
//! | `other:<name>` | `other:<name>` in `urn:kenshin-relay:audit-action` | – | E | – | – |
//!
//! In addition every message carries the relay's own action code (system
//! `urn:kenshin-relay:audit-action`, display in Japanese) as an extra ATNA `EventTypeCode` /
//! FHIR `subtype`, so a repository can distinguish e.g. `submission_view` from
//! `delivery_view`.
//!
//! Choices worth knowing:
//!
//! * **Permanent erasure** (`shred`, `retention_expire`): 110105 "DICOM Study Deleted" is
//!   defined for DICOM studies only (PS3.15 A.5.3.8 requires Study Instance UIDs), and
//!   neither DICOM nor IHE defines a separate erasure event ID. The records are therefore
//!   Patient Record deletes (D), the pattern IHE uses for document deletion, and the
//!   permanence is stated by lifecycle 15 "Permanent erasure / Physical destruction",
//!   which is exactly what that code is for. A withdrawal is only a logical deletion (14).
//! * **Account and certificate changes** are Security Alerts, whose EventActionCode PS3.15
//!   A.5.3.11 fixes to E; the subtype and lifecycle say what changed.
//! * **Outcome** ([`outcome_indicator`]): success 0; denied / not found 4 (minor failure:
//!   the relay refused as designed); failed 8 (serious failure). 12 is never claimed.
//!   `login_failed` reports at least 4 even if stored as a success.
//! * **Patient participant**: PS3.15's Patient Record and Import/Export messages list a
//!   patient participant object; it is deliberately absent, as the log holds no examinee
//!   identifiers. The checkup files are identified by the relay's object ids instead.
//! * **Network transfers**: uploads and downloads happen between network endpoints, not on
//!   media, so the actor and the relay carry Source/Destination Role IDs (110153/110152) and
//!   network access points (PS3.15 A.5.2.7) instead of a media participant.
//!
//! ## ATNA message
//!
//! [`atna_message`] returns one complete document valid against the DICOM audit message
//! schema (`AuditMessage` root, no namespace):
//!
//! * `EventIdentification`: `EventActionCode`, `EventDateTime`, `EventOutcomeIndicator`;
//!   `EventID`; `EventTypeCode`s as above; `EventOutcomeDescription` = `HTTP <status>`,
//!   `<n> bytes` and the detail, joined by `; ` (when any is present).
//! * `ActiveParticipant` for the actor, `UserIsRequestor="true"`: `UserID` = login /
//!   certificate serial / task (`anonymous`), suffixed `@<org>` when the organisation is
//!   known (PS3.15 A.5.2.1 `loginName@domain-name`); `AlternativeUserID` = session;
//!   `UserName` = device of a certificate; `NetworkAccessPointID` = IP address of the
//!   source with `NetworkAccessPointTypeCode="2"` (or the source text without a type code
//!   if it is not an address); `RoleIDCode`s: the source/destination role for imports and
//!   exports, SNOMED CT 125676002 Person for users or DCM 110150 Application for
//!   certificates and tasks, and the actor kind in `urn:kenshin-relay:actor-type`.
//! * `ActiveParticipant` for the relay, `UserIsRequestor="false"`, `UserID` =
//!   [`AuditSource::id`], roles: destination (imports) / source (exports) and 110150.
//! * `AuditSourceIdentification`: `AuditSourceID` and `AuditEnterpriseSiteID` from
//!   [`AuditSource`], `AuditSourceTypeCode` 4 (application server).
//! * One `ParticipantObjectIdentification` per object: `ParticipantObjectID` = id,
//!   `ParticipantObjectTypeCode`/`Role`: 2/3 System Object/Report for submissions,
//!   deliveries and reports; 2/5 Master file for maps; 2/13 Security Resource for
//!   certificates and the ledger; 1/11 Person/Security User Entity for user accounts;
//!   `ParticipantObjectIDTypeCode` = object kind in `urn:kenshin-relay:object-kind`;
//!   `ParticipantObjectName` = `<kind>/<id>`. `audit_export` adds the audit log itself (ID
//!   type 12 URI, `urn:kenshin-relay:audit-log`, name "Security Audit Log") as PS3.15
//!   A.5.3.2 asks.
//!
//! **Framing of [`write_atna`].** Several XML documents in one file are not well-formed
//! XML, and a wrapper element would make the messages no longer schema-valid
//! `AuditMessage` documents. So `write_atna` writes *one complete document per line*: each
//! message is exactly [`atna_message`]'s output followed by `\n`. The documents contain no
//! raw line break (tab, LF and CR in values are written as `&#9;`, `&#10;`, `&#13;`), so
//! splitting at `\n` is exact, and each line is the payload an ATNA syslog transport
//! (RFC 5424 over RFC 5425 TLS) carries for one event.
//!
//! ## FHIR AuditEvent
//!
//! [`fhir_audit_event`] builds: `id` = seq; `type`, `subtype`, `action`, `outcome` as
//! above; `recorded` = timestamp; `outcomeDesc` as ATNA's description; `agent[0]` = the
//! actor (`type`: source/destination role for imports/exports, else `humanuser`
//! (`extra-security-role-type`) for users and DCM 110150 for certificates and tasks; `role`:
//! actor kind; `who.identifier` in `urn:kenshin-relay:login` / `:certificate-serial` /
//! `:task` with the organisation as `assigner`; `who.display` like ATNA's `UserID`;
//! `name` = device; `requestor: true`; `network.address`/`type` as ATNA); `agent[1]` = the
//! relay (`requestor: false`); `source.observer` = the relay, `source.type` 4 Application
//! Server; one `entity` per object (`what.identifier` in
//! `urn:kenshin-relay:object:<kind>`, `type`/`role` as ATNA, `lifecycle`), plus the audit
//! log for `audit_export` and the session (R4 has no agent element for it) as a Security
//! Resource entity. [`write_fhir_bundle`] wraps them in a `collection` Bundle without
//! `fullUrl`s, leaving out `entry` when there are no records.
//!
//! # Text that XML cannot carry
//!
//! XML 1.0 cannot represent most C0 control characters or U+FFFE/U+FFFF, not even as
//! character references, so ATNA (and, for consistency and because FHIR strings should not
//! contain them, FHIR) replace them deterministically ([`xml_safe`]): U+0000–U+001F except
//! tab/LF/CR become the visible Control Pictures U+2400–U+241F (`\0` → `␀`), and
//! U+FFFE/U+FFFF become U+FFFD. Empty FHIR strings are omitted (FHIR forbids them); FHIR
//! `code`s built from an `other:` action name have whitespace replaced by `_`. CSV and JSON
//! Lines are lossless.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod atna;
pub mod codes;
mod context;
mod csv_export;
mod error;
mod fhir;
mod filter;
mod jsonl;
mod model;
mod sanitize;
mod timestamp;

pub use atna::{atna_message, atna_message_with, write_atna, write_atna_with};
pub use codes::{outcome_indicator, DicomCode, EventAction, EventCoding, Flow, Lifecycle};
pub use context::AuditSource;
pub use csv_export::{
    csv_cells, decode_objects, guard_cell, unguard_cell, write_csv, write_csv_with, CsvOptions,
    CSV_HEADER,
};
pub use error::Error;
pub use fhir::{
    fhir_audit_event, fhir_audit_event_with, write_fhir_bundle, write_fhir_bundle_with,
};
pub use filter::{ActorFilter, Filter, ObjectFilter};
pub use jsonl::{read_jsonl, write_jsonl};
pub use model::{AccessRecord, Action, Actor, ObjectKind, ObjectRef, Outcome};
pub use sanitize::{is_xml_char, xml_safe};
pub use timestamp::{format_timestamp, parse_timestamp};
