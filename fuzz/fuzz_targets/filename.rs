//! Arbitrary text as a sender-supplied file name.
//!
//! Properties checked for every name `kenshin_core::validate::filename` accepts:
//! * it is returned unchanged (the validator checks, it never rewrites);
//! * 1 ..= 255 bytes (`MAX_FILENAME_BYTES`);
//! * no '/', no '\\', no control character (`char::is_control`), no leading '.';
//! * no leading or trailing white space;
//! * none of the invisible format characters the validator documents (zero-width characters
//!   U+200B..U+200F, bidirectional embeddings and overrides U+202A..U+202E, isolates
//!   U+2066..U+2069, and U+FEFF).
//!
//! For rejected names: the error message is bounded in size whatever the input (it echoes at
//! most 40 characters of it), so a hostile name cannot blow up a log line or a response.
#![no_main]

use kenshin_core::validate::{filename, MAX_FILENAME_BYTES};
use libfuzzer_sys::fuzz_target;

fn is_listed_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}'
    )
}

fuzz_target!(|name: &str| {
    match filename(name) {
        Ok(accepted) => {
            assert_eq!(accepted, name);
            assert!(!accepted.is_empty());
            assert!(
                accepted.len() <= MAX_FILENAME_BYTES,
                "{} bytes",
                accepted.len()
            );
            assert!(!accepted.starts_with('.'), "{accepted:?}");
            assert_eq!(accepted.trim(), accepted, "{accepted:?}");
            for c in accepted.chars() {
                assert!(c != '/' && c != '\\', "{accepted:?} contains a separator");
                assert!(!c.is_control(), "{accepted:?} contains control {c:?}");
                assert!(!is_listed_invisible(c), "{accepted:?} contains {c:?}");
            }
        }
        Err(err) => {
            // 40 echoed characters, each escaped by `{:?}` to at most 10 bytes ("\u{10ffff}"),
            // plus the fixed text; 1 KiB is a generous ceiling.
            let message = err.to_string();
            assert!(
                message.len() <= 1024,
                "error message of {} bytes",
                message.len()
            );
        }
    }
});
