//! Properties of the streaming construction: round trips under arbitrary buffering, exact
//! length prediction, and rejection of every kind of tampering without releasing plaintext
//! from a failing chunk.

use kenshin_crypto::{
    sealed_len, CryptoError, DataKey, IntegrityError, Opener, Sealer, HEADER_LEN, TAG_LEN,
};
use proptest::collection::vec;
use proptest::prelude::*;

/// Splits `data` at `cuts` (taken modulo `len + 1`, so any `usize` works; repeated cuts give
/// empty pieces, which exercise empty `update` calls).
fn pieces<'a>(data: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut points: Vec<usize> = cuts.iter().map(|cut| cut % (data.len() + 1)).collect();
    points.sort_unstable();
    let mut out = Vec::with_capacity(points.len() + 1);
    let mut start = 0;
    for point in points {
        out.push(&data[start..point]);
        start = point;
    }
    out.push(&data[start..]);
    out
}

fn seal(key: &DataKey, chunk_size: usize, plaintext: &[u8], cuts: &[usize]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut sealer = Sealer::start_with_chunk_size(key, chunk_size, &mut out).unwrap();
    for piece in pieces(plaintext, cuts) {
        sealer.update(piece, &mut out).unwrap();
    }
    assert_eq!(sealer.plaintext_len(), plaintext.len() as u64);
    sealer.finish(&mut out).unwrap();
    out
}

/// Opens `ciphertext` fed in pieces; returns whatever plaintext was released and the outcome.
fn open(key: &DataKey, ciphertext: &[u8], cuts: &[usize]) -> (Vec<u8>, Result<(), CryptoError>) {
    let mut out = Vec::new();
    let mut opener = Opener::new(key);
    for piece in pieces(ciphertext, cuts) {
        if let Err(err) = opener.update(piece, &mut out) {
            return (out, Err(err));
        }
    }
    let result = opener.finish(&mut out);
    (out, result)
}

/// Splits a sealed stream into its header and chunk frames (ciphertext ‖ tag).
fn frames(ciphertext: &[u8], chunk_size: usize) -> (Vec<u8>, Vec<Vec<u8>>) {
    let (header, body) = ciphertext.split_at(HEADER_LEN);
    let frames = body
        .chunks(chunk_size + TAG_LEN)
        .map(<[u8]>::to_vec)
        .collect();
    (header.to_vec(), frames)
}

fn assemble(header: &[u8], frames: &[Vec<u8>]) -> Vec<u8> {
    let mut out = header.to_vec();
    for frame in frames {
        out.extend_from_slice(frame);
    }
    out
}

/// The invariants every rejected stream must satisfy: an integrity error, and released
/// plaintext that is a whole number of authentic leading chunks, never the complete plaintext.
fn assert_rejected(
    released: &[u8],
    result: &Result<(), CryptoError>,
    plaintext: &[u8],
    chunk_size: usize,
    max_released: usize,
) -> Result<(), TestCaseError> {
    prop_assert!(
        matches!(result, Err(CryptoError::Integrity(_))),
        "expected an integrity error, got {:?}",
        result
    );
    prop_assert!(
        plaintext.starts_with(released),
        "released bytes are not authentic"
    );
    prop_assert_eq!(released.len() % chunk_size, 0, "partial chunk released");
    prop_assert!(
        released.len() <= max_released,
        "released {} bytes, at most {} allowed",
        released.len(),
        max_released
    );
    prop_assert!(released.len() < plaintext.len() || plaintext.is_empty());
    Ok(())
}

/// A chunk size and a plaintext whose length is biased towards the edges that matter:
/// 0, multiples of the chunk size, and one either side of them.
fn sized_plaintext(max_chunk: usize, max_len: usize) -> impl Strategy<Value = (usize, Vec<u8>)> {
    (1..=max_chunk).prop_flat_map(move |chunk_size| {
        let len = prop_oneof![
            0..=max_len,
            (0..=6usize, 0..=2usize).prop_map(move |(k, d)| (k * chunk_size + d).saturating_sub(1)),
        ];
        (
            Just(chunk_size),
            len.prop_flat_map(|len| vec(any::<u8>(), len)),
        )
    })
}

fn cuts() -> impl Strategy<Value = Vec<usize>> {
    vec(any::<usize>(), 0..8)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn round_trips_under_any_buffering(
        (chunk_size, plaintext) in sized_plaintext(40, 400),
        seal_cuts in cuts(),
        open_cuts in cuts(),
    ) {
        let key = DataKey::generate().unwrap();
        let ciphertext = seal(&key, chunk_size, &plaintext, &seal_cuts);
        prop_assert_eq!(ciphertext.len() as u64, sealed_len(plaintext.len() as u64, chunk_size));
        let (opened, result) = open(&key, &ciphertext, &open_cuts);
        prop_assert!(result.is_ok(), "{:?}", result);
        prop_assert_eq!(opened, plaintext);
    }
}

proptest! {
    // Each case checks every cut length, so fewer cases cover a lot of ground.
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn any_truncation_is_rejected(
        (chunk_size, plaintext) in sized_plaintext(16, 100),
        open_cuts in cuts(),
    ) {
        let key = DataKey::generate().unwrap();
        let ciphertext = seal(&key, chunk_size, &plaintext, &[]);
        for cut in 0..ciphertext.len() {
            let (released, result) = open(&key, &ciphertext[..cut], &open_cuts);
            assert_rejected(&released, &result, &plaintext, chunk_size, plaintext.len())?;
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_bit_flip_is_rejected(
        (chunk_size, plaintext) in sized_plaintext(24, 200),
        position in any::<prop::sample::Index>(),
        bit in 0..8u8,
        open_cuts in cuts(),
    ) {
        let key = DataKey::generate().unwrap();
        let mut ciphertext = seal(&key, chunk_size, &plaintext, &[]);
        let position = position.index(ciphertext.len());
        ciphertext[position] ^= 1 << bit;
        let (released, result) = open(&key, &ciphertext, &open_cuts);
        // Only chunks before the damaged one may be released; a damaged header releases nothing.
        let max_released = position.saturating_sub(HEADER_LEN) / (chunk_size + TAG_LEN) * chunk_size;
        let max_released = if position < HEADER_LEN { 0 } else { max_released };
        assert_rejected(&released, &result, &plaintext, chunk_size, max_released)?;
    }

    #[test]
    fn swapping_two_chunks_is_rejected(
        (chunk_size, plaintext) in sized_plaintext(16, 200),
        i in any::<prop::sample::Index>(),
        j in any::<prop::sample::Index>(),
        open_cuts in cuts(),
    ) {
        let key = DataKey::generate().unwrap();
        let ciphertext = seal(&key, chunk_size, &plaintext, &[]);
        let (header, mut frames) = frames(&ciphertext, chunk_size);
        prop_assume!(frames.len() >= 2);
        let (i, j) = (i.index(frames.len()), j.index(frames.len()));
        prop_assume!(i != j);
        frames.swap(i, j);
        let (released, result) = open(&key, &assemble(&header, &frames), &open_cuts);
        assert_rejected(&released, &result, &plaintext, chunk_size, i.min(j) * chunk_size)?;
    }

    #[test]
    fn duplicating_a_chunk_is_rejected(
        (chunk_size, plaintext) in sized_plaintext(16, 200),
        from in any::<prop::sample::Index>(),
        to in any::<prop::sample::Index>(),
        open_cuts in cuts(),
    ) {
        let key = DataKey::generate().unwrap();
        let ciphertext = seal(&key, chunk_size, &plaintext, &[]);
        let (header, mut frames) = frames(&ciphertext, chunk_size);
        let from = from.index(frames.len());
        let to = to.index(frames.len() + 1);
        let copy = frames[from].clone();
        frames.insert(to, copy);
        let (released, result) = open(&key, &assemble(&header, &frames), &open_cuts);
        assert_rejected(&released, &result, &plaintext, chunk_size, plaintext.len())?;
    }

    #[test]
    fn removing_a_chunk_is_rejected(
        (chunk_size, plaintext) in sized_plaintext(16, 200),
        index in any::<prop::sample::Index>(),
        open_cuts in cuts(),
    ) {
        let key = DataKey::generate().unwrap();
        let ciphertext = seal(&key, chunk_size, &plaintext, &[]);
        let (header, mut frames) = frames(&ciphertext, chunk_size);
        let index = index.index(frames.len());
        frames.remove(index);
        let (released, result) = open(&key, &assemble(&header, &frames), &open_cuts);
        assert_rejected(&released, &result, &plaintext, chunk_size, index * chunk_size)?;
    }

    #[test]
    fn appended_bytes_are_rejected(
        (chunk_size, plaintext) in sized_plaintext(16, 200),
        extra in vec(any::<u8>(), 1..80),
        open_cuts in cuts(),
    ) {
        let key = DataKey::generate().unwrap();
        let mut ciphertext = seal(&key, chunk_size, &plaintext, &[]);
        ciphertext.extend_from_slice(&extra);
        let (released, result) = open(&key, &ciphertext, &open_cuts);
        assert_rejected(&released, &result, &plaintext, chunk_size, plaintext.len())?;
    }

    #[test]
    fn another_key_is_rejected(
        (chunk_size, plaintext) in sized_plaintext(16, 200),
        open_cuts in cuts(),
    ) {
        let key = DataKey::generate().unwrap();
        let ciphertext = seal(&key, chunk_size, &plaintext, &[]);
        let (released, result) = open(&DataKey::generate().unwrap(), &ciphertext, &open_cuts);
        assert_rejected(&released, &result, &plaintext, chunk_size, 0)?;
        let first_chunk_failed = matches!(
            result,
            Err(CryptoError::Integrity(IntegrityError::ChunkAuthentication { chunk: 0 }))
        );
        prop_assert!(first_chunk_failed, "{:?}", result);
    }

    #[test]
    fn chunks_from_another_stream_under_the_same_key_are_rejected(
        (chunk_size, plaintext) in sized_plaintext(16, 200),
        index in any::<prop::sample::Index>(),
        open_cuts in cuts(),
    ) {
        // Two streams of the same plaintext under one key differ only in the nonce prefix,
        // which the header carries and every chunk authenticates.
        let key = DataKey::generate().unwrap();
        let (header_a, frames_a) = frames(&seal(&key, chunk_size, &plaintext, &[]), chunk_size);
        let (header_b, frames_b) = frames(&seal(&key, chunk_size, &plaintext, &[]), chunk_size);
        let index = index.index(frames_b.len());
        let mut spliced = frames_b.clone();
        spliced[index] = frames_a[index].clone();
        let (released, result) = open(&key, &assemble(&header_b, &spliced), &open_cuts);
        assert_rejected(&released, &result, &plaintext, chunk_size, index * chunk_size)?;
        let (released, result) = open(&key, &assemble(&header_a, &frames_b), &open_cuts);
        assert_rejected(&released, &result, &plaintext, chunk_size, 0)?;
    }
}

/// Exhaustive over every bit of a stream with several chunks and a short final chunk.
#[test]
fn every_single_bit_flip_is_rejected() {
    let key = DataKey::generate().unwrap();
    let chunk_size = 7;
    let plaintext: Vec<u8> = (0..30u8).collect();
    let ciphertext = seal(&key, chunk_size, &plaintext, &[]);
    for position in 0..ciphertext.len() {
        for bit in 0..8 {
            let mut damaged = ciphertext.clone();
            damaged[position] ^= 1 << bit;
            let (released, result) = open(&key, &damaged, &[]);
            assert!(
                matches!(result, Err(CryptoError::Integrity(_))),
                "flip at byte {position} bit {bit} accepted"
            );
            let damaged_chunk = position.saturating_sub(HEADER_LEN) / (chunk_size + TAG_LEN);
            let max_released = if position < HEADER_LEN {
                0
            } else {
                damaged_chunk * chunk_size
            };
            assert!(released.len() <= max_released);
            assert!(plaintext.starts_with(&released));
        }
    }
}

fn integrity_error(result: Result<(), CryptoError>) -> IntegrityError {
    match result {
        Err(CryptoError::Integrity(err)) => err,
        other => panic!("expected an integrity error, got {other:?}"),
    }
}

#[test]
fn errors_say_what_went_wrong() {
    let key = DataKey::generate().unwrap();
    let chunk_size = 8;
    let frame = chunk_size + TAG_LEN;
    // Two full chunks: the second is a full *final* chunk.
    let ciphertext = seal(&key, chunk_size, &[0x55; 16], &[]);
    assert_eq!(ciphertext.len(), HEADER_LEN + 2 * frame);

    let cases: Vec<(&str, Vec<u8>, IntegrityError)> = vec![
        ("empty input", Vec::new(), IntegrityError::Truncated),
        (
            "cut inside the header",
            ciphertext[..9].to_vec(),
            IntegrityError::Truncated,
        ),
        (
            "header only",
            ciphertext[..HEADER_LEN].to_vec(),
            IntegrityError::Truncated,
        ),
        (
            "cut at a chunk boundary",
            ciphertext[..HEADER_LEN + frame].to_vec(),
            IntegrityError::Truncated,
        ),
        (
            "cut inside the tag of the first chunk",
            ciphertext[..HEADER_LEN + 5].to_vec(),
            IntegrityError::Truncated,
        ),
        (
            "cut inside the last chunk",
            ciphertext[..ciphertext.len() - 1].to_vec(),
            IntegrityError::ChunkAuthentication { chunk: 1 },
        ),
        (
            "bytes after a full final chunk",
            [ciphertext.as_slice(), b"x"].concat(),
            IntegrityError::TrailingData,
        ),
        (
            "a whole chunk after the final chunk",
            [
                ciphertext.as_slice(),
                &ciphertext[HEADER_LEN..HEADER_LEN + frame],
            ]
            .concat(),
            IntegrityError::TrailingData,
        ),
        (
            "damaged second chunk",
            {
                let mut damaged = ciphertext.clone();
                damaged[HEADER_LEN + frame + 3] ^= 0x80;
                damaged
            },
            IntegrityError::ChunkAuthentication { chunk: 1 },
        ),
        (
            "wrong magic",
            [b"KRB2".as_slice(), &ciphertext[4..]].concat(),
            IntegrityError::BadMagic,
        ),
        (
            "unknown version",
            [&ciphertext[..4], &[9], &ciphertext[5..]].concat(),
            IntegrityError::UnsupportedVersion(9),
        ),
        (
            "zero chunk size",
            [&ciphertext[..5], &[0, 0, 0, 0], &ciphertext[9..]].concat(),
            IntegrityError::BadChunkSize(0),
        ),
        (
            "changed chunk size",
            [&ciphertext[..5], &9u32.to_be_bytes(), &ciphertext[9..]].concat(),
            IntegrityError::ChunkAuthentication { chunk: 0 },
        ),
    ];
    for (what, input, expected) in cases {
        let (released, result) = open(&key, &input, &[]);
        assert_eq!(integrity_error(result), expected, "{what}");
        assert!(released.len() <= chunk_size, "{what}");
        let message = CryptoError::Integrity(expected).to_string();
        assert!(
            message.starts_with("encrypted data failed its integrity check"),
            "{message}"
        );
    }
}

#[test]
fn empty_plaintext_is_one_empty_final_chunk() {
    let key = DataKey::generate().unwrap();
    let ciphertext = seal(&key, 64, b"", &[]);
    assert_eq!(ciphertext.len(), HEADER_LEN + TAG_LEN);
    let (opened, result) = open(&key, &ciphertext, &[]);
    result.unwrap();
    assert!(opened.is_empty());
}

#[test]
fn full_chunks_are_held_back_until_more_data_arrives() {
    let key = DataKey::generate().unwrap();
    let mut out = Vec::new();
    let mut sealer = Sealer::start_with_chunk_size(&key, 4, &mut out).unwrap();
    sealer.update(b"abcd", &mut out).unwrap();
    assert_eq!(
        out.len(),
        HEADER_LEN,
        "a full chunk may still be the last one"
    );
    sealer.update(b"e", &mut out).unwrap();
    assert_eq!(out.len(), HEADER_LEN + 4 + TAG_LEN);
    sealer.finish(&mut out).unwrap();

    let mut opener = Opener::new(&key);
    let mut plaintext = Vec::new();
    opener
        .update(&out[..HEADER_LEN + 4 + TAG_LEN], &mut plaintext)
        .unwrap();
    assert!(
        plaintext.is_empty(),
        "a complete chunk may still be the last one"
    );
    opener
        .update(&out[HEADER_LEN + 4 + TAG_LEN..], &mut plaintext)
        .unwrap();
    assert_eq!(plaintext, b"abcd");
    opener.finish(&mut plaintext).unwrap();
    assert_eq!(plaintext, b"abcde");
}

#[test]
fn output_is_appended_after_existing_content() {
    let key = DataKey::generate().unwrap();
    let mut sealed = b"prefix".to_vec();
    let mut sealer = Sealer::start_with_chunk_size(&key, 3, &mut sealed).unwrap();
    sealer.update(b"0123456789", &mut sealed).unwrap();
    sealer.finish(&mut sealed).unwrap();
    assert_eq!(&sealed[..6], b"prefix");

    let mut opened = b"existing".to_vec();
    let mut opener = Opener::new(&key);
    opener.update(&sealed[6..], &mut opened).unwrap();
    opener.finish(&mut opened).unwrap();
    assert_eq!(opened, b"existing0123456789");

    // A failure leaves earlier content of `out` untouched.
    let mut damaged = sealed[6..].to_vec();
    let last = damaged.len() - 1;
    damaged[last] ^= 1;
    let mut opened = b"existing".to_vec();
    let mut opener = Opener::new(&key);
    opener.update(&damaged, &mut opened).unwrap();
    opener.finish(&mut opened).unwrap_err();
    assert_eq!(opened, b"existing012345678");
}

#[test]
fn default_chunk_size_round_trip_at_boundaries() {
    let key = DataKey::generate().unwrap();
    let chunk = kenshin_crypto::DEFAULT_CHUNK_SIZE;
    for len in [0, 1, chunk - 1, chunk, chunk + 1, 3 * chunk, 3 * chunk + 17] {
        let plaintext: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let mut sealed = Vec::new();
        let mut sealer = Sealer::start(&key, &mut sealed).unwrap();
        sealer.update(&plaintext, &mut sealed).unwrap();
        sealer.finish(&mut sealed).unwrap();
        assert_eq!(sealed.len() as u64, sealed_len(len as u64, chunk));
        let (opened, result) = open(&key, &sealed, &[HEADER_LEN + 1, sealed.len() / 2]);
        result.unwrap();
        assert_eq!(opened, plaintext, "length {len}");
    }
}

#[test]
fn sealers_and_openers_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Sealer>();
    assert_send_sync::<Opener>();
    assert_send_sync::<DataKey>();
}
