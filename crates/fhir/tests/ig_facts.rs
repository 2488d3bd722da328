//! The bundles use the profiles, identifier systems and code systems that the IG's profiles and
//! examples use, as listed (with the file and commit each was read from) in `ig_facts.json`.

mod common;

use std::collections::HashMap;

use common::*;
use kenshin_fhir::bundle;
use serde_json::Value;

const FACTS: &str = include_str!("ig_facts.json");

/// The values at a dotted path, arrays flattened at every step.
fn at<'v>(value: &'v Value, path: &str) -> Vec<&'v Value> {
    let mut current = vec![value];
    for key in path.split('.') {
        let mut next = Vec::new();
        for v in current {
            match v.get(key) {
                Some(Value::Array(items)) => next.extend(items.iter()),
                Some(found) => next.push(found),
                None => {}
            }
        }
        current = next;
    }
    current
}

fn text<'v>(v: &'v Value, key: &str) -> Option<&'v str> {
    v.get(key).and_then(Value::as_str)
}

fn strings(fact: &Value, key: &str) -> Option<Vec<String>> {
    fact.get(key).map(|list| {
        list.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect()
    })
}

/// The key that tells the elements a fact is about (`system` of codings and identifiers,
/// `url` of extensions), the value it must have, and the key of the code.
fn discriminator(fact: &Value) -> Option<(&'static str, &str, &'static str)> {
    if let Some(system) = text(fact, "system") {
        Some(("system", system, "code"))
    } else {
        text(fact, "url").map(|url| ("url", url, "valueCode"))
    }
}

/// Checks one fact on one resource; returns how many elements it matched.
fn check(fact: &Value, resource: &Value, where_: &str) -> usize {
    let path = text(fact, "path").unwrap();
    let present = text(fact, "present").unwrap();
    let found = at(resource, path);
    if present == "always" {
        assert!(!found.is_empty(), "{where_}: nothing at {path}");
    }
    if let Some(value) = text(fact, "value") {
        assert!(
            found.iter().all(|v| v.as_str() == Some(value)),
            "{where_}: {path} is not {value}: {found:?}"
        );
        return found.len();
    }
    if let Some(allowed) = strings(fact, "systems_allowed") {
        for v in &found {
            let system = text(v, "system").unwrap_or("");
            assert!(
                allowed.iter().any(|a| a == system),
                "{where_}: {path} has system {system:?}, the IG names {allowed:?}"
            );
        }
        return found.len();
    }
    let (key, expected, code_key) = discriminator(fact).expect("a fact says what to match");
    let codes = strings(fact, "codes");
    let relevant: Vec<&&Value> = if present == "always" {
        found
            .iter()
            .filter(|v| text(v, key) == Some(expected))
            .collect()
    } else {
        // if-any: whatever is there must be the IG's.
        for v in &found {
            assert_eq!(
                text(v, key),
                Some(expected),
                "{where_}: {path}.{key} is not the IG's"
            );
        }
        found.iter().collect()
    };
    if present == "always" {
        assert!(
            !relevant.is_empty(),
            "{where_}: no {path} with {key} {expected}: {found:?}"
        );
    }
    if let Some(codes) = &codes {
        for v in &relevant {
            let code = text(v, code_key).unwrap_or("");
            assert!(
                codes.iter().any(|c| c == code),
                "{where_}: {path} code {code:?} is not among the IG's {codes:?}"
            );
        }
    }
    relevant.len()
}

#[test]
fn bundles_use_the_igs_profiles_and_code_systems() {
    let facts: Value = serde_json::from_str(FACTS).unwrap();
    let profile = profile();
    let ctx = context();
    let mut records = records(300, 21);
    records.push(every_kind_record());
    let bundles: Vec<Value> = records
        .iter()
        .enumerate()
        .map(|(i, r)| bundle(r, profile, &ctx, i as u64 + 1).unwrap())
        .collect();

    let b = &facts["bundle"];
    let known: Vec<(&str, &str)> = facts["profiles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                text(p, "resourceType").unwrap(),
                text(p, "profile").unwrap(),
            )
        })
        .collect();
    let mut seen: HashMap<usize, usize> = HashMap::new();
    let mut seen_profiles: HashMap<&str, usize> = HashMap::new();
    for (n, bundle) in bundles.iter().enumerate() {
        assert_eq!(bundle["meta"]["profile"][0], b["profile"]);
        assert_eq!(bundle["type"], b["type"]);
        assert_eq!(
            bundle["entry"][0]["resource"]["resourceType"],
            b["first_entry"]
        );
        assert_eq!(bundle["identifier"]["system"], b["identifier_system"]);
        for (i, e) in entries(bundle).iter().enumerate() {
            let resource = &e["resource"];
            let kind = text(resource, "resourceType").unwrap();
            let profiles = at(resource, "meta.profile");
            assert_eq!(profiles.len(), 1, "bundle {n} entry {i}");
            let p = profiles[0].as_str().unwrap();
            let (_, known_profile) = known
                .iter()
                .find(|(k, pr)| *k == kind && *pr == p)
                .unwrap_or_else(|| {
                    panic!("bundle {n} entry {i}: {kind} with profile {p} is not in the IG facts")
                });
            *seen_profiles.entry(known_profile).or_default() += 1;
            for (f, fact) in facts["facts"].as_array().unwrap().iter().enumerate() {
                if text(fact, "profile") == Some(p) {
                    let where_ = format!("bundle {n} entry {i} ({kind}), fact {f}");
                    *seen.entry(f).or_default() += check(fact, resource, &where_);
                }
            }
        }
    }
    // Nothing in the facts went untested: every profile and every fact met the data.
    for (_, p) in &known {
        assert!(
            seen_profiles.get(p).copied().unwrap_or(0) > 0,
            "no resource with {p}"
        );
    }
    for (f, fact) in facts["facts"].as_array().unwrap().iter().enumerate() {
        assert!(
            seen.get(&f).copied().unwrap_or(0) > 0,
            "fact {f} ({}) matched nothing in the test data",
            text(fact, "path").unwrap()
        );
    }
}

#[test]
fn the_facts_name_their_sources() {
    let facts: Value = serde_json::from_str(FACTS).unwrap();
    let commit = |s: &str| {
        s.split(|c: char| !c.is_ascii_hexdigit())
            .any(|w| w.len() == 40)
    };
    for list in ["profiles", "facts"] {
        for fact in facts[list].as_array().unwrap() {
            let source = text(fact, "source").unwrap();
            assert!(source.contains(" @ ") && commit(source), "{source}");
        }
    }
    for source in facts["bundle"]["source"].as_array().unwrap() {
        assert!(commit(source.as_str().unwrap()));
    }
}
