//! Helpers shared by the fuzz targets and the seed generator (`examples/make_seeds.rs`).
//!
//! Kept deliberately small: the targets themselves state the properties they check.

/// The data key every `open_sealed` input is opened with. It is a fixed, public test value:
/// the fuzzer cannot forge AES-GCM tags, so inputs that authenticate only exist because the
/// seed generator sealed them under this same key.
pub const OPEN_SEALED_KEY: [u8; 32] = *b"kenshin-relay fuzz data key 0001";

/// Splits an `open_sealed` input into the fuzzer-chosen split selector (the first two bytes,
/// little-endian) and the ciphertext (the rest). Inputs shorter than two bytes are all
/// ciphertext with selector 0, so no input is wasted.
#[must_use]
pub fn split_open_sealed_input(data: &[u8]) -> (u16, &[u8]) {
    match data {
        [a, b, rest @ ..] => (u16::from_le_bytes([*a, *b]), rest),
        _ => (0, data),
    }
}

/// The inverse of [`split_open_sealed_input`], used to build seeds.
#[must_use]
pub fn make_open_sealed_input(selector: u16, ciphertext: &[u8]) -> Vec<u8> {
    let mut input = Vec::with_capacity(2 + ciphertext.len());
    input.extend_from_slice(&selector.to_le_bytes());
    input.extend_from_slice(ciphertext);
    input
}

/// Maps a fuzzer-chosen selector onto a cut position in `0..=len`.
#[must_use]
pub fn cut_point(selector: u64, len: usize) -> usize {
    // `len + 1` cannot overflow for any slice length that fits in memory.
    (selector % (len as u64 + 1)) as usize
}
