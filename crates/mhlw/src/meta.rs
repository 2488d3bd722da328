//! What the caller tells the writer about an archive, and what the writer reports back.

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::path::Path;

use time::Date;

use crate::codes::{OID_AGENCY, OID_INSTITUTION, OID_INSURER, OID_LOCAL_GOVERNMENT};
use crate::MhlwError;

/// Who sends or receives an archive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PartyKind {
    /// 特定健診機関 (健診機関番号, 10 digits, OID `1.2.392.200119.6.102`).
    Institution,
    /// 保険者 (保険者番号, 8 digits, OID `1.2.392.200119.6.101`).
    Insurer,
    /// 代行機関 (代行機関番号, 8 digits, OID `1.2.392.200119.6.103`), e.g. 支払基金 or 国保連合会.
    Agency,
    /// 地方公共団体 (6-digit 団体コード, OID `1.2.392.200119.6.105`); only ever a receiver.
    LocalGovernment,
}

impl PartyKind {
    /// The OID that qualifies the party's number in the index file.
    pub fn oid(self) -> &'static str {
        match self {
            PartyKind::Institution => OID_INSTITUTION,
            PartyKind::Insurer => OID_INSURER,
            PartyKind::Agency => OID_AGENCY,
            PartyKind::LocalGovernment => OID_LOCAL_GOVERNMENT,
        }
    }

    /// Number of digits of the party's number.
    pub fn digits(self) -> usize {
        match self {
            PartyKind::Institution => 10,
            PartyKind::Insurer | PartyKind::Agency => 8,
            PartyKind::LocalGovernment => 6,
        }
    }
}

/// A sender or receiver: its kind and its number (half-width digits).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Party {
    pub kind: PartyKind,
    pub number: String,
}

impl Party {
    pub fn institution(number: impl Into<String>) -> Party {
        Party {
            kind: PartyKind::Institution,
            number: number.into(),
        }
    }

    pub fn insurer(number: impl Into<String>) -> Party {
        Party {
            kind: PartyKind::Insurer,
            number: number.into(),
        }
    }

    pub fn agency(number: impl Into<String>) -> Party {
        Party {
            kind: PartyKind::Agency,
            number: number.into(),
        }
    }

    pub(crate) fn check(&self, role: &str) -> Result<(), MhlwError> {
        let digits = self.kind.digits();
        if self.number.len() != digits || !self.number.bytes().all(|b| b.is_ascii_digit()) {
            return Err(MhlwError::InvalidMeta(format!(
                "{role} number {:?} must be {digits} half-width digits for a {:?}",
                self.number, self.kind
            )));
        }
        Ok(())
    }
}

/// 種別コード (別表1, `interactionType` of the index file): who sends to whom.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum InteractionType {
    /// 1: 特定健診機関 → 代行機関.
    InstitutionToAgency,
    /// 2: 代行機関 → 特定健診機関.
    AgencyToInstitution,
    /// 3: 代行機関 → 保険者.
    AgencyToInsurer,
    /// 4: 保険者 → 代行機関 (未決済).
    InsurerToAgencyUnsettled,
    /// 5: 保険者 → 代行機関 (決済済).
    InsurerToAgencySettled,
    /// 6: 特定健診機関 → 保険者.
    InstitutionToInsurer,
    /// 7: 保険者 → 特定健診機関.
    InsurerToInstitution,
    /// 8: 保険者 → 保険者 (e.g. when a member changes insurer).
    InsurerToInsurer,
    /// 9: その他.
    Other,
    /// 10: 保険者 → 国 (支払基金).
    InsurerToNation,
    /// 11: 代行機関 → 保険者 (確認依頼).
    AgencyToInsurerForConfirmation,
    /// 12–20: codes the schema allows for future use.
    Reserved(u8),
}

impl InteractionType {
    pub fn code(self) -> u8 {
        match self {
            InteractionType::InstitutionToAgency => 1,
            InteractionType::AgencyToInstitution => 2,
            InteractionType::AgencyToInsurer => 3,
            InteractionType::InsurerToAgencyUnsettled => 4,
            InteractionType::InsurerToAgencySettled => 5,
            InteractionType::InstitutionToInsurer => 6,
            InteractionType::InsurerToInstitution => 7,
            InteractionType::InsurerToInsurer => 8,
            InteractionType::Other => 9,
            InteractionType::InsurerToNation => 10,
            InteractionType::AgencyToInsurerForConfirmation => 11,
            InteractionType::Reserved(code) => code,
        }
    }

    /// The type with this code (1–20, the range ix08/co08 allow).
    pub fn from_code(code: u8) -> Option<InteractionType> {
        Some(match code {
            1 => InteractionType::InstitutionToAgency,
            2 => InteractionType::AgencyToInstitution,
            3 => InteractionType::AgencyToInsurer,
            4 => InteractionType::InsurerToAgencyUnsettled,
            5 => InteractionType::InsurerToAgencySettled,
            6 => InteractionType::InstitutionToInsurer,
            7 => InteractionType::InsurerToInstitution,
            8 => InteractionType::InsurerToInsurer,
            9 => InteractionType::Other,
            10 => InteractionType::InsurerToNation,
            11 => InteractionType::AgencyToInsurerForConfirmation,
            12..=20 => InteractionType::Reserved(code),
            _ => return None,
        })
    }
}

impl fmt::Display for InteractionType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code())
    }
}

/// Totals of the summary file (集計情報). Without 決済情報 (payment) files they are all zero.
/// Each is at most 999,999,999 yen (9 digits, co08 `totalMonetaryAmount`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SummaryAmounts {
    /// 委託金額の総計.
    pub total_cost: u64,
    /// 窓口負担金額の総計.
    pub total_payment: u64,
    /// 他制度負担金額の総計, written only when set.
    pub total_payment_by_other_program: Option<u64>,
    /// 請求金額の総計.
    pub total_claim: u64,
}

/// An XML Schema file shipped in the archive's `XSD/` folder, as MHLW submissions do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchemaFile {
    /// Path below `XSD/`, with `/` separators, e.g. `hc08_V08.xsd`, `coreschemas/voc_hcgv08.xsd`.
    pub path: String,
    pub contents: Vec<u8>,
}

impl SchemaFile {
    /// Loads the `*.xsd` files of a schema folder and of its direct subfolders (the MHLW set
    /// keeps the HL7 data types in `coreschemas/`), sorted by path.
    pub fn load_dir(dir: &Path) -> io::Result<Vec<SchemaFile>> {
        let mut files = Vec::new();
        collect_xsd(dir, "", 0, &mut files)?;
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(files)
    }
}

fn collect_xsd(dir: &Path, prefix: &str, depth: u8, out: &mut Vec<SchemaFile>) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let kind = entry.file_type()?;
        if kind.is_dir() && depth == 0 {
            collect_xsd(&entry.path(), &format!("{prefix}{name}/"), 1, out)?;
        } else if kind.is_file() && name.to_ascii_lowercase().ends_with(".xsd") {
            out.push(SchemaFile {
                path: format!("{prefix}{name}"),
                contents: std::fs::read(entry.path())?,
            });
        }
    }
    Ok(())
}

/// What the writer needs to know beyond the records.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ArchiveMeta {
    /// 送付元: the party that creates and sends the archive; its number also names the files.
    pub sender: Party,
    /// 送付元の名称 (健診機関名称), written as the documents' author and custodian.
    pub sender_name: String,
    /// 送付先.
    pub receiver: Party,
    /// 作成年月日: written into every file and into the file names.
    pub creation_date: Date,
    /// 同日作成回数 (1–9): tells apart archives of the same sender, receiver and day.
    pub daily_sequence: u8,
    /// 種別 of the index file.
    pub interaction_type: InteractionType,
    /// Names of 健診機関 other than the sender, by 健診機関番号, for records whose checkup
    /// another institution performed; without an entry the performer is written without name.
    pub institution_names: BTreeMap<String, String>,
    /// Totals for the summary file.
    pub amounts: SummaryAmounts,
    /// Schema files to ship in `XSD/`; empty ships none.
    pub schema_files: Vec<SchemaFile>,
}

impl ArchiveMeta {
    /// Metadata for the usual case: a 健診機関 sends its results, first archive of the day, no
    /// payment files, no schema files; 種別 follows the receiver (6 to an insurer, 1 to an
    /// agency, 9 otherwise).
    pub fn new(
        sender_number: impl Into<String>,
        sender_name: impl Into<String>,
        receiver: Party,
        creation_date: Date,
    ) -> ArchiveMeta {
        let interaction_type = match receiver.kind {
            PartyKind::Insurer => InteractionType::InstitutionToInsurer,
            PartyKind::Agency => InteractionType::InstitutionToAgency,
            PartyKind::Institution | PartyKind::LocalGovernment => InteractionType::Other,
        };
        ArchiveMeta {
            sender: Party::institution(sender_number),
            sender_name: sender_name.into(),
            receiver,
            creation_date,
            daily_sequence: 1,
            interaction_type,
            institution_names: BTreeMap::new(),
            amounts: SummaryAmounts::default(),
            schema_files: Vec::new(),
        }
    }

    pub(crate) fn check(&self) -> Result<(), MhlwError> {
        self.sender.check("sender")?;
        if self.sender.kind == PartyKind::LocalGovernment {
            return Err(MhlwError::InvalidMeta(
                "a local government cannot be the sender of an index file (ix08 senderOid)".into(),
            ));
        }
        self.receiver.check("receiver")?;
        if !(1..=9).contains(&self.daily_sequence) {
            return Err(MhlwError::InvalidMeta(format!(
                "daily sequence {} must be 1-9 (one digit of the file names)",
                self.daily_sequence
            )));
        }
        if InteractionType::from_code(self.interaction_type.code()).is_none() {
            return Err(MhlwError::InvalidMeta(format!(
                "interaction type {} is outside 1-20",
                self.interaction_type.code()
            )));
        }
        if self.creation_date.year() < 1980 || self.creation_date.year() > 9999 {
            return Err(MhlwError::InvalidMeta(format!(
                "creation date {} cannot be written (ZIP timestamps start in 1980)",
                self.creation_date
            )));
        }
        if self.sender_name.trim().is_empty() {
            return Err(MhlwError::InvalidMeta("sender name is empty".into()));
        }
        crate::xml_write::check_text(&self.sender_name)
            .map_err(|m| MhlwError::InvalidMeta(format!("sender name: {m}")))?;
        for (number, name) in &self.institution_names {
            crate::xml_write::check_text(name).map_err(|m| {
                MhlwError::InvalidMeta(format!("name of institution {number}: {m}"))
            })?;
        }
        let amounts = [
            ("total cost", Some(self.amounts.total_cost)),
            ("total payment", Some(self.amounts.total_payment)),
            (
                "total payment by other programs",
                self.amounts.total_payment_by_other_program,
            ),
            ("total claim", Some(self.amounts.total_claim)),
        ];
        for (what, amount) in amounts {
            if amount.is_some_and(|a| a > 999_999_999) {
                return Err(MhlwError::InvalidMeta(format!(
                    "{what} exceeds 999,999,999 yen (9 digits)"
                )));
            }
        }
        for schema in &self.schema_files {
            crate::naming::check_relative_path(&schema.path).map_err(|m| {
                MhlwError::InvalidMeta(format!("schema file {:?}: {m}", schema.path))
            })?;
        }
        Ok(())
    }
}

/// What the writer wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ArchiveSummary {
    /// The name the archive file should be given, e.g. `1399999901_06999901_202504011_1.zip`.
    pub archive_file_name: String,
    /// The archive's root folder (the archive file name without `.zip`).
    pub root_folder: String,
    /// Entry names of the index and summary files.
    pub index_entry: String,
    pub summary_entry: String,
    /// DATA files written (one per record).
    pub records: u64,
    /// Observations written (items with a value, 未実施 or 測定不能).
    pub observations: u64,
    /// Of those, 未実施 and 測定不能.
    pub not_performed: u64,
    pub unmeasurable: u64,
    /// Values written with an H/L input-range flag.
    pub flagged: u64,
    /// Values left out because their profile item has no XML form.
    pub values_without_xml: u64,
    /// Values left out because the source's value could not be taken ([`Value::Invalid`]).
    ///
    /// [`Value::Invalid`]: kenshin_profile::Value::Invalid
    pub values_left_empty: u64,
    /// Bytes of XML written, before compression.
    pub xml_bytes: u64,
    pub(crate) data_prefix: String,
}

impl ArchiveSummary {
    /// The entry name of the DATA file of the `n`-th record written (1-based).
    pub fn data_file_name(&self, n: u64) -> Option<String> {
        (1..=self.records)
            .contains(&n)
            .then(|| format!("{}{n:06}.xml", self.data_prefix))
    }
}

/// The names an archive of this metadata is written under.
impl ArchiveMeta {
    /// The archive's file name: its root folder and `.zip`.
    pub fn archive_file_name(&self) -> String {
        format!("{}.zip", self.root_folder())
    }

    /// `{送付元}_{送付先}_{YYYYMMDD}{同日作成回数}_{実施区分}`.
    pub(crate) fn root_folder(&self) -> String {
        format!(
            "{}_{}_{}{}_{}",
            self.sender.number,
            self.receiver.number,
            crate::naming::yyyymmdd(self.creation_date),
            self.daily_sequence,
            crate::codes::SERVICE_EVENT_CHECKUP
        )
    }

    /// Everything of a DATA entry name but the 6-digit 通番 and `.xml`.
    pub(crate) fn data_prefix(&self, root: &str) -> String {
        format!(
            "{root}/{}/h{}{}{}{}",
            crate::naming::DATA_DIR,
            self.sender.number,
            crate::naming::yyyymmdd(self.creation_date),
            self.daily_sequence,
            crate::codes::SERVICE_EVENT_CHECKUP
        )
    }
}
