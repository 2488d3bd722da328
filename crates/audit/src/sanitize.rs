//! Deterministic replacement of code points that XML 1.0 cannot carry.
//!
//! XML 1.0 allows only `#x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] |
//! [#x10000-#x10FFFF]`, and not even as a character reference, so the other C0 controls and
//! the non-characters U+FFFE/U+FFFF must be *replaced*, not escaped. The replacement keeps
//! them visible to the reader of an audit trail instead of silently dropping them:
//!
//! * U+0000..=U+001F other than tab, LF and CR become the matching "Control Pictures"
//!   symbol U+2400..=U+241F (`\0` → `␀`, U+001B → `␛`, …);
//! * U+FFFE and U+FFFF become U+FFFD `�`.
//!
//! FHIR strings "SHOULD not contain Unicode character points below 32, except for u0009,
//! u000D and u000A", so the FHIR export applies the same mapping and both standard views of
//! a record agree. CSV and JSON Lines can carry every code point and are left lossless.

use std::borrow::Cow;

/// Maps one character to what the XML and FHIR exports write for it.
fn replacement(c: char) -> Option<char> {
    match c {
        '\t' | '\n' | '\r' => None,
        '\u{0}'..='\u{1F}' => char::from_u32(0x2400 + u32::from(c)),
        '\u{FFFE}' | '\u{FFFF}' => Some('\u{FFFD}'),
        _ => None,
    }
}

/// Returns `text` with the code points XML 1.0 cannot carry replaced as described in the
/// [module documentation](self); borrowed when nothing needed replacing.
pub fn xml_safe(text: &str) -> Cow<'_, str> {
    if text.chars().all(|c| replacement(c).is_none()) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(text.chars().map(|c| replacement(c).unwrap_or(c)).collect())
}

/// Whether `c` is a legal XML 1.0 `Char`.
pub fn is_xml_char(c: char) -> bool {
    matches!(c,
        '\t' | '\n' | '\r'
        | '\u{20}'..='\u{D7FF}'
        | '\u{E000}'..='\u{FFFD}'
        | '\u{10000}'..='\u{10FFFF}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_clean_text_borrowed() {
        assert!(matches!(
            xml_safe("受診者なし <&> 😀\t\n\r"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn replaces_illegal_code_points_visibly() {
        assert_eq!(xml_safe("a\0b\u{1b}c\u{7}"), "a␀b␛c␇");
        assert_eq!(xml_safe("\u{FFFE}\u{FFFF}"), "\u{FFFD}\u{FFFD}");
        assert_eq!(xml_safe("\u{1F}"), "\u{241F}");
    }

    #[test]
    fn output_is_always_legal_xml() {
        for cp in (0u32..0x3_0000).chain(0x10_FFF0..=0x10_FFFF) {
            if let Some(c) = char::from_u32(cp) {
                let s = c.to_string();
                assert!(xml_safe(&s).chars().all(is_xml_char), "U+{cp:04X}");
            }
        }
    }
}
