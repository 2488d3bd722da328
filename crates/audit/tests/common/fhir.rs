//! Structural checks of FHIR R4 `AuditEvent` resources against the cardinalities and
//! primitive rules of https://hl7.org/fhir/R4/auditevent.html and the JSON format.

use serde_json::{Map, Value};

type Check = Result<(), String>;

fn fail<T>(path: &str, message: &str) -> Result<T, String> {
    Err(format!("{path}: {message}"))
}

fn object<'a>(value: &'a Value, path: &str) -> Result<&'a Map<String, Value>, String> {
    value
        .as_object()
        .map_or_else(|| fail(path, "expected an object"), Ok)
}

/// Checks `name` against its cardinality `min..=max` (`max` `None` = `*`) and returns the
/// values present (arrays flattened), enforcing that `0..1`/`1..1` elements are not arrays
/// and `..*` elements are.
fn card<'a>(
    obj: &'a Map<String, Value>,
    path: &str,
    name: &str,
    min: usize,
    max: Option<usize>,
) -> Result<Vec<&'a Value>, String> {
    let path = format!("{path}.{name}");
    let values: Vec<&Value> = match (obj.get(name), max) {
        (None, _) => vec![],
        (Some(Value::Array(items)), None) => items.iter().collect(),
        (Some(_), None) => return fail(&path, "repeating element must be an array"),
        (Some(Value::Array(_)), Some(_)) => {
            return fail(&path, "single element must not be an array")
        }
        (Some(v), Some(_)) => vec![v],
    };
    if values.len() < min {
        return fail(&path, &format!("required {min}.., found {}", values.len()));
    }
    if let Some(max) = max {
        if values.len() > max {
            return fail(&path, &format!("allowed ..{max}, found {}", values.len()));
        }
    }
    Ok(values)
}

fn only_keys(obj: &Map<String, Value>, path: &str, allowed: &[&str]) -> Check {
    match obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => fail(path, &format!("unknown element {k}")),
        None => Ok(()),
    }
}

fn string(value: &Value, path: &str) -> Check {
    value
        .as_str()
        .map_or_else(|| fail(path, "expected a string"), |_| Ok(()))
}

/// FHIR `code`: `[^\s]+(\s[^\s]+)*`.
fn code(value: &Value, path: &str) -> Check {
    let Some(s) = value.as_str() else {
        return fail(path, "expected a code string");
    };
    let ok = !s.is_empty()
        && !s.starts_with(char::is_whitespace)
        && !s.ends_with(char::is_whitespace)
        && !s
            .chars()
            .zip(s.chars().skip(1))
            .any(|(a, b)| a.is_whitespace() && b.is_whitespace());
    if ok {
        Ok(())
    } else {
        fail(path, &format!("invalid code {s:?}"))
    }
}

fn uri(value: &Value, path: &str) -> Check {
    match value.as_str() {
        Some(s) if !s.is_empty() && !s.contains(char::is_whitespace) && s.contains(':') => Ok(()),
        _ => fail(path, "expected an absolute URI"),
    }
}

fn coding(value: &Value, path: &str) -> Check {
    let obj = object(value, path)?;
    only_keys(
        obj,
        path,
        &["system", "version", "code", "display", "userSelected"],
    )?;
    let system = card(obj, path, "system", 1, Some(1))?;
    uri(system[0], &format!("{path}.system"))?;
    let c = card(obj, path, "code", 1, Some(1))?;
    code(c[0], &format!("{path}.code"))?;
    for d in card(obj, path, "display", 0, Some(1))? {
        string(d, &format!("{path}.display"))?;
    }
    Ok(())
}

fn codeable_concept(value: &Value, path: &str) -> Check {
    let obj = object(value, path)?;
    only_keys(obj, path, &["coding", "text"])?;
    for (i, c) in card(obj, path, "coding", 1, None)?.into_iter().enumerate() {
        coding(c, &format!("{path}.coding[{i}]"))?;
    }
    Ok(())
}

fn identifier(value: &Value, path: &str) -> Check {
    let obj = object(value, path)?;
    only_keys(
        obj,
        path,
        &["use", "type", "system", "value", "period", "assigner"],
    )?;
    for s in card(obj, path, "system", 0, Some(1))? {
        uri(s, &format!("{path}.system"))?;
    }
    for v in card(obj, path, "value", 0, Some(1))? {
        string(v, &format!("{path}.value"))?;
    }
    for a in card(obj, path, "assigner", 0, Some(1))? {
        reference(a, &format!("{path}.assigner"))?;
    }
    Ok(())
}

fn reference(value: &Value, path: &str) -> Check {
    let obj = object(value, path)?;
    only_keys(obj, path, &["reference", "type", "identifier", "display"])?;
    for i in card(obj, path, "identifier", 0, Some(1))? {
        identifier(i, &format!("{path}.identifier"))?;
    }
    for d in card(obj, path, "display", 0, Some(1))? {
        string(d, &format!("{path}.display"))?;
    }
    // ref-1 is about literal references; a reference needs at least some content.
    if obj.is_empty() {
        return fail(path, "empty reference");
    }
    Ok(())
}

/// FHIR `instant` as this crate writes it: `YYYY-MM-DDThh:mm:ss.sssZ`, a real date.
pub fn is_instant_millis_z(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    b.len() == 24
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && b[19] == b'.'
        && digits(20..23)
        && b[23] == b'Z'
        && &s[0..4] != "0000"
        && kenshin_audit::parse_timestamp(s).is_ok()
}

/// Rules of the FHIR JSON format that apply everywhere: no nulls, no empty strings, arrays
/// or objects, and no C0 controls other than tab/LF/CR in strings.
pub fn json_rules(value: &Value, path: &str) -> Check {
    match value {
        Value::Null => fail(path, "null is not allowed"),
        Value::String(s) if s.is_empty() => fail(path, "empty string"),
        Value::String(s) => match s
            .chars()
            .find(|&c| c < ' ' && !matches!(c, '\t' | '\n' | '\r'))
        {
            Some(c) => fail(path, &format!("control character U+{:04X}", c as u32)),
            None => Ok(()),
        },
        Value::Array(items) if items.is_empty() => fail(path, "empty array"),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, v)| json_rules(v, &format!("{path}[{i}]"))),
        Value::Object(obj) if obj.is_empty() => fail(path, "empty object"),
        Value::Object(obj) => obj
            .iter()
            .try_for_each(|(k, v)| json_rules(v, &format!("{path}.{k}"))),
        Value::Bool(_) | Value::Number(_) => Ok(()),
    }
}

/// Checks one `AuditEvent` against the R4 element cardinalities, value sets fixed by the
/// specification (action, outcome, network type), invariant sev-1 and the JSON rules.
pub fn check_audit_event(event: &Value) -> Check {
    let p = "AuditEvent";
    json_rules(event, p)?;
    let obj = object(event, p)?;
    only_keys(
        obj,
        p,
        &[
            "resourceType",
            "id",
            "meta",
            "implicitRules",
            "language",
            "text",
            "contained",
            "extension",
            "modifierExtension",
            "type",
            "subtype",
            "action",
            "period",
            "recorded",
            "outcome",
            "outcomeDesc",
            "purposeOfEvent",
            "agent",
            "source",
            "entity",
        ],
    )?;
    if obj.get("resourceType") != Some(&Value::from("AuditEvent")) {
        return fail(p, "resourceType must be AuditEvent");
    }
    for id in card(obj, p, "id", 0, Some(1))? {
        let ok = id.as_str().is_some_and(|s| {
            (1..=64).contains(&s.len())
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        });
        if !ok {
            return fail(p, "invalid id");
        }
    }
    coding(card(obj, p, "type", 1, Some(1))?[0], "AuditEvent.type")?;
    for (i, s) in card(obj, p, "subtype", 0, None)?.into_iter().enumerate() {
        coding(s, &format!("AuditEvent.subtype[{i}]"))?;
    }
    for a in card(obj, p, "action", 0, Some(1))? {
        if !["C", "R", "U", "D", "E"].contains(&a.as_str().unwrap_or_default()) {
            return fail(p, "action not in C|R|U|D|E");
        }
    }
    let recorded = card(obj, p, "recorded", 1, Some(1))?[0];
    if !recorded.as_str().is_some_and(is_instant_millis_z) {
        return fail(
            p,
            &format!("recorded {recorded} is not an instant with ms and Z"),
        );
    }
    for o in card(obj, p, "outcome", 0, Some(1))? {
        if !["0", "4", "8", "12"].contains(&o.as_str().unwrap_or_default()) {
            return fail(p, "outcome not in 0|4|8|12");
        }
    }
    for d in card(obj, p, "outcomeDesc", 0, Some(1))? {
        string(d, "AuditEvent.outcomeDesc")?;
    }

    let agents = card(obj, p, "agent", 1, None)?;
    for (i, agent) in agents.iter().enumerate() {
        let ap = format!("AuditEvent.agent[{i}]");
        let a = object(agent, &ap)?;
        only_keys(
            a,
            &ap,
            &[
                "type",
                "role",
                "who",
                "altId",
                "name",
                "requestor",
                "location",
                "policy",
                "media",
                "network",
                "purposeOfUse",
            ],
        )?;
        for t in card(a, &ap, "type", 0, Some(1))? {
            codeable_concept(t, &format!("{ap}.type"))?;
        }
        for (j, r) in card(a, &ap, "role", 0, None)?.into_iter().enumerate() {
            codeable_concept(r, &format!("{ap}.role[{j}]"))?;
        }
        for w in card(a, &ap, "who", 0, Some(1))? {
            reference(w, &format!("{ap}.who"))?;
        }
        for n in card(a, &ap, "name", 0, Some(1))? {
            string(n, &format!("{ap}.name"))?;
        }
        if !card(a, &ap, "requestor", 1, Some(1))?[0].is_boolean() {
            return fail(&ap, "requestor must be a boolean");
        }
        for network in card(a, &ap, "network", 0, Some(1))? {
            let np = format!("{ap}.network");
            let n = object(network, &np)?;
            only_keys(n, &np, &["address", "type"])?;
            for address in card(n, &np, "address", 0, Some(1))? {
                string(address, &format!("{np}.address"))?;
            }
            for t in card(n, &np, "type", 0, Some(1))? {
                if !["1", "2", "3", "4", "5"].contains(&t.as_str().unwrap_or_default()) {
                    return fail(&np, "type not in 1..5");
                }
            }
        }
    }
    if !agents.iter().any(|a| a["requestor"] == Value::Bool(true)) {
        return fail(p, "no agent is the requestor");
    }

    let sp = "AuditEvent.source";
    let source = object(card(obj, p, "source", 1, Some(1))?[0], sp)?;
    only_keys(source, sp, &["site", "observer", "type"])?;
    for s in card(source, sp, "site", 0, Some(1))? {
        string(s, "AuditEvent.source.site")?;
    }
    reference(
        card(source, sp, "observer", 1, Some(1))?[0],
        "AuditEvent.source.observer",
    )?;
    for (i, t) in card(source, sp, "type", 0, None)?.into_iter().enumerate() {
        coding(t, &format!("AuditEvent.source.type[{i}]"))?;
    }

    for (i, entity) in card(obj, p, "entity", 0, None)?.into_iter().enumerate() {
        let ep = format!("AuditEvent.entity[{i}]");
        let e = object(entity, &ep)?;
        only_keys(
            e,
            &ep,
            &[
                "what",
                "type",
                "role",
                "lifecycle",
                "securityLabel",
                "name",
                "description",
                "query",
                "detail",
            ],
        )?;
        for w in card(e, &ep, "what", 0, Some(1))? {
            reference(w, &format!("{ep}.what"))?;
        }
        for name in ["type", "role", "lifecycle"] {
            for c in card(e, &ep, name, 0, Some(1))? {
                coding(c, &format!("{ep}.{name}"))?;
            }
        }
        if e.contains_key("name") && e.contains_key("query") {
            return fail(&ep, "sev-1: name and query are exclusive");
        }
        for (j, detail) in card(e, &ep, "detail", 0, None)?.into_iter().enumerate() {
            let dp = format!("{ep}.detail[{j}]");
            let d = object(detail, &dp)?;
            card(d, &dp, "type", 1, Some(1))?;
            if !(d.contains_key("valueString") ^ d.contains_key("valueBase64Binary")) {
                return fail(&dp, "exactly one value[x] required");
            }
        }
    }
    Ok(())
}
