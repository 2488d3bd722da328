//! Arbitrary text parsed as the identifiers that arrive in URLs, query strings and the CLI:
//! `SubmissionId`, `OrgCode` and `InsurerNumber` (all via `FromStr`).
//!
//! Properties checked:
//! * parsing never panics, and formatting the error never panics;
//! * an accepted value round-trips: `value.to_string().parse() == value`;
//! * `OrgCode` and `InsurerNumber` keep the text exactly (`to_string()`, `as_str()` and
//!   `String::from` all give back the input), and obey their documented forms (1..=32 of
//!   `[A-Za-z0-9_-]`; exactly 8 ASCII digits);
//! * a `SubmissionId` always prints in the canonical lower-case hyphenated 36-character
//!   form, and that form denotes the same 128 bits as the input (the parser also accepts
//!   upper case, the 32-digit simple form, `{braced}` and `urn:uuid:` forms).
#![no_main]

use kenshin_core::{InsurerNumber, OrgCode, SubmissionId};
use libfuzzer_sys::fuzz_target;

/// The 32 hex digits of a UUID in any of the textual forms, lower-cased.
fn hex_digits(text: &str) -> String {
    text.chars()
        .filter(char::is_ascii_hexdigit)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

fn check_submission_id(text: &str) {
    let id = match text.parse::<SubmissionId>() {
        Ok(id) => id,
        Err(err) => {
            let _ = err.to_string();
            return;
        }
    };
    let shown = id.to_string();
    assert_eq!(
        shown.parse::<SubmissionId>().unwrap(),
        id,
        "{text:?} -> {shown:?}"
    );
    assert_eq!(shown.len(), 36, "{shown:?}");
    for (i, c) in shown.char_indices() {
        if [8, 13, 18, 23].contains(&i) {
            assert_eq!(c, '-', "{shown:?}");
        } else {
            assert!(matches!(c, '0'..='9' | 'a'..='f'), "{shown:?}");
        }
    }
    // Strip a URN prefix (its letters include hex digits) before comparing the digits.
    let body = text
        .get(..9)
        .filter(|prefix| prefix.eq_ignore_ascii_case("urn:uuid:"))
        .map_or(text, |_| &text[9..]);
    assert_eq!(
        hex_digits(body),
        hex_digits(&shown),
        "{text:?} -> {shown:?}"
    );
}

fn check_org_code(text: &str) {
    let code = match text.parse::<OrgCode>() {
        Ok(code) => code,
        Err(err) => {
            let _ = err.to_string();
            return;
        }
    };
    assert!(
        !text.is_empty() && text.len() <= OrgCode::MAX_LEN,
        "{text:?}"
    );
    assert!(
        text.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "{text:?}"
    );
    assert_eq!(code.to_string(), text);
    assert_eq!(code.as_str(), text);
    assert_eq!(code.to_string().parse::<OrgCode>().unwrap(), code);
    assert_eq!(String::from(code), text);
}

fn check_insurer_number(text: &str) {
    let number = match text.parse::<InsurerNumber>() {
        Ok(number) => number,
        Err(err) => {
            let _ = err.to_string();
            return;
        }
    };
    assert!(
        text.len() == 8 && text.bytes().all(|b| b.is_ascii_digit()),
        "{text:?}"
    );
    assert_eq!(number.to_string(), text);
    assert_eq!(number.as_str(), text);
    assert_eq!(number.to_string().parse::<InsurerNumber>().unwrap(), number);
    assert_eq!(String::from(number), text);
}

fuzz_target!(|text: &str| {
    check_submission_id(text);
    check_org_code(text);
    check_insurer_number(text);
});
