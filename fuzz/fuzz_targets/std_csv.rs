//! Arbitrary text after a valid standard-CSV header, read back as standard records.
//!
//! Property: never panics; every record read has values only for items of the profile.
#![no_main]

use kenshin_convert::stdcsv::read_std_csv;
use kenshin_profile::{HeaderField, Profile};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let profile = Profile::default_profile();
    let mut input: Vec<u8> = HeaderField::ALL
        .iter()
        .map(|f| f.label_ja())
        .collect::<Vec<_>>()
        .join(",")
        .into_bytes();
    input.extend_from_slice(",身長[9N001000000000001],身長[9N001000000000001](元値),身長[9N001000000000001](H/L)\r\n".as_bytes());
    input.extend_from_slice(body);
    let Ok(records) = read_std_csv(&input[..], profile) else {
        return;
    };
    for record in records.flatten() {
        assert!(record.values.iter().all(|v| profile.item(&v.code).is_some()));
    }
});
