//! One checkup record → one 特定健診情報ファイル (HL7 CDA R2, hc08_V08.xsd).

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use kenshin_profile::{
    CheckupRecord, HeaderField, Item, ItemKind, ItemValue, Profile, RangeFlag, Value, XmlDataType,
    XmlInfo,
};

use crate::codes::*;
use crate::meta::ArchiveMeta;
use crate::series::{membership, Membership};
use crate::xml_write::{check_text, XmlOut};
use crate::MhlwError;

/// What one document contained, for the archive summary.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct DocStats {
    pub(crate) observations: u64,
    pub(crate) not_performed: u64,
    pub(crate) unmeasurable: u64,
    pub(crate) flagged: u64,
    pub(crate) values_without_xml: u64,
    pub(crate) values_left_empty: u64,
}

/// Per-archive state shared by all documents.
pub(crate) struct DocWriter<'a> {
    profile: &'a Profile,
    /// Borrowed by [`crate::write_archive`], owned by [`crate::ArchiveWriter`].
    meta: Cow<'a, ArchiveMeta>,
    creation: String,
    /// Item code → position in the profile (output order).
    position: HashMap<&'a str, usize>,
    /// Item code → series-group membership, parsed once.
    groups: HashMap<&'a str, Membership>,
}

/// The header of one record, checked.
struct Head<'r> {
    insurer: &'r str,
    symbol: Option<&'r str>,
    number: Option<&'r str>,
    branch: Option<&'r str>,
    kana_name: Option<&'r str>,
    sex: &'r str,
    birth_date: &'r str,
    postal_code: Option<&'r str>,
    address: Option<&'r str>,
    exam_date: &'r str,
    institution: Option<&'r str>,
    ticket: Option<&'r str>,
}

/// One value to write, with its item.
struct Obs<'a, 'r> {
    item: &'a Item,
    xml: &'a XmlInfo,
    value: &'r ItemValue,
    position: usize,
}

impl<'a> DocWriter<'a> {
    pub(crate) fn new(profile: &'a Profile, meta: Cow<'a, ArchiveMeta>) -> Result<Self, MhlwError> {
        let mut position = HashMap::with_capacity(profile.items.len());
        let mut groups = HashMap::new();
        for (i, item) in profile.items.iter().enumerate() {
            position.insert(item.code.as_str(), i);
            if let Some(m) = membership(item).map_err(|message| {
                MhlwError::InvalidMeta(format!("profile {}: {message}", profile.label()))
            })? {
                groups.insert(item.code.as_str(), m);
            }
        }
        Ok(DocWriter {
            profile,
            creation: crate::naming::yyyymmdd(meta.creation_date),
            meta,
            position,
            groups,
        })
    }

    /// The metadata of the archive the documents belong to.
    pub(crate) fn meta(&self) -> &ArchiveMeta {
        &self.meta
    }

    /// Writes the document of `record`; `record_no` names the record in errors.
    pub(crate) fn write(
        &self,
        record: &CheckupRecord,
        record_no: u64,
    ) -> Result<(String, DocStats), MhlwError> {
        let invalid = |field: &str, message: String| MhlwError::InvalidRecord {
            record: record_no,
            field: field.to_string(),
            message,
        };
        let head = check_header(record, &invalid)?;
        if self.meta.receiver.kind == crate::PartyKind::Insurer
            && head.insurer != self.meta.receiver.number
        {
            // One archive goes to one insurer: a member of another insurer in it would be
            // disclosed to the wrong organisation.
            return Err(invalid(
                HeaderField::InsurerNumber.key(),
                format!(
                    "insurer {} differs from the archive's receiver {}",
                    head.insurer, self.meta.receiver.number
                ),
            ));
        }

        let mut stats = DocStats::default();
        let mut observations = Vec::with_capacity(record.values.len());
        let mut seen = HashSet::with_capacity(record.values.len());
        for value in &record.values {
            if !seen.insert(value.code.as_str()) {
                return Err(invalid(
                    &value.code,
                    "the item appears twice in the record".into(),
                ));
            }
            let Some(item) = self.profile.item(&value.code) else {
                return Err(invalid(
                    &value.code,
                    format!("the item is not in profile {}", self.profile.label()),
                ));
            };
            let Some(xml) = item.xml.as_ref() else {
                stats.values_without_xml += 1;
                continue;
            };
            // A value the source gave but that could not be taken has no standard value: the
            // archive leaves the item out (the sender's report lists it).
            if value.value == Value::Invalid {
                stats.values_left_empty += 1;
                continue;
            }
            check_value(item, xml, value).map_err(|m| invalid(&value.code, m))?;
            match value.value {
                Value::NotPerformed => stats.not_performed += 1,
                Value::Unmeasurable => stats.unmeasurable += 1,
                _ => {}
            }
            if value.flag.is_some() {
                stats.flagged += 1;
            }
            stats.observations += 1;
            observations.push(Obs {
                item,
                xml,
                value,
                position: self.position[item.code.as_str()],
            });
        }
        observations.sort_by_key(|o| o.position);

        let mut x = XmlOut::new();
        x.open(
            "ClinicalDocument",
            &[
                ("xmlns", NS_HL7),
                ("xmlns:xsi", NS_XSI),
                ("xsi:schemaLocation", "urn:hl7-org:v3 ../XSD/hc08_V08.xsd"),
            ],
        );
        x.empty(
            "typeId",
            &[("root", OID_CDA_TYPE), ("extension", CDA_TYPE_EXTENSION)],
        );
        // The MHLW files carry no document identifier of their own; the file name is the
        // identifier within an archive.
        x.empty("id", &[("nullFlavor", "NI")]);
        x.empty(
            "code",
            &[
                ("code", REPORT_CATEGORY_CHECKUP),
                ("codeSystem", OID_REPORT_CATEGORY),
            ],
        );
        x.empty("effectiveTime", &[("value", &self.creation)]);
        x.empty(
            "confidentialityCode",
            &[("code", "N"), ("codeSystem", OID_CONFIDENTIALITY)],
        );
        self.write_record_target(&mut x, &head);
        self.write_author_and_custodian(&mut x);
        if let Some(ticket) = head.ticket {
            write_ticket(&mut x, ticket, head.insurer);
        }
        self.write_service_event(&mut x, &head);

        x.open("component", &[]);
        x.open("structuredBody", &[]);
        x.open("component", &[]);
        x.open("section", &[]);
        x.empty(
            "code",
            &[
                ("code", SECTION_RESULTS),
                ("codeSystem", OID_SECTION),
                ("displayName", SECTION_RESULTS_TITLE),
            ],
        );
        x.text("title", &[], SECTION_RESULTS_TITLE);
        // The narrative block stays empty: the results are machine-read, as in the MHLW
        // samples, and a second copy of them would only be more personal data to protect.
        x.empty("text", &[]);
        self.write_entries(&mut x, &observations);
        x.close("section");
        x.close("component");
        x.close("structuredBody");
        x.close("component");
        x.close("ClinicalDocument");
        Ok((x.finish(), stats))
    }

    fn write_record_target(&self, x: &mut XmlOut, head: &Head<'_>) {
        x.open("recordTarget", &[]);
        x.open("patientRole", &[]);
        x.empty("id", &[("root", OID_INSURER), ("extension", head.insurer)]);
        if let Some(symbol) = head.symbol {
            x.empty("id", &[("root", OID_SYMBOL), ("extension", symbol)]);
        }
        if let Some(number) = head.number {
            x.empty("id", &[("root", OID_NUMBER), ("extension", number)]);
        }
        if let Some(branch) = head.branch {
            x.empty("id", &[("root", OID_BRANCH), ("extension", branch)]);
        }
        if head.postal_code.is_some() || head.address.is_some() {
            x.mixed(
                "addr",
                head.postal_code.map(|p| ("postalCode", p)),
                head.address.unwrap_or(""),
            );
        }
        x.open("patient", &[]);
        if let Some(name) = head.kana_name {
            x.text("name", &[], name);
        }
        x.empty(
            "administrativeGenderCode",
            &[("code", head.sex), ("codeSystem", OID_SEX)],
        );
        x.empty("birthTime", &[("value", head.birth_date)]);
        x.close("patient");
        x.close("patientRole");
        x.close("recordTarget");
    }

    fn write_author_and_custodian(&self, x: &mut XmlOut) {
        let sender = &self.meta.sender;
        x.open("author", &[]);
        x.empty("time", &[("value", &self.creation)]);
        x.open("assignedAuthor", &[]);
        x.empty("id", &[("nullFlavor", "NI")]);
        x.open("representedOrganization", &[]);
        x.empty(
            "id",
            &[("root", sender.kind.oid()), ("extension", &sender.number)],
        );
        x.text("name", &[], &self.meta.sender_name);
        x.close("representedOrganization");
        x.close("assignedAuthor");
        x.close("author");

        x.open("custodian", &[]);
        x.open("assignedCustodian", &[]);
        x.open("representedCustodianOrganization", &[]);
        x.empty(
            "id",
            &[("root", sender.kind.oid()), ("extension", &sender.number)],
        );
        x.text("name", &[], &self.meta.sender_name);
        x.close("representedCustodianOrganization");
        x.close("assignedCustodian");
        x.close("custodian");
    }

    fn write_service_event(&self, x: &mut XmlOut, head: &Head<'_>) {
        x.open("documentationOf", &[]);
        x.open("serviceEvent", &[]);
        x.empty(
            "code",
            &[
                ("code", PROGRAM_TYPE_CHECKUP),
                ("codeSystem", OID_PROGRAM_TYPE),
            ],
        );
        x.empty("effectiveTime", &[("value", head.exam_date)]);
        if let Some(institution) = head.institution {
            x.open("performer", &[("typeCode", "PRF")]);
            x.open("assignedEntity", &[]);
            x.empty("id", &[("nullFlavor", "NI")]);
            x.open("representedOrganization", &[]);
            x.empty(
                "id",
                &[("root", OID_INSTITUTION), ("extension", institution)],
            );
            let sender = &self.meta.sender;
            let name =
                if sender.kind == crate::PartyKind::Institution && sender.number == institution {
                    Some(self.meta.sender_name.as_str())
                } else {
                    self.meta
                        .institution_names
                        .get(institution)
                        .map(String::as_str)
                };
            if let Some(name) = name {
                x.text("name", &[], name);
            }
            x.close("representedOrganization");
            x.close("assignedEntity");
            x.close("performer");
        }
        x.close("serviceEvent");
        x.close("documentationOf");
    }

    fn write_entries(&self, x: &mut XmlOut, observations: &[Obs<'_, '_>]) {
        let mut written_groups: HashSet<&str> = HashSet::new();
        for obs in observations {
            let Some(group) = self.groups.get(obs.item.code.as_str()) else {
                x.open("entry", &[]);
                write_observation(x, obs);
                x.close("entry");
                continue;
            };
            if !written_groups.insert(group.key.as_str()) {
                continue;
            }
            // The group is written where its first member comes in profile order, with all
            // its members present in the record, themselves in profile order.
            x.open("entry", &[]);
            x.open("observation", &[("classCode", "OBS"), ("moodCode", "EVN")]);
            // The group observation has no code of its own (the MHLW identifier is the code
            // of one of its members).
            x.empty("code", &[("nullFlavor", "NA")]);
            for member in observations.iter().filter(|o| {
                self.groups
                    .get(o.item.code.as_str())
                    .is_some_and(|g| g.key == group.key)
            }) {
                let relation = self.groups[member.item.code.as_str()].relation;
                x.open("entryRelationship", &[("typeCode", relation.type_code())]);
                write_observation(x, member);
                x.close("entryRelationship");
            }
            x.close("observation");
            x.close("entry");
        }
    }
}

fn xsi_type(data_type: XmlDataType) -> &'static str {
    match data_type {
        XmlDataType::PQ => "PQ",
        XmlDataType::CD => "CD",
        XmlDataType::CO => "CO",
        XmlDataType::ST => "ST",
    }
}

fn write_observation(x: &mut XmlOut, obs: &Obs<'_, '_>) {
    let not_performed = obs.value.value == Value::NotPerformed;
    let mut attrs = vec![("classCode", "OBS"), ("moodCode", "EVN")];
    if not_performed {
        // 未実施: the observation did not take place. No value and no method are written.
        attrs.push(("negationInd", "true"));
    }
    x.open("observation", &attrs);
    x.empty(
        "code",
        &[
            ("code", obs.item.code.as_str()),
            ("codeSystem", OID_ITEM),
            ("displayName", obs.item.name.as_str()),
        ],
    );
    let ty = xsi_type(obs.xml.data_type);
    match &obs.value.value {
        Value::Number(number) => {
            let mut attrs = vec![("xsi:type", ty), ("value", number.as_str())];
            if let Some(unit) = obs.item.ucum.as_deref() {
                attrs.push(("unit", unit));
            }
            x.empty("value", &attrs);
        }
        Value::Code(codes) => {
            for code in codes {
                let mut attrs = vec![("xsi:type", ty), ("code", code.as_str())];
                if let Some(system) = obs.xml.code_system.as_deref() {
                    attrs.push(("codeSystem", system));
                }
                if let Some(term) = term_of(obs.item, code) {
                    attrs.push(("displayName", term));
                }
                x.empty("value", &attrs);
            }
        }
        Value::Text(text) | Value::Date(text) => x.text("value", &[("xsi:type", ty)], text),
        // Left out before an observation is made (see `write`).
        Value::NotPerformed | Value::Invalid => {}
        Value::Unmeasurable => {
            x.empty(
                "value",
                &[("xsi:type", ty), ("nullFlavor", NULL_UNMEASURABLE)],
            );
        }
    }
    if let Some(flag) = obs.value.flag {
        // Outside the input range: the measured value stays above; this second value says
        // "at least" (H) or "at most" (L), as the MHLW files express it.
        let (code, display) = match flag {
            RangeFlag::High => ("H", "以上"),
            RangeFlag::Low => ("L", "以下"),
        };
        x.empty(
            "value",
            &[
                ("xsi:type", "CD"),
                ("code", code),
                ("codeSystem", OID_INTERPRETATION),
                ("displayName", display),
            ],
        );
    }
    if let (Some(method), false) = (obs.xml.method_code.as_deref(), not_performed) {
        x.empty(
            "methodCode",
            &[("code", method), ("codeSystem", OID_METHOD)],
        );
    }
    x.close("observation");
}

fn term_of<'i>(item: &'i Item, code: &str) -> Option<&'i str> {
    match &item.kind {
        ItemKind::Code { terms } => terms
            .iter()
            .find(|t| t.code == code)
            .map(|t| t.term.as_str())
            .filter(|t| !t.is_empty() && check_text(t).is_ok()),
        _ => None,
    }
}

fn write_ticket(x: &mut XmlOut, ticket: &str, insurer: &str) {
    let root = format!("{OID_TICKET_PREFIX}{insurer}");
    x.open("participant", &[("typeCode", "HLD")]);
    x.empty(
        "functionCode",
        &[("code", "1"), ("codeSystem", OID_CARD_KIND)],
    );
    x.open("associatedEntity", &[("classCode", "IDENT")]);
    x.empty("id", &[("root", &root), ("extension", ticket)]);
    x.open("scopingOrganization", &[]);
    x.empty("id", &[("root", OID_INSURER), ("extension", insurer)]);
    x.close("scopingOrganization");
    x.close("associatedEntity");
    x.close("participant");
}

fn digits(text: &str, n: usize) -> bool {
    text.len() == n && text.bytes().all(|b| b.is_ascii_digit())
}

/// `YYYYMMDD` naming a real calendar day (the schema pattern alone would accept 20250231).
pub(crate) fn is_date(text: &str) -> bool {
    if !digits(text, 8) {
        return false;
    }
    let year: i32 = text[..4].parse().unwrap_or(0);
    let month: u8 = text[4..6].parse().unwrap_or(0);
    let day: u8 = text[6..].parse().unwrap_or(0);
    year >= 1000
        && time::Month::try_from(month)
            .ok()
            .and_then(|m| time::Date::from_calendar_date(year, m, day).ok())
            .is_some()
}

fn check_header<'r>(
    record: &'r CheckupRecord,
    invalid: &impl Fn(&str, String) -> MhlwError,
) -> Result<Head<'r>, MhlwError> {
    let get = |field: HeaderField| -> Result<Option<&'r str>, MhlwError> {
        match record.header.get(field) {
            None | Some("") => Ok(None),
            Some(value) => {
                check_text(value).map_err(|m| invalid(field.key(), m))?;
                Ok(Some(value))
            }
        }
    };
    let required = |field: HeaderField| -> Result<&'r str, MhlwError> {
        get(field)?.ok_or_else(|| {
            invalid(
                field.key(),
                format!("{} ({}) is required", field.label_ja(), field.key()),
            )
        })
    };
    let shaped = |field: HeaderField, value: Option<&'r str>, ok: bool, shape: &str| {
        if ok {
            Ok(value)
        } else {
            Err(invalid(
                field.key(),
                format!(
                    "{} must be {shape}, not {:?}",
                    field.label_ja(),
                    value.unwrap_or("")
                ),
            ))
        }
    };

    let insurer = required(HeaderField::InsurerNumber)?;
    shaped(
        HeaderField::InsurerNumber,
        Some(insurer),
        digits(insurer, 8),
        "8 half-width digits",
    )?;
    let card_part = |field: HeaderField| -> Result<Option<&'r str>, MhlwError> {
        let value = get(field)?;
        let ok = value.is_none_or(|v| v.chars().count() <= 20);
        shaped(field, value, ok, "at most 20 characters")
    };
    let symbol = card_part(HeaderField::Symbol)?;
    let number = card_part(HeaderField::Number)?;
    let branch = get(HeaderField::Branch)?;
    shaped(
        HeaderField::Branch,
        branch,
        branch.is_none_or(|b| digits(b, 2)),
        "2 half-width digits",
    )?;
    let sex = required(HeaderField::Sex)?;
    shaped(
        HeaderField::Sex,
        Some(sex),
        matches!(sex, "1" | "2"),
        "1 (male) or 2 (female)",
    )?;
    let birth_date = required(HeaderField::BirthDate)?;
    shaped(
        HeaderField::BirthDate,
        Some(birth_date),
        is_date(birth_date),
        "a date YYYYMMDD",
    )?;
    let exam_date = required(HeaderField::ExamDate)?;
    shaped(
        HeaderField::ExamDate,
        Some(exam_date),
        is_date(exam_date),
        "a date YYYYMMDD",
    )?;
    let institution = get(HeaderField::InstitutionNumber)?;
    shaped(
        HeaderField::InstitutionNumber,
        institution,
        institution.is_none_or(|i| digits(i, 10)),
        "10 half-width digits",
    )?;
    let ticket = get(HeaderField::TicketNumber)?;
    shaped(
        HeaderField::TicketNumber,
        ticket,
        ticket.is_none_or(|t| digits(t, 11)),
        "11 half-width digits",
    )?;
    Ok(Head {
        insurer,
        symbol,
        number,
        branch,
        kana_name: get(HeaderField::KanaName)?,
        sex,
        birth_date,
        postal_code: get(HeaderField::PostalCode)?,
        address: get(HeaderField::Address)?,
        exam_date,
        institution,
        ticket,
    })
}

/// Whether `text` is an `xs:decimal` (the form of numbers in PQ values this crate writes).
pub(crate) fn is_decimal(text: &str) -> bool {
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    let (int, frac) = match unsigned.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (unsigned, None),
    };
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    all_digits(int)
        && frac.is_none_or(all_digits)
        && (!int.is_empty() || frac.is_some_and(|f| !f.is_empty()))
}

fn check_value(item: &Item, xml: &XmlInfo, value: &ItemValue) -> Result<(), String> {
    let data_type = xml.data_type;
    let is_date_item = matches!(item.kind, ItemKind::Date);
    match (&value.value, data_type) {
        (Value::NotPerformed | Value::Unmeasurable, _) => {}
        (Value::Number(n), XmlDataType::PQ) => {
            if !is_decimal(n) {
                return Err(format!("{n:?} is not a decimal number"));
            }
        }
        (Value::Code(codes), XmlDataType::CD | XmlDataType::CO) => {
            if codes.is_empty() {
                return Err("a coded value without any code".into());
            }
            for code in codes {
                if code.is_empty() || code.chars().any(char::is_whitespace) {
                    return Err(format!("code {code:?} is empty or contains white space"));
                }
                check_text(code)?;
            }
        }
        (Value::Text(text), XmlDataType::ST) if !is_date_item => check_text(text)?,
        (Value::Date(date), XmlDataType::ST) if is_date_item => {
            if !is_date(date) {
                return Err(format!("{date:?} is not a date YYYYMMDD"));
            }
        }
        (other, _) => {
            return Err(format!(
                "a {} value cannot be written for an item of XML type {:?}{}",
                value_kind(other),
                data_type,
                if is_date_item { " (date)" } else { "" }
            ))
        }
    }
    if value.flag.is_some() && !matches!(value.value, Value::Number(_)) {
        return Err("an H/L range flag needs a measured number".into());
    }
    Ok(())
}

fn value_kind(value: &Value) -> &'static str {
    match value {
        Value::Number(_) => "number",
        Value::Code(_) => "code",
        Value::Text(_) => "text",
        Value::Date(_) => "date",
        Value::NotPerformed => "not-performed",
        Value::Unmeasurable => "unmeasurable",
        Value::Invalid => "left-empty",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals() {
        for ok in ["1", "172.5", "-3", "+0.5", ".5", "5.", "0012"] {
            assert!(is_decimal(ok), "{ok}");
        }
        for bad in ["", ".", "-", "1e3", "1.2.3", " 1", "１", "NaN"] {
            assert!(!is_decimal(bad), "{bad}");
        }
    }

    #[test]
    fn dates() {
        assert!(is_date("20240229"));
        assert!(!is_date("20250229"));
        assert!(!is_date("2025041"));
        assert!(!is_date("20251301"));
    }
}
