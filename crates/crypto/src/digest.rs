//! SHA-256 and constant-time comparison.

use core::fmt;
use std::io;

use aws_lc_rs::{constant_time, digest};

/// Length of a SHA-256 digest in bytes.
pub const SHA256_LEN: usize = 32;

/// Incremental SHA-256 (aws-lc, hardware-accelerated where the CPU allows).
///
/// Also implements [`io::Write`], so a file can be hashed with `io::copy` and a hash can be
/// computed alongside another writer.
#[derive(Clone)]
pub struct Sha256 {
    context: digest::Context,
}

impl Sha256 {
    /// Starts a new hash.
    #[must_use]
    pub fn new() -> Self {
        Self {
            context: digest::Context::new(&digest::SHA256),
        }
    }

    /// Feeds more data.
    pub fn update(&mut self, data: &[u8]) {
        self.context.update(data);
    }

    /// The digest of everything fed so far.
    #[must_use]
    pub fn finish(self) -> [u8; SHA256_LEN] {
        let digest = self.context.finish();
        let mut out = [0u8; SHA256_LEN];
        out.copy_from_slice(digest.as_ref());
        out
    }

    /// The digest as 64 lowercase hex characters.
    #[must_use]
    pub fn finish_hex(self) -> String {
        hex::encode(self.finish())
    }
}

impl Default for Sha256 {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sha256").finish_non_exhaustive()
    }
}

impl io::Write for Sha256 {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// SHA-256 of `data`.
#[must_use]
pub fn sha256(data: &[u8]) -> [u8; SHA256_LEN] {
    let mut hash = Sha256::new();
    hash.update(data);
    hash.finish()
}

/// SHA-256 of `data` as 64 lowercase hex characters.
#[must_use]
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(sha256(data))
}

/// Compares two byte strings in time independent of their contents (aws-lc `CRYPTO_memcmp`),
/// so that comparing a secret or a digest with an attacker's guess leaks nothing about how
/// many leading bytes matched.
///
/// The lengths are not secret: strings of different lengths compare unequal immediately.
#[must_use]
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    constant_time::verify_slices_are_equal(a, b).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answers() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            sha256_hex(b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        );
    }

    #[test]
    fn incremental_matches_one_shot() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 + i / 13) as u8).collect();
        for split in [0, 1, 63, 64, 65, 5000, data.len()] {
            let mut hash = Sha256::new();
            hash.update(&data[..split]);
            hash.update(&data[split..]);
            assert_eq!(hash.finish(), sha256(&data));
        }
        let mut writer = Sha256::default();
        io::copy(&mut &data[..], &mut writer).unwrap();
        assert_eq!(writer.finish_hex(), sha256_hex(&data));
    }

    #[test]
    fn constant_time_eq_semantics() {
        assert!(constant_time_eq(b"", b""));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(!constant_time_eq(b"", b"a"));
    }
}
