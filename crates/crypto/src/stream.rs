//! The chunked streaming AEAD construction. The byte layout is documented at the crate root.
//!
//! Both halves are sans-IO: they consume byte slices and append to a caller-owned `Vec`, so
//! the same code serves synchronous files, async bodies, and in-memory tests. The hot paths
//! encrypt and decrypt directly between the caller's input and output buffers; only the
//! bytes of a chunk that is still incomplete (or may turn out to be the last one) are copied
//! into an internal buffer.

use core::fmt;

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, NONCE_LEN};
use aws_lc_rs::rand;
use zeroize::{Zeroize, Zeroizing};

use crate::{CryptoError, DataKey, IntegrityError};

/// Plaintext bytes per chunk used by [`Sealer::start`]: large enough that the per-chunk cost
/// (a nonce, a tag, a call into aws-lc) is negligible, small enough that the [`Opener`]'s
/// one-chunk buffer stays cheap.
pub const DEFAULT_CHUNK_SIZE: usize = 64 * 1024;

/// Largest chunk size accepted, both when sealing and in a header being opened. Bounding it
/// bounds the memory an [`Opener`] allocates on the word of an unauthenticated header.
pub const MAX_CHUNK_SIZE: usize = 16 * 1024 * 1024;

/// Length of the stream header in bytes.
pub const HEADER_LEN: usize = 16;

/// Length of the AES-GCM tag appended to every chunk.
pub const TAG_LEN: usize = 16;

/// Identifies an encrypted Kenshin Relay object ("Kenshin Relay Blob", format family 1).
const MAGIC: [u8; 4] = *b"KRB1";
/// Revision of the layout within the family; bumped for any incompatible change.
const VERSION: u8 = 1;

const VERSION_OFFSET: usize = 4;
const CHUNK_SIZE_OFFSET: usize = 5;
const PREFIX_OFFSET: usize = 9;
const NONCE_PREFIX_LEN: usize = HEADER_LEN - PREFIX_OFFSET;
const COUNTER_OFFSET: usize = NONCE_PREFIX_LEN;
const FLAG_OFFSET: usize = COUNTER_OFFSET + 4;

/// The largest chunk index. A chunk with this index can only be a final chunk, because the
/// counter must never wrap (a wrapped counter would reuse a nonce).
const MAX_CHUNK_INDEX: u32 = u32::MAX;

// The nonce is exactly prefix ‖ counter ‖ flag; a change to any length must fail the build.
const _: () = assert!(FLAG_OFFSET + 1 == NONCE_LEN);
const _: () = assert!(PREFIX_OFFSET == CHUNK_SIZE_OFFSET + 4);
const _: () = assert!(MAX_CHUNK_SIZE <= u32::MAX as usize);

/// The stream header. Its bytes are also the associated data of every chunk, so each chunk
/// authenticates the format version, the chunk size and the nonce prefix it was sealed with.
struct Header([u8; HEADER_LEN]);

impl Header {
    /// A header for a new stream, with a fresh random nonce prefix.
    ///
    /// Each object has its own data key, so nonces could never repeat even with a constant
    /// prefix; the random prefix is defence in depth should a key ever be reused for several
    /// streams (56 random bits keep collisions negligible for any plausible reuse).
    fn generate(chunk_size: usize) -> Result<Self, CryptoError> {
        let chunk_size = u32::try_from(chunk_size)
            .ok()
            .filter(|size| (1..=MAX_CHUNK_SIZE as u32).contains(size))
            .ok_or(CryptoError::InvalidChunkSize(chunk_size))?;
        let mut bytes = [0u8; HEADER_LEN];
        bytes[..VERSION_OFFSET].copy_from_slice(&MAGIC);
        bytes[VERSION_OFFSET] = VERSION;
        bytes[CHUNK_SIZE_OFFSET..PREFIX_OFFSET].copy_from_slice(&chunk_size.to_be_bytes());
        rand::fill(&mut bytes[PREFIX_OFFSET..])
            .map_err(|_| CryptoError::Unspecified("system random number generator failed"))?;
        Ok(Self(bytes))
    }

    /// Checks a received header and returns its chunk size.
    ///
    /// These checks are a courtesy: a header altered in any way (including a forged chunk size)
    /// makes every chunk fail authentication anyway. They turn "not our format" into a precise
    /// error and bound the buffer the opener allocates.
    fn validate(&self) -> Result<usize, IntegrityError> {
        if self.0[..VERSION_OFFSET] != MAGIC {
            return Err(IntegrityError::BadMagic);
        }
        let version = self.0[VERSION_OFFSET];
        if version != VERSION {
            return Err(IntegrityError::UnsupportedVersion(version));
        }
        let mut size = [0u8; 4];
        size.copy_from_slice(&self.0[CHUNK_SIZE_OFFSET..PREFIX_OFFSET]);
        let size = u32::from_be_bytes(size);
        match usize::try_from(size) {
            Ok(chunk_size) if (1..=MAX_CHUNK_SIZE).contains(&chunk_size) => Ok(chunk_size),
            _ => Err(IntegrityError::BadChunkSize(size)),
        }
    }

    /// The nonce of chunk `index`: prefix ‖ counter (u32 BE) ‖ final flag.
    ///
    /// Binding "is this the last chunk" into the nonce is what makes truncation at a chunk
    /// boundary detectable: a non-final chunk cannot be passed off as the final one.
    fn nonce(&self, index: u32, last: bool) -> Nonce {
        let mut nonce = [0u8; NONCE_LEN];
        nonce[..COUNTER_OFFSET].copy_from_slice(&self.0[PREFIX_OFFSET..]);
        nonce[COUNTER_OFFSET..FLAG_OFFSET].copy_from_slice(&index.to_be_bytes());
        nonce[FLAG_OFFSET] = u8::from(last);
        Nonce::assume_unique_for_key(nonce)
    }

    fn aad(&self) -> Aad<&[u8; HEADER_LEN]> {
        Aad::from(&self.0)
    }
}

/// Seals one chunk, appending ciphertext ‖ tag to `out`.
///
/// Encryption runs out of place from `plaintext` straight into `out`, so plaintext is never
/// copied into the output buffer and a failure leaves nothing behind. This measured faster
/// than copying and sealing in place. The one remaining overhead over raw AES-GCM is the zero
/// fill of `out`'s new tail, the price of staying in safe Rust: aws-lc-rs only writes into
/// initialised slices.
fn seal_chunk(
    key: &LessSafeKey,
    header: &Header,
    index: u32,
    last: bool,
    plaintext: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), CryptoError> {
    let start = out.len();
    out.resize(start + plaintext.len() + TAG_LEN, 0);
    let (ciphertext, tag) = out[start..].split_at_mut(plaintext.len());
    let sealed = key.seal_out_of_place_scatter(
        header.nonce(index, last),
        header.aad(),
        plaintext,
        ciphertext,
        &[],
        tag,
    );
    if sealed.is_err() {
        out.truncate(start);
        return Err(CryptoError::Unspecified("AES-256-GCM seal failed"));
    }
    Ok(())
}

/// Opens one chunk (`frame` = ciphertext ‖ tag, at least [`TAG_LEN`] bytes), appending its
/// plaintext to `out` only if the tag verifies.
///
/// Decryption runs straight into `out`'s new tail; if authentication fails that tail is
/// wiped and cut off again before returning, so no unauthenticated byte is ever released.
fn open_chunk(
    key: &LessSafeKey,
    header: &Header,
    index: u32,
    last: bool,
    frame: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), aws_lc_rs::error::Unspecified> {
    debug_assert!(frame.len() >= TAG_LEN);
    let (ciphertext, tag) = frame.split_at(frame.len() - TAG_LEN);
    let start = out.len();
    out.resize(start + ciphertext.len(), 0);
    let opened = key.open_separate_gather(
        header.nonce(index, last),
        header.aad(),
        ciphertext,
        tag,
        &mut out[start..],
    );
    if opened.is_err() {
        discard_tail(out, start);
    }
    opened
}

/// Wipes and removes everything in `out` from `start` on.
fn discard_tail(out: &mut Vec<u8>, start: usize) {
    out[start..].zeroize();
    out.truncate(start);
}

/// Opens a chunk that is known not to be the last one (more ciphertext follows it).
///
/// On failure, tries the same bytes as a *final* chunk purely to produce a precise
/// diagnostic: if that authenticates, the stream really ended there and the rest is appended
/// data. Its plaintext is discarded either way.
fn open_inner_chunk(
    key: &LessSafeKey,
    header: &Header,
    index: u32,
    frame: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), IntegrityError> {
    // No chunk after index MAX_CHUNK_INDEX can exist, so a chunk there is never "inner".
    if index < MAX_CHUNK_INDEX && open_chunk(key, header, index, false, frame, out).is_ok() {
        return Ok(());
    }
    let start = out.len();
    if open_chunk(key, header, index, true, frame, out).is_ok() {
        discard_tail(out, start);
        return Err(IntegrityError::TrailingData);
    }
    Err(IntegrityError::ChunkAuthentication { chunk: index })
}

/// Sans-IO streaming encryptor.
///
/// Feed plaintext with [`update`](Self::update) and end with [`finish`](Self::finish), which
/// seals the final chunk. A stream that is never finished has no final chunk and will be
/// rejected as truncated by the [`Opener`], so an interrupted writer cannot produce an object
/// that silently decrypts to a prefix.
///
/// Buffered plaintext (at most one chunk) is zeroized when the `Sealer` is dropped.
pub struct Sealer {
    key: LessSafeKey,
    header: Header,
    chunk_size: usize,
    /// Plaintext not yet sealed: at most one chunk, held back until it is known whether more
    /// data follows (which decides whether it is sealed as final). Its capacity is reserved
    /// up front so it never reallocates and leaves unzeroized copies behind.
    pending: Zeroizing<Vec<u8>>,
    /// Index of the next chunk to seal.
    next_chunk: u32,
    plaintext_len: u64,
    poisoned: bool,
}

impl Sealer {
    /// Starts a stream with [`DEFAULT_CHUNK_SIZE`]: appends the header to `out`.
    ///
    /// # Errors
    /// [`CryptoError::Unspecified`] if the random number generator or the key setup fails.
    pub fn start(key: &DataKey, out: &mut Vec<u8>) -> Result<Self, CryptoError> {
        Self::start_with_chunk_size(key, DEFAULT_CHUNK_SIZE, out)
    }

    /// Starts a stream with the given chunk size (`1..=MAX_CHUNK_SIZE`): appends the header to
    /// `out`. Meant for tests and benchmarks; production data uses [`DEFAULT_CHUNK_SIZE`].
    ///
    /// # Errors
    /// [`CryptoError::InvalidChunkSize`] for a size out of range; [`CryptoError::Unspecified`]
    /// if the random number generator or the key setup fails.
    pub fn start_with_chunk_size(
        key: &DataKey,
        chunk_size: usize,
        out: &mut Vec<u8>,
    ) -> Result<Self, CryptoError> {
        let header = Header::generate(chunk_size)?;
        let key = key.aead_key()?;
        out.extend_from_slice(&header.0);
        Ok(Self {
            key,
            header,
            chunk_size,
            pending: Zeroizing::new(Vec::with_capacity(chunk_size)),
            next_chunk: 0,
            plaintext_len: 0,
            poisoned: false,
        })
    }

    /// Consumes plaintext and appends to `out` every chunk that is complete *and* known not to
    /// be the last one. A complete chunk is held back until at least one more byte arrives,
    /// because only then is it certain that it must be sealed as non-final.
    ///
    /// # Errors
    /// [`CryptoError::StreamTooLong`] if the data would need more than 2^32 chunks (nothing is
    /// consumed; the stream can still be finished). [`CryptoError::Unspecified`] if AES-GCM
    /// fails, after which the sealer is poisoned and every later call returns
    /// [`CryptoError::Poisoned`].
    pub fn update(&mut self, plaintext: &[u8], out: &mut Vec<u8>) -> Result<(), CryptoError> {
        if self.poisoned {
            return Err(CryptoError::Poisoned);
        }
        if plaintext.is_empty() {
            return Ok(());
        }
        // Of the bytes now buffered, every complete chunk except one that might be the last
        // is released. Check the counter budget before touching any state, keeping one index
        // free for the final chunk.
        let chunk_size = self.chunk_size as u64;
        let buffered = self.pending.len() as u64 + plaintext.len() as u64;
        let released = (buffered - 1) / chunk_size;
        let within_budget = u64::from(self.next_chunk) + released <= u64::from(MAX_CHUNK_INDEX);
        self.plaintext_len = self
            .plaintext_len
            .checked_add(plaintext.len() as u64)
            .filter(|_| within_budget)
            .ok_or(CryptoError::StreamTooLong)?;
        let result = self.seal_released(plaintext, out);
        if result.is_err() {
            self.poisoned = true;
        }
        result
    }

    /// The body of [`update`](Self::update), once the counter budget has been checked.
    fn seal_released(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<(), CryptoError> {
        let chunk_size = self.chunk_size;
        if !self.pending.is_empty() {
            let take = (chunk_size - self.pending.len()).min(input.len());
            self.pending.extend_from_slice(&input[..take]);
            input = &input[take..];
            if input.is_empty() {
                return Ok(());
            }
            // The held-back chunk is full and more data follows: it is not the last one.
            seal_chunk(
                &self.key,
                &self.header,
                self.next_chunk,
                false,
                &self.pending,
                out,
            )?;
            self.next_chunk += 1;
            self.pending.clear();
        }
        if input.len() > chunk_size {
            // Fast path: full chunks with data after them are sealed straight from the input.
            let chunks = (input.len() - 1) / chunk_size;
            out.reserve(chunks * (chunk_size + TAG_LEN));
            while input.len() > chunk_size {
                let (chunk, rest) = input.split_at(chunk_size);
                seal_chunk(&self.key, &self.header, self.next_chunk, false, chunk, out)?;
                self.next_chunk += 1;
                input = rest;
            }
        }
        // 1..=chunk_size bytes remain; they may be (part of) the final chunk.
        self.pending.extend_from_slice(input);
        Ok(())
    }

    /// Seals the buffered plaintext (`0..=chunk_size` bytes, possibly none) as the final chunk
    /// and appends it to `out`, completing the stream.
    ///
    /// # Errors
    /// [`CryptoError::Poisoned`] if an earlier call failed; [`CryptoError::Unspecified`] if
    /// AES-GCM fails.
    pub fn finish(self, out: &mut Vec<u8>) -> Result<(), CryptoError> {
        if self.poisoned {
            return Err(CryptoError::Poisoned);
        }
        seal_chunk(
            &self.key,
            &self.header,
            self.next_chunk,
            true,
            &self.pending,
            out,
        )
    }

    /// Total plaintext bytes accepted so far.
    #[must_use]
    pub fn plaintext_len(&self) -> u64 {
        self.plaintext_len
    }

    /// The chunk size of this stream.
    #[must_use]
    pub fn chunk_size(&self) -> usize {
        self.chunk_size
    }
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sealer")
            .field("chunk_size", &self.chunk_size)
            .field("next_chunk", &self.next_chunk)
            .field("plaintext_len", &self.plaintext_len)
            .field("poisoned", &self.poisoned)
            .finish_non_exhaustive()
    }
}

/// Sans-IO streaming decryptor.
///
/// Feed ciphertext (header first) with [`update`](Self::update) and signal its end with
/// [`finish`](Self::finish). Plaintext is released chunk by chunk, and never a byte of a chunk
/// before that chunk's tag has verified. Because whether a chunk is the last one is only known
/// once more data arrives (or the input ends), the most recent complete chunk is held back
/// until then.
///
/// Authenticity of the *whole* object is established only when `finish` succeeds: a caller
/// that streams plaintext onwards before that must be prepared to retract it (for instance by
/// writing to a temporary file that is renamed into place only after `finish`).
///
/// Memory use is bounded by one chunk plus its tag, whatever the input size.
pub struct Opener {
    /// `None` only if aws-lc failed to set the key up, reported on first use (construction is
    /// infallible so the API stays simple; such a failure means memory exhaustion).
    key: Option<LessSafeKey>,
    header: Header,
    /// Header bytes received so far.
    header_len: usize,
    /// Chunk size + tag once the header has been validated; 0 before.
    frame_len: usize,
    /// Ciphertext of the chunk that is incomplete or may be the last one. Never longer than
    /// `frame_len`.
    frame: Vec<u8>,
    /// Index of the next chunk to open.
    next_chunk: u32,
    poisoned: bool,
}

impl Opener {
    /// Creates an opener for streams sealed under `key`.
    #[must_use]
    pub fn new(key: &DataKey) -> Self {
        Self {
            key: key.aead_key().ok(),
            header: Header([0u8; HEADER_LEN]),
            header_len: 0,
            frame_len: 0,
            frame: Vec::new(),
            next_chunk: 0,
            poisoned: false,
        }
    }

    /// Consumes ciphertext and appends the authenticated plaintext of every chunk that is
    /// known not to be the last one.
    ///
    /// # Errors
    /// [`CryptoError::Integrity`] if the header is invalid or a chunk fails authentication. No
    /// plaintext of a failing chunk is appended. After any error the opener is poisoned and
    /// later calls return [`CryptoError::Poisoned`].
    pub fn update(&mut self, ciphertext: &[u8], out: &mut Vec<u8>) -> Result<(), CryptoError> {
        if self.poisoned {
            return Err(CryptoError::Poisoned);
        }
        let result = self.open_released(ciphertext, out);
        if result.is_err() {
            self.poisoned = true;
        }
        result
    }

    /// The body of [`update`](Self::update).
    fn open_released(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<(), CryptoError> {
        let Some(key) = &self.key else {
            return Err(CryptoError::Unspecified("AES-256-GCM key setup failed"));
        };
        if self.frame_len == 0 {
            let take = (HEADER_LEN - self.header_len).min(input.len());
            self.header.0[self.header_len..self.header_len + take].copy_from_slice(&input[..take]);
            self.header_len += take;
            input = &input[take..];
            if self.header_len < HEADER_LEN {
                return Ok(());
            }
            let chunk_size = self.header.validate()?;
            self.frame_len = chunk_size + TAG_LEN;
            self.frame.reserve_exact(self.frame_len);
        }
        let frame_len = self.frame_len;
        while !input.is_empty() {
            if self.frame.len() == frame_len {
                // A buffered complete chunk with more data after it is not the last one.
                open_inner_chunk(key, &self.header, self.next_chunk, &self.frame, out)?;
                self.next_chunk += 1;
                self.frame.clear();
            }
            if self.frame.is_empty() && input.len() > frame_len {
                // Fast path: complete chunks with data after them are opened straight from the
                // input into `out`, without passing through the buffer.
                let chunks = (input.len() - 1) / frame_len;
                out.reserve(chunks * (frame_len - TAG_LEN));
                while input.len() > frame_len {
                    let (frame, rest) = input.split_at(frame_len);
                    open_inner_chunk(key, &self.header, self.next_chunk, frame, out)?;
                    self.next_chunk += 1;
                    input = rest;
                }
            }
            let take = (frame_len - self.frame.len()).min(input.len());
            self.frame.extend_from_slice(&input[..take]);
            input = &input[take..];
        }
        Ok(())
    }

    /// Signals the end of the ciphertext: opens the buffered chunk as the final one and
    /// appends its plaintext. Only when this returns `Ok` is the whole stream authentic.
    ///
    /// # Errors
    /// [`CryptoError::Integrity`] with [`IntegrityError::Truncated`] if the stream ended before
    /// a final chunk (inside the header, or right after a non-final chunk), or
    /// [`IntegrityError::ChunkAuthentication`] if the last chunk does not authenticate as a
    /// final chunk (which includes a stream cut inside a chunk: AEAD cannot tell a cut from
    /// tampering). [`CryptoError::Poisoned`] if an earlier call failed.
    pub fn finish(self, out: &mut Vec<u8>) -> Result<(), CryptoError> {
        if self.poisoned {
            return Err(CryptoError::Poisoned);
        }
        let Some(key) = &self.key else {
            return Err(CryptoError::Unspecified("AES-256-GCM key setup failed"));
        };
        if self.frame_len == 0 || self.frame.len() < TAG_LEN {
            return Err(IntegrityError::Truncated.into());
        }
        let index = self.next_chunk;
        if open_chunk(key, &self.header, index, true, &self.frame, out).is_ok() {
            return Ok(());
        }
        // Diagnose: a complete chunk that authenticates as non-final means the stream was cut
        // at a chunk boundary. Its plaintext is discarded.
        if self.frame.len() == self.frame_len && index < MAX_CHUNK_INDEX {
            let start = out.len();
            if open_chunk(key, &self.header, index, false, &self.frame, out).is_ok() {
                discard_tail(out, start);
                return Err(IntegrityError::Truncated.into());
            }
        }
        Err(IntegrityError::ChunkAuthentication { chunk: index }.into())
    }
}

impl fmt::Debug for Opener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Opener")
            .field("header_complete", &(self.frame_len != 0))
            .field("chunk_size", &self.frame_len.saturating_sub(TAG_LEN))
            .field("next_chunk", &self.next_chunk)
            .field("poisoned", &self.poisoned)
            .finish_non_exhaustive()
    }
}

/// Exact length of the sealed stream for `plaintext_len` bytes of plaintext: header, plus one
/// tag per chunk, plus the plaintext length (AES-GCM adds no padding). An empty plaintext is
/// one empty final chunk; a multiple of the chunk size ends with a full final chunk.
///
/// Saturates at `u64::MAX` for lengths no stream could have.
///
/// # Panics
/// If `chunk_size` is 0 (as `slice::chunks` does): there is no such stream.
#[must_use]
pub fn sealed_len(plaintext_len: u64, chunk_size: usize) -> u64 {
    assert!(chunk_size > 0, "chunk size must be non-zero");
    let chunks = plaintext_len.div_ceil(chunk_size as u64).max(1);
    (HEADER_LEN as u64)
        .saturating_add(plaintext_len)
        .saturating_add(chunks.saturating_mul(TAG_LEN as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> DataKey {
        DataKey::generate().unwrap()
    }

    #[test]
    fn header_layout() {
        let mut out = Vec::new();
        let sealer = Sealer::start_with_chunk_size(&key(), 0x0102_0304, &mut Vec::new());
        assert!(matches!(
            sealer,
            Err(CryptoError::InvalidChunkSize(0x0102_0304))
        ));
        let _sealer = Sealer::start_with_chunk_size(&key(), 4096, &mut out).unwrap();
        assert_eq!(out.len(), HEADER_LEN);
        assert_eq!(&out[..4], b"KRB1");
        assert_eq!(out[4], 1);
        assert_eq!(&out[5..9], &4096u32.to_be_bytes());
    }

    #[test]
    fn nonce_layout() {
        let mut bytes = [0u8; HEADER_LEN];
        bytes[PREFIX_OFFSET..].copy_from_slice(&[1, 2, 3, 4, 5, 6, 7]);
        let header = Header(bytes);
        assert_eq!(
            header.nonce(0x0A0B_0C0D, false).as_ref(),
            &[1, 2, 3, 4, 5, 6, 7, 0x0A, 0x0B, 0x0C, 0x0D, 0]
        );
        assert_eq!(
            header.nonce(1, true).as_ref(),
            &[1, 2, 3, 4, 5, 6, 7, 0, 0, 0, 1, 1]
        );
    }

    #[test]
    fn nonce_prefixes_are_random() {
        let key = key();
        let (mut a, mut b) = (Vec::new(), Vec::new());
        Sealer::start(&key, &mut a).unwrap();
        Sealer::start(&key, &mut b).unwrap();
        assert_eq!(a[..PREFIX_OFFSET], b[..PREFIX_OFFSET]);
        assert_ne!(a[PREFIX_OFFSET..], b[PREFIX_OFFSET..]);
    }

    #[test]
    fn chunk_size_bounds() {
        let key = key();
        for bad in [0, MAX_CHUNK_SIZE + 1, usize::MAX] {
            let err = Sealer::start_with_chunk_size(&key, bad, &mut Vec::new()).unwrap_err();
            assert!(matches!(err, CryptoError::InvalidChunkSize(size) if size == bad));
        }
        for good in [1, MAX_CHUNK_SIZE] {
            Sealer::start_with_chunk_size(&key, good, &mut Vec::new()).unwrap();
        }
    }

    #[test]
    fn header_validation() {
        let valid = Header::generate(10).unwrap();
        assert_eq!(valid.validate(), Ok(10));

        let mut bad = Header(valid.0);
        bad.0[0] ^= 1;
        assert_eq!(bad.validate(), Err(IntegrityError::BadMagic));

        let mut bad = Header(valid.0);
        bad.0[VERSION_OFFSET] = 2;
        assert_eq!(bad.validate(), Err(IntegrityError::UnsupportedVersion(2)));

        for size in [0u32, MAX_CHUNK_SIZE as u32 + 1, u32::MAX] {
            let mut bad = Header(valid.0);
            bad.0[CHUNK_SIZE_OFFSET..PREFIX_OFFSET].copy_from_slice(&size.to_be_bytes());
            assert_eq!(bad.validate(), Err(IntegrityError::BadChunkSize(size)));
        }
    }

    #[test]
    fn sealed_len_small_cases() {
        let h = HEADER_LEN as u64;
        let t = TAG_LEN as u64;
        assert_eq!(sealed_len(0, 4), h + t);
        assert_eq!(sealed_len(1, 4), h + 1 + t);
        assert_eq!(sealed_len(4, 4), h + 4 + t);
        assert_eq!(sealed_len(5, 4), h + 5 + 2 * t);
        assert_eq!(sealed_len(8, 4), h + 8 + 2 * t);
        assert_eq!(sealed_len(u64::MAX, 1), u64::MAX);
    }

    /// Sealer and opener positioned just before the counter limit, as if 2^32 - 2 chunks had
    /// already gone by (running through them for real would take hours).
    fn near_limit(chunk_size: usize) -> (Sealer, Opener, Vec<u8>) {
        let key = key();
        let mut ciphertext = Vec::new();
        let mut sealer = Sealer::start_with_chunk_size(&key, chunk_size, &mut ciphertext).unwrap();
        sealer.next_chunk = MAX_CHUNK_INDEX - 1;
        let mut opener = Opener::new(&key);
        opener.update(&ciphertext, &mut Vec::new()).unwrap();
        opener.next_chunk = MAX_CHUNK_INDEX - 1;
        ciphertext.clear();
        (sealer, opener, ciphertext)
    }

    #[test]
    fn counter_limit_is_enforced_without_wrapping() {
        let (mut sealer, mut opener, mut ciphertext) = near_limit(4);
        // Two full chunks fit (indices MAX-1 and MAX); the second is held back as final.
        sealer.update(&[7u8; 8], &mut ciphertext).unwrap();
        // A ninth byte would force chunk MAX to be non-final: refused, nothing consumed.
        let err = sealer.update(&[7u8], &mut ciphertext).unwrap_err();
        assert!(matches!(err, CryptoError::StreamTooLong));
        assert_eq!(sealer.plaintext_len(), 8);
        // ...and the stream can still be finished and opened.
        sealer.finish(&mut ciphertext).unwrap();
        let mut plaintext = Vec::new();
        opener.update(&ciphertext, &mut plaintext).unwrap();
        opener.finish(&mut plaintext).unwrap();
        assert_eq!(plaintext, [7u8; 8]);
    }

    #[test]
    fn opener_rejects_a_chunk_after_the_last_index() {
        let (mut sealer, mut opener, mut ciphertext) = near_limit(4);
        sealer.update(&[7u8; 8], &mut ciphertext).unwrap();
        sealer.finish(&mut ciphertext).unwrap();
        // Chunk MAX is final; anything after it must be rejected, never numbered MAX + 1.
        ciphertext.extend_from_slice(&[0u8; 4 + TAG_LEN]);
        let mut plaintext = Vec::new();
        let err = opener.update(&ciphertext, &mut plaintext).unwrap_err();
        assert!(matches!(
            err,
            CryptoError::Integrity(IntegrityError::TrailingData)
        ));
        assert_eq!(plaintext, [7u8; 4]);
    }

    #[test]
    fn errors_poison_the_opener() {
        let mut opener = Opener::new(&key());
        let err = opener.update(b"XXXX", &mut Vec::new());
        assert!(err.is_ok(), "header still incomplete");
        let err = opener.update(&[0u8; 12], &mut Vec::new()).unwrap_err();
        assert!(matches!(
            err,
            CryptoError::Integrity(IntegrityError::BadMagic)
        ));
        let err = opener.update(&[0u8; 1], &mut Vec::new()).unwrap_err();
        assert!(matches!(err, CryptoError::Poisoned));
        assert!(matches!(
            opener.finish(&mut Vec::new()),
            Err(CryptoError::Poisoned)
        ));
    }

    #[test]
    fn buffers_stay_within_one_chunk() {
        let key = key();
        let chunk_size = 1000;
        let bound = chunk_size + TAG_LEN;
        let plaintext = vec![3u8; 1 << 20];
        let mut ciphertext = Vec::new();
        let mut sealer = Sealer::start_with_chunk_size(&key, chunk_size, &mut ciphertext).unwrap();
        for piece in plaintext.chunks(1531) {
            sealer.update(piece, &mut ciphertext).unwrap();
            assert!(sealer.pending.capacity() <= bound);
        }
        sealer.update(&plaintext, &mut ciphertext).unwrap();
        assert!(sealer.pending.capacity() <= bound);
        sealer.finish(&mut ciphertext).unwrap();

        let mut opener = Opener::new(&key);
        let mut opened = Vec::new();
        let (first, rest) = ciphertext.split_at(ciphertext.len() / 2);
        for piece in first.chunks(1777) {
            opener.update(piece, &mut opened).unwrap();
            assert!(opener.frame.capacity() <= bound);
        }
        opener.update(rest, &mut opened).unwrap();
        assert!(opener.frame.capacity() <= bound);
        opener.finish(&mut opened).unwrap();
        assert_eq!(opened.len(), 2 * plaintext.len());
    }

    #[test]
    fn debug_output_has_no_secrets() {
        let mut out = Vec::new();
        let key = key();
        let mut sealer = Sealer::start_with_chunk_size(&key, 8, &mut out).unwrap();
        sealer.update(b"secret", &mut out).unwrap();
        let shown = format!("{sealer:?} {:?}", Opener::new(&key));
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.contains("plaintext_len: 6"), "{shown}");
    }
}
