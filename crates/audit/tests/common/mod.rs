//! Shared fixtures for the integration tests: record generators, an XML reader built on
//! quick-xml, and the xmllint schema check.

#![allow(dead_code)] // Each test binary uses a different subset.

pub mod fhir;

use std::path::Path;
use std::process::Command;

use kenshin_audit::{is_xml_char, AccessRecord, Action, Actor, ObjectKind, ObjectRef, Outcome};
use proptest::prelude::*;
use quick_xml::events::Event;
use quick_xml::XmlVersion;
use time::{OffsetDateTime, UtcOffset};

/// The DICOM audit message schema shipped with the workspace.
pub const XSD: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/reference/dicom/dicom-audit-message.xsd"
);

/// Characters that break naive exporters, mixed into generated strings.
pub const HOSTILE: &[char] = &[
    '<',
    '>',
    '&',
    '"',
    '\'',
    ';',
    ',',
    ':',
    '/',
    '\\',
    '=',
    '+',
    '-',
    '@',
    '＝',
    ' ',
    '\t',
    '\n',
    '\r',
    '\0',
    '\u{1}',
    '\u{8}',
    '\u{b}',
    '\u{c}',
    '\u{1b}',
    '\u{1f}',
    '\u{7f}',
    '\u{85}',
    '\u{2028}',
    '\u{feff}',
    '\u{fffe}',
    '\u{ffff}',
    '😀',
    '健',
    '診',
    'ｶ',
    'ー',
    '\u{10ffff}',
];

/// Strings mixing arbitrary code points with [`HOSTILE`] ones.
pub fn text() -> impl Strategy<Value = String> {
    let ch = prop_oneof![
        2 => any::<char>(),
        3 => prop::sample::select(HOSTILE),
        1 => prop::char::range('a', 'z'),
    ];
    prop::collection::vec(ch, 0..12).prop_map(|chars| chars.into_iter().collect())
}

/// Millisecond-precision instants in years 0001..=9999 (the representable range), in a
/// random offset.
pub fn instant() -> impl Strategy<Value = OffsetDateTime> {
    const MIN_MS: i64 = -62_135_596_800_000; // 0001-01-01T00:00:00Z
    const MAX_MS: i64 = 253_402_300_799_999; // 9999-12-31T23:59:59.999Z
    (
        MIN_MS..=MAX_MS,
        -12i8..=14,
        prop::sample::select(&[0i8, 30, 45][..]),
    )
        .prop_map(|(ms, hours, minutes)| {
            let utc = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
                .expect("in range");
            let minutes = if hours < 0 { -minutes } else { minutes };
            let offset = UtcOffset::from_hms(hours, minutes, 0).expect("valid offset");
            utc.checked_to_offset(offset).unwrap_or(utc)
        })
}

pub fn actor() -> impl Strategy<Value = Actor> {
    prop_oneof![
        text().prop_map(|login| Actor::User { login }),
        (text(), text()).prop_map(|(serial, device)| Actor::Certificate { serial, device }),
        text().prop_map(|task| Actor::System { task }),
        Just(Actor::Anonymous),
    ]
}

pub fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        3 => prop::sample::select(Action::KNOWN.to_vec()),
        1 => text().prop_map(Action::Other),
    ]
}

pub fn source() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("203.0.113.9:51234".to_owned()),
        Just("[2001:db8::1]:443".to_owned()),
        Just("198.51.100.1".to_owned()),
        text(),
    ]
}

pub fn record() -> impl Strategy<Value = AccessRecord> {
    let who = (
        any::<u64>(),
        instant(),
        proptest::option::of(text()),
        actor(),
        proptest::option::of(text()),
        proptest::option::of(source()),
    );
    let what = (
        action(),
        prop::collection::vec(
            (prop::sample::select(ObjectKind::ALL.to_vec()), text())
                .prop_map(|(kind, id)| ObjectRef { kind, id }),
            0..4,
        ),
        prop::sample::select(Outcome::ALL.to_vec()),
        proptest::option::of(any::<u16>()),
        proptest::option::of(any::<u64>()),
        proptest::option::of(text()),
    );
    (who, what).prop_map(
        |(
            (seq, at, org, actor, session, source),
            (action, objects, outcome, status, bytes, detail),
        )| AccessRecord {
            seq,
            at,
            org,
            actor,
            session,
            source,
            action,
            objects,
            outcome,
            status,
            bytes,
            detail,
        },
    )
}

/// A deterministic record for `action` × `outcome`; `variant` cycles through actor kinds,
/// source forms and optional fields so that the matrix covers them all.
pub fn sample(action: Action, outcome: Outcome, variant: usize) -> AccessRecord {
    let actor = match variant % 4 {
        0 => Actor::User {
            login: "sato.hanako".into(),
        },
        1 => Actor::Certificate {
            serial: "4F:2A:00:9C".into(),
            device: "受付端末<1> & \"B\"".into(),
        },
        2 => Actor::System {
            task: "retention-sweeper".into(),
        },
        _ => Actor::Anonymous,
    };
    let source = match variant % 5 {
        0 => Some("203.0.113.9:51234".into()),
        1 => Some("[2001:db8::7]:443".into()),
        2 => Some("gateway.internal".into()),
        3 => None,
        _ => Some("198.51.100.23".into()),
    };
    let objects = match variant % 3 {
        0 => vec![],
        1 => vec![ObjectRef::new(
            ObjectKind::ALL[variant % 7],
            format!("01J{variant:04}"),
        )],
        _ => ObjectKind::ALL
            .iter()
            .map(|&k| ObjectRef::new(k, format!("{}-{variant}", k.code())))
            .collect(),
    };
    AccessRecord {
        seq: 1000 + variant as u64,
        at: OffsetDateTime::from_unix_timestamp_nanos(
            1_743_500_000_123_000_000 + variant as i128 * 1_000_000_000,
        )
        .unwrap(),
        org: (variant % 2 == 0).then(|| "1310000001".into()),
        actor,
        session: (variant % 3 == 1).then(|| "sess-\u{1}\n<x>".into()),
        source,
        action,
        objects,
        outcome,
        status: (variant % 4 != 3).then_some(200 + (variant % 5) as u16 * 100),
        bytes: (variant % 2 == 1).then_some(1_048_576),
        detail: (variant % 3 == 2).then(|| "E_DENIED; 理由=\"権限なし\" <&>\t\0".into()),
    }
}

/// Every known action plus an unknown one, each with every outcome.
pub fn matrix() -> Vec<AccessRecord> {
    let mut actions = Action::KNOWN.to_vec();
    actions.push(Action::Other("legacy import <v1> & co".into()));
    let mut records = Vec::new();
    for action in actions {
        for outcome in Outcome::ALL {
            let variant = records.len();
            records.push(sample(action.clone(), outcome, variant));
        }
    }
    records
}

/// An element as read back: name, attributes (normalised as XML 1.0 parsers must), and its
/// own character data with references resolved.
#[derive(Debug)]
pub struct Element {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub text: String,
}

impl Element {
    pub fn attr(&self, key: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Parses one XML document strictly enough for the tests: quick-xml's well-formedness
/// checks (matching end tags, attribute syntax, duplicate attributes, references), plus the
/// Legal Char constraint quick-xml leaves out, exactly one root element and no trailing
/// content. Returns the elements in document order.
pub fn parse_xml(doc: &str) -> Result<Vec<Element>, String> {
    if let Some(bad) = doc.chars().find(|&c| !is_xml_char(c)) {
        return Err(format!("illegal XML character U+{:04X}", bad as u32));
    }
    let mut reader = quick_xml::Reader::from_str(doc);
    let mut elements: Vec<Element> = Vec::new();
    let mut open: Vec<usize> = Vec::new();
    let mut roots = 0;
    let mut push = |e: &quick_xml::events::BytesStart<'_>,
                    elements: &mut Vec<Element>,
                    depth: usize|
     -> Result<usize, String> {
        if depth == 0 {
            roots += 1;
        }
        let name = std::str::from_utf8(e.name().as_ref())
            .map_err(|err| err.to_string())?
            .to_owned();
        let mut attrs = Vec::new();
        for attr in e.attributes() {
            let attr = attr.map_err(|err| err.to_string())?;
            let key = std::str::from_utf8(attr.key.as_ref())
                .map_err(|err| err.to_string())?
                .to_owned();
            let value = attr
                .normalized_value(XmlVersion::Explicit1_0)
                .map_err(|err| err.to_string())?
                .into_owned();
            attrs.push((key, value));
        }
        elements.push(Element {
            name,
            attrs,
            text: String::new(),
        });
        Ok(elements.len() - 1)
    };
    loop {
        let event = reader.read_event().map_err(|err| err.to_string())?;
        match event {
            Event::Decl(_) => {}
            Event::Start(e) => {
                let index = push(&e, &mut elements, open.len())?;
                open.push(index);
            }
            Event::Empty(e) => {
                push(&e, &mut elements, open.len())?;
            }
            Event::End(_) => {
                open.pop().ok_or("unbalanced end tag")?;
            }
            Event::Text(t) => {
                let content = t.xml10_content().map_err(|err| err.to_string())?;
                match open.last() {
                    Some(&i) => elements[i].text.push_str(&content),
                    None if content.trim().is_empty() => {}
                    None => return Err("text outside the root element".into()),
                }
            }
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref().map_err(|err| err.to_string())? {
                    Some(c) => c.to_string(),
                    None => match r.decode().map_err(|err| err.to_string())?.as_ref() {
                        "amp" => "&".into(),
                        "lt" => "<".into(),
                        "gt" => ">".into(),
                        "quot" => "\"".into(),
                        "apos" => "'".into(),
                        other => return Err(format!("undeclared entity &{other};")),
                    },
                };
                if resolved.chars().any(|c| !is_xml_char(c)) {
                    return Err("character reference to an illegal character".into());
                }
                let &i = open.last().ok_or("reference outside the root element")?;
                elements[i].text.push_str(&resolved);
            }
            Event::Eof => break,
            other => return Err(format!("unexpected XML content {other:?}")),
        }
    }
    if !open.is_empty() {
        return Err("unclosed elements".into());
    }
    if roots != 1 {
        return Err(format!("{roots} root elements"));
    }
    Ok(elements)
}

/// Validates each document against [`XSD`] with xmllint. Returns how many validated, or
/// `None` (after printing why) when the schema or xmllint is unavailable.
pub fn xmllint_validate(documents: &[String]) -> Option<usize> {
    if !Path::new(XSD).exists() {
        eprintln!("skipping: schema {XSD} not found");
        return None;
    }
    if Command::new("xmllint").arg("--version").output().is_err() {
        eprintln!("skipping: xmllint not found (apt-get install libxml2-utils)");
        return None;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let files: Vec<_> = documents
        .iter()
        .enumerate()
        .map(|(i, doc)| {
            let path = dir.path().join(format!("msg{i:05}.xml"));
            std::fs::write(&path, doc).expect("write message");
            path
        })
        .collect();
    // One process for all files keeps the test fast; xmllint reports each file separately.
    let mut validated = 0;
    for chunk in files.chunks(500) {
        let output = Command::new("xmllint")
            .arg("--noout")
            .arg("--schema")
            .arg(XSD)
            .args(chunk)
            .output()
            .expect("run xmllint");
        let stderr = String::from_utf8_lossy(&output.stderr);
        let ok = stderr.lines().filter(|l| l.ends_with(" validates")).count();
        if !output.status.success() || ok != chunk.len() {
            let first_bad = chunk
                .iter()
                .find(|p| !stderr.contains(&format!("{} validates", p.display())))
                .map(|p| std::fs::read_to_string(p).unwrap_or_default());
            panic!(
                "xmllint rejected messages:\n{stderr}\nfirst rejected document:\n{}",
                first_bad.unwrap_or_default()
            );
        }
        validated += ok;
    }
    Some(validated)
}
