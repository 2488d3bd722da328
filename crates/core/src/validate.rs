//! Validation of values that arrive from people and machines.

use std::fmt;

/// A value that does not have the required form; the message says what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidValue {
    what: &'static str,
    value: String,
    expected: &'static str,
}

impl InvalidValue {
    pub fn new(what: &'static str, value: &str, expected: &'static str) -> Self {
        // Bound what is echoed back: the value may be hostile or huge.
        let mut shown: String = value.chars().take(40).collect();
        if shown.len() < value.len() {
            shown.push('…');
        }
        InvalidValue {
            what,
            value: shown,
            expected,
        }
    }
}

impl fmt::Display for InvalidValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid {} {:?}: expected {}",
            self.what, self.value, self.expected
        )
    }
}

impl std::error::Error for InvalidValue {}

/// Longest accepted file name, in bytes (the common file-system limit).
pub const MAX_FILENAME_BYTES: usize = 255;

/// Checks a file name given by a sender. It is only ever shown to the two parties and used in a
/// `Content-Disposition` header, never as a path, but we still refuse anything that could be
/// mistaken for one or that could break a header or a terminal.
pub fn filename(name: &str) -> Result<&str, InvalidValue> {
    const EXPECTED: &str =
        "1 to 255 bytes of text without '/', '\\', control characters, or a leading '.'";
    let ok = !name.is_empty()
        && name.len() <= MAX_FILENAME_BYTES
        && !name.starts_with('.')
        && name.trim() == name
        && !name
            .chars()
            .any(|c| c == '/' || c == '\\' || c.is_control() || is_invisible_format(c));
    if ok {
        Ok(name)
    } else {
        Err(InvalidValue::new("file name", name, EXPECTED))
    }
}

/// Bidirectional overrides and similar format characters make a name display differently from
/// what it is (a right-to-left override turns "report\u{202E}txt.exe" into what looks like "reportexe.txt").
fn is_invisible_format(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ordinary_japanese_file_names_pass() {
        assert!(filename("健診結果_2024年度.csv").is_ok());
        assert!(filename("results 2024-04.zip").is_ok());
    }

    #[test]
    fn path_like_and_hidden_names_fail() {
        for bad in [
            "",
            ".",
            "..",
            "../x",
            "a/b",
            "a\\b",
            ".bashrc",
            " lead",
            "trail ",
            "a\nb",
            "a\u{202E}txt",
        ] {
            assert!(filename(bad).is_err(), "{bad:?} accepted");
        }
        assert!(filename(&"あ".repeat(86)).is_err()); // 258 bytes
    }

    #[test]
    fn error_echo_is_bounded() {
        let err = filename(&"/".repeat(10_000)).unwrap_err().to_string();
        assert!(err.len() < 300, "{}", err.len());
    }

    proptest! {
        #[test]
        fn accepted_names_never_contain_separators(name in "\\PC{0,80}") {
            if let Ok(ok) = filename(&name) {
                prop_assert!(!ok.contains('/') && !ok.contains('\\') && !ok.starts_with('.'));
            }
        }
    }
}
