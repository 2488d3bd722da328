//! Namespaces, OIDs and fixed codes of the MHLW 第4期 (V08) files.

/// HL7 v3 namespace of the 特定健診情報ファイル (hc08).
pub const NS_HL7: &str = "urn:hl7-org:v3";
/// Namespace of the index, summary and payment files (ix08, su08, cc08, co08).
pub const NS_MHLW: &str = "https://www.mhlw.go.jp/stf/seisakunitsuite/bunya/0000161103.html";
pub const NS_XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// 保険者番号.
pub const OID_INSURER: &str = "1.2.392.200119.6.101";
/// 特定健診機関番号.
pub const OID_INSTITUTION: &str = "1.2.392.200119.6.102";
/// 代行機関番号.
pub const OID_AGENCY: &str = "1.2.392.200119.6.103";
/// 地方公共団体コード.
pub const OID_LOCAL_GOVERNMENT: &str = "1.2.392.200119.6.105";
/// 被保険者証等記号.
pub const OID_SYMBOL: &str = "1.2.392.200119.6.204";
/// 被保険者証等番号.
pub const OID_NUMBER: &str = "1.2.392.200119.6.205";
/// 券面種別 (1 受診券, 2 利用券).
pub const OID_CARD_KIND: &str = "1.2.392.200119.6.208";
/// 受診券整理番号: the root is this OID, then `.1` and the 8-digit 保険者番号 (so that each
/// insurer's numbering is its own namespace; the leading `1` keeps an insurer number that
/// starts with 0 a valid OID arc).
pub const OID_TICKET_PREFIX: &str = "1.2.392.200119.6.209.1";
/// 被保険者証等枝番.
pub const OID_BRANCH: &str = "1.2.392.200119.6.211";
/// 報告区分.
pub const OID_REPORT_CATEGORY: &str = "1.2.392.200119.6.1001";
/// プログラム種別.
pub const OID_PROGRAM_TYPE: &str = "1.2.392.200119.6.1002";
/// 特定健診項目コード (the 17-digit item codes).
pub const OID_ITEM: &str = "1.2.392.200119.6.1005";
/// 検査方法コード.
pub const OID_METHOD: &str = "1.2.392.200119.6.1007";
/// CDA セクションコード.
pub const OID_SECTION: &str = "1.2.392.200119.6.1010";
/// 男女区分.
pub const OID_SEX: &str = "1.2.392.200119.6.1104";
/// HL7 Confidentiality.
pub const OID_CONFIDENTIALITY: &str = "2.16.840.1.113883.5.25";
/// HL7 ObservationInterpretation: `H` / `L` mark a value outside the item's input range.
pub const OID_INTERPRETATION: &str = "2.16.840.1.113883.5.83";
/// HL7 CDA R2 typeId.
pub const OID_CDA_TYPE: &str = "2.16.840.1.113883.1.3";
pub const CDA_TYPE_EXTENSION: &str = "POCD_HD000040";

/// 報告区分 10: 特定健診情報.
pub const REPORT_CATEGORY_CHECKUP: &str = "10";
/// プログラム種別 010: 特定健診.
pub const PROGRAM_TYPE_CHECKUP: &str = "010";
/// 実施区分 1: 特定健診 (serviceEventType of the index and summary files).
pub const SERVICE_EVENT_CHECKUP: &str = "1";
/// CDA セクション 01010: 特定健診・問診結果 (検査・問診結果セクション).
pub const SECTION_RESULTS: &str = "01010";
pub const SECTION_RESULTS_TITLE: &str = "検査・問診結果セクション";

/// nullFlavor written for 測定不能 (measured, but no result could be obtained).
pub const NULL_UNMEASURABLE: &str = "NI";

/// Largest number of records in one archive: 通番 has 6 digits and su08's totalCount allows
/// 999,999.
pub const MAX_RECORDS: u64 = 999_999;
