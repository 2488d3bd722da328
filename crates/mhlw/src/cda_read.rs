//! One 特定健診情報ファイル (parsed) → one checkup record.

use std::collections::HashSet;

use kenshin_profile::{
    CheckupRecord, Header, HeaderField, ItemKind, ItemValue, Profile, RangeFlag, Value, XmlDataType,
};

use crate::codes::*;
use crate::xml_read::{Element, Located};
use crate::MhlwError;

type Result<T> = std::result::Result<T, Located>;

fn content(message: impl Into<String>, element: &Element, path: &str) -> Located {
    Located::at(MhlwError::Content(message.into()), element, path)
}

fn child_path(path: &str, name: &str) -> String {
    format!("{path}/{name}")
}

/// The single child `name`; more than one is refused, since which one counts would be a guess.
fn only<'a>(parent: &'a Element, name: &'a str, path: &str) -> Result<Option<&'a Element>> {
    let mut found = parent.children(name);
    let first = found.next();
    if let Some(second) = found.next() {
        return Err(content(
            format!("<{name}> appears more than once"),
            second,
            &child_path(path, name),
        ));
    }
    Ok(first)
}

fn required<'a>(parent: &'a Element, name: &'a str, path: &str) -> Result<&'a Element> {
    only(parent, name, path)?.ok_or_else(|| content(format!("<{name}> is missing"), parent, path))
}

pub(crate) fn read_record(root: &Element, profile: &Profile) -> Result<CheckupRecord> {
    let path = "ClinicalDocument";
    if root.ns.as_deref() != Some(NS_HL7) || root.name != "ClinicalDocument" {
        return Err(content(
            format!(
                "root element is <{}> in namespace {:?}; expected <ClinicalDocument> in {NS_HL7}",
                root.name,
                root.ns.as_deref().unwrap_or("")
            ),
            root,
            &root.name,
        ));
    }
    if let Some(code) = only(root, "code", path)? {
        let category = code.attr("code").unwrap_or("");
        if category != REPORT_CATEGORY_CHECKUP {
            // 19 is a deletion request, 2x are 保健指導 reports: reading them as checkup
            // results would be wrong.
            return Err(content(
                format!("報告区分 {category:?} is not {REPORT_CATEGORY_CHECKUP} (特定健診情報)"),
                code,
                &child_path(path, "code"),
            ));
        }
    }

    let mut header = Header::default();
    read_patient(root, path, &mut header)?;
    read_service_event(root, path, &mut header)?;
    read_ticket(root, path, &mut header)?;

    let mut values = Vec::new();
    let mut seen = HashSet::new();
    let component = required(root, "component", path)?;
    let path = child_path(path, "component");
    let body = required(component, "structuredBody", &path)?;
    let path = child_path(&path, "structuredBody");
    for component in body.children("component") {
        let path = child_path(&path, "component");
        let section = required(component, "section", &path)?;
        let path = child_path(&path, "section");
        for entry in section.children("entry") {
            let path = child_path(&path, "entry");
            let observation = required(entry, "observation", &path)?;
            read_observation(
                observation,
                &child_path(&path, "observation"),
                profile,
                &mut values,
                &mut seen,
            )?;
        }
    }
    Ok(CheckupRecord {
        header,
        values,
        source_record: 0,
    })
}

fn set(header: &mut Header, field: HeaderField, value: &str) {
    if !value.is_empty() {
        header.set(field, value.to_string());
    }
}

fn read_patient(root: &Element, path: &str, header: &mut Header) -> Result<()> {
    let target = required(root, "recordTarget", path)?;
    let path = child_path(path, "recordTarget");
    let role = required(target, "patientRole", &path)?;
    let path = child_path(&path, "patientRole");
    let mut seen_roots = HashSet::new();
    for id in role.children("id") {
        let Some(id_root) = id.attr("root") else {
            continue;
        };
        let field = match id_root {
            OID_INSURER => HeaderField::InsurerNumber,
            OID_SYMBOL => HeaderField::Symbol,
            OID_NUMBER => HeaderField::Number,
            OID_BRANCH => HeaderField::Branch,
            _ => continue,
        };
        if !seen_roots.insert(id_root) {
            return Err(content(
                format!("two identifiers with root {id_root}"),
                id,
                &child_path(&path, "id"),
            ));
        }
        set(header, field, id.attr("extension").unwrap_or(""));
    }
    if let Some(addr) = only(role, "addr", &path)? {
        let addr_path = child_path(&path, "addr");
        if let Some(postal) = only(addr, "postalCode", &addr_path)? {
            set(header, HeaderField::PostalCode, &postal.text());
        }
        set(header, HeaderField::Address, &addr.text());
    }
    if let Some(patient) = only(role, "patient", &path)? {
        let path = child_path(&path, "patient");
        if let Some(name) = only(patient, "name", &path)? {
            set(header, HeaderField::KanaName, &person_name(name));
        }
        if let Some(sex) = only(patient, "administrativeGenderCode", &path)? {
            set(header, HeaderField::Sex, sex.attr("code").unwrap_or(""));
        }
        if let Some(birth) = only(patient, "birthTime", &path)? {
            set(
                header,
                HeaderField::BirthDate,
                birth.attr("value").unwrap_or(""),
            );
        }
    }
    Ok(())
}

/// The name as one string: plain text as this crate writes it, or family and given parts
/// (as some systems write them) joined with a full-width space, the usual separator of カナ氏名.
fn person_name(name: &Element) -> String {
    if !name.has_element_children() {
        return name.text();
    }
    let part = |kind: &str| {
        name.children(kind)
            .map(|p| p.text())
            .collect::<Vec<_>>()
            .join("　")
    };
    let (family, given) = (part("family"), part("given"));
    match (family.is_empty(), given.is_empty()) {
        (false, false) => format!("{family}　{given}"),
        (false, true) => family,
        (true, false) => given,
        (true, true) => name.text(),
    }
}

fn read_service_event(root: &Element, path: &str, header: &mut Header) -> Result<()> {
    for documentation in root.children("documentationOf") {
        let path = child_path(path, "documentationOf");
        let Some(event) = only(documentation, "serviceEvent", &path)? else {
            continue;
        };
        let path = child_path(&path, "serviceEvent");
        if let Some(time) = only(event, "effectiveTime", &path)? {
            // A single date, or an interval whose start is the date.
            let date = time
                .attr("value")
                .or_else(|| time.child("low").and_then(|low| low.attr("value")))
                .unwrap_or("");
            set(header, HeaderField::ExamDate, date);
        }
        for performer in event.children("performer") {
            let organisation = performer
                .child("assignedEntity")
                .and_then(|e| e.child("representedOrganization"));
            if let Some(id) = organisation
                .into_iter()
                .flat_map(|o| o.children("id"))
                .find(|id| id.attr("root") == Some(OID_INSTITUTION))
            {
                set(
                    header,
                    HeaderField::InstitutionNumber,
                    id.attr("extension").unwrap_or(""),
                );
            }
        }
    }
    Ok(())
}

fn read_ticket(root: &Element, path: &str, header: &mut Header) -> Result<()> {
    for participant in root.children("participant") {
        if participant.attr("typeCode") != Some("HLD") {
            continue;
        }
        let path = child_path(path, "participant");
        let Some(entity) = only(participant, "associatedEntity", &path)? else {
            continue;
        };
        // 受診券 (券面種別 1) only; a 利用券 belongs to 保健指導.
        let function = participant
            .child("functionCode")
            .and_then(|f| f.attr("code"));
        if function.is_some_and(|f| f != "1") {
            continue;
        }
        if let Some(id) = entity.children("id").find(|id| {
            id.attr("root")
                .is_some_and(|r| r.starts_with("1.2.392.200119.6.209"))
        }) {
            set(
                header,
                HeaderField::TicketNumber,
                id.attr("extension").unwrap_or(""),
            );
        }
    }
    Ok(())
}

/// The local name of `xsi:type` when it names an HL7 data type.
fn hl7_type<'e>(value: &'e Element, path: &str) -> Result<&'e str> {
    match &value.xsi_type {
        Some((ns, local)) if ns.as_deref() == Some(NS_HL7) => Ok(local),
        Some((ns, local)) => Err(content(
            format!(
                "xsi:type {local} in namespace {:?} is not an HL7 data type",
                ns.as_deref().unwrap_or("")
            ),
            value,
            path,
        )),
        None => Err(content("a value without xsi:type", value, path)),
    }
}

fn is_flag(value: &Element) -> bool {
    matches!(&value.xsi_type, Some((_, t)) if t == "CD" || t == "CE")
        && value.attr("codeSystem") == Some(OID_INTERPRETATION)
}

/// nullFlavor → 未実施 / 測定不能. `NA` (not applicable) and `NASK` (not asked) say that the
/// test was not done; every other flavour (`NI` as this crate writes, `UNK`, `ASKU`, `NAV`,
/// `MSK`, `OTH`, `NINF`, `PINF`, `QS`, `TRC`) says it was done without a usable result.
fn null_value(flavor: &str) -> Value {
    match flavor {
        "NA" | "NASK" => Value::NotPerformed,
        _ => Value::Unmeasurable,
    }
}

fn read_observation(
    observation: &Element,
    path: &str,
    profile: &Profile,
    out: &mut Vec<ItemValue>,
    seen: &mut HashSet<String>,
) -> Result<()> {
    let members: Vec<&Element> = observation.children("entryRelationship").collect();
    for relationship in &members {
        let rel_path = child_path(path, "entryRelationship");
        let inner = required(relationship, "observation", &rel_path)?;
        read_observation(
            inner,
            &child_path(&rel_path, "observation"),
            profile,
            out,
            seen,
        )?;
    }
    let code_element = required(observation, "code", path)?;
    let code_path = child_path(path, "code");
    let values: Vec<&Element> = observation.children("value").collect();
    let negated = match observation.attr("negationInd") {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(content(
                format!("negationInd {other:?} is not true or false"),
                observation,
                path,
            ))
        }
    };
    let Some(code) = code_element.attr("code") else {
        if members.is_empty() {
            return Err(content(
                "an observation without item code",
                code_element,
                &code_path,
            ));
        }
        // A series-group observation: its members were read above.
        return Ok(());
    };
    if !members.is_empty() && values.is_empty() && !negated {
        // A group observation that names its group by code; only the members carry results.
        return Ok(());
    }
    if let Some(system) = code_element.attr("codeSystem") {
        if system != OID_ITEM {
            return Err(content(
                format!("item code system {system} is not {OID_ITEM} (特定健診項目コード)"),
                code_element,
                &code_path,
            ));
        }
    }
    let item = profile.item(code).ok_or_else(|| {
        Located::at(
            MhlwError::UnknownItem {
                code: code.to_string(),
                profile: profile.label(),
            },
            code_element,
            &code_path,
        )
    })?;
    let xml = item.xml.as_ref().ok_or_else(|| {
        content(
            format!("item {code} has no XML form in profile {}", profile.label()),
            code_element,
            &code_path,
        )
    })?;
    let value_path = child_path(path, "value");

    let (flags, results): (Vec<&Element>, Vec<&Element>) =
        values.iter().copied().partition(|v| is_flag(v));
    let flag = match flags.as_slice() {
        [] => None,
        [one] => Some(match one.attr("code") {
            Some("H") => RangeFlag::High,
            Some("L") => RangeFlag::Low,
            other => {
                return Err(content(
                    format!("range flag {:?} is not H or L", other.unwrap_or("")),
                    one,
                    &value_path,
                ))
            }
        }),
        [_, second, ..] => {
            return Err(content("more than one H/L range flag", second, &value_path));
        }
    };

    let (value, original) = if negated {
        if let Some(real) = results.iter().find(|v| v.attr("nullFlavor").is_none()) {
            return Err(content(
                "an observation marked not performed (negationInd) carries a value",
                real,
                &value_path,
            ));
        }
        (Value::NotPerformed, String::new())
    } else {
        match results.as_slice() {
            [] => {
                return Err(content(
                    format!("item {code} has no value"),
                    observation,
                    path,
                ))
            }
            [one] if one.attr("nullFlavor").is_some() => {
                let flavor = one.attr("nullFlavor").unwrap_or_default();
                (null_value(flavor), flavor.to_string())
            }
            _ => typed_value(
                &results,
                item,
                xml.data_type,
                xml.code_system.as_deref(),
                &value_path,
            )?,
        }
    };
    if !seen.insert(code.to_string()) {
        return Err(content(
            format!("item {code} appears twice in the document"),
            code_element,
            &code_path,
        ));
    }
    out.push(ItemValue {
        code: code.to_string(),
        value,
        original,
        flag,
    });
    Ok(())
}

fn typed_value(
    results: &[&Element],
    item: &kenshin_profile::Item,
    expected: XmlDataType,
    code_system: Option<&str>,
    path: &str,
) -> Result<(Value, String)> {
    let first = results[0];
    if let Some(null) = results.iter().find(|v| v.attr("nullFlavor").is_some()) {
        return Err(content("a nullFlavor beside other values", null, path));
    }
    let ty = hl7_type(first, path)?;
    let mismatch = |found: &str| {
        content(
            format!(
                "item {} is {expected:?} in the profile but the document has a {found} value",
                item.code
            ),
            first,
            path,
        )
    };
    let single = || -> Result<()> {
        match results.get(1) {
            Some(extra) => Err(content(
                format!("item {} has more than one {ty} value", item.code),
                extra,
                path,
            )),
            None => Ok(()),
        }
    };
    match ty {
        "PQ" => {
            if expected != XmlDataType::PQ {
                return Err(mismatch(ty));
            }
            single()?;
            let number = first
                .attr("value")
                .ok_or_else(|| content("a PQ value without value attribute", first, path))?;
            if !crate::cda_write::is_decimal(number) {
                return Err(content(
                    format!("{number:?} is not a decimal number"),
                    first,
                    path,
                ));
            }
            if let (Some(unit), Some(expected_unit)) = (first.attr("unit"), item.ucum.as_deref()) {
                if unit != expected_unit {
                    return Err(content(
                        format!(
                            "unit {unit:?} differs from the profile's {expected_unit:?} for item {}",
                            item.code
                        ),
                        first,
                        path,
                    ));
                }
            }
            Ok((Value::Number(number.to_string()), number.to_string()))
        }
        "CD" | "CO" | "CE" | "CV" => {
            if !matches!(expected, XmlDataType::CD | XmlDataType::CO) {
                return Err(mismatch(ty));
            }
            let mut codes = Vec::with_capacity(results.len());
            for value in results {
                let value_type = hl7_type(value, path)?;
                if !matches!(value_type, "CD" | "CO" | "CE" | "CV") {
                    return Err(content(
                        format!("a {value_type} value among coded values"),
                        value,
                        path,
                    ));
                }
                let code = value
                    .attr("code")
                    .ok_or_else(|| content("a coded value without code", value, path))?;
                if let (Some(found), Some(expected)) = (value.attr("codeSystem"), code_system) {
                    if found != expected {
                        return Err(content(
                            format!(
                                "code system {found} differs from the profile's {expected} for item {}",
                                item.code
                            ),
                            value,
                            path,
                        ));
                    }
                }
                codes.push(code.to_string());
            }
            let original = codes.join("、");
            Ok((Value::Code(codes), original))
        }
        "ST" => {
            if expected != XmlDataType::ST {
                return Err(mismatch(ty));
            }
            single()?;
            let text = first.text();
            let value = if matches!(item.kind, ItemKind::Date) {
                Value::Date(text.clone())
            } else {
                Value::Text(text.clone())
            };
            Ok((value, text))
        }
        other => Err(content(
            format!("values of type {other} are not supported"),
            first,
            path,
        )),
    }
}
