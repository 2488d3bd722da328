//! One examinee's visit as a FHIR R4 document Bundle.

use std::collections::HashSet;

use kenshin_profile::{
    CheckupRecord, HeaderField, Item, ItemKind, ItemValue, Profile, RangeFlag,
    Value as RecordValue, XmlDataType, XmlInfo,
};
use serde_json::{json, Map, Number, Value};
use time::macros::format_description;
use time::{Date, Month, OffsetDateTime};

use crate::context::is_institution_number;
use crate::ids::{resource_urn, Hasher};
use crate::ig;
use crate::{FhirError, ReportingContext};

/// 健康診断を実施した医師の氏名: names the Practitioner when present.
const DOCTOR_NAME_ITEM: &str = "9N516000000000049";
/// 医師の診断(判定): its Observation names that doctor as performer.
const DOCTOR_DIAGNOSIS_ITEM: &str = "9N511000000000049";
/// Bumped if the way UUIDs are derived ever changes, so old and new ids cannot collide.
const ID_DOMAIN: &[u8] = b"kenshin-fhir/ids/1";

/// The document Bundle of one record.
///
/// `seq` is the document number: it makes the 8-digit serial of `Composition.identifier`
/// (`<医療機関番号>-<year>-<seq, 8 digits>`; the IG wants it unique per institution and year)
/// and enters the resource UUIDs. [`NdjsonWriter`](crate::NdjsonWriter) numbers records from
/// [`ReportingContext::first_sequence`].
///
/// The Composition is the first entry, then Patient, Practitioner, the 健診機関's Organization,
/// Encounter, the insurer's Organization, the 受診券 Coverage (when the record has a 受診券整理番号)
/// and one Observation per item value, in record order. Every reference is a `urn:uuid:` of
/// an entry's `fullUrl`. The same arguments always give the same Bundle.
pub fn bundle(
    record: &CheckupRecord,
    profile: &Profile,
    ctx: &ReportingContext,
    seq: u64,
) -> Result<Value, FhirError> {
    ctx.check()?;
    let head = Head::read(record, ctx)?;
    let observations = collect_observations(record, profile)?;
    let digest = record_digest(record, profile, ctx, &head, seq);

    let ids = Ids {
        composition: resource_urn(digest, "Composition"),
        patient: resource_urn(digest, "Patient"),
        practitioner: resource_urn(digest, "Practitioner"),
        organization: resource_urn(digest, "Organization"),
        encounter: resource_urn(digest, "Encounter"),
        insurer: resource_urn(digest, "Organization/insurer"),
        coverage: resource_urn(digest, "Coverage/ticket"),
    };
    let instant = format_instant(ctx.created);
    let year = ctx.created.year();
    // Unique per institution and year with a caller-unique seq; the IG's serial has 8 digits.
    let serial = seq % 100_000_000;
    let document_id = format!("{}-{year:04}-{serial:08}", head.institution);
    let report_id = format!(
        "{year:04}-{serial:08}-{:012X}",
        (digest >> 80) & 0xFFFF_FFFF_FFFF
    );

    let doctor_from_record = record.value(DOCTOR_NAME_ITEM).and_then(|v| match &v.value {
        RecordValue::Text(name) => person_name(name),
        _ => None,
    });
    let practitioner_name = doctor_from_record
        .clone()
        .or_else(|| ctx.reporter_name.as_deref().and_then(person_name));

    let mut entries = Vec::with_capacity(observations.len() + 7);
    let mut results_section = Vec::new();
    let mut questionnaire_section = Vec::new();
    let mut additional_section = Vec::new();
    let mut obs_entries = Vec::with_capacity(observations.len());
    for obs in &observations {
        let url = resource_urn(digest, &format!("Observation/{}", obs.item.code));
        let performer = (obs.item.code == DOCTOR_DIAGNOSIS_ITEM && doctor_from_record.is_some())
            .then_some(ids.practitioner.as_str());
        let resource = observation(obs, ctx, &head, &ids.patient, performer, &instant);
        let line = narrative_line(obs);
        let reference = json!({ "reference": url });
        match obs.section {
            Section::Results => results_section.push((reference, line)),
            Section::Questionnaire => questionnaire_section.push((reference, line)),
            Section::Additional => additional_section.push((reference, line)),
        }
        obs_entries.push(entry(url, resource));
    }
    if head.ticket.is_some() {
        // The IG lists the 受診券 Coverage among the entries of the results section.
        results_section.push((
            json!({ "reference": ids.coverage }),
            "受診券情報".to_string(),
        ));
    }

    let mut sections = Vec::new();
    for (code, display, list) in [
        (
            ig::SECTION_SPECIFIC_RESULTS,
            ig::SECTION_SPECIFIC_RESULTS_DISPLAY,
            results_section,
        ),
        (
            ig::SECTION_SPECIFIC_QUESTIONNAIRE,
            ig::SECTION_SPECIFIC_QUESTIONNAIRE_DISPLAY,
            questionnaire_section,
        ),
        (
            ig::SECTION_ADDITIONAL,
            ig::SECTION_ADDITIONAL_DISPLAY,
            additional_section,
        ),
    ] {
        if list.is_empty() {
            continue;
        }
        let mut div = String::from("<div xmlns=\"http://www.w3.org/1999/xhtml\"><ul>");
        let mut refs = Vec::with_capacity(list.len());
        for (reference, line) in list {
            div.push_str("<li>");
            div.push_str(&xml_escape(&line));
            div.push_str("</li>");
            refs.push(reference);
        }
        div.push_str("</ul></div>");
        sections.push(json!({
            "title": display,
            "code": { "coding": [coding(ig::SECTION_CODE_SYSTEM, code, Some(display))] },
            "text": { "status": "generated", "div": div },
            "entry": refs,
        }));
    }

    let composition = json!({
        "resourceType": "Composition",
        "meta": meta(ig::PROFILE_COMPOSITION, &instant),
        "language": "ja",
        "extension": [{ "url": ig::VERSION_NUMBER_EXTENSION, "valueString": "1" }],
        "identifier": {
            "system": ig::RESOURCE_INSTANCE_IDENTIFIER_SYSTEM,
            "value": document_id,
        },
        "status": "final",
        "type": { "coding": [coding(
            ig::DOC_TYPE_SYSTEM,
            ig::DOC_TYPE_CHECKUP_REPORT,
            Some(ig::DOC_TYPE_CHECKUP_REPORT_DISPLAY),
        )] },
        "category": [{ "coding": [coding(
            ig::REPORT_CATEGORY_SYSTEM,
            ig::REPORT_CATEGORY_SPECIFIC_CHECKUP,
            Some(ig::REPORT_CATEGORY_SPECIFIC_CHECKUP_DISPLAY),
        )] }],
        "subject": { "reference": ids.patient },
        "encounter": { "reference": ids.encounter },
        "date": format_seconds(ctx.created),
        "author": [
            { "reference": ids.practitioner },
            { "reference": ids.organization },
        ],
        "title": "特定健康診査結果報告書",
        "custodian": { "reference": ids.organization },
        "event": [{
            "code": [{ "coding": [coding(
                ig::PROGRAM_SERVICE_SYSTEM,
                ig::PROGRAM_SERVICE_SPECIFIC_CHECKUP,
                Some(ig::PROGRAM_SERVICE_SPECIFIC_CHECKUP_DISPLAY),
            )] }],
            "period": { "start": head.exam_date, "end": head.exam_date },
            "detail": [{ "reference": ids.encounter }],
        }],
        "section": sections,
    });

    entries.push(entry(ids.composition.clone(), composition));
    entries.push(entry(
        ids.patient.clone(),
        patient(&head, &ids.insurer, &instant),
    ));
    entries.push(entry(
        ids.practitioner.clone(),
        practitioner(practitioner_name.as_ref(), &instant),
    ));
    entries.push(entry(
        ids.organization.clone(),
        institution(ctx, &head, &instant),
    ));
    entries.push(entry(
        ids.encounter.clone(),
        json!({
            "resourceType": "Encounter",
            "meta": meta(ig::PROFILE_ENCOUNTER, &instant),
            "status": "finished",
            "class": coding(
                ig::ENCOUNTER_CLASS_SYSTEM,
                ig::ENCOUNTER_CLASS_CHECKUP,
                Some(ig::ENCOUNTER_CLASS_CHECKUP_DISPLAY),
            ),
            "subject": { "reference": ids.patient },
            "period": { "start": head.exam_date, "end": head.exam_date },
            "serviceProvider": { "reference": ids.organization },
        }),
    ));
    entries.push(entry(
        ids.insurer.clone(),
        json!({
            "resourceType": "Organization",
            "meta": meta(ig::PROFILE_ORGANIZATION_INSURER, &instant),
            "identifier": [{ "system": ig::INSURER_NUMBER_SYSTEM, "value": head.insurer }],
            "type": [{ "coding": [coding(
                ig::ORGANIZATION_TYPE_SYSTEM,
                ig::ORGANIZATION_TYPE_INSURER,
                None,
            )] }],
        }),
    ));
    if let Some(ticket) = head.ticket.as_deref() {
        entries.push(entry(
            ids.coverage.clone(),
            json!({
                "resourceType": "Coverage",
                "meta": meta(ig::PROFILE_COVERAGE_SERVICE, &instant),
                "identifier": [{
                    "system": ig::INSURED_PERSON_ID_SYSTEM,
                    "value": head.insured_person_id,
                }],
                "status": "active",
                "type": { "coding": [coding(ig::TICKET_TYPE_SYSTEM, ig::TICKET_TYPE_CODE, None)] },
                "subscriberId": ticket,
                "beneficiary": { "reference": ids.patient },
                "payor": [{ "reference": ids.insurer }],
            }),
        ));
    }
    entries.extend(obs_entries);

    Ok(json!({
        "resourceType": "Bundle",
        "meta": meta(ig::PROFILE_BUNDLE, &instant),
        "identifier": {
            "system": ig::BUNDLE_IDENTIFIER_SYSTEM,
            "value": format!("{}^{report_id}", head.institution),
        },
        "type": "document",
        "timestamp": instant,
        "entry": entries,
    }))
}

struct Ids {
    composition: String,
    patient: String,
    practitioner: String,
    organization: String,
    encounter: String,
    insurer: String,
    coverage: String,
}

fn entry(full_url: String, resource: Value) -> Value {
    json!({ "fullUrl": full_url, "resource": resource })
}

fn meta(profile: &str, instant: &str) -> Value {
    json!({ "lastUpdated": instant, "profile": [profile] })
}

fn coding(system: &str, code: &str, display: Option<&str>) -> Value {
    let mut c = Map::new();
    c.insert("system".into(), system.into());
    c.insert("code".into(), code.into());
    if let Some(display) = display.filter(|d| !d.trim().is_empty()) {
        c.insert("display".into(), fhir_string(display).into());
    }
    Value::Object(c)
}

// ---- Header -----------------------------------------------------------------------------------

/// The header of a record, checked and in FHIR's forms.
struct Head {
    institution: String,
    insurer: String,
    insured_person_id: String,
    kanji_name: Option<PersonName>,
    kana_name: Option<PersonName>,
    gender: &'static str,
    birth_date: String,
    exam_date: String,
    postal_code: Option<String>,
    address: Option<String>,
    ticket: Option<String>,
}

impl Head {
    fn read(record: &CheckupRecord, ctx: &ReportingContext) -> Result<Head, FhirError> {
        let header = &record.header;
        let get = |field: HeaderField| {
            header
                .get(field)
                .map(str::trim)
                .filter(|value| !value.is_empty())
        };
        let required = |field: HeaderField| get(field).ok_or(FhirError::MissingHeader { field });

        let institution = if ctx.institution_number.is_empty() {
            let number = required(HeaderField::InstitutionNumber)?;
            if !is_institution_number(number) {
                return Err(FhirError::InvalidHeader {
                    field: HeaderField::InstitutionNumber,
                    reason: "a 医療機関番号 has 10 digits",
                });
            }
            number.to_string()
        } else {
            ctx.institution_number.clone()
        };

        let insurer = insurer_number(required(HeaderField::InsurerNumber)?)?;
        let symbol = card_part(HeaderField::Symbol, get(HeaderField::Symbol))?;
        let number = card_part(HeaderField::Number, get(HeaderField::Number))?;
        let branch = match get(HeaderField::Branch) {
            None => String::new(),
            Some(b) if (1..=2).contains(&b.len()) && b.bytes().all(|c| c.is_ascii_digit()) => {
                format!("{b:0>2}")
            }
            Some(_) => {
                return Err(FhirError::InvalidHeader {
                    field: HeaderField::Branch,
                    reason: "a 枝番 has 2 digits",
                })
            }
        };
        let insured_person_id = format!("{insurer}:{symbol}:{number}:{branch}");

        let kanji_name = get(HeaderField::Name).and_then(person_name);
        let kana_name = get(HeaderField::KanaName).and_then(person_name);
        if kanji_name.is_none() && kana_name.is_none() {
            // The IG's Patient needs name.text, from the kanji or the kana name.
            return Err(FhirError::MissingHeader {
                field: HeaderField::KanaName,
            });
        }
        let gender = match required(HeaderField::Sex)? {
            "1" => "male",
            "2" => "female",
            _ => {
                return Err(FhirError::InvalidHeader {
                    field: HeaderField::Sex,
                    reason: "性別 is 1 (male) or 2 (female)",
                })
            }
        };
        let birth_date = iso_date(HeaderField::BirthDate, required(HeaderField::BirthDate)?)?;
        let exam_date = iso_date(HeaderField::ExamDate, required(HeaderField::ExamDate)?)?;
        let ticket = get(HeaderField::TicketNumber).map(fhir_string);
        Ok(Head {
            institution,
            insurer,
            insured_person_id,
            kanji_name,
            kana_name,
            gender,
            birth_date,
            exam_date,
            postal_code: get(HeaderField::PostalCode).map(fhir_string),
            address: get(HeaderField::Address).map(fhir_string),
            ticket,
        })
    }
}

/// 8 digits; a 6-digit 国保 number is written with two leading zeros, as the 被保険者個人識別子
/// wants a fixed 8.
fn insurer_number(text: &str) -> Result<String, FhirError> {
    if text.bytes().all(|b| b.is_ascii_digit()) {
        match text.len() {
            8 => return Ok(text.to_string()),
            6 => return Ok(format!("00{text}")),
            _ => {}
        }
    }
    Err(FhirError::InvalidHeader {
        field: HeaderField::InsurerNumber,
        reason: "a 保険者番号 has 8 (or 6) digits",
    })
}

/// 記号 or 番号 inside the `:`-separated 被保険者個人識別子: no white space, no `:`.
fn card_part(field: HeaderField, value: Option<&str>) -> Result<String, FhirError> {
    let Some(value) = value else {
        return Ok(String::new());
    };
    if value.contains(':') {
        return Err(FhirError::InvalidHeader {
            field,
            reason: "':' separates the parts of the 被保険者個人識別子",
        });
    }
    Ok(fhir_string(value)
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect())
}

/// `YYYYMMDD` → `YYYY-MM-DD`, a real calendar date.
fn iso_date(field: HeaderField, text: &str) -> Result<String, FhirError> {
    let invalid = FhirError::InvalidHeader {
        field,
        reason: "a date is YYYYMMDD",
    };
    if text.len() != 8 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid);
    }
    let year: i32 = text[0..4].parse().map_err(|_| invalid_date(field))?;
    let month: u8 = text[4..6].parse().map_err(|_| invalid_date(field))?;
    let day: u8 = text[6..8].parse().map_err(|_| invalid_date(field))?;
    let month = Month::try_from(month).map_err(|_| invalid_date(field))?;
    let date = Date::from_calendar_date(year, month, day).map_err(|_| invalid_date(field))?;
    Ok(format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    ))
}

fn invalid_date(field: HeaderField) -> FhirError {
    FhirError::InvalidHeader {
        field,
        reason: "not a calendar date",
    }
}

#[derive(Clone)]
struct PersonName {
    text: String,
    family: Option<String>,
    given: Option<String>,
}

/// The IG forbids the full-width space in names: family and given name are split at the
/// first space of either width and joined again with one half-width space.
fn person_name(raw: &str) -> Option<PersonName> {
    let cleaned = fhir_string(raw);
    let words: Vec<&str> = cleaned.split_whitespace().collect();
    match words.as_slice() {
        [] => None,
        [one] => Some(PersonName {
            text: (*one).to_string(),
            family: None,
            given: None,
        }),
        [family, given @ ..] => {
            let given = given.join(" ");
            Some(PersonName {
                text: format!("{family} {given}"),
                family: Some((*family).to_string()),
                given: Some(given),
            })
        }
    }
}

fn human_name(name: &PersonName, representation: Option<&str>) -> Value {
    let mut n = Map::new();
    if let Some(representation) = representation {
        n.insert(
            "extension".into(),
            json!([{ "url": ig::NAME_REPRESENTATION_EXTENSION, "valueCode": representation }]),
        );
        n.insert("use".into(), "official".into());
    }
    n.insert("text".into(), name.text.clone().into());
    if let Some(family) = &name.family {
        n.insert("family".into(), family.clone().into());
    }
    if let Some(given) = &name.given {
        n.insert("given".into(), json!([given]));
    }
    Value::Object(n)
}

fn patient(head: &Head, insurer: &str, instant: &str) -> Value {
    let mut names = Vec::with_capacity(2);
    if let Some(name) = &head.kanji_name {
        names.push(human_name(name, Some("IDE")));
    }
    if let Some(name) = &head.kana_name {
        names.push(human_name(name, Some("SYL")));
    }
    let mut p = Map::new();
    p.insert("resourceType".into(), "Patient".into());
    p.insert("meta".into(), meta(ig::PROFILE_PATIENT, instant));
    p.insert(
        "identifier".into(),
        // The insurer that assigned it: keeps the insurer's Organization in the document's
        // reference graph when there is no 受診券 Coverage to name it as payor.
        json!([{
            "system": ig::INSURED_PERSON_ID_SYSTEM,
            "value": head.insured_person_id,
            "assigner": { "reference": insurer },
        }]),
    );
    p.insert("name".into(), names.into());
    p.insert("gender".into(), head.gender.into());
    p.insert("birthDate".into(), head.birth_date.clone().into());
    // The IG's address needs its text; a postal code alone is not written.
    if let Some(address) = &head.address {
        let mut a = Map::new();
        a.insert("text".into(), address.clone().into());
        if let Some(postal) = &head.postal_code {
            a.insert("postalCode".into(), postal.clone().into());
        }
        a.insert("country".into(), "JP".into());
        p.insert("address".into(), json!([a]));
    }
    Value::Object(p)
}

fn practitioner(name: Option<&PersonName>, instant: &str) -> Value {
    let mut p = Map::new();
    p.insert("resourceType".into(), "Practitioner".into());
    p.insert("meta".into(), meta(ig::PROFILE_PRACTITIONER, instant));
    if let Some(name) = name {
        // Whether the doctor's name is kanji or kana is not known: no representation.
        p.insert("name".into(), json!([human_name(name, None)]));
    }
    Value::Object(p)
}

fn institution(ctx: &ReportingContext, head: &Head, instant: &str) -> Value {
    let mut o = Map::new();
    o.insert("resourceType".into(), "Organization".into());
    o.insert("meta".into(), meta(ig::PROFILE_ORGANIZATION, instant));
    o.insert(
        "identifier".into(),
        json!([{ "system": ig::INSTITUTION_NUMBER_SYSTEM, "value": head.institution }]),
    );
    // The same 健診機関 performed the checkup and writes the report.
    o.insert(
        "type".into(),
        json!([
            { "coding": [coding(ig::ORGANIZATION_TYPE_SYSTEM, ig::ORGANIZATION_TYPE_PROVIDER, None)] },
            { "coding": [coding(ig::ORGANIZATION_ROLE_SYSTEM, ig::ORGANIZATION_ROLE_PERFORMER, None)] },
            { "coding": [coding(ig::ORGANIZATION_ROLE_SYSTEM, ig::ORGANIZATION_ROLE_REPORTER, None)] },
        ]),
    );
    o.insert(
        "name".into(),
        fhir_string(ctx.institution_name.trim()).into(),
    );
    if let (Some(postal), Some(address)) = (&ctx.institution_postal_code, &ctx.institution_address)
    {
        o.insert(
            "address".into(),
            json!([{
                "text": fhir_string(address),
                "postalCode": fhir_string(postal),
                "country": "JP",
            }]),
        );
    }
    Value::Object(o)
}

// ---- Observations -----------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Section {
    /// 特定健診 items other than the 質問票.
    Results,
    /// The 特定健診 質問票.
    Questionnaire,
    /// Items no 特定健診 programme uses (追加項目, がん検診, 後期質問票, …).
    Additional,
}

struct Obs<'a> {
    item: &'a Item,
    xml: &'a XmlInfo,
    value: &'a ItemValue,
    section: Section,
}

fn collect_observations<'a>(
    record: &'a CheckupRecord,
    profile: &'a Profile,
) -> Result<Vec<Obs<'a>>, FhirError> {
    let mut seen = HashSet::with_capacity(record.values.len());
    let mut out = Vec::with_capacity(record.values.len());
    for value in &record.values {
        if !seen.insert(value.code.as_str()) {
            return Err(FhirError::DuplicateItem {
                code: value.code.clone(),
            });
        }
        let item = profile
            .item(&value.code)
            .ok_or_else(|| FhirError::UnknownItem {
                code: value.code.clone(),
                profile: profile.label(),
            })?;
        // An item without an XML form has no 特定健診項目コード to code the Observation with.
        let Some(xml) = item.xml.as_ref() else {
            continue;
        };
        // A value the source gave but that could not be taken has no standard value: as in
        // the MHLW archive, the item is left out (the conversion report lists it).
        if value.value == RecordValue::Invalid {
            continue;
        }
        check_value(item, xml, value).map_err(|reason| FhirError::InvalidValue {
            code: value.code.clone(),
            reason,
        })?;
        out.push(Obs {
            item,
            xml,
            value,
            section: section_of(item),
        });
    }
    Ok(out)
}

fn section_of(item: &Item) -> Section {
    let specific = item.programs.iter().any(|p| p.starts_with("特定健診"));
    if !specific {
        Section::Additional
    } else if item.category == "質問票" {
        Section::Questionnaire
    } else {
        Section::Results
    }
}

/// The JP Core simple category of an item, by its 区分. The IG allows `exam` for all.
fn category_of(item: &Item) -> &'static str {
    let c = item.category.as_str();
    if c.contains("身体計測") {
        "body-measurement"
    } else if c.contains("血圧") {
        "vital-signs"
    } else if c.contains("質問票") || c.contains("チェックリスト") {
        "social-history"
    } else if [
        "生化学",
        "血糖",
        "尿",
        "血液",
        "脂質",
        "肝機能",
        "採血",
        "電解質",
        "凝固",
        "内分泌",
        "腫瘍マーカ",
    ]
    .iter()
    .any(|k| c.contains(k))
    {
        "laboratory"
    } else {
        "exam"
    }
}

fn check_value(item: &Item, xml: &XmlInfo, value: &ItemValue) -> Result<(), String> {
    let is_date_item = matches!(item.kind, ItemKind::Date);
    match (&value.value, xml.data_type) {
        (RecordValue::NotPerformed | RecordValue::Unmeasurable, _) => {}
        (RecordValue::Number(n), XmlDataType::PQ) => {
            decimal(n).ok_or("the number is not a decimal")?;
        }
        (RecordValue::Code(codes), XmlDataType::CD | XmlDataType::CO) => {
            if codes.is_empty() {
                return Err("a coded value without any code".into());
            }
            if codes
                .iter()
                .any(|c| c.is_empty() || c.chars().any(char::is_whitespace))
            {
                return Err("a code is empty or contains white space".into());
            }
        }
        (RecordValue::Text(text), XmlDataType::ST) if !is_date_item => {
            if fhir_string(text).trim().is_empty() {
                return Err("the text is empty".into());
            }
        }
        (RecordValue::Date(date), XmlDataType::ST) if is_date_item => {
            iso_date(HeaderField::ExamDate, date).map_err(|_| "the date is not YYYYMMDD")?;
        }
        (other, data_type) => {
            return Err(format!(
                "a {} value does not fit an item of type {}{}",
                value_kind(other),
                data_type,
                if is_date_item { " (date)" } else { "" }
            ))
        }
    }
    if value.flag.is_some() && !matches!(value.value, RecordValue::Number(_)) {
        return Err("an H/L range flag needs a measured number".into());
    }
    Ok(())
}

fn value_kind(value: &RecordValue) -> &'static str {
    match value {
        RecordValue::Number(_) => "number",
        RecordValue::Code(_) => "code",
        RecordValue::Text(_) => "text",
        RecordValue::Date(_) => "date",
        RecordValue::NotPerformed => "not-performed",
        RecordValue::Unmeasurable => "unmeasurable",
        RecordValue::Invalid => "left-empty",
    }
}

fn observation(
    obs: &Obs<'_>,
    ctx: &ReportingContext,
    head: &Head,
    patient: &str,
    performer: Option<&str>,
    instant: &str,
) -> Value {
    let item = obs.item;
    let mut codings = vec![coding(ig::ITEM_CODE_SYSTEM, &item.code, Some(&item.name))];
    if let Some(jlac10) = ctx.jlac10.get(&item.code) {
        codings.push(coding(ig::JLAC10_SYSTEM, jlac10, Some(&item.name)));
    }
    let mut o = Map::new();
    o.insert("resourceType".into(), "Observation".into());
    o.insert("meta".into(), meta(ig::PROFILE_OBSERVATION, instant));
    // The profile fixes status to final; 未実施 and 測定不能 are told by dataAbsentReason.
    o.insert("status".into(), "final".into());
    o.insert(
        "category".into(),
        json!([{ "coding": [coding(ig::OBSERVATION_CATEGORY_SYSTEM, category_of(item), None)] }]),
    );
    o.insert("code".into(), json!({ "coding": codings }));
    o.insert("subject".into(), json!({ "reference": patient }));
    o.insert("effectiveDateTime".into(), head.exam_date.clone().into());
    if let Some(performer) = performer {
        o.insert("performer".into(), json!([{ "reference": performer }]));
    }
    match &obs.value.value {
        RecordValue::Number(text) => {
            let number = decimal(text).expect("checked by check_value");
            let mut q = Map::new();
            q.insert("value".into(), Value::Number(number));
            if let Some(unit) = item.unit.as_deref().or(item.ucum.as_deref()) {
                q.insert("unit".into(), fhir_string(unit).into());
            }
            if let Some(ucum) = item.ucum.as_deref() {
                q.insert("system".into(), ig::UCUM_SYSTEM.into());
                q.insert("code".into(), ucum.into());
            }
            o.insert("valueQuantity".into(), Value::Object(q));
        }
        RecordValue::Code(codes) => {
            o.insert("valueCodeableConcept".into(), coded_value(obs, codes));
        }
        RecordValue::Text(text) => {
            o.insert("valueString".into(), fhir_string(text).into());
        }
        RecordValue::Date(date) => {
            let iso = iso_date(HeaderField::ExamDate, date).expect("checked by check_value");
            o.insert("valueDateTime".into(), iso.into());
        }
        RecordValue::NotPerformed => {
            o.insert(
                "dataAbsentReason".into(),
                json!({ "coding": [coding(
                    ig::DATA_ABSENT_REASON_SYSTEM,
                    ig::DATA_ABSENT_NOT_PERFORMED,
                    Some("Not Performed"),
                )] }),
            );
        }
        RecordValue::Unmeasurable => {
            o.insert(
                "dataAbsentReason".into(),
                json!({ "coding": [coding(
                    ig::DATA_ABSENT_REASON_SYSTEM,
                    ig::DATA_ABSENT_UNMEASURABLE,
                    Some("Error"),
                )] }),
            );
        }
        RecordValue::Invalid => unreachable!("left out by collect_observations"),
    }
    if let Some(flag) = obs.value.flag {
        // The flag is the item's input range (入力範囲), for which the IG has HX and LX
        // (H and L being the reference range's).
        let (code, display) = match flag {
            RangeFlag::High => (ig::INTERPRETATION_ABOVE_INPUT_RANGE, "above high threshold"),
            RangeFlag::Low => (ig::INTERPRETATION_BELOW_INPUT_RANGE, "below low threshold"),
        };
        o.insert(
            "interpretation".into(),
            json!([{ "coding": [coding(ig::INTERPRETATION_SYSTEM, code, Some(display))] }]),
        );
    }
    if let (Some(method), false) = (
        obs.xml.method_code.as_deref(),
        obs.value.value == RecordValue::NotPerformed,
    ) {
        o.insert(
            "method".into(),
            json!({ "coding": [coding(ig::METHOD_CODE_SYSTEM, method, None)] }),
        );
    }
    Value::Object(o)
}

fn coded_value(obs: &Obs<'_>, codes: &[String]) -> Value {
    let system = obs.xml.code_system.as_deref().map(ig::oid_system);
    let mut codings = Vec::with_capacity(codes.len());
    let mut terms = Vec::with_capacity(codes.len());
    for code in codes {
        let term = term_of(obs.item, code);
        let mut c = Map::new();
        if obs.xml.data_type == XmlDataType::CO {
            if let Ok(rank) = code.parse::<u64>() {
                c.insert(
                    "extension".into(),
                    json!([{ "url": ig::ORDINAL_VALUE_EXTENSION, "valueDecimal": rank }]),
                );
            }
        }
        if let Some(system) = &system {
            c.insert("system".into(), system.clone().into());
        }
        c.insert("code".into(), code.clone().into());
        if let Some(term) = term {
            c.insert("display".into(), fhir_string(term).into());
            terms.push(term);
        }
        codings.push(Value::Object(c));
    }
    let mut cc = Map::new();
    cc.insert("coding".into(), codings.into());
    if codes.len() > 1 && !terms.is_empty() {
        // Several values of one item: the codings hold each, the text all of them.
        cc.insert("text".into(), fhir_string(&terms.join("、")).into());
    }
    Value::Object(cc)
}

fn term_of<'i>(item: &'i Item, code: &str) -> Option<&'i str> {
    match &item.kind {
        ItemKind::Code { terms } => terms
            .iter()
            .find(|t| t.code == code)
            .map(|t| t.term.as_str()),
        _ => None,
    }
}

fn narrative_line(obs: &Obs<'_>) -> String {
    let item = obs.item;
    let value = match &obs.value.value {
        RecordValue::Number(n) => match item.unit.as_deref() {
            Some(unit) => format!("{n} {unit}"),
            None => n.clone(),
        },
        RecordValue::Code(codes) => codes
            .iter()
            .map(|c| term_of(item, c).unwrap_or(c).to_string())
            .collect::<Vec<_>>()
            .join("、"),
        RecordValue::Text(t) | RecordValue::Date(t) => t.clone(),
        RecordValue::NotPerformed => "未実施".into(),
        RecordValue::Unmeasurable => "測定不能".into(),
        RecordValue::Invalid => String::new(),
    };
    let flag = match obs.value.flag {
        Some(RangeFlag::High) => "（入力範囲上限超）",
        Some(RangeFlag::Low) => "（入力範囲下限未満）",
        None => "",
    };
    fhir_string(&format!("{} {value}{flag}", item.name))
}

// ---- Values and text --------------------------------------------------------------------------

/// A FHIR `decimal` from the record's number text: an optional sign, digits, an optional
/// fraction. Leading zeros go (FHIR forbids them); integers stay integers.
///
/// serde_json keeps no textual form of a number, so trailing zeros of a fraction are not kept
/// (`5.10` is written `5.1`); the value is exact.
pub(crate) fn decimal(text: &str) -> Option<Number> {
    let text = text.trim();
    let (negative, unsigned) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let (int, frac) = match unsigned.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (unsigned, None),
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || frac.is_some_and(|f| f.is_empty() || !digits(f)) {
        return None;
    }
    if int.is_empty() && frac.is_none() {
        return None;
    }
    if int.len() > 18 || frac.is_some_and(|f| f.len() > 17) {
        return None;
    }
    let int = int.trim_start_matches('0');
    let int = if int.is_empty() { "0" } else { int };
    let sign = if negative { "-" } else { "" };
    match frac {
        None => {
            let n: i64 = format!("{sign}{int}").parse().ok()?;
            Some(Number::from(n))
        }
        Some(frac) => {
            let f: f64 = format!("{sign}{int}.{frac}").parse().ok()?;
            Number::from_f64(f)
        }
    }
}

/// FHIR strings carry no C0 controls other than tab, CR and LF.
pub(crate) fn fhir_string(text: &str) -> String {
    text.chars()
        .filter(|&c| !c.is_control() || matches!(c, '\t' | '\r' | '\n'))
        .collect::<String>()
        .trim()
        .to_string()
}

fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
    out
}

/// `instant`, to the millisecond with the offset, as the IG asks of Bundle.timestamp.
fn format_instant(at: OffsetDateTime) -> String {
    at.format(format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3][offset_hour sign:mandatory]:[offset_minute]"
    ))
    .expect("a year in 0000-9999 (checked) always formats")
}

/// `dateTime` to the second with the offset, as the IG asks of Composition.date.
fn format_seconds(at: OffsetDateTime) -> String {
    at.format(format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second][offset_hour sign:mandatory]:[offset_minute]"
    ))
    .expect("a year in 0000-9999 (checked) always formats")
}

fn record_digest(
    record: &CheckupRecord,
    profile: &Profile,
    ctx: &ReportingContext,
    head: &Head,
    seq: u64,
) -> u128 {
    let mut h = Hasher::new();
    h.field(ID_DOMAIN);
    h.field(profile.label().as_bytes());
    h.field(head.institution.as_bytes());
    h.field(ctx.batch_id.as_bytes());
    h.field(&seq.to_le_bytes());
    // The record's canonical JSON: header fields are a sorted map, values in record order.
    serde_json::to_writer(&mut h, record).expect("a CheckupRecord always serialises");
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_follow_fhir_syntax() {
        assert_eq!(decimal("172.5").unwrap().to_string(), "172.5");
        assert_eq!(decimal("70").unwrap().to_string(), "70");
        assert_eq!(decimal("070").unwrap().to_string(), "70");
        assert_eq!(decimal("-0.5").unwrap().to_string(), "-0.5");
        assert_eq!(decimal("+3").unwrap().to_string(), "3");
        assert_eq!(decimal("0.05").unwrap().to_string(), "0.05");
        for bad in ["", "-", ".", "1.", "1e3", "abc", "1,5", " ", "1.2.3"] {
            assert!(decimal(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn names_lose_the_full_width_space() {
        let n = person_name("ヤマダ　タロウ").unwrap();
        assert_eq!(n.text, "ヤマダ タロウ");
        assert_eq!(n.family.as_deref(), Some("ヤマダ"));
        assert_eq!(n.given.as_deref(), Some("タロウ"));
        let one = person_name(" 山田 ").unwrap();
        assert_eq!((one.text.as_str(), one.family), ("山田", None));
        assert!(person_name("　").is_none());
    }

    #[test]
    fn dates_are_calendar_dates() {
        assert_eq!(
            iso_date(HeaderField::BirthDate, "19600229").unwrap(),
            "1960-02-29"
        );
        for bad in ["19610229", "2024131", "20241301", "2024-01-01", "abcdefgh"] {
            assert!(iso_date(HeaderField::BirthDate, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn insurer_numbers_are_eight_digits() {
        assert_eq!(insurer_number("06999901").unwrap(), "06999901");
        assert_eq!(insurer_number("139999").unwrap(), "00139999");
        assert!(insurer_number("1234567").is_err());
        assert!(insurer_number("0699990A").is_err());
    }

    #[test]
    fn narrative_text_is_escaped() {
        assert_eq!(xml_escape("a<b & \"c\">"), "a&lt;b &amp; &quot;c&quot;&gt;");
    }
}
