//! Bundles read back: structure, references, identifiers, every value, determinism, and the
//! NDJSON writer.

mod common;

use std::collections::{HashMap, HashSet, VecDeque};
use std::io::{self, Write};

use common::*;
use kenshin_fhir::{bundle, FhirError, NdjsonWriter, ReportingContext};
use kenshin_profile::{
    CheckupRecord, HeaderField, ItemValue, Profile, RangeFlag, Value as RecordValue,
};
use serde_json::Value;
use time::macros::datetime;

fn str_of(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}

/// Reads the record's value back from its Observation and compares.
fn assert_value_survives(
    bundle: &Value,
    profile: &Profile,
    iv: &ItemValue,
    ctx: &ReportingContext,
) {
    let item = profile.item(&iv.code).unwrap();
    let obs = observation(bundle, &iv.code);
    if iv.value == RecordValue::Invalid {
        assert!(obs.is_none(), "{}: a left-empty value is left out", iv.code);
        return;
    }
    let obs = obs.unwrap_or_else(|| panic!("{}: no Observation", iv.code));
    assert_eq!(obs["status"], "final");
    assert_eq!(
        obs["meta"]["profile"][0],
        "http://jpfhir.jp/fhir/eCheckup/StructureDefinition/JP_Observation_eCheckupGeneral"
    );
    let codings = obs["code"]["coding"].as_array().unwrap();
    assert_eq!(codings[0]["display"], item.name.as_str());
    match ctx.jlac10.get(&iv.code) {
        Some(jlac) => {
            assert_eq!(codings.len(), 2);
            assert_eq!(codings[1]["system"], "urn:oid:1.2.392.200119.4.504");
            assert_eq!(codings[1]["code"], jlac.as_str());
        }
        None => assert_eq!(codings.len(), 1),
    }
    let xml = item.xml.as_ref().unwrap();
    let value_keys: Vec<&String> = obs
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| k.starts_with("value"))
        .collect();
    match &iv.value {
        RecordValue::Number(text) => {
            let q = &obs["valueQuantity"];
            let expected: f64 = text.parse().unwrap();
            assert_eq!(q["value"].as_f64().unwrap(), expected, "{}", iv.code);
            match &item.ucum {
                Some(ucum) => {
                    assert_eq!(q["code"], ucum.as_str());
                    assert_eq!(q["system"], "http://unitsofmeasure.org");
                }
                None => assert!(q.get("code").is_none() && q.get("system").is_none()),
            }
            if let Some(unit) = &item.unit {
                assert_eq!(q["unit"], unit.as_str());
            }
        }
        RecordValue::Code(codes) => {
            let cc = obs["valueCodeableConcept"]["coding"].as_array().unwrap();
            let got: Vec<&str> = cc.iter().map(|c| str_of(&c["code"])).collect();
            assert_eq!(got, codes.iter().map(String::as_str).collect::<Vec<_>>());
            let system = format!("urn:oid:{}", xml.code_system.as_deref().unwrap());
            assert!(cc.iter().all(|c| c["system"] == system.as_str()));
        }
        RecordValue::Text(text) => {
            assert_eq!(obs["valueString"], text.as_str());
        }
        RecordValue::Date(date) => {
            let iso = format!("{}-{}-{}", &date[0..4], &date[4..6], &date[6..8]);
            assert_eq!(obs["valueDateTime"], iso.as_str());
        }
        RecordValue::NotPerformed | RecordValue::Unmeasurable => {
            assert!(value_keys.is_empty(), "{}: {value_keys:?}", iv.code);
            let reason = &obs["dataAbsentReason"]["coding"][0];
            assert_eq!(
                reason["system"],
                "http://terminology.hl7.org/CodeSystem/data-absent-reason"
            );
            let code = if iv.value == RecordValue::NotPerformed {
                "not-performed"
            } else {
                "error"
            };
            assert_eq!(reason["code"], code);
        }
        RecordValue::Invalid => unreachable!(),
    }
    if !matches!(
        iv.value,
        RecordValue::NotPerformed | RecordValue::Unmeasurable
    ) {
        assert!(obs.get("dataAbsentReason").is_none());
        assert_eq!(value_keys.len(), 1, "{}: {value_keys:?}", iv.code);
    }
    match iv.flag {
        Some(flag) => {
            let c = &obs["interpretation"][0]["coding"][0];
            assert_eq!(
                c["system"],
                "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
            );
            let code = match flag {
                RangeFlag::High => "HX",
                RangeFlag::Low => "LX",
            };
            assert_eq!(c["code"], code, "{}", iv.code);
        }
        None => assert!(obs.get("interpretation").is_none(), "{}", iv.code),
    }
    match (&xml.method_code, &iv.value) {
        (_, RecordValue::NotPerformed) | (None, _) => assert!(obs.get("method").is_none()),
        (Some(method), _) => {
            assert_eq!(obs["method"]["coding"][0]["code"], method.as_str());
            assert_eq!(
                obs["method"]["coding"][0]["system"],
                "urn:oid:1.2.392.200119.6.1007"
            );
        }
    }
}

#[test]
fn every_bundle_is_a_document_with_the_composition_first() {
    let profile = profile();
    let ctx = context();
    for (i, record) in records(60, 11).iter().enumerate() {
        let b = bundle(record, profile, &ctx, i as u64 + 1).unwrap();
        assert_eq!(b["resourceType"], "Bundle");
        assert_eq!(b["type"], "document");
        assert_eq!(b["timestamp"], "2025-04-01T09:30:15.123+09:00");
        assert_eq!(
            b["meta"]["profile"][0],
            "http://jpfhir.jp/fhir/eCheckup/StructureDefinition/JP_Bundle_eCheckupGeneral"
        );
        let composition = &entries(&b)[0]["resource"];
        assert_eq!(composition["resourceType"], "Composition");
        assert_eq!(resources(&b, "Composition").count(), 1);
        let t = &composition["type"]["coding"][0];
        assert_eq!(t["code"], "53576-5");
        assert_eq!(
            t["system"],
            "http://jpfhir.jp/fhir/Common/CodeSystem/doc-typecodes"
        );
        assert_eq!(composition["status"], "final");
        assert_eq!(composition["date"], "2025-04-01T09:30:15+09:00");
        assert_eq!(
            composition["category"][0]["coding"][0]["system"],
            "urn:oid:1.2.392.200119.6.1001"
        );
        assert_eq!(composition["category"][0]["coding"][0]["code"], "10");
        let event = &composition["event"][0];
        assert_eq!(
            event["code"][0]["coding"][0]["system"],
            "urn:oid:1.2.392.200119.6.1002"
        );
        assert_eq!(event["code"][0]["coding"][0]["code"], "010");
        let exam = record.header.get(HeaderField::ExamDate).unwrap();
        let exam_iso = format!("{}-{}-{}", &exam[0..4], &exam[4..6], &exam[6..8]);
        assert_eq!(event["period"]["start"], exam_iso.as_str());
        for kind in ["Patient", "Practitioner", "Encounter"] {
            assert_eq!(resources(&b, kind).count(), 1, "{kind}");
        }
        assert_eq!(resources(&b, "Organization").count(), 2);
        let ticket = record.header.get(HeaderField::TicketNumber);
        assert_eq!(
            resources(&b, "Coverage").count(),
            usize::from(ticket.is_some())
        );
    }
}

#[test]
fn references_resolve_inside_the_bundle_and_reach_every_entry() {
    let profile = profile();
    let ctx = context();
    let mut all_urls = Vec::new();
    for (i, record) in records(80, 12).iter().enumerate() {
        let b = bundle(record, profile, &ctx, i as u64 + 1).unwrap();
        let urls = full_urls(&b);
        assert!(urls.iter().all(|u| is_uuid_urn(u)), "{urls:?}");
        assert!(unique(&urls));
        let known: HashSet<&String> = urls.iter().collect();
        let mut graph: HashMap<&str, Vec<String>> = HashMap::new();
        for e in entries(&b) {
            let mut refs = Vec::new();
            references(&e["resource"], &mut refs);
            for r in &refs {
                assert!(known.contains(r), "dangling reference {r}");
            }
            graph.insert(str_of(&e["fullUrl"]), refs);
        }
        // A document: everything is reachable from the Composition.
        let mut seen: HashSet<String> = HashSet::new();
        let mut queue = VecDeque::from([urls[0].clone()]);
        while let Some(url) = queue.pop_front() {
            if seen.insert(url.clone()) {
                queue.extend(graph[url.as_str()].iter().cloned());
            }
        }
        assert_eq!(
            seen.len(),
            urls.len(),
            "entries not reachable from the Composition"
        );
        all_urls.extend(urls);
    }
    assert!(unique(&all_urls), "UUIDs repeat across bundles");
}

#[test]
fn identifiers_use_the_ig_systems() {
    let profile = profile();
    let ctx = context();
    for (i, record) in records(40, 13).iter().enumerate() {
        let b = bundle(record, profile, &ctx, i as u64 + 7).unwrap();
        let id = &b["identifier"];
        assert_eq!(
            id["system"],
            "http://jpfhir.jp/fhir/eCheckup/bundle-identifier"
        );
        let (institution, report) = str_of(&id["value"]).split_once('^').unwrap();
        assert_eq!(institution, "1399999901");
        assert!(
            (1..=128).contains(&report.len())
                && report
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-'),
            "{report}"
        );
        let composition = &entries(&b)[0]["resource"];
        assert_eq!(
            composition["identifier"]["system"],
            "http://jpfhir.jp/fhir/core/IdSystem/resourceInstance-identifier"
        );
        assert_eq!(
            composition["identifier"]["value"],
            format!("1399999901-2025-{:08}", i + 7).as_str()
        );

        let h = |f| record.header.get(f).unwrap_or("");
        let patient = resources(&b, "Patient").next().unwrap();
        assert_eq!(
            patient["identifier"][0]["system"],
            "http://jpfhir.jp/fhir/clins/Idsystem/JP_Insurance_memberID"
        );
        let expected = format!(
            "{}:{}:{}:{}",
            h(HeaderField::InsurerNumber),
            h(HeaderField::Symbol),
            h(HeaderField::Number),
            h(HeaderField::Branch)
        );
        assert_eq!(patient["identifier"][0]["value"], expected.as_str());
        let gender = if h(HeaderField::Sex) == "1" {
            "male"
        } else {
            "female"
        };
        assert_eq!(patient["gender"], gender);
        let kana = patient["name"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["extension"][0]["valueCode"] == "SYL")
            .unwrap();
        assert_eq!(
            kana["text"],
            h(HeaderField::KanaName).replace('\u{3000}', " ").as_str()
        );
        assert!(!str_of(&kana["text"]).contains('\u{3000}'));

        let orgs: Vec<&Value> = resources(&b, "Organization").collect();
        let institution_org = orgs
            .iter()
            .find(|o| {
                o["identifier"][0]["system"]
                    == "http://jpfhir.jp/fhir/core/IdSystem/insurance-medical-institution-no"
            })
            .unwrap();
        assert_eq!(institution_org["identifier"][0]["value"], "1399999901");
        assert_eq!(institution_org["name"], "架空健診センター");
        let insurer = orgs
            .iter()
            .find(|o| o["identifier"][0]["system"] == "urn:oid:1.2.392.100495.20.3.61")
            .unwrap();
        assert_eq!(
            insurer["identifier"][0]["value"],
            h(HeaderField::InsurerNumber)
        );
        let coverage = resources(&b, "Coverage").next();
        if let Some(coverage) = coverage {
            assert_eq!(coverage["subscriberId"], h(HeaderField::TicketNumber));
            assert_eq!(
                coverage["type"]["coding"][0]["system"],
                "urn:oid:1.2.392.200119.6.208"
            );
        }
    }
}

#[test]
fn synthetic_values_survive() {
    let profile = profile();
    let ctx = context().with_jlac10(TG_FASTING, TG_FASTING);
    let mut kinds: HashMap<&str, usize> = HashMap::new();
    for (i, record) in records(400, 14).iter().enumerate() {
        let b = bundle(record, profile, &ctx, i as u64 + 1).unwrap();
        let written = record
            .values
            .iter()
            .filter(|v| v.value != RecordValue::Invalid)
            .count();
        assert_eq!(resources(&b, "Observation").count(), written);
        for iv in &record.values {
            assert_value_survives(&b, profile, iv, &ctx);
            let kind = match (&iv.value, iv.flag) {
                (_, Some(RangeFlag::High)) => "high",
                (_, Some(RangeFlag::Low)) => "low",
                (RecordValue::NotPerformed, _) => "not-performed",
                (RecordValue::Unmeasurable, _) => "unmeasurable",
                (RecordValue::Number(_), _) => "number",
                (RecordValue::Code(_), _) => "code",
                (RecordValue::Text(_), _) => "text",
                (RecordValue::Date(_), _) => "date",
                (RecordValue::Invalid, _) => "invalid",
            };
            *kinds.entry(kind).or_default() += 1;
        }
    }
    // The data set exercises the rare cases this test is about.
    for kind in [
        "number",
        "code",
        "text",
        "date",
        "not-performed",
        "unmeasurable",
        "high",
    ] {
        assert!(
            kinds.get(kind).copied().unwrap_or(0) > 0,
            "no {kind}: {kinds:?}"
        );
    }
}

#[test]
fn every_kind_of_value_is_mapped() {
    let profile = profile();
    let ctx = context().with_jlac10(HEIGHT, "9N001000000000001");
    let record = every_kind_record();
    let b = bundle(&record, profile, &ctx, 3).unwrap();
    for iv in &record.values {
        assert_value_survives(&b, profile, iv, &ctx);
    }
    // Leading zeros go, the value stays.
    assert_eq!(
        observation(&b, WEIGHT).unwrap()["valueQuantity"]["value"].to_string(),
        "65.0"
    );
    // An ordinal (CO) value carries its rank, as the IG's example.
    let urine = observation(&b, URINE_GLUCOSE).unwrap();
    let c = &urine["valueCodeableConcept"]["coding"][0];
    assert_eq!(
        c["extension"][0]["url"],
        "http://hl7.org/fhir/StructureDefinition/ordinalValue"
    );
    assert_eq!(c["extension"][0]["valueDecimal"], 3);
    assert_eq!(c["display"], "＋");
    // Several codes: one coding each and the terms as text.
    let xray = observation(&b, XRAY_FINDING).unwrap();
    assert_eq!(xray["valueCodeableConcept"]["text"], "所見あり、要再撮影");
    // The doctor named in the record is the Practitioner and performed the diagnosis.
    let practitioner_url = entries(&b)
        .iter()
        .find(|e| e["resource"]["resourceType"] == "Practitioner")
        .map(|e| str_of(&e["fullUrl"]).to_string())
        .unwrap();
    let practitioner = resources(&b, "Practitioner").next().unwrap();
    assert_eq!(practitioner["name"][0]["text"], "カクウ イチロウ");
    let diagnosis = observation(&b, DIAGNOSIS).unwrap();
    assert_eq!(
        diagnosis["performer"][0]["reference"],
        practitioner_url.as_str()
    );
    // Header details.
    let patient = resources(&b, "Patient").next().unwrap();
    assert_eq!(patient["identifier"][0]["value"], "06999901:あい:１２３:01");
    assert_eq!(patient["birthDate"], "1960-02-29");
    assert_eq!(patient["address"][0]["text"], "架空県架空市1-1");
    assert_eq!(patient["address"][0]["postalCode"], "123-4567");
    let names: Vec<&str> = patient["name"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| str_of(&n["text"]))
        .collect();
    assert_eq!(names, ["架空 花子", "カクウ ハナコ"]);
    // The narrative is escaped XHTML and names 未実施 and 測定不能.
    let composition = &entries(&b)[0]["resource"];
    let div = str_of(&composition["section"][0]["text"]["div"]);
    assert!(div.contains("要経過観察 &lt;再検&gt;"), "{div}");
    assert!(div.contains("未実施") && div.contains("測定不能"), "{div}");
}

#[test]
fn sections_sort_items_by_programme() {
    let profile = profile();
    let b = bundle(&every_kind_record(), profile, &context(), 1).unwrap();
    let composition = &entries(&b)[0]["resource"];
    let url_of_item: HashMap<String, String> = entries(&b)
        .iter()
        .filter(|e| e["resource"]["resourceType"] == "Observation")
        .map(|e| {
            (
                str_of(&e["resource"]["code"]["coding"][0]["code"]).to_string(),
                str_of(&e["fullUrl"]).to_string(),
            )
        })
        .collect();
    let coverage_url = entries(&b)
        .iter()
        .find(|e| e["resource"]["resourceType"] == "Coverage")
        .map(|e| str_of(&e["fullUrl"]).to_string())
        .unwrap();
    let mut sections = HashMap::new();
    for s in composition["section"].as_array().unwrap() {
        assert_eq!(
            s["code"]["coding"][0]["system"],
            "http://jpfhir.jp/fhir/eCheckup/CodeSystem/section-code"
        );
        let refs: Vec<String> = s["entry"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| str_of(&r["reference"]).to_string())
            .collect();
        sections.insert(str_of(&s["code"]["coding"][0]["code"]).to_string(), refs);
    }
    let section_of = |code: &str| -> &str {
        let url = &url_of_item[code];
        sections
            .iter()
            .find(|(_, refs)| refs.contains(url))
            .map(|(c, _)| c.as_str())
            .unwrap()
    };
    assert_eq!(section_of(HEIGHT), "01011");
    assert_eq!(section_of(DIAGNOSIS), "01011");
    assert_eq!(section_of(MED_BP), "01012");
    assert_eq!(section_of(XRAY_FINDING), "01990");
    assert!(sections["01011"].contains(&coverage_url));
    // Every Observation is in exactly one section.
    let listed: usize = sections.values().map(Vec::len).sum();
    assert_eq!(listed, url_of_item.len() + 1);
}

#[test]
fn bundles_are_deterministic() {
    let profile = profile();
    let ctx = context();
    let record = &records(1, 15)[0];
    let a = bundle(record, profile, &ctx, 5).unwrap();
    let b = bundle(record, profile, &ctx, 5).unwrap();
    assert_eq!(
        serde_json::to_string(&a).unwrap(),
        serde_json::to_string(&b).unwrap()
    );
    let other_seq = bundle(record, profile, &ctx, 6).unwrap();
    let other_batch = bundle(record, profile, &ctx.clone().with_batch_id("resend"), 5).unwrap();
    let mut changed = record.clone();
    changed.values[0].original.push('x');
    let other_record = bundle(&changed, profile, &ctx, 5).unwrap();
    let first = full_urls(&a);
    for other in [other_seq, other_batch, other_record] {
        let urls: HashSet<String> = full_urls(&other).into_iter().collect();
        assert!(first.iter().all(|u| !urls.contains(u)));
    }

    let write_all = || {
        let mut w = NdjsonWriter::new(profile, context(), Vec::new());
        for r in records(50, 16) {
            w.write(&r).unwrap();
        }
        w.finish().unwrap()
    };
    assert_eq!(write_all(), write_all());
}

#[test]
fn ndjson_writer_streams_one_bundle_per_line() {
    let profile = profile();
    let records = records(120, 17);
    let mut w = NdjsonWriter::new(profile, context().with_first_sequence(1000), Vec::new());
    for r in &records {
        w.write(r).unwrap();
    }
    assert_eq!(w.records_written(), 120);
    let out = w.finish().unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.ends_with('\n'));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), records.len());
    for (i, (line, record)) in lines.iter().zip(&records).enumerate() {
        let parsed: Value = serde_json::from_str(line).unwrap();
        let direct = bundle(record, profile, &context(), 1000 + i as u64).unwrap();
        assert_eq!(parsed, direct, "line {i}");
    }
}

#[test]
fn a_bad_record_is_refused_whole() {
    let profile = profile();
    let good = &records(1, 18)[0];
    let mut unknown = good.clone();
    unknown
        .values
        .push(value("ZZZZZ", RecordValue::Text("x".into()), None));
    let mut duplicate = good.clone();
    duplicate.values.push(duplicate.values[0].clone());
    let mut no_insurer = good.clone();
    no_insurer.header.fields.remove(&HeaderField::InsurerNumber);
    let mut bad_sex = good.clone();
    bad_sex.header.set(HeaderField::Sex, "3".into());
    let mut bad_date = good.clone();
    bad_date
        .header
        .set(HeaderField::BirthDate, "19990230".into());
    let mut wrong_kind = good.clone();
    wrong_kind.values.retain(|v| v.code != HEIGHT);
    wrong_kind
        .values
        .push(value(HEIGHT, RecordValue::Code(vec!["1".into()]), None));
    let mut not_decimal = good.clone();
    not_decimal.values.retain(|v| v.code != HEIGHT);
    not_decimal
        .values
        .push(value(HEIGHT, RecordValue::Number("1,70".into()), None));
    let mut no_name = good.clone();
    no_name.header.fields.remove(&HeaderField::KanaName);
    no_name.header.fields.remove(&HeaderField::Name);

    let mut w = NdjsonWriter::new(profile, context(), Vec::new());
    w.write(good).unwrap();
    type Expect = fn(&FhirError) -> bool;
    let cases: [(&CheckupRecord, Expect); 8] = [
        (
            &unknown,
            |e| matches!(e, FhirError::UnknownItem { code, .. } if code == "ZZZZZ"),
        ),
        (&duplicate, |e| matches!(e, FhirError::DuplicateItem { .. })),
        (&no_insurer, |e| {
            matches!(
                e,
                FhirError::MissingHeader {
                    field: HeaderField::InsurerNumber
                }
            )
        }),
        (&bad_sex, |e| {
            matches!(
                e,
                FhirError::InvalidHeader {
                    field: HeaderField::Sex,
                    ..
                }
            )
        }),
        (&bad_date, |e| {
            matches!(
                e,
                FhirError::InvalidHeader {
                    field: HeaderField::BirthDate,
                    ..
                }
            )
        }),
        (
            &wrong_kind,
            |e| matches!(e, FhirError::InvalidValue { code, .. } if code == HEIGHT),
        ),
        (
            &not_decimal,
            |e| matches!(e, FhirError::InvalidValue { code, .. } if code == HEIGHT),
        ),
        (&no_name, |e| {
            matches!(
                e,
                FhirError::MissingHeader {
                    field: HeaderField::KanaName
                }
            )
        }),
    ];
    for (record, expected) in cases {
        let err = w.write(record).unwrap_err();
        assert!(expected(&err), "{err}");
        // Messages name the field or item, never the value.
        assert!(!err.to_string().contains("1,70"));
    }
    w.write(good).unwrap();
    assert_eq!(w.records_written(), 2);
    let text = String::from_utf8(w.finish().unwrap()).unwrap();
    assert_eq!(text.lines().count(), 2);
    // The refused records took no document number.
    let second: Value = serde_json::from_str(text.lines().nth(1).unwrap()).unwrap();
    assert!(str_of(&entries(&second)[0]["resource"]["identifier"]["value"]).ends_with("-00000002"));
}

/// Accepts `limit` bytes, then fails.
struct FailingSink {
    written: usize,
    limit: usize,
}

impl Write for FailingSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.written + buf.len() > self.limit {
            return Err(io::Error::other("disk full"));
        }
        self.written += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn io_errors_poison_the_writer() {
    let profile = profile();
    let sink = FailingSink {
        written: 0,
        limit: 20_000,
    };
    let mut w = NdjsonWriter::new(profile, context(), sink);
    let mut result = Ok(());
    for r in records(50, 19) {
        result = w.write(&r);
        if result.is_err() {
            break;
        }
    }
    assert!(matches!(result, Err(FhirError::Io(_))), "{result:?}");
    let good = &records(1, 20)[0];
    assert!(matches!(w.write(good), Err(FhirError::Poisoned)));
    assert!(matches!(w.finish(), Err(FhirError::Poisoned)));
}

#[test]
fn the_institution_number_falls_back_to_the_record() {
    let profile = profile();
    let record = every_kind_record();
    let ctx =
        ReportingContext::new("", "架空健診センター", datetime!(2025-04-01 0:00 UTC)).unwrap();
    let b = bundle(&record, profile, &ctx, 1).unwrap();
    assert!(str_of(&b["identifier"]["value"]).starts_with("1399999901^"));
    assert_eq!(b["timestamp"], "2025-04-01T00:00:00.000+00:00");

    // The context's number wins when it has one.
    let ctx = ReportingContext::new(
        "1312345678",
        "架空健診センター",
        datetime!(2025-04-01 0:00 UTC),
    )
    .unwrap();
    let b = bundle(&record, profile, &ctx, 1).unwrap();
    assert!(str_of(&b["identifier"]["value"]).starts_with("1312345678^"));

    let mut without = record.clone();
    without
        .header
        .fields
        .remove(&HeaderField::InstitutionNumber);
    let ctx =
        ReportingContext::new("", "架空健診センター", datetime!(2025-04-01 0:00 UTC)).unwrap();
    assert!(matches!(
        bundle(&without, profile, &ctx, 1),
        Err(FhirError::MissingHeader {
            field: HeaderField::InstitutionNumber
        })
    ));
}

#[test]
fn the_context_is_checked() {
    let at = datetime!(2025-04-01 0:00 +09:00);
    assert!(matches!(
        ReportingContext::new("13999999", "x", at),
        Err(FhirError::Context(_))
    ));
    assert!(matches!(
        ReportingContext::new("1399999901", " ", at),
        Err(FhirError::Context(_))
    ));
    let mut ctx = ReportingContext::new("1399999901", "x", at).unwrap();
    ctx.institution_postal_code = Some("100-0001".into());
    assert!(matches!(
        bundle(&every_kind_record(), profile(), &ctx, 1),
        Err(FhirError::Context(_))
    ));
    let ctx = ReportingContext::new("1399999901", "x", at)
        .unwrap()
        .with_jlac10(HEIGHT, "bad code");
    assert!(matches!(
        bundle(&every_kind_record(), profile(), &ctx, 1),
        Err(FhirError::Context(_))
    ));
}

#[test]
fn without_a_doctor_the_reporter_is_the_author() {
    let profile = profile();
    let mut record = every_kind_record();
    record.values.retain(|v| v.code != DOCTOR);
    let b = bundle(&record, profile, &context(), 1).unwrap();
    let practitioner = resources(&b, "Practitioner").next().unwrap();
    assert_eq!(practitioner["name"][0]["text"], "架空 一郎");
    // Not the reporter's diagnosis: no performer.
    assert!(observation(&b, DIAGNOSIS)
        .unwrap()
        .get("performer")
        .is_none());
}
