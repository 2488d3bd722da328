//! Arbitrary bytes as a map file (変換テーブル) uploaded by an institution.
//!
//! Properties: loading never panics; an error names a line no larger than the number of lines
//! in the input; a map that loads has at least one column rule.
#![no_main]

use kenshin_convert::MapFile;
use kenshin_profile::Profile;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let profile = Profile::default_profile();
    match MapFile::from_reader(bytes, profile) {
        Ok(map) => assert!(!map.columns.is_empty()),
        Err(err) => {
            let lines = bytes.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
            assert!(err.line <= lines, "line {} of {lines}", err.line);
        }
    }
});
