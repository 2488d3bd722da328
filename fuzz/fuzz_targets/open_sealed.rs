//! Arbitrary bytes as a sealed stream, opened under a fixed key.
//!
//! Input layout: 2 bytes (u16 LE) choosing where the ciphertext is split, then the ciphertext.
//! The ciphertext is fed to `Opener::update` in two pieces split at that point, then `finish`.
//!
//! Properties checked:
//! * nothing panics (including overflow and debug assertions, which cargo-fuzz enables);
//! * every error is `CryptoError::Integrity(_)`, and once an error is reported the opener is
//!   poisoned: further `update` and `finish` calls return `CryptoError::Poisoned`;
//! * before a failure only whole, authenticated non-final chunks are released, so the
//!   plaintext released so far is a multiple of the header's chunk size;
//! * on success, `sealed_len(plaintext length, chunk size from the header)` equals the
//!   ciphertext length exactly (one encoding per plaintext, nothing unaccounted for);
//! * the outcome (plaintext, or plaintext released + error) does not depend on how the
//!   ciphertext was split: opening it in one `update` call gives the same result.
#![no_main]

use kenshin_crypto::{
    sealed_len, CryptoError, DataKey, IntegrityError, Opener, HEADER_LEN, TAG_LEN,
};
use kenshin_fuzz::{cut_point, split_open_sealed_input, OPEN_SEALED_KEY};
use libfuzzer_sys::fuzz_target;

/// What opening a stream produced: all plaintext released, and the error if any.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    plaintext: Vec<u8>,
    error: Option<IntegrityError>,
}

fn integrity(err: CryptoError) -> IntegrityError {
    match err {
        CryptoError::Integrity(err) => err,
        other => panic!("opening failed with a non-integrity error: {other:?}"),
    }
}

/// Feeds `pieces` to a fresh opener, then finishes it, checking the poisoning rules on error.
fn open(key: &DataKey, pieces: &[&[u8]]) -> Outcome {
    let mut opener = Opener::new(key);
    let mut plaintext = Vec::new();
    for piece in pieces {
        if let Err(err) = opener.update(piece, &mut plaintext) {
            let error = integrity(err);
            let before = plaintext.len();
            assert!(matches!(
                opener.update(b"x", &mut plaintext),
                Err(CryptoError::Poisoned)
            ));
            assert!(matches!(
                opener.finish(&mut plaintext),
                Err(CryptoError::Poisoned)
            ));
            assert_eq!(plaintext.len(), before, "a poisoned opener released data");
            return Outcome {
                plaintext,
                error: Some(error),
            };
        }
    }
    let error = opener.finish(&mut plaintext).err().map(integrity);
    Outcome { plaintext, error }
}

/// The chunk size named by a header that passed validation (the opener checked it).
fn header_chunk_size(ciphertext: &[u8]) -> usize {
    let bytes: [u8; 4] = ciphertext[5..9].try_into().unwrap();
    u32::from_be_bytes(bytes) as usize
}

fuzz_target!(|data: &[u8]| {
    let key = DataKey::from_slice(&OPEN_SEALED_KEY).unwrap();
    let (selector, ciphertext) = split_open_sealed_input(data);
    let (first, second) = ciphertext.split_at(cut_point(selector.into(), ciphertext.len()));

    let split = open(&key, &[first, second]);

    match split.error {
        None => {
            assert!(ciphertext.len() >= HEADER_LEN + TAG_LEN);
            let chunk_size = header_chunk_size(ciphertext);
            assert_eq!(
                sealed_len(split.plaintext.len() as u64, chunk_size),
                ciphertext.len() as u64,
                "plaintext length does not account for the ciphertext (chunk size {chunk_size})"
            );
        }
        Some(_) if split.plaintext.is_empty() => {}
        Some(error) => {
            // Something was released, so the header was valid and at least one chunk opened.
            let chunk_size = header_chunk_size(ciphertext);
            assert_eq!(
                split.plaintext.len() % chunk_size,
                0,
                "a partial chunk was released before {error:?} (chunk size {chunk_size})"
            );
        }
    }

    let whole = open(&key, &[ciphertext]);
    assert_eq!(
        split, whole,
        "the outcome depends on where the input was split"
    );
});
