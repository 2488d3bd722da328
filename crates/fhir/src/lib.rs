//! Checkup results as FHIR R4 document Bundles after the 健診結果報告書 HL7 FHIR 記述仕様 (the
//! eCheckup IG of JAMI and HL7 Japan, used with the 電子カルテ情報共有サービス / JP-CLINS), one
//! Bundle per examinee, streamed as NDJSON.
//!
//! [`bundle`] turns one [`CheckupRecord`](kenshin_profile::CheckupRecord) into a `document`
//! Bundle; [`NdjsonWriter`] writes one such Bundle per line as records come, so that memory does
//! not grow with their number. [`ReportingContext`] says who reports and when.
//!
//! # Why NDJSON
//!
//! One Bundle per line is the FHIR Bulk Data convention (`application/fhir+ndjson`): it is
//! written and read record by record, needs no index or central directory (a ZIP of JSON files
//! needs both, and its directory comes last), and it is what FHIR bulk-import tools read.
//!
//! # The IG, pinned
//!
//! Facts (canonical URLs, code systems, codes, identifier systems, structure) are taken from
//! the public repository `jami-fhir-jp-wg/eCheckupReport`; no text or code of it is copied. Its
//! content is © 日本HL7協会・日本医療情報学会 under **CC BY-ND 4.0** (the copyright in its
//! `sushi-config.yaml`; the repository has no separate licence file). The repository's
//! `sushi-config.yaml` at commit `0769075feb0ffbbc9fab3a9196a1f60de9855430` declares version
//! `1.x.x-temp` of 2025-09-26 (FHIR 4.0.1, JP Core `1.1.2-clins`, jpfhir-terminology `2.0.0`);
//! the latest release in its `input/pagecontent/history.md` (commit
//! `59cc256233619dc0535bac7338eb5cbf55abfd64`) is **Ver1.3.1 (2024-11-18)**, which is the
//! version this crate follows. The files the facts come from, at the commits read:
//!
//! | fact | file @ commit |
//! |---|---|
//! | Composition: type `53576-5`, identifier, sections `01011`/`01012`/`01990`, author, event | `input/fsh/profiles/JP_Composition_eCheckupGeneral.fsh` @ `676e6ca4a11fd302ffc2cac2b332bc23549c875c` (profile dated 2024-11-10) |
//! | code systems of 報告区分 (`urn:oid:1.2.392.200119.6.1001`, since 1.2.1) and 健診プログラムサービス (`urn:oid:1.2.392.200119.6.1002`), section-code, version extension | `input/fsh/aliases-eCheckup.fsh` @ `0af5e1efdb51a9435bc5396459b0f1dc970104b2` |
//! | category `10`, event `010`, sections `01011`/`01012` in a 特定健診 example | `input/fsh/Instances/Inline-Instance-for-GOFSH-GENERATED-ID-0-1-Composition.fsh` @ `0adcb91778d20663fd126ce17ad9b14a51eab789` |
//! | Bundle: profile, `identifier.system` and value `<医療機関番号>^<report id>`, entry slices | `input/fsh/profiles/JP_Bundle_eCheckupGeneral.fsh` @ `07e2fb47ecd245423346c9da3d79610d8d3b05fc` |
//! | Observation: code systems `urn:oid:1.2.392.200119.6.1005` / JLAC10 `urn:oid:1.2.392.200119.4.504`, `dataAbsentReason` `not-performed` (未実施) / `error` (測定不能), interpretation `HX`/`LX` for the input range, method `urn:oid:1.2.392.200119.6.1007`, `status` fixed `final` | `input/fsh/profiles/JP_Observation_eCheckupGeneral.fsh` @ `92bf78db07048e336d98b7f33833a61c9c195abb` |
//! | `valueDateTime` allowed (Ver1.3.0) | `input/pagecontent/history.md` @ `59cc256233619dc0535bac7338eb5cbf55abfd64` |
//! | Organization: `insurance-medical-institution-no`, type `doc-org`/`exec-org`, name required | `input/fsh/profiles/JP_Organization_eCheckupGeneral.fsh` @ `0af5e1efdb51a9435bc5396459b0f1dc970104b2`; type `prov` as well in `input/fsh/Instances/Instance-for-Organization.fsh` @ `3bbe2c2d289f71b386ca19f4b6c8e8019c57f105` |
//! | Patient: profile, `JP_Insurance_memberID`, no full-width space in names | `input/fsh/profiles/JP_Patient_eCS_eCheckupGeneral.fsh` @ `0af5e1efdb51a9435bc5396459b0f1dc970104b2` |
//! | Coverage (受診券): type `urn:oid:1.2.392.200119.6.208#1`, `subscriberId`, payor | `input/fsh/profiles/JP_Coverage_eCheckupGeneral.fsh` @ `06ad4ac232100b9db6a7e2dd36845f9cb8c24ce2` |
//! | insurer Organization: `urn:oid:1.2.392.100495.20.3.61`, type `ins` | `input/fsh/profiles/JP_Organization_eCS_coveragePayer.fsh` @ `0c11bcbc8bf7667f48e3f9e66f0fa69d481f2ac6` |
//! | Encounter: class `encounter-category#checkup`, status `finished` | `input/fsh/profiles/JP_Encounter_eCheckupGeneral.fsh` @ `010e50167fd73e2b7f2b189d8166ff100d32918f` |
//! | shape of a whole example Bundle | `ExampleJson/Bundle-Bundle-eCheckupReport-Sample-01.json` @ `40948393b80aa54ea18d704868bf35b9d218b4de` |
//!
//! The constants are in [`ig`]; `tests/ig_facts.json` lists, per resource type, the profile
//! and code systems of the IG's examples with their source, and a test checks the Bundles
//! against it.
//!
//! # Mapping
//!
//! One Bundle per record: Composition (first), Patient, Practitioner (the doctor named by item
//! `9N516000000000049`, else [`ReportingContext::reporter_name`]), the 健診機関's Organization
//! (number and name from the context, the record's 健診機関番号 when the context has none),
//! Encounter (the 健診実施日), the insurer's Organization, a Coverage for the 受診券 when the
//! record has a 受診券整理番号, and one Observation per item value. The Patient carries the
//! 被保険者個人識別子 `<保険者番号>:<記号>:<番号>:<枝番>` (white space removed from 記号 and
//! 番号, a 6-digit 国保 number written with two leading zeros), assigned by the insurer's
//! Organization; names lose the full-width space the IG forbids. Composition sections:
//! `01011` for 特定健診 items and the Coverage, `01012` for the 特定健診 質問票, `01990` for
//! items no 特定健診 programme uses.
//!
//! | record | FHIR |
//! |---|---|
//! | `Value::Number` | `valueQuantity` with the profile's UCUM code (`system` `http://unitsofmeasure.org`) and display unit |
//! | `Value::Code` | `valueCodeableConcept`, system `urn:oid:<the item's value-set OID>`, display the standard term; ordinal (CO) items carry the `ordinalValue` extension, as the IG's example |
//! | `Value::Text` / `Value::Date` | `valueString` / `valueDateTime` (`YYYY-MM-DD`) |
//! | `Value::NotPerformed` (未実施) | no value, no method; `dataAbsentReason` `data-absent-reason#not-performed` |
//! | `Value::Unmeasurable` (測定不能) | no value; `dataAbsentReason` `data-absent-reason#error` |
//! | `Value::Invalid` | left out, as in the MHLW archive (the conversion report lists it) |
//! | `RangeFlag::High` / `Low` | `interpretation` `v3-ObservationInterpretation#HX` / `#LX`: the flag is about the item's *input* range (入力範囲), for which the IG names HX (入力上限以上) and LX (入力下限以下), keeping H/L for the reference range |
//! | item code | `Observation.code` in `urn:oid:1.2.392.200119.6.1005`, and in JLAC10 `urn:oid:1.2.392.200119.4.504` when [`ReportingContext::jlac10`] names the item's JLAC10 code (profiles have no JLAC10 column) |
//!
//! `Observation.status` stays `final` for 未実施 and 測定不能: the profile fixes it so, and the
//! warning-level invariant that asks for `cancelled` (emc-obs-3) is not applied by it.
//!
//! # Where this is weaker than the IG
//!
//! - Series groups (一連検査グループ) are written as separate Observations, not as a grouping
//!   `JP_ObservationGroup_eCheckupGeneral` with `hasMember`; 所見 items are separate
//!   Observations, not `component`s of the 所見の有無 item.
//! - No `Coverage` for the health-insurance card (`JP_CoverageInsurance_eCheckupGeneral` needs
//!   被保険者/被扶養者, which records do not carry); the 被保険者個人識別子 is on the Patient.
//! - A Patient without an address in the record is written without one (the IG wants it).
//! - Number values keep their value but not trailing zeros of a fraction (`5.10` → `5.1`).
//! - The IG's Composition profile has an error-level invariant (emc-cmp-2) that only knows the
//!   generic sections 01910/01920; a 特定健診 report with the sections 01011/01012 of the IG's
//!   own example does not satisfy it. This crate follows the example.
//! - The Bundle is for reports outside the 電子カルテ情報共有サービス: its identifier is
//!   `<医療機関番号>^<report id>` in `http://jpfhir.jp/fhir/eCheckup/bundle-identifier`; the
//!   service's own profile wants a `clins` identifier with the 被保険者個人識別子 inside.
//!
//! Resource UUIDs are derived deterministically (see the `ids` module): the same record,
//! profile, context and document number always give the same Bundle, byte for byte.
//! Object keys are written in alphabetical order (JSON objects are unordered; FHIR does not
//! rely on the order).

mod bundle;
mod context;
mod error;
mod ids;
pub mod ig;
mod ndjson;

pub use bundle::bundle;
pub use context::ReportingContext;
pub use error::FhirError;
pub use ndjson::NdjsonWriter;
