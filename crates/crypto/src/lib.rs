//! Encryption at rest for Kenshin Relay.
//!
//! Every stored object is encrypted under its own fresh 256-bit [`DataKey`]. Its content is
//! sealed with AES-256-GCM in a chunked streaming construction (in the spirit of STREAM,
//! Hoang–Reyhanitabar–Rogaway–Vizár 2015), so objects of any size are encrypted and
//! decrypted in bounded memory while truncation, reordering, duplication or removal of
//! chunks, appended data and any modification are all detected. The data key is then
//! wrapped by a key-encryption key (KEK) held by a [`KeyProvider`] — a [`LocalKeyFile`] for
//! now, an HSM later — and the [`WrappedKey`] is stored beside the object, bound to the
//! object's identity.
//!
//! All primitives come from aws-lc (via `aws-lc-rs`); key material is zeroized on drop.
//!
//! # Sealed stream layout
//!
//! ```text
//! offset  size  field
//! ------  ----  -----------------------------------------------------------------
//!      0     4  magic "KRB1"
//!      4     1  format version, 0x01
//!      5     4  chunk size C in bytes, u32 big-endian, 1 ..= 16 MiB (default 64 KiB)
//!      9     7  nonce prefix P, random per stream
//!     16        chunk 0, chunk 1, ..., chunk n-1      (n >= 1)
//!
//! chunk i  = AES-256-GCM ciphertext of plaintext bytes [i*C, i*C + len_i) ‖ 16-byte tag
//! len_i    = C for every chunk except the last; 0 ..= C for the last
//! nonce_i  = P (7) ‖ i as u32 big-endian (4) ‖ 0x01 if i = n-1 else 0x00 (1)
//! aad_i    = the 16 header bytes
//! total    = 16 + plaintext length + 16 * n               (see `sealed_len`)
//! ```
//!
//! Why each part is there:
//!
//! * **Header as associated data.** Every chunk authenticates the version, the chunk size and
//!   the prefix, so altering any of them makes every chunk fail.
//! * **Counter in the nonce.** A chunk only authenticates at its own position: reordering,
//!   duplicating or dropping chunks fails. The counter never wraps; a stream is limited to
//!   2^32 chunks (256 TiB at the default chunk size) and exceeding it is an error.
//! * **Final flag in the nonce.** Only the true last chunk authenticates with the flag set,
//!   so cutting the stream at a chunk boundary, or appending chunks after the end, fails.
//!   Because the sealer holds back a full chunk until it sees more data, a plaintext whose
//!   length is a multiple of `C` ends with a full *final* chunk, and an empty plaintext is a
//!   single empty final chunk (16 bytes of tag): there is exactly one encoding per plaintext.
//! * **Random prefix.** Each object has its own key, so nonces are unique without it; the
//!   prefix is defence in depth should a key ever seal more than one stream.
//!
//! The [`Opener`] never releases plaintext of a chunk before its tag verifies, and holds at
//! most one chunk and its tag (plus the header) in memory, whatever the object's size. The
//! whole object is authentic only once [`Opener::finish`] succeeds (or an
//! [`OpeningReader`] reaches end of file without error).
//!
//! # Wrapped keys
//!
//! ```text
//! wrapped  = 0x01 ‖ nonce (12, random) ‖ AES-256-GCM_KEK(data key) (32) ‖ tag (16)
//! aad      = "kenshin-relay/data-key-wrap/v1\0" ‖ 0x01 ‖ len(kek id) (u16 BE) ‖ kek id ‖ context
//! kek id   = hex(SHA-256("kenshin-relay/kek-id/v1\0" ‖ KEK)[0..8])
//! ```
//!
//! The context (typically the object id) is authenticated but not stored: a wrapped key moved
//! to another object's record does not unwrap. RFC 3394 key wrap is deliberately not used,
//! because it cannot bind a wrapped key to anything.
//!
//! # Example
//!
//! ```
//! use kenshin_crypto::{DataKey, KeyProvider, LocalKeyFile, Opener, Sealer};
//!
//! # fn main() -> Result<(), kenshin_crypto::CryptoError> {
//! # let dir = tempfile::tempdir()?;
//! let kek = LocalKeyFile::create(&dir.path().join("kek"))?;
//! let key = DataKey::generate()?;
//! let wrapped = kek.wrap(&key, b"object-42")?;
//!
//! let mut sealed = Vec::new();
//! let mut sealer = Sealer::start(&key, &mut sealed)?;
//! sealer.update(b"health checkup results", &mut sealed)?;
//! sealer.finish(&mut sealed)?;
//!
//! let key = kek.unwrap(&wrapped, b"object-42")?;
//! let mut opened = Vec::new();
//! let mut opener = Opener::new(&key);
//! opener.update(&sealed, &mut opened)?;
//! opener.finish(&mut opened)?;
//! assert_eq!(opened, b"health checkup results");
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

mod digest;
mod error;
mod io;
mod key;
mod provider;
mod secret_file;
mod stream;

pub use digest::{constant_time_eq, sha256, sha256_hex, Sha256, SHA256_LEN};
pub use error::{CryptoError, IntegrityError};
pub use io::{OpeningReader, SealingWriter};
pub use key::{DataKey, DATA_KEY_LEN};
pub use provider::{KeyProvider, LocalKeyFile, WrappedKey};
pub use secret_file::{create_secret_file, read_secret_file};
pub use stream::{
    sealed_len, Opener, Sealer, DEFAULT_CHUNK_SIZE, HEADER_LEN, MAX_CHUNK_SIZE, TAG_LEN,
};

/// HMAC-SHA256, for keyed commitments (the ledger commits to a file's SHA-256 under a key that
/// only the file's parties know).
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key);
    let tag = aws_lc_rs::hmac::sign(&key, message);
    let mut out = [0u8; 32];
    out.copy_from_slice(tag.as_ref());
    out
}
