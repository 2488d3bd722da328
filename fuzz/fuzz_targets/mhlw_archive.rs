//! Arbitrary bytes as an MHLW 特定健診 archive (ZIP of CDA XML) from an untrusted sender.
//!
//! Properties: opening and reading never panic, and with small limits nothing reads past them
//! (the reader enforces sizes on decompressed bytes, not on what the ZIP headers claim).
#![no_main]

use kenshin_mhlw::{read_archive, Limits};
use kenshin_profile::Profile;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let profile = Profile::default_profile();
    let limits = Limits {
        max_total_bytes: 1 << 20,
        max_entry_bytes: 256 << 10,
        max_entries: 64,
        ..Limits::default()
    };
    let Ok(archive) = read_archive(std::io::Cursor::new(bytes), profile, &limits) else {
        return;
    };
    for record in archive {
        let _ = record;
    }
});
