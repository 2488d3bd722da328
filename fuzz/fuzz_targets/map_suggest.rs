//! Arbitrary bytes as a sample export given to `map suggest` (and the /maps draft page).
//!
//! Properties: drafting never panics; a draft has one placement per column it saw, names each
//! column it places, and its map file loads (or is refused with a line number) — a draft is
//! never a file the service would crash on.
#![no_main]

use kenshin_convert::delimited::DelimitedOptions;
use kenshin_convert::MapFile;
use kenshin_profile::Profile;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let profile = Profile::default_profile();
    let Ok(suggestion) = kenshin_convert::suggest::suggest(bytes, profile, DelimitedOptions::default()) else {
        return;
    };
    for placement in &suggestion.placements {
        if placement.target.is_some() {
            assert!(!placement.source.is_empty());
        }
    }
    let _ = MapFile::from_reader(suggestion.map_csv.as_bytes(), profile);
});
