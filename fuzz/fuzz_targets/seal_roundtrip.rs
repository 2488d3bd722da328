//! Seal arbitrary plaintext with a small chunk size, fed in arbitrary pieces, then open it.
//!
//! Properties checked:
//! * the sealed stream has the documented header (magic, version, chunk size) and exactly
//!   `sealed_len(plaintext length, chunk size)` bytes;
//! * opening it, fed in arbitrary pieces, returns exactly the plaintext;
//! * flipping any one bit makes opening fail with `CryptoError::Integrity(_)`, and what was
//!   released before the failure is a whole number of chunks of the true plaintext, all from
//!   before the damaged chunk (nothing at all if the header was damaged);
//! * cutting the stream short anywhere also fails with an integrity error, with the same
//!   constraint on what was released.
#![no_main]

use kenshin_crypto::{sealed_len, CryptoError, DataKey, Opener, Sealer, HEADER_LEN, TAG_LEN};
use kenshin_fuzz::{cut_point, OPEN_SEALED_KEY};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    /// Mapped onto 1..=4096.
    chunk_size: u16,
    /// Cut points of the plaintext handed to `Sealer::update`.
    seal_cuts: Vec<u16>,
    /// Cut points of the ciphertext handed to `Opener::update`.
    open_cuts: Vec<u16>,
    /// Which bit of the ciphertext to flip.
    flip_bit: u32,
    /// Where to cut the ciphertext short.
    truncate_at: u32,
    plaintext: Vec<u8>,
}

/// Splits `bytes` at the given (unordered, possibly repeated) cut selectors. Empty pieces are
/// kept on purpose: `update(&[])` must be harmless.
fn pieces<'a>(bytes: &'a [u8], cuts: &[u16]) -> Vec<&'a [u8]> {
    let mut points: Vec<usize> = cuts
        .iter()
        .map(|&cut| cut_point(cut.into(), bytes.len()))
        .collect();
    points.sort_unstable();
    let mut out = Vec::with_capacity(points.len() + 1);
    let mut start = 0;
    for point in points {
        out.push(&bytes[start..point]);
        start = point;
    }
    out.push(&bytes[start..]);
    out
}

/// Opens `pieces`; returns the plaintext released and the error, if any.
fn open(key: &DataKey, pieces: &[&[u8]]) -> (Vec<u8>, Result<(), CryptoError>) {
    let mut opener = Opener::new(key);
    let mut plaintext = Vec::new();
    for piece in pieces {
        if let Err(err) = opener.update(piece, &mut plaintext) {
            return (plaintext, Err(err));
        }
    }
    let result = opener.finish(&mut plaintext);
    (plaintext, result)
}

/// A damaged stream must fail with an integrity error, having released only whole chunks of
/// the original plaintext that all come before the first damaged ciphertext byte.
fn assert_rejected(
    key: &DataKey,
    damaged: &[u8],
    first_damaged_byte: usize,
    plaintext: &[u8],
    chunk_size: usize,
    what: &str,
) {
    let (released, result) = open(key, &[damaged]);
    match result {
        Err(CryptoError::Integrity(_)) => {}
        other => panic!("{what}: expected an integrity error, got {other:?}"),
    }
    assert_eq!(
        released.len() % chunk_size,
        0,
        "{what}: partial chunk released"
    );
    assert_eq!(
        released[..],
        plaintext[..released.len()],
        "{what}: released bytes differ from the plaintext"
    );
    let undamaged_chunks = first_damaged_byte.saturating_sub(HEADER_LEN) / (chunk_size + TAG_LEN);
    assert!(
        released.len() <= undamaged_chunks * chunk_size,
        "{what}: released {} bytes, but only {undamaged_chunks} chunks were intact",
        released.len()
    );
}

fuzz_target!(|input: Input| {
    let key = DataKey::from_slice(&OPEN_SEALED_KEY).unwrap();
    let chunk_size = usize::from(input.chunk_size) % 4096 + 1;
    let plaintext = &input.plaintext[..];

    let mut sealed = Vec::new();
    let mut sealer = Sealer::start_with_chunk_size(&key, chunk_size, &mut sealed).unwrap();
    assert_eq!(sealed.len(), HEADER_LEN);
    for piece in pieces(plaintext, &input.seal_cuts) {
        sealer.update(piece, &mut sealed).unwrap();
    }
    assert_eq!(sealer.plaintext_len(), plaintext.len() as u64);
    assert_eq!(sealer.chunk_size(), chunk_size);
    sealer.finish(&mut sealed).unwrap();

    assert_eq!(&sealed[..4], b"KRB1");
    assert_eq!(sealed[4], 1);
    assert_eq!(sealed[5..9], (chunk_size as u32).to_be_bytes());
    assert_eq!(
        sealed.len() as u64,
        sealed_len(plaintext.len() as u64, chunk_size)
    );

    let (opened, result) = open(&key, &pieces(&sealed, &input.open_cuts));
    if let Err(err) = result {
        panic!("opening an intact stream failed: {err:?}");
    }
    assert_eq!(opened, plaintext, "round trip changed the plaintext");

    let bit = input.flip_bit as usize % (sealed.len() * 8);
    let mut flipped = sealed.clone();
    flipped[bit / 8] ^= 1 << (bit % 8);
    assert_rejected(&key, &flipped, bit / 8, plaintext, chunk_size, "bit flip");

    let cut = input.truncate_at as usize % sealed.len();
    assert_rejected(
        &key,
        &sealed[..cut],
        cut,
        plaintext,
        chunk_size,
        "truncation",
    );
});
