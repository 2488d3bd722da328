//! The facts this crate takes from the 健診結果報告書 FHIR IG: canonical URLs of the profiles,
//! code systems, identifier systems and the codes used for a 特定健診 report.
//!
//! Only facts are carried over (URLs, OIDs, codes, structure), never text of the IG. The file
//! each fact was read from, and its commit, is listed in the crate documentation and, for the
//! facts the tests compare, in `tests/ig_facts.json`.

// ---- Profiles (meta.profile of each resource) ---------------------------------------------

/// `Bundle` (document) for reports not sent to the 電子カルテ情報共有サービス.
pub const PROFILE_BUNDLE: &str =
    "http://jpfhir.jp/fhir/eCheckup/StructureDefinition/JP_Bundle_eCheckupGeneral";
/// `Composition`, the first entry of the document.
pub const PROFILE_COMPOSITION: &str =
    "http://jpfhir.jp/fhir/eCheckup/StructureDefinition/JP_Composition_eCheckupGeneral";
/// `Patient`, the examinee (受診者).
pub const PROFILE_PATIENT: &str =
    "http://jpfhir.jp/fhir/eCheckup/StructureDefinition/JP_Patient_eCheckupGeneral";
/// `Practitioner`, the author of the report.
pub const PROFILE_PRACTITIONER: &str =
    "http://jpfhir.jp/fhir/eCheckup/StructureDefinition/JP_Practitioner_eCheckupGeneral";
/// `Organization`, the 健診機関 that performed the checkup and wrote the report.
pub const PROFILE_ORGANIZATION: &str =
    "http://jpfhir.jp/fhir/eCheckup/StructureDefinition/JP_Organization_eCheckupGeneral";
/// `Organization`, the insurer (保険者) that issued the 受診券.
pub const PROFILE_ORGANIZATION_INSURER: &str =
    "http://jpfhir.jp/fhir/eCheckup/StructureDefinition/JP_OrganizationInsurer_eCheckupGeneral";
/// `Encounter`, the visit (健診実施情報).
pub const PROFILE_ENCOUNTER: &str =
    "http://jpfhir.jp/fhir/eCheckup/StructureDefinition/JP_Encounter_eCheckupGeneral";
/// `Coverage`, the 受診券 (checkup ticket).
pub const PROFILE_COVERAGE_SERVICE: &str =
    "http://jpfhir.jp/fhir/eCheckup/StructureDefinition/JP_CoverageService_eCheckupGeneral";
/// `Observation`, one item's result.
pub const PROFILE_OBSERVATION: &str =
    "http://jpfhir.jp/fhir/eCheckup/StructureDefinition/JP_Observation_eCheckupGeneral";

// ---- Identifiers ----------------------------------------------------------------------------

/// `Bundle.identifier.system`; the value is `<10-digit 医療機関番号>^<report id>`, the report
/// id of `[A-Z0-9-]{1,128}`.
pub const BUNDLE_IDENTIFIER_SYSTEM: &str = "http://jpfhir.jp/fhir/eCheckup/bundle-identifier";
/// `Composition.identifier.system`; the value is `<医療機関番号>-<year>-<8 digits>`.
pub const RESOURCE_INSTANCE_IDENTIFIER_SYSTEM: &str =
    "http://jpfhir.jp/fhir/core/IdSystem/resourceInstance-identifier";
/// `Organization.identifier.system` of the 10-digit 保険医療機関番号 (健診機関番号).
pub const INSTITUTION_NUMBER_SYSTEM: &str =
    "http://jpfhir.jp/fhir/core/IdSystem/insurance-medical-institution-no";
/// `Organization.identifier.system` of the 8-digit 保険者番号 (JP Core).
pub const INSURER_NUMBER_SYSTEM: &str = "urn:oid:1.2.392.100495.20.3.61";
/// `Patient.identifier.system` of the 被保険者個人識別子
/// `<保険者番号 8 digits>:<記号>:<番号>:<枝番>`.
pub const INSURED_PERSON_ID_SYSTEM: &str =
    "http://jpfhir.jp/fhir/clins/Idsystem/JP_Insurance_memberID";

// ---- Composition ----------------------------------------------------------------------------

/// `Composition.type`: 文書区分コード.
pub const DOC_TYPE_SYSTEM: &str = "http://jpfhir.jp/fhir/Common/CodeSystem/doc-typecodes";
/// 検診・健診報告書.
pub const DOC_TYPE_CHECKUP_REPORT: &str = "53576-5";
pub const DOC_TYPE_CHECKUP_REPORT_DISPLAY: &str = "検診・健診報告書";
/// The document version extension (`valueString`, first version `"1"`).
pub const VERSION_NUMBER_EXTENSION: &str =
    "http://hl7.org/fhir/StructureDefinition/composition-clinicaldocument-versionNumber";
/// `Composition.category`: 報告区分コード (the MHLW OID since IG 1.2.1).
pub const REPORT_CATEGORY_SYSTEM: &str = "urn:oid:1.2.392.200119.6.1001";
/// 特定健診情報.
pub const REPORT_CATEGORY_SPECIFIC_CHECKUP: &str = "10";
pub const REPORT_CATEGORY_SPECIFIC_CHECKUP_DISPLAY: &str = "特定健診情報";
/// `Composition.event.code`: 健診プログラムサービスコード.
pub const PROGRAM_SERVICE_SYSTEM: &str = "urn:oid:1.2.392.200119.6.1002";
/// 特定健康診査.
pub const PROGRAM_SERVICE_SPECIFIC_CHECKUP: &str = "010";
pub const PROGRAM_SERVICE_SPECIFIC_CHECKUP_DISPLAY: &str = "特定健康診査";
/// `Composition.section.code`.
pub const SECTION_CODE_SYSTEM: &str = "http://jpfhir.jp/fhir/eCheckup/CodeSystem/section-code";
/// 特定健診検査結果セクション (results, and the 受診券 `Coverage`).
pub const SECTION_SPECIFIC_RESULTS: &str = "01011";
pub const SECTION_SPECIFIC_RESULTS_DISPLAY: &str = "特定健診検査結果セクション";
/// 特定健診問診結果セクション (the 質問票).
pub const SECTION_SPECIFIC_QUESTIONNAIRE: &str = "01012";
pub const SECTION_SPECIFIC_QUESTIONNAIRE_DISPLAY: &str = "特定健診問診結果セクション";
/// 任意追加項目セクション (items outside the 特定健診 programme).
pub const SECTION_ADDITIONAL: &str = "01990";
pub const SECTION_ADDITIONAL_DISPLAY: &str = "任意追加項目セクション";

// ---- Organization, Encounter, Coverage, Patient --------------------------------------------

/// `Organization.type` of a 健診機関: 健診・検診機関種別.
pub const ORGANIZATION_ROLE_SYSTEM: &str =
    "http://jpfhir.jp/fhir/eCheckup/CodeSystem/report-organization-code";
/// The institution that wrote the report.
pub const ORGANIZATION_ROLE_REPORTER: &str = "doc-org";
/// The institution that performed the checkup.
pub const ORGANIZATION_ROLE_PERFORMER: &str = "exec-org";
/// `Organization.type` of the insurer (`ins`).
pub const ORGANIZATION_TYPE_SYSTEM: &str =
    "http://terminology.hl7.org/CodeSystem/organization-type";
pub const ORGANIZATION_TYPE_INSURER: &str = "ins";
/// `Organization.type` of a healthcare provider (`prov`), as the IG's 健診機関 example has.
pub const ORGANIZATION_TYPE_PROVIDER: &str = "prov";
/// `Encounter.class`: 受診区分 `checkup`.
pub const ENCOUNTER_CLASS_SYSTEM: &str =
    "http://jpfhir.jp/fhir/eCheckup/CodeSystem/encounter-category";
pub const ENCOUNTER_CLASS_CHECKUP: &str = "checkup";
pub const ENCOUNTER_CLASS_CHECKUP_DISPLAY: &str = "健診";
/// `Coverage.type` of a 受診券: 券面種別 `1`.
pub const TICKET_TYPE_SYSTEM: &str = "urn:oid:1.2.392.200119.6.208";
pub const TICKET_TYPE_CODE: &str = "1";
/// `HumanName.extension` telling 漢字 (`IDE`) from カナ (`SYL`).
pub const NAME_REPRESENTATION_EXTENSION: &str =
    "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation";

// ---- Observation ----------------------------------------------------------------------------

/// `Observation.category`.
pub const OBSERVATION_CATEGORY_SYSTEM: &str =
    "http://jpfhir.jp/fhir/core/CodeSystem/JP_SimpleObservationCategory_CS";
/// `Observation.code`: 特定健診項目コード (the 17-character item codes).
pub const ITEM_CODE_SYSTEM: &str = "urn:oid:1.2.392.200119.6.1005";
/// `Observation.code`: JLAC10 臨床検査項目コード.
pub const JLAC10_SYSTEM: &str = "urn:oid:1.2.392.200119.4.504";
/// `Observation.method`: 検査方法コード.
pub const METHOD_CODE_SYSTEM: &str = "urn:oid:1.2.392.200119.6.1007";
/// Units of `valueQuantity`.
pub const UCUM_SYSTEM: &str = "http://unitsofmeasure.org";
/// `Observation.interpretation`.
pub const INTERPRETATION_SYSTEM: &str =
    "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation";
/// Above the item's input range (入力上限以上).
pub const INTERPRETATION_ABOVE_INPUT_RANGE: &str = "HX";
/// Below the item's input range (入力下限以下).
pub const INTERPRETATION_BELOW_INPUT_RANGE: &str = "LX";
/// `Observation.dataAbsentReason`.
pub const DATA_ABSENT_REASON_SYSTEM: &str =
    "http://terminology.hl7.org/CodeSystem/data-absent-reason";
/// 未実施.
pub const DATA_ABSENT_NOT_PERFORMED: &str = "not-performed";
/// 測定不能.
pub const DATA_ABSENT_UNMEASURABLE: &str = "error";
/// Extension on a coding of an ordinal (CO) value.
pub const ORDINAL_VALUE_EXTENSION: &str = "http://hl7.org/fhir/StructureDefinition/ordinalValue";

/// The value-set OIDs of profile items become `urn:oid:` code systems.
pub(crate) fn oid_system(oid: &str) -> String {
    if oid.starts_with("urn:") || oid.contains("://") {
        oid.to_string()
    } else {
        format!("urn:oid:{oid}")
    }
}
