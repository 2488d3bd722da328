//! 交換用基本情報ファイル (ix08) and 集計情報ファイル (su08).

use crate::codes::{NS_MHLW, NS_XSI, SERVICE_EVENT_CHECKUP};
use crate::meta::{ArchiveMeta, InteractionType, Party, PartyKind};
use crate::xml_read::{Element, Located};
use crate::xml_write::XmlOut;
use crate::MhlwError;

/// The index file, as written or read.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct IndexInfo {
    pub interaction_type: InteractionType,
    /// 作成年月日, `YYYYMMDD`.
    pub creation_date: String,
    pub sender: Party,
    pub receiver: Option<Party>,
    /// 実施区分.
    pub service_event_type: String,
    /// 総レコード数: files of the archive other than the index and summary (DATA + CLAIMS).
    pub total_record_count: u64,
}

/// The summary file, as written or read.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SummaryInfo {
    pub service_event_type: String,
    /// 総受診者数: one per DATA file.
    pub total_subject_count: u64,
    pub total_cost: u64,
    pub total_payment: u64,
    pub total_payment_by_other_program: Option<u64>,
    pub total_claim: u64,
}

pub(crate) fn write_index(meta: &ArchiveMeta, records: u64) -> String {
    let mut x = XmlOut::new();
    let location = format!("{NS_MHLW} XSD/ix08_V08.xsd");
    x.open(
        "index",
        &[
            ("xmlns", NS_MHLW),
            ("xmlns:xsi", NS_XSI),
            ("xsi:schemaLocation", &location),
        ],
    );
    x.empty(
        "interactionType",
        &[("code", &meta.interaction_type.code().to_string())],
    );
    x.empty(
        "creationTime",
        &[("value", &crate::naming::yyyymmdd(meta.creation_date))],
    );
    x.open("sender", &[]);
    x.empty(
        "id",
        &[
            ("root", meta.sender.kind.oid()),
            ("extension", &meta.sender.number),
        ],
    );
    x.close("sender");
    x.open("receiver", &[]);
    x.empty(
        "id",
        &[
            ("root", meta.receiver.kind.oid()),
            ("extension", &meta.receiver.number),
        ],
    );
    x.close("receiver");
    x.empty("serviceEventType", &[("code", SERVICE_EVENT_CHECKUP)]);
    // No payment (cc08) files are written, so the DATA files are all the records.
    x.empty("totalRecordCount", &[("value", &records.to_string())]);
    x.close("index");
    x.finish()
}

pub(crate) fn write_summary(meta: &ArchiveMeta, records: u64) -> String {
    let mut x = XmlOut::new();
    let location = format!("{NS_MHLW} XSD/su08_V08.xsd");
    x.open(
        "summary",
        &[
            ("xmlns", NS_MHLW),
            ("xmlns:xsi", NS_XSI),
            ("xsi:schemaLocation", &location),
        ],
    );
    x.empty("serviceEventType", &[("code", SERVICE_EVENT_CHECKUP)]);
    x.empty("totalSubjectCount", &[("value", &records.to_string())]);
    let amounts = &meta.amounts;
    x.empty(
        "totalCostAmount",
        &[("value", &amounts.total_cost.to_string())],
    );
    x.empty(
        "totalPaymentAmount",
        &[("value", &amounts.total_payment.to_string())],
    );
    if let Some(other) = amounts.total_payment_by_other_program {
        x.empty(
            "totalPaymentByOtherProgram",
            &[("value", &other.to_string())],
        );
    }
    x.empty(
        "totalClaimAmount",
        &[("value", &amounts.total_claim.to_string())],
    );
    x.close("summary");
    x.finish()
}

fn root_check(root: &Element, expected: &str) -> Result<(), Located> {
    if root.ns.as_deref() != Some(NS_MHLW) || root.name != expected {
        return Err(Located::at(
            MhlwError::Content(format!(
                "root element is <{}> in namespace {:?}; expected <{expected}> in {NS_MHLW}",
                root.name,
                root.ns.as_deref().unwrap_or("")
            )),
            root,
            &root.name,
        ));
    }
    Ok(())
}

fn required<'a>(parent: &'a Element, name: &'a str, path: &str) -> Result<&'a Element, Located> {
    parent.child(name).ok_or_else(|| {
        Located::at(
            MhlwError::Content(format!("<{name}> is missing")),
            parent,
            path,
        )
    })
}

fn attr<'a>(element: &'a Element, name: &str, path: &str) -> Result<&'a str, Located> {
    element.attr(name).ok_or_else(|| {
        Located::at(
            MhlwError::Content(format!("attribute {name} is missing")),
            element,
            path,
        )
    })
}

fn number(element: &Element, path: &str) -> Result<u64, Located> {
    let text = attr(element, "value", path)?;
    text.trim().parse().map_err(|_| {
        Located::at(
            MhlwError::Content(format!("{text:?} is not a count or amount")),
            element,
            path,
        )
    })
}

fn party(element: &Element, path: &str) -> Result<Party, Located> {
    let id = required(element, "id", path)?;
    let path = format!("{path}/id");
    let root = attr(id, "root", &path)?;
    let kind = [
        PartyKind::Institution,
        PartyKind::Insurer,
        PartyKind::Agency,
        PartyKind::LocalGovernment,
    ]
    .into_iter()
    .find(|k| k.oid() == root)
    .ok_or_else(|| {
        Located::at(
            MhlwError::Content(format!("{root:?} is not a sender/receiver OID")),
            id,
            &path,
        )
    })?;
    Ok(Party {
        kind,
        number: attr(id, "extension", &path)?.to_string(),
    })
}

pub(crate) fn read_index(root: &Element) -> Result<IndexInfo, Located> {
    root_check(root, "index")?;
    let interaction = required(root, "interactionType", "index")?;
    let code = attr(interaction, "code", "index/interactionType")?;
    let interaction_type = code
        .parse::<u8>()
        .ok()
        .and_then(InteractionType::from_code)
        .ok_or_else(|| {
            Located::at(
                MhlwError::Content(format!("interaction type {code:?} is not 1-20")),
                interaction,
                "index/interactionType",
            )
        })?;
    let creation = required(root, "creationTime", "index")?;
    let sender = party(required(root, "sender", "index")?, "index/sender")?;
    let receiver = root
        .child("receiver")
        .map(|r| party(r, "index/receiver"))
        .transpose()?;
    let service = required(root, "serviceEventType", "index")?;
    let count = required(root, "totalRecordCount", "index")?;
    Ok(IndexInfo {
        interaction_type,
        creation_date: attr(creation, "value", "index/creationTime")?.to_string(),
        sender,
        receiver,
        service_event_type: attr(service, "code", "index/serviceEventType")?.to_string(),
        total_record_count: number(count, "index/totalRecordCount")?,
    })
}

pub(crate) fn read_summary(root: &Element) -> Result<SummaryInfo, Located> {
    root_check(root, "summary")?;
    let service = required(root, "serviceEventType", "summary")?;
    let amount = |name: &'static str| -> Result<u64, Located> {
        let path = format!("summary/{name}");
        number(required(root, name, "summary")?, &path)
    };
    Ok(SummaryInfo {
        service_event_type: attr(service, "code", "summary/serviceEventType")?.to_string(),
        total_subject_count: amount("totalSubjectCount")?,
        total_cost: amount("totalCostAmount")?,
        total_payment: amount("totalPaymentAmount")?,
        total_payment_by_other_program: root
            .child("totalPaymentByOtherProgram")
            .map(|e| number(e, "summary/totalPaymentByOtherProgram"))
            .transpose()?,
        total_claim: amount("totalClaimAmount")?,
    })
}
