//! Error types.
//!
//! Errors are deliberately specific about *what* failed (which chunk, which file, which
//! permission) and deliberately silent about secrets: no variant carries key bytes, plaintext,
//! or anything derived from them.

use std::io;
use std::path::PathBuf;

/// Every error this crate reports.
#[derive(thiserror::Error, Debug)]
#[non_exhaustive]
pub enum CryptoError {
    /// The ciphertext stream failed authentication. The data was modified, truncated,
    /// extended, reordered, or sealed under a different key; nothing it yielded after the
    /// last verified chunk may be trusted (and the [`crate::Opener`] released none of it).
    #[error("encrypted data failed its integrity check: {0}")]
    Integrity(IntegrityError),

    /// A wrapped data key could not be unwrapped: it is corrupt, has an unknown format
    /// version, was wrapped under a different key-encryption key, or was wrapped for a
    /// different context (object). AEAD cannot tell these apart, so neither can we.
    #[error(
        "failed to unwrap data key: the wrapped key is corrupt, or was wrapped under a \
         different key-encryption key or for a different object"
    )]
    KeyUnwrap,

    /// A key-encryption-key file could not be created or was refused when loading.
    #[error("key file {}: {reason}", path.display())]
    KeyFile {
        /// The file concerned.
        path: PathBuf,
        /// What is wrong with it, in words an operator can act on.
        reason: String,
    },

    /// A PKCS#11 hardware security module (HSM) holding the key-encryption key could not be
    /// used: its library would not load, the token or key is missing, the PIN was refused, or
    /// the device failed. The message says which, in words an operator can act on; it never
    /// contains the PIN. (A wrapped key the HSM finds corrupt is [`CryptoError::KeyUnwrap`].)
    #[error("HSM: {0}")]
    Hsm(String),

    /// An I/O error from an underlying reader or writer.
    #[error(transparent)]
    Io(#[from] io::Error),

    /// A primitive failed in a way that has no more specific description (for example the
    /// system random number generator); the message names the operation.
    #[error("cryptographic operation failed: {0}")]
    Unspecified(&'static str),

    /// A chunk size outside `1..=MAX_CHUNK_SIZE` was requested.
    #[error("invalid chunk size {0}: must be between 1 and {max} bytes", max = crate::MAX_CHUNK_SIZE)]
    InvalidChunkSize(usize),

    /// Raw key material of the wrong length was supplied.
    #[error("invalid key length: expected {expected} bytes, got {actual}")]
    InvalidKeyLength {
        /// Required length in bytes.
        expected: usize,
        /// Supplied length in bytes.
        actual: usize,
    },

    /// Sealing more data would need more than 2^32 chunks, which the nonce counter cannot
    /// number. Nothing from the rejected call was consumed; the stream can still be finished.
    #[error("stream too long: at most 2^32 chunks can be sealed under one stream header")]
    StreamTooLong,

    /// The [`crate::Sealer`] or [`crate::Opener`] already reported an error, after which its
    /// state is no longer meaningful; the stream must be abandoned.
    #[error("stream already failed; it cannot be used any further")]
    Poisoned,
}

/// Why a ciphertext stream failed authentication.
///
/// The variants are diagnostics for operators. Security never depends on telling them apart:
/// all of them mean "reject the whole object".
#[derive(thiserror::Error, Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum IntegrityError {
    /// The stream does not start with the expected magic bytes: it is not an encrypted
    /// Kenshin Relay object at all (or its first bytes were damaged).
    #[error("bad header: magic bytes do not match")]
    BadMagic,

    /// The header names a format version this build does not understand.
    #[error("bad header: unsupported format version {0}")]
    UnsupportedVersion(u8),

    /// The header's chunk size is zero or larger than `MAX_CHUNK_SIZE`.
    #[error("bad header: invalid chunk size {0}")]
    BadChunkSize(u32),

    /// Chunk number `chunk` (counting from 0) failed authentication.
    #[error("chunk {chunk} failed authentication")]
    ChunkAuthentication {
        /// Zero-based index of the chunk.
        chunk: u32,
    },

    /// The stream ended before its final chunk (including inside the header).
    #[error("stream truncated: it ended before the final chunk")]
    Truncated,

    /// Bytes follow the final chunk.
    #[error("trailing data after the final chunk")]
    TrailingData,
}

impl From<IntegrityError> for CryptoError {
    fn from(err: IntegrityError) -> Self {
        Self::Integrity(err)
    }
}

impl From<CryptoError> for io::Error {
    /// Maps to the `io::ErrorKind` a reader or writer user expects: authentication failures
    /// are `InvalidData` (the bytes are bad), misuse is `InvalidInput`, wrapped I/O errors are
    /// returned as they were. The original error stays available as the source.
    fn from(err: CryptoError) -> Self {
        match err {
            CryptoError::Io(err) => err,
            err @ (CryptoError::Integrity(_) | CryptoError::Poisoned | CryptoError::KeyUnwrap) => {
                io::Error::new(io::ErrorKind::InvalidData, err)
            }
            err @ (CryptoError::InvalidChunkSize(_)
            | CryptoError::InvalidKeyLength { .. }
            | CryptoError::StreamTooLong) => io::Error::new(io::ErrorKind::InvalidInput, err),
            err @ (CryptoError::KeyFile { .. }
            | CryptoError::Hsm(_)
            | CryptoError::Unspecified(_)) => io::Error::other(err),
        }
    }
}
