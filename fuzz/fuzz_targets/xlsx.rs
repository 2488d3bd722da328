//! Arbitrary bytes as an Excel workbook (`.xlsx`) sent as an export.
//!
//! Properties: detecting and reading never panic; what reads is valid UTF-8 CSV.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    if kenshin_convert::xlsx::is_xlsx(bytes) {
        if let Ok(csv) = kenshin_convert::xlsx::to_csv(bytes, None) {
            assert!(std::str::from_utf8(&csv).is_ok());
        }
    }
});
